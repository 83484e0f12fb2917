package passthru

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// ataPassThrough16 wraps a 28-bit PIO data-in ATA command of one 512-byte
// block into ATA PASS-THROUGH(16) (SAT-4 12.2.2): byte 1 protocol 4
// (PIO Data-In) << 1, byte 2 T_DIR=1 (from the device), BYT_BLOK=1 (count
// in blocks), T_LENGTH=2 (the length is in the COUNT field); byte 6 count,
// byte 14 the ATA command.
func ataPassThrough16(cmd byte) []byte {
	c := make([]byte, 16)
	c[0] = 0x85
	c[1] = 4 << 1
	c[2] = 1<<3 | 1<<2 | 2
	c[6] = 1
	c[14] = cmd
	return c
}

// dcoIdentifyCDB is DEVICE CONFIGURATION IDENTIFY (ACS-3 7.9.3): command
// B1h with feature C2h (byte 4), PIO data-in, one block.
func dcoIdentifyCDB() []byte {
	c := ataPassThrough16(0xB1)
	c[4] = 0xC2
	return c
}

// readNativeMaxCDB is READ NATIVE MAX ADDRESS EXT (ATA8-ACS 7.32): command
// 27h, non-data (protocol 3) with EXTEND set, CK_COND (byte 2 bit 5) so
// that the registers holding the address come back as sense data; byte 13
// the device register with the LBA bit.
func readNativeMaxCDB() []byte {
	c := make([]byte, 16)
	c[0] = 0x85
	c[1] = 3<<1 | 1
	c[2] = 1 << 5
	c[13] = 0x40
	c[14] = 0x27
	return c
}

// ataRegs are the registers an ATA command returned (ATA PASS-THROUGH with
// CK_COND). Full is false when the sense data held only the low 24 bits
// of a larger LBA.
type ataRegs struct {
	Error, Status, Device byte
	LBA                   uint64
	Full                  bool
}

// ataReturn reads the registers from sense data (SAT-4 12.2.2.6/12.2.2.8)
// with ASC/ASCQ 00h/1Dh (ATA PASS-THROUGH INFORMATION AVAILABLE); nil
// when it holds none.
//
// Descriptor format (response code 72h): byte 1 sense key, 2–3 ASC/ASCQ,
// 7 additional length, descriptors from byte 8; the ATA Status Return
// descriptor is code 09h, length 0Ch: byte 2 bit 0 EXTEND, 3 ERROR, 4–5
// COUNT, 6 LBA 31:24, 7 LBA 7:0, 8 LBA 39:32, 9 LBA 15:8, 10 LBA 47:40,
// 11 LBA 23:16, 12 DEVICE, 13 STATUS.
//
// Fixed format (70h): bytes 3–6 (information) ERROR, STATUS, DEVICE,
// COUNT 7:0; byte 8 bit 7 EXTEND, bit 5 LBA UPPER NON-ZERO; bytes 9–11
// LBA 7:0, 15:8, 23:16; bytes 12–13 ASC/ASCQ.
func ataReturn(s []byte) *ataRegs {
	switch {
	case len(s) >= 8 && s[0]&0x7f == 0x72 && s[2] == 0 && s[3] == 0x1d:
		end := min(len(s), 8+int(s[7]))
		for d := s[8:end]; len(d) >= 2; d = d[min(len(d), 2+int(d[1])):] {
			if d[0] == 0x09 && d[1] >= 0x0c && len(d) >= 14 {
				lba := uint64(d[7]) | uint64(d[9])<<8 | uint64(d[11])<<16 | uint64(d[6])<<24 | uint64(d[8])<<32 | uint64(d[10])<<40
				return &ataRegs{Error: d[3], Status: d[13], Device: d[12], LBA: lba, Full: true}
			}
		}
	case len(s) >= 14 && s[0]&0x7f == 0x70 && s[12] == 0 && s[13] == 0x1d:
		lba := uint64(s[9]) | uint64(s[10])<<8 | uint64(s[11])<<16
		return &ataRegs{Error: s[3], Status: s[4], Device: s[5], LBA: lba, Full: s[8]&(1<<5) == 0}
	}
	return nil
}

// parseDCO is the DEVICE CONFIGURATION IDENTIFY data (ACS-3 Table 47):
// word 0 revision, words 3–6 the maximum LBA the overlay allows, word
// 255 0xA5 and the checksum. It returns that maximum plus one: sectors.
func parseDCO(b []byte) (int64, error) {
	if len(b) < 512 {
		return 0, fmt.Errorf("DEVICE CONFIGURATION IDENTIFY: %d bytes: %w", len(b), errShort)
	}
	b = b[:512]
	if b[510] == 0xa5 {
		var sum byte
		for _, c := range b {
			sum += c
		}
		if sum != 0 {
			return 0, fmt.Errorf("DEVICE CONFIGURATION IDENTIFY: checksum: the 512 bytes sum to %#02x, not 0", sum)
		}
	}
	max := binary.LittleEndian.Uint64(b[6:14]) & (1<<48 - 1)
	if max == 0 {
		return 0, fmt.Errorf("DEVICE CONFIGURATION IDENTIFY: maximum LBA 0")
	}
	return int64(max) + 1, nil
}

