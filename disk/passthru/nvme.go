package passthru

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// NVMe Identify (NVMe Base 2.0, 5.17) data structures are 4096 bytes.
const nvmeIdentifySize = 4096

// NVMeController is the Identify Controller data structure (CNS 01h):
// bytes 0–1 PCI vendor ID, 4–23 serial number, 24–63 model number, 64–71
// firmware revision (ASCII, space padded), 256–257 OACS (optional admin
// commands), 516–519 number of namespaces.
type NVMeController struct {
	VendorID                uint16
	Serial, Model, Firmware string
	Namespaces              uint32
	Security, NSManagement  bool   // OACS (bytes 256–257) bit 0 Security Send/Receive, bit 3 Namespace Management
	Sanitize                uint32 // SANICAP (bytes 328–331): bits 0–2 crypto erase, block erase, overwrite supported
}

func parseNVMeController(b []byte) (NVMeController, error) {
	if len(b) < nvmeIdentifySize {
		return NVMeController{}, fmt.Errorf("NVMe Identify Controller: %d bytes: %w", len(b), errShort)
	}
	oacs := binary.LittleEndian.Uint16(b[256:258])
	return NVMeController{VendorID: binary.LittleEndian.Uint16(b[0:2]), Serial: ascii(b[4:24]), Model: ascii(b[24:64]),
		Firmware: ascii(b[64:72]), Namespaces: binary.LittleEndian.Uint32(b[516:520]), Security: oacs&1 != 0, NSManagement: oacs&8 != 0,
		Sanitize: binary.LittleEndian.Uint32(b[328:332])}, nil
}

// NVMeNamespace is the Identify Namespace data structure (CNS 00h or 11h):
// bytes 0–7 NSZE, 8–15 NCAP, 16–23 NUSE (in logical blocks), byte 25
// NLBAF (formats less one), byte 26 FLBAS bits 3–0 the format in use,
// 104–119 NGUID, 120–127 EUI64, and from byte 128 the LBA formats, 4 bytes
// each: byte 2 LBADS, the block size as a power of two.
type NVMeNamespace struct {
	Size, Capacity, Used uint64
	BlockSize            int
	NGUID, EUI64         string
}

func parseNVMeNamespace(b []byte) (NVMeNamespace, error) {
	if len(b) < nvmeIdentifySize {
		return NVMeNamespace{}, fmt.Errorf("NVMe Identify Namespace: %d bytes: %w", len(b), errShort)
	}
	ns := NVMeNamespace{Size: binary.LittleEndian.Uint64(b[0:8]), Capacity: binary.LittleEndian.Uint64(b[8:16]), Used: binary.LittleEndian.Uint64(b[16:24])}
	f := int(b[26] & 0x0f)
	if f > int(b[25]) {
		return ns, fmt.Errorf("NVMe Identify Namespace: format %d in use, only %d formats", f, int(b[25])+1)
	}
	lbads := b[128+4*f+2]
	if lbads < 9 || lbads > 16 {
		return ns, fmt.Errorf("NVMe Identify Namespace: LBA data size 2^%d bytes", lbads)
	}
	ns.BlockSize = 1 << lbads
	if g := b[104:120]; !allZero(g) {
		ns.NGUID = hex.EncodeToString(g)
	}
	if e := b[120:128]; !allZero(e) {
		ns.EUI64 = hex.EncodeToString(e)
	}
	return ns, nil
}

