package passthru

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
)

// Identify asks the whole disk at path (/dev/sda, /dev/nvme0n1) who it is,
// with allow-listed read-only commands only, and sets beside the capacity
// it reports the kernel's (BLKGETSIZE64). It opens the device O_RDONLY
// and never fails: what could not be asked is in Errors, every command
// sent in Commands.
func Identify(path string) *imager.DeviceIdentity {
	id := &imager.DeviceIdentity{Transport: "none", Commands: []string{}, Raw: map[string]string{}}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		id.Errors = append(id.Errors, fmt.Sprintf("open %s read-only: %v", path, err))
		return id
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK {
		id.Errors = append(id.Errors, path+" is not a block device: nothing to ask")
		return id
	}
	var kernelBytes uint64
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&kernelBytes))); e != 0 {
		id.Errors = append(id.Errors, fmt.Sprintf("%s: BLKGETSIZE64: %v", path, e))
	}
	d := &dev{fd: fd}
	name := filepath.Base(path)
	if strings.HasPrefix(name, "nvme") {
		identifyNVMe(d, id, name)
	} else {
		identifySCSI(d, id)
	}
	id.Commands = d.log
	if id.Commands == nil {
		id.Commands = []string{}
	}
	if id.LogicalSector > 0 && kernelBytes > 0 {
		id.KernelSectors = int64(kernelBytes) / int64(id.LogicalSector)
	}
	if len(id.Raw) == 0 {
		id.Raw = nil
	}
	id.KernelHPA = disk.KernelHPA(name)
	return id
}

func identifySCSI(d *dev, id *imager.DeviceIdentity) {
	b, err := d.scsi(inquiryCDB(false, 0, 96), 96)
	if err != nil {
		id.Errors = append(id.Errors, "INQUIRY: "+err.Error())
		return
	}
	id.Raw["inquiry"] = hex.EncodeToString(declared(b, 4, 5))
	inq, err := parseInquiry(b)
	if err != nil {
		id.Errors = append(id.Errors, err.Error())
		return
	}
	id.Transport, id.Vendor, id.Model, id.Firmware = "scsi", inq.Vendor, inq.Product, inq.Rev
	pages := map[byte]bool{}
	if b, err := d.scsi(inquiryCDB(true, 0x00, 252), 252); err == nil {
		id.Raw["vpd00"] = hex.EncodeToString(vpdDeclared(b))
		if pages, err = parseSupportedPages(b); err != nil {
			id.Errors = append(id.Errors, err.Error())
		}
	} else {
		id.Errors = append(id.Errors, "INQUIRY VPD 0x00: "+err.Error())
	}
	if pages[0x80] {
		if b, err := d.scsi(inquiryCDB(true, 0x80, 252), 252); err == nil {
			id.Raw["vpd80"] = hex.EncodeToString(vpdDeclared(b))
			id.Serial, err = parseUnitSerial(b)
			if err != nil {
				id.Errors = append(id.Errors, err.Error())
			}
		}
	}
	if pages[0x83] {
		if b, err := d.scsi(inquiryCDB(true, 0x83, 1020), 1020); err == nil {
			id.Raw["vpd83"] = hex.EncodeToString(vpdDeclared(b))
			des, err := parseDeviceID(b)
			if err != nil {
				id.Errors = append(id.Errors, err.Error())
			}
			id.WWN, id.EUI64 = des.NAA, des.EUI64
		}
	}
	if pages[0xB1] {
		if b, err := d.scsi(inquiryCDB(true, 0xB1, 64), 64); err == nil {
			id.Raw["vpdb1"] = hex.EncodeToString(vpdDeclared(b))
			if id.RotationRPM, err = parseBlockChars(b); err != nil {
				id.Errors = append(id.Errors, err.Error())
			}
		}
	}
	if b, err := d.scsi(readCap16CDB(32), 32); err == nil {
		id.Raw["readcap16"] = hex.EncodeToString(b)
		c, err := parseReadCap16(b)
		if err != nil {
			id.Errors = append(id.Errors, err.Error())
		} else {
			id.DeviceSectors, id.LogicalSector, id.PhysicalSector = c.Blocks, c.LogicalSector, c.PhysicalSector
		}
	} else {
		id.Errors = append(id.Errors, "READ CAPACITY(16): "+err.Error())
	}
	if inq.Vendor != "ATA" {
		securityIn(d, id)
		return
	}
	// A SATA drive behind the kernel's (or an HBA's) SCSI-ATA translation:
	// its own IDENTIFY says more, and exactly.
	b, err = d.scsi(ataPassThrough16(0xEC), 512)
	if err != nil {
		id.Errors = append(id.Errors, "ATA IDENTIFY DEVICE: "+err.Error())
		return
	}
	id.Raw["ata_identify"] = hex.EncodeToString(b)
	a, err := parseATAIdentify(b)
	if err != nil {
		id.Errors = append(id.Errors, err.Error())
		return
	}
	id.Transport, id.Vendor = "ata", ""
	id.Model, id.Serial, id.Firmware = a.Model, a.Serial, a.Firmware
	if a.WWN != "" {
		id.WWN = a.WWN
	}
	if a.RotationRPM != 0 {
		id.RotationRPM = a.RotationRPM
	}
	if id.DeviceSectors == 0 {
		id.DeviceSectors, id.LogicalSector, id.PhysicalSector = a.Sectors, a.LogicalSector, a.PhysicalSector
	}
	hidden(d, id, a.Sectors)
	ataHealth(d, id)
	id.ATASecurity = a.Security.String()
	id.Locked = a.Security.Locked
	if a.Trusted {
		securityIn(d, id) // translated to TRUSTED RECEIVE
	} else {
		id.TCG = "trusted computing not supported (IDENTIFY word 48): not a TCG self-encrypting drive"
	}
}