// hiddenArea compares what the drive can hold with what it shows: the
// accessible sectors (IDENTIFY), the native ones (READ NATIVE MAX; full
// false when only its low 24 bits are known) and the overlay's (DCO; 0
// when not known). It returns the sectors an HPA and a DCO hide (-1: not
// known) and a sentence.
func hiddenArea(accessible, native int64, full bool, dco int64) (hpa, dcoHidden int64, say string) {
	hpa, dcoHidden = -1, -1
	var parts []string
	switch {
	case native <= 0:
		parts = append(parts, "HPA: not known (READ NATIVE MAX ADDRESS not answered)")
	case full:
		hpa = max(0, native-accessible)
		if hpa > 0 {
			parts = append(parts, fmt.Sprintf("HPA: %d sectors hidden (accessible %d, native %d)", hpa, accessible, native))
		} else {
			parts = append(parts, "no host protected area")
		}
	default:
		const low = 1<<24 - 1
		if (native-1)&low == (accessible-1)&low {
			parts = append(parts, "no host protected area found (the SCSI-ATA translation returned the native max's low 24 bits only; they agree)")
		} else {
			parts = append(parts, "HPA: PRESENT, size not known (the SCSI-ATA translation returned the native max's low 24 bits only; they differ)")
		}
	}
	if dco > 0 && native > 0 && full {
		dcoHidden = max(0, dco-native)
		if dcoHidden > 0 {
			parts = append(parts, fmt.Sprintf("DCO: %d sectors hidden (native %d, overlay allows %d)", dcoHidden, native, dco))
		} else {
			parts = append(parts, "no device configuration overlay")
		}
	} else if dco <= 0 {
		parts = append(parts, "DCO: not known (DEVICE CONFIGURATION IDENTIFY not answered)")
	}
	return hpa, dcoHidden, strings.Join(parts, "; ")
}

// ATAIdentity is what IDENTIFY DEVICE (ACS-4 7.13) says, from its 256
// little-endian words:
//
//	words 10–19   serial number, 20 ASCII characters, each word's bytes swapped
//	words 23–26   firmware revision, 8 characters, swapped
//	words 27–46   model number, 40 characters, swapped
//	words 60–61   LBA count for 28-bit commands
//	word  83      bit 10: 48-bit addressing supported
//	words 100–103 LBA count for 48-bit commands
//	word  106     bit 14 set, 15 clear: valid; bit 13: several logical per
//	              physical sector, 2^(bits 3–0) of them; bit 12: logical
//	              sector longer than 256 words, its length in words 117–118
//	words 108–111 world wide name (NAA 5), most significant word first
//	word  48      bit 0 (bits 15–14 01b): trusted computing supported
//	word  128     security: bit 0 supported, 1 enabled, 2 locked, 3 frozen
//	word  217     nominal media rotation rate: 1 non-rotating, else RPM
//	word  255     bits 7–0 0xA5: bits 15–8 hold a checksum making the 512
//	              bytes sum to 0 modulo 256
type ATAIdentity struct {
	Serial, Firmware, Model string
	Sectors                 int64
	LogicalSector           int
	PhysicalSector          int
	WWN                     string
	RotationRPM             int
	Security                ATASecurity // word 128
	Trusted                 bool        // word 48 bit 0 (bits 15–14 = 01b): trusted computing (TCG) supported
}

