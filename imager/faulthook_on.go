//go:build coldimage_faulthook

package imager

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// FaultHookCompiled: this is a TEST build with the fault hook compiled in.
const FaultHookCompiled = true

// FaultHook panics, on purpose, at point for a device whose serial (read
// from sysfs when not given) or path holds the point's marker: it stands
// for a parser crashing on malformed metadata. Test builds only.
func FaultHook(point FaultPoint, name, serial string) {
	var mark string
	switch point {
	case FaultFirstPiece:
		mark = FaultSerialJob
	case FaultListing:
		mark = FaultSerialList
	default:
		return
	}
	if serial == "" {
		serial = sysSerial(name)
	}
	if strings.Contains(serial, mark) || strings.Contains(name, mark) {
		panic(fmt.Sprintf("coldimage fault hook: %s at the %s of %s (serial %q)", mark, point, name, serial))
	}
}

// sysSerial reads the serial of the disk holding /dev/NAME: virtio-blk and
// NVMe have "serial", SCSI/SATA the VPD page 0x80.
func sysSerial(path string) string {
	if !strings.HasPrefix(path, "/dev/") {
		return ""
	}
	dir := filepath.Join("/sys/class/block", filepath.Base(path))
	if _, err := os.Stat(filepath.Join(dir, "partition")); err == nil {
		if p, err := filepath.EvalSymlinks(dir); err == nil {
			dir = filepath.Dir(p)
		}
	}
	for _, f := range []string{"serial", "device/serial"} {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			return strings.TrimSpace(string(b))
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "device", "vpd_pg80")); err == nil && len(b) > 4 {
		return strings.TrimSpace(strings.Trim(string(b[4:]), "\x00"))
	}
	return ""
}
