package disk

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// SysRoot is where sysfs is mounted; tests point it at a fake tree.
var SysRoot = "/sys"

// DevRoot is where device nodes live.
var DevRoot = "/dev"

// sysIdent is what sysfs says about one block device (disk or partition).
type sysIdent struct {
	Name       string
	Resolved   string // path of the device directory below SysRoot/devices, relative to SysRoot
	IsPart     bool
	Parent     string // partitions: parent disk name
	PartNumber int
	Start      int64 // partitions: start in bytes (sysfs "start" is in 512-byte units)
	Size       int64 // sysfs "size" * 512
	Logical    int   // queue/logical_block_size (disks; partitions inherit from the parent)
	Physical   int
	ReadOnly   bool
	Removable  bool
	Model      string
	Serial     string
	WWN        string
	Transport  string
	Holders    []string
	Slaves     []string
	Backing    string // loop devices: backing file ("" when unbound)
}

// sysDir is the device directory of kernel block device name.
func sysDir(name string) (string, error) {
	p := filepath.Join(SysRoot, "class", "block", name)
	d, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("sysfs entry for %s: %w", name, err)
	}
	return d, nil
}

// readAttr returns the trimmed content of a sysfs attribute, "" if absent.
func readAttr(path ...string) string {
	b, err := os.ReadFile(filepath.Join(path...))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(strings.Trim(string(b), "\x00"))
}

func readIntAttr(path ...string) (int64, bool) {
	s := readAttr(path...)
	if s == "" {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

func listDir(path string) []string {
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// nameForDevNum maps a device number to its kernel name through
// SysRoot/dev/block/MAJOR:MINOR.
func nameForDevNum(major, minor uint32) (string, error) {
	p := filepath.Join(SysRoot, "dev", "block", fmt.Sprintf("%d:%d", major, minor))
	d, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("no block device %d:%d in sysfs: %w", major, minor, err)
	}
	return filepath.Base(d), nil
}

// readSysIdent collects the sysfs view of block device name.
func readSysIdent(name string) (sysIdent, error) {
	dir, err := sysDir(name)
	if err != nil {
		return sysIdent{}, err
	}
	id := sysIdent{Name: name}
	if rel, err := filepath.Rel(SysRoot, dir); err == nil {
		id.Resolved = "/" + filepath.ToSlash(rel)
	} else {
		id.Resolved = dir
	}
	if n, ok := readIntAttr(dir, "size"); ok {
		id.Size = n * 512
	}
	id.ReadOnly = readAttr(dir, "ro") == "1"
	id.Holders = listDir(filepath.Join(dir, "holders"))
	id.Slaves = listDir(filepath.Join(dir, "slaves"))

	diskDir := dir
	if _, err := os.Stat(filepath.Join(dir, "partition")); err == nil {
		id.IsPart = true
		n, _ := readIntAttr(dir, "partition")
		id.PartNumber = int(n)
		if s, ok := readIntAttr(dir, "start"); ok {
			id.Start = s * 512
		}
		diskDir = filepath.Dir(dir)
		id.Parent = filepath.Base(diskDir)
	}
	// Identity and queue limits belong to the disk.
	if n, ok := readIntAttr(diskDir, "queue", "logical_block_size"); ok {
		id.Logical = int(n)
	}
	if n, ok := readIntAttr(diskDir, "queue", "physical_block_size"); ok {
		id.Physical = int(n)
	}
	id.Removable = readAttr(diskDir, "removable") == "1"
	id.Model = firstNonEmpty(readAttr(diskDir, "device", "model"), readAttr(diskDir, "device", "name"))
	id.Serial = diskSerial(diskDir)
	id.WWN = firstNonEmpty(readAttr(diskDir, "wwid"), readAttr(diskDir, "device", "wwid"))
	diskName := filepath.Base(diskDir)
	id.Backing = readAttr(diskDir, "loop", "backing_file")
	diskResolved := id.Resolved
	if id.IsPart {
		diskResolved = filepath.Dir(id.Resolved)
	}
	id.Transport = transportOf(diskName, diskResolved)
	return id, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// diskSerial finds a serial number without udev: the disk's own "serial"
// (virtio-blk), device/serial (NVMe, MMC, some SCSI), SCSI VPD page 0x80
// (SATA behind libata, SAS, USB bridges), or the USB device's serial.
func diskSerial(diskDir string) string {
	if s := firstNonEmpty(readAttr(diskDir, "serial"), readAttr(diskDir, "device", "serial")); s != "" {
		return s
	}
	if b, err := os.ReadFile(filepath.Join(diskDir, "device", "vpd_pg80")); err == nil {
		if s := parseVPD80(b); s != "" {
			return s
		}
	}
	// USB: walk up from the SCSI device to the USB device (it has idVendor).
	dev, err := filepath.EvalSymlinks(filepath.Join(diskDir, "device"))
	if err != nil {
		return ""
	}
	root := filepath.Clean(SysRoot)
	for d := dev; len(d) > len(root) && d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "idVendor")); err == nil {
			return readAttr(d, "serial")
		}
	}
	return ""
}

// parseVPD80 decodes a SCSI Unit Serial Number VPD page (0x80):
// byte 1 is the page code, bytes 2-3 the big-endian page length, the serial
// follows at byte 4, space padded.
func parseVPD80(b []byte) string {
	if len(b) < 4 || b[1] != 0x80 {
		return ""
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if 4+n > len(b) {
		n = len(b) - 4
	}
	s := bytes.Trim(b[4:4+n], " \x00\t\r\n")
	for _, c := range s {
		if c < 0x20 || c > 0x7e {
			return ""
		}
	}
	return string(s)
}

// transportOf derives the transport from the kernel name and the resolved
// sysfs device path (relative to SysRoot, starting with /devices/). A disk
// on a SCSI host (…/hostN/targetN:…) below a virtio device is virtio-scsi
// (QEMU's scsi-hd): it is "scsi"; "virtio" is virtio-blk (vd*).
func transportOf(name, resolved string) string {
	p := resolved + "/"
	scsiHost := strings.Contains(p, "/host") && strings.Contains(p, "/target")
	switch {
	case strings.HasPrefix(name, "loop"):
		return "loop"
	case strings.HasPrefix(name, "md"):
		return "md"
	case strings.HasPrefix(name, "dm-"):
		return "dm"
	case strings.HasPrefix(name, "nbd"):
		return "nbd"
	case strings.Contains(p, "/nvme"):
		return "nvme"
	case strings.Contains(p, "/usb"):
		return "usb"
	case strings.Contains(p, "/mmc_host/") || strings.HasPrefix(name, "mmcblk"):
		return "mmc"
	case strings.Contains(p, "/virtio") && !scsiHost:
		return "virtio"
	case strings.Contains(p, "/ata"):
		return "sata"
	case strings.Contains(p, "/end_device-") || strings.Contains(p, "/sas_"):
		return "sas"
	case strings.Contains(p, "/firewire"):
		return "firewire"
	case scsiHost:
		return "scsi"
	case strings.Contains(p, "/devices/virtual/"):
		return "virtual"
	}
	return ""
}

// diskPartitions lists the kernel partitions of disk name, in sysfs order
// sorted by partition number.
func diskPartitions(name string) []string {
	dir, err := sysDir(name)
	if err != nil {
		return nil
	}
	type np struct {
		name string
		n    int64
	}
	var parts []np
	for _, e := range listDir(dir) {
		if n, ok := readIntAttr(dir, e, "partition"); ok {
			parts = append(parts, np{e, n})
		}
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].n < parts[j].n })
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = p.name
	}
	return out
}