// ataHealth asks SMART for the overall status and the attributes.
func ataHealth(d *dev, id *imager.DeviceIdentity) {
	var parts []string
	if s, err := d.scsi(smartCDB(0xDA), 0); err != nil {
		id.Errors = append(id.Errors, "ATA SMART RETURN STATUS: "+err.Error())
	} else if r := ataReturn(s); r != nil {
		parts = append(parts, "overall "+smartStatus(r))
	}
	if b, err := d.scsi(smartCDB(0xD0), 512); err != nil {
		id.Errors = append(id.Errors, "ATA SMART READ DATA: "+err.Error())
	} else {
		id.Raw["ata_smart"] = hex.EncodeToString(b)
		h, err := parseATASMART(b)
		if err != nil {
			id.Errors = append(id.Errors, err.Error())
		} else {
			parts = append(parts, h.String())
		}
	}
	id.Health = strings.Join(parts, "; ")
}

// securityIn asks for the TCG Level 0 Discovery.
func securityIn(d *dev, id *imager.DeviceIdentity) {
	b, err := d.scsi(securityInCDB(2048), 2048)
	if err != nil {
		id.Errors = append(id.Errors, "SECURITY PROTOCOL IN (TCG Level 0 Discovery): "+err.Error())
		return
	}
	tcg(id, b)
}

func tcg(id *imager.DeviceIdentity, b []byte) {
	id.Raw["tcg_level0"] = hex.EncodeToString(trimZeros(b))
	o, err := parseLevel0(b)
	if err != nil {
		id.TCG = err.Error()
		return
	}
	id.TCG = o.String()
	id.Locked = id.Locked || o.Locked
}