// parseNVMeNSList is a namespace list (CNS 02h, 10h): up to 1024 namespace
// IDs, 4 bytes each, little-endian, in increasing order, ended by 0.
func parseNVMeNSList(b []byte) ([]uint32, error) {
	if len(b) < nvmeIdentifySize {
		return nil, fmt.Errorf("NVMe namespace list: %d bytes: %w", len(b), errShort)
	}
	var out []uint32
	for i := 0; i < 1024; i++ {
		id := binary.LittleEndian.Uint32(b[4*i:])
		if id == 0 {
			break
		}
		if len(out) > 0 && id <= out[len(out)-1] {
			return out, fmt.Errorf("NVMe namespace list: %d after %d: not increasing", id, out[len(out)-1])
		}
		out = append(out, id)
	}
	return out, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// nvmeKey says which allow-list entry an NVMe admin command is: an
// Identify by its CNS (CDW10 bits 7–0), a Security Receive by its
// security protocol (CDW10 bits 31–24) when its SP specific field (bits
// 23–8) is ComID 0001h, Level 0 Discovery.
func nvmeKey(op byte, cdw10 uint32) byte {
	switch op {
	case 0x06, 0x02:
		return byte(cdw10) // Identify: CNS; Get Log Page: LID
	case 0x82:
		if cdw10>>8&0xffff == 0x0001 {
			return byte(cdw10 >> 24)
		}
		return 0xFF
	}
	return 0
}

// nvmeSMARTCDW10 asks Get Log Page for the SMART / Health Information log
// (LID 02h), 512 bytes: NUMDL (bits 31–16) 127 dwords, 0-based.
const nvmeSMARTCDW10 = 127<<16 | 0x02

// nvmeSanitizeCDW10 asks Get Log Page for the Sanitize Status log (LID
// 81h), 512 bytes.
const nvmeSanitizeCDW10 = 127<<16 | 0x81

// NVMeSanitize is the Sanitize Status log (NVMe Base 2.0 Figure 291):
// bytes 0–1 SPROG (progress of a sanitize in progress, of 65536), 2–3
// SSTAT: bits 2–0 the status of the most recent sanitize (0 never, 1
// completed, 2 in progress, 3 failed, 4 completed without deallocation),
// bits 7–3 overwrite passes done, bit 8 Global Data Erased (no user data
// written since the last sanitize or format, or since manufacture).
type NVMeSanitize struct {
	Progress         uint16
	Status           byte
	Passes           int
	GlobalDataErased bool
}

func parseNVMeSanitize(b []byte) (NVMeSanitize, error) {
	if len(b) < 20 {
		return NVMeSanitize{}, fmt.Errorf("NVMe Sanitize Status log: %d bytes: %w", len(b), errShort)
	}
	st := binary.LittleEndian.Uint16(b[2:4])
	return NVMeSanitize{Progress: binary.LittleEndian.Uint16(b[0:2]), Status: byte(st & 7), Passes: int(st >> 3 & 0x1f), GlobalDataErased: st&(1<<8) != 0}, nil
}

func (s NVMeSanitize) String() string {
	var out string
	switch s.Status {
	case 0:
		out = "never sanitized"
	case 1:
		out = "SANITIZED: the most recent sanitize completed"
	case 2:
		out = fmt.Sprintf("SANITIZE IN PROGRESS (%.0f %%)", float64(s.Progress)*100/65536)
	case 3:
		out = "the most recent sanitize FAILED"
	case 4:
		out = "SANITIZED: the most recent sanitize completed (no deallocation)"
	default:
		out = fmt.Sprintf("sanitize status %d (reserved)", s.Status)
	}
	if s.GlobalDataErased {
		out += "; GLOBAL DATA ERASED: no user data written since the last sanitize or format (or manufacture)"
	}
	return out
}

// NVMeHealth is the SMART / Health Information log (NVMe Base 2.0 Figure
// 207): byte 0 critical warning, 3 available spare (%), 5 percentage used,
// 128–143 power on hours, 160–175 media and data integrity errors
// (128-bit little-endian counters; the low 64 bits are kept).
type NVMeHealth struct {
	CriticalWarning byte
	AvailableSpare  int
	PercentageUsed  int
	PowerOnHours    uint64
	MediaErrors     uint64
}

func parseNVMeHealth(b []byte) (NVMeHealth, error) {
	if len(b) < 512 {
		return NVMeHealth{}, fmt.Errorf("NVMe SMART / Health log: %d bytes: %w", len(b), errShort)
	}
	return NVMeHealth{CriticalWarning: b[0], AvailableSpare: int(b[3]), PercentageUsed: int(b[5]),
		PowerOnHours: binary.LittleEndian.Uint64(b[128:136]), MediaErrors: binary.LittleEndian.Uint64(b[160:168])}, nil
}

func (h NVMeHealth) String() string {
	s := fmt.Sprintf("%d%% of rated life used, %d%% spare left, %d power-on hours, %d media errors", h.PercentageUsed, h.AvailableSpare, h.PowerOnHours, h.MediaErrors)
	if h.CriticalWarning != 0 {
		s = fmt.Sprintf("CRITICAL WARNING %#02x (bit 0 spare low, 1 temperature, 2 reliability degraded, 3 read-only, 4 backup failed); ", h.CriticalWarning) + s
	}
	return s
}