func parseATAIdentify(b []byte) (ATAIdentity, error) {
	if len(b) < 512 {
		return ATAIdentity{}, fmt.Errorf("IDENTIFY DEVICE: %d bytes: %w", len(b), errShort)
	}
	b = b[:512]
	w := func(i int) uint16 { return binary.LittleEndian.Uint16(b[2*i:]) }
	if w(255)&0xff == 0xa5 {
		var sum byte
		for _, c := range b {
			sum += c
		}
		if sum != 0 {
			return ATAIdentity{}, fmt.Errorf("IDENTIFY DEVICE: checksum: the 512 bytes sum to %#02x, not 0", sum)
		}
	}
	str := func(from, to int) string {
		out := make([]byte, 0, 2*(to-from+1))
		for i := from; i <= to; i++ {
			out = append(out, byte(w(i)>>8), byte(w(i)))
		}
		return ascii(out)
	}
	id := ATAIdentity{Serial: str(10, 19), Firmware: str(23, 26), Model: str(27, 46), LogicalSector: 512}
	id.Sectors = int64(w(60)) | int64(w(61))<<16
	if w(83)&(1<<10) != 0 {
		if n := int64(w(100)) | int64(w(101))<<16 | int64(w(102))<<32 | int64(w(103))<<48; n > 0 {
			id.Sectors = n
		}
	}
	id.PhysicalSector = id.LogicalSector
	if s := w(106); s&0xc000 == 0x4000 {
		if s&(1<<12) != 0 {
			if words := int(w(117)) | int(w(118))<<16; words >= 256 {
				id.LogicalSector = 2 * words
			}
		}
		id.PhysicalSector = id.LogicalSector
		if s&(1<<13) != 0 {
			id.PhysicalSector = id.LogicalSector << (s & 0x0f)
		}
	}
	if wwn := uint64(w(108))<<48 | uint64(w(109))<<32 | uint64(w(110))<<16 | uint64(w(111)); wwn != 0 {
		id.WWN = fmt.Sprintf("%016x", wwn)
	}
	if r := int(w(217)); r == 1 || (r >= 0x0401 && r <= 0xfffe) {
		id.RotationRPM = r
	}
	id.Security = ataSecurity(w(128))
	id.Trusted = w(48)&0xc000 == 0x4000 && w(48)&1 != 0
	return id, nil
}

// smartCDB is SMART (ACS-3 7.48) with feature (byte 4) D0h READ DATA
// (PIO data-in, one block) or DAh RETURN STATUS (non-data, CK_COND): LBA
// 15:8 (byte 10) 4Fh and LBA 23:16 (byte 12) C2h, as the command requires.
func smartCDB(feature byte) []byte {
	var c []byte
	if feature == 0xDA {
		c = readNativeMaxCDB()
		c[1] = 3 << 1 // 28-bit
		c[13] = 0
	} else {
		c = ataPassThrough16(0xB0)
	}
	c[14], c[4], c[10], c[12] = 0xB0, feature, 0x4F, 0xC2
	return c
}

// smartStatus reads RETURN STATUS's answer from the registers: LBA 23:8
// C24Fh no threshold exceeded, 2CF4h a threshold exceeded.
func smartStatus(r *ataRegs) string {
	switch r.LBA >> 8 & 0xffff {
	case 0xC24F:
		return "passed"
	case 0x2CF4:
		return "FAILING (a threshold was exceeded)"
	}
	return fmt.Sprintf("not known (registers %#x)", r.LBA)
}

// ATAHealth are SMART READ DATA's vendor attributes (the de facto layout
// every drive uses): 30 entries of 12 bytes from byte 2: byte 0 the ID,
// 3 the current value, 5–10 the raw value (little-endian); byte 511 the
// checksum. Kept: 5 reallocated sectors, 9 power-on hours (low 32 bits),
// 197 pending sectors, 198 offline uncorrectable (-1 when absent).
type ATAHealth struct {
	Reallocated, PowerOnHours, Pending, Uncorrectable int64
}

func parseATASMART(b []byte) (ATAHealth, error) {
	h := ATAHealth{-1, -1, -1, -1}
	if len(b) < 512 {
		return h, fmt.Errorf("SMART READ DATA: %d bytes: %w", len(b), errShort)
	}
	var sum byte
	for _, c := range b[:512] {
		sum += c
	}
	if sum != 0 {
		return h, fmt.Errorf("SMART READ DATA: checksum: the 512 bytes sum to %#02x, not 0", sum)
	}
	for i := 0; i < 30; i++ {
		e := b[2+12*i : 14+12*i]
		raw := int64(e[5]) | int64(e[6])<<8 | int64(e[7])<<16 | int64(e[8])<<24 | int64(e[9])<<32 | int64(e[10])<<40
		switch e[0] {
		case 5:
			h.Reallocated = raw
		case 9:
			h.PowerOnHours = raw & 0xffffffff
		case 197:
			h.Pending = raw
		case 198:
			h.Uncorrectable = raw
		}
	}
	return h, nil
}

func (h ATAHealth) String() string {
	var p []string
	for _, f := range []struct {
		name string
		v    int64
	}{{"reallocated sectors", h.Reallocated}, {"pending sectors", h.Pending}, {"offline uncorrectable", h.Uncorrectable}, {"power-on hours", h.PowerOnHours}} {
		if f.v >= 0 {
			p = append(p, fmt.Sprintf("%d %s", f.v, f.name))
		}
	}
	if len(p) == 0 {
		return "no known attributes"
	}
	return strings.Join(p, ", ")
}