// hidden asks an ATA drive for its native capacity and its configuration
// overlay's, and records what an HPA or a DCO hides. Nothing is changed:
// setting either back is a different command, not on the allow-list.
func hidden(d *dev, id *imager.DeviceIdentity, accessible int64) {
	var native int64
	full := true
	if s, err := d.scsi(readNativeMaxCDB(), 0); err != nil {
		id.Errors = append(id.Errors, "ATA READ NATIVE MAX ADDRESS EXT: "+err.Error())
	} else if r := ataReturn(s); r == nil || r.Status&1 != 0 {
		id.Errors = append(id.Errors, fmt.Sprintf("ATA READ NATIVE MAX ADDRESS EXT: no address returned (sense % x)", s))
	} else {
		id.Raw["ata_read_native_max"] = hex.EncodeToString(s)
		native, full = int64(r.LBA)+1, r.Full
		if full {
			id.NativeSectors = native
		}
	}
	var dco int64
	if b, err := d.scsi(dcoIdentifyCDB(), 512); err != nil {
		id.Errors = append(id.Errors, "ATA DEVICE CONFIGURATION IDENTIFY: "+err.Error())
	} else {
		id.Raw["ata_dco_identify"] = hex.EncodeToString(b)
		if dco, err = parseDCO(b); err != nil {
			id.Errors = append(id.Errors, err.Error())
		}
		id.DCOSectors = dco
	}
	hpa, dh, say := hiddenArea(accessible, native, full, dco)
	if hpa >= 0 {
		id.HPAHidden = &hpa
	}
	if dh >= 0 {
		id.DCOHidden = &dh
	}
	id.HiddenArea = say
}

func identifyNVMe(d *dev, id *imager.DeviceIdentity, name string) {
	id.Transport = "nvme"
	if b, err := d.nvme(0x06, 0, 0x01); err == nil {
		id.Raw["nvme_identify_ctrl"] = hex.EncodeToString(trimZeros(b))
		c, err := parseNVMeController(b)
		if err != nil {
			id.Errors = append(id.Errors, err.Error())
		}
		id.Vendor, id.Model, id.Serial, id.Firmware = fmt.Sprintf("%04x", c.VendorID), c.Model, c.Serial, c.Firmware
		if b, err := d.nvme(0x02, 0xFFFFFFFF, nvmeSMARTCDW10); err == nil {
			id.Raw["nvme_smart"] = hex.EncodeToString(b[:512])
			if h, err := parseNVMeHealth(b); err == nil {
				id.Health = h.String()
			}
		} else {
			id.Errors = append(id.Errors, "NVMe SMART / Health log: "+err.Error())
		}
		if c.Sanitize&7 != 0 {
			if b, err := d.nvme(0x02, 0xFFFFFFFF, nvmeSanitizeCDW10); err == nil {
				id.Raw["nvme_sanitize"] = hex.EncodeToString(b[:20])
				if s, err := parseNVMeSanitize(b); err == nil {
					id.Sanitize = s.String()
				}
			} else {
				id.Errors = append(id.Errors, "NVMe Sanitize Status log: "+err.Error())
			}
		} else {
			id.Sanitize = "sanitize not supported (SANICAP 0)"
		}
		if c.Security {
			if b, err := d.nvme(0x82, 0, 0x01<<24|0x0001<<8); err == nil {
				tcg(id, b)
			} else {
				id.Errors = append(id.Errors, "NVMe Security Receive (TCG Level 0 Discovery): "+err.Error())
			}
		} else {
			id.TCG = "no security send/receive (OACS bit 0 clear): not a TCG self-encrypting drive"
		}
	} else {
		id.Errors = append(id.Errors, "NVMe Identify Controller: "+err.Error())
		return
	}
	kernel := kernelNamespaces(name)
	nsid := nsidOf(name)
	active, err := listNS(d, 0x02)
	if err != nil {
		id.Errors = append(id.Errors, "NVMe active namespace list: "+err.Error())
		active = []uint32{nsid}
	}
	isActive := map[uint32]bool{}
	for _, n := range active {
		isActive[n] = true
		b, err := d.nvme(0x06, n, 0x00)
		if err != nil {
			id.Errors = append(id.Errors, fmt.Sprintf("NVMe Identify Namespace %d: %v", n, err))
			continue
		}
		ns, err := parseNVMeNamespace(b)
		if err != nil {
			id.Errors = append(id.Errors, fmt.Sprintf("namespace %d: %v", n, err))
			continue
		}
		id.Namespaces = append(id.Namespaces, imager.NVMeNamespace{ID: n, Size: ns.Size, Capacity: ns.Capacity, Used: ns.Used, BlockSize: ns.BlockSize, Attached: true, KernelName: kernel[n]})
		if n == nsid {
			id.Raw["nvme_identify_ns"] = hex.EncodeToString(trimZeros(b))
			id.DeviceSectors, id.LogicalSector, id.PhysicalSector = int64(ns.Size), ns.BlockSize, ns.BlockSize
			id.EUI64, id.NGUID = ns.EUI64, ns.NGUID
		}
	}
	allocated, err := listNS(d, 0x10)
	if err != nil {
		id.Errors = append(id.Errors, "NVMe allocated namespace list (namespaces not attached cannot be listed): "+err.Error())
		return
	}
	for _, n := range allocated {
		if isActive[n] {
			continue
		}
		b, err := d.nvme(0x06, n, 0x11)
		if err != nil {
			id.Errors = append(id.Errors, fmt.Sprintf("NVMe Identify allocated namespace %d: %v", n, err))
			id.Namespaces = append(id.Namespaces, imager.NVMeNamespace{ID: n})
			continue
		}
		ns, err := parseNVMeNamespace(b)
		if err != nil {
			id.Errors = append(id.Errors, fmt.Sprintf("namespace %d: %v", n, err))
		}
		id.Namespaces = append(id.Namespaces, imager.NVMeNamespace{ID: n, Size: ns.Size, Capacity: ns.Capacity, Used: ns.Used, BlockSize: ns.BlockSize})
	}
}

func listNS(d *dev, cns byte) ([]uint32, error) {
	b, err := d.nvme(0x06, 0, uint32(cns))
	if err != nil {
		return nil, err
	}
	return parseNVMeNSList(b)
}

// nsidOf reads the namespace ID of an NVMe block device from sysfs (1 when
// it cannot tell).
func nsidOf(name string) uint32 {
	b, err := os.ReadFile(filepath.Join(disk.SysRoot, "block", name, "nsid"))
	if err != nil {
		return 1
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
	if err != nil {
		return 1
	}
	return uint32(n)
}

// kernelNamespaces maps the namespace IDs of name's controller to the
// kernel's block devices (nvme0n1, …).
func kernelNamespaces(name string) map[uint32]string {
	out := map[uint32]string{}
	ctrl := name
	if i := strings.LastIndexByte(name, 'n'); i > 0 {
		ctrl = name[:i]
	}
	ents, _ := os.ReadDir(filepath.Join(disk.SysRoot, "block"))
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, ctrl+"n") && !strings.Contains(n[len(ctrl)+1:], "p") {
			out[nsidOf(n)] = n
		}
	}
	return out
}

// trimZeros drops the zero tail of a 4 KiB identify page for the record.
func trimZeros(b []byte) []byte {
	n := len(b)
	for n > 0 && b[n-1] == 0 {
		n--
	}
	return b[:n]
}

// declared cuts a reply to the length it declares: the byte at lenAt plus
// the header before it (standard INQUIRY: byte 4, plus 5).
func declared(b []byte, lenAt, header int) []byte {
	if len(b) > lenAt {
		return b[:min(len(b), header+int(b[lenAt]))]
	}
	return b
}

// vpdDeclared cuts a VPD page to its page length (bytes 2–3) plus 4.
func vpdDeclared(b []byte) []byte {
	if len(b) >= 4 {
		return b[:min(len(b), 4+(int(b[2])<<8|int(b[3])))]
	}
	return b
}
