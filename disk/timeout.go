package disk

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// DefaultCommandTimeout is what LowerTimeout sets a source's SCSI command
// timeout to for an acquisition (the kernel's default is 30 s, and each
// failed read costs that plus error handling).
const DefaultCommandTimeout = 10 * time.Second

// TimeoutChange is a lowered command timeout (LowerTimeout): the sysfs
// attribute, its value before and the value set, in seconds.
type TimeoutChange struct{ File, Was, Set string }

// LowerTimeout sets the SCSI command timeout (device/timeout, in seconds)
// of disk `disk` (a kernel name: sda; SAS, SATA, USB and virtio-scsi disks
// have one, virtio-blk and NVMe do not) to d when it is higher, so a
// failing sector costs d and not the kernel's 30 s. It is the kernel's
// setting for the device: nothing is sent to the medium. It returns the
// change (nil when there was none to make) and a function that puts the
// old value back. The SCSI host's eh_deadline is left alone: the host may
// also carry the target, whose writes a host reset would abort.
func LowerTimeout(disk string, d time.Duration) (*TimeoutChange, func() error, error) {
	noop := func() error { return nil }
	secs := int64(d / time.Second)
	if disk == "" || secs <= 0 {
		return nil, noop, nil
	}
	file := filepath.Join(SysRoot, "block", disk, "device", "timeout")
	was, ok := readIntAttr(file)
	if !ok || was <= secs {
		return nil, noop, nil // no such setting, or low enough already
	}
	c := &TimeoutChange{File: file, Was: strconv.FormatInt(was, 10), Set: strconv.FormatInt(secs, 10)}
	if err := os.WriteFile(file, []byte(c.Set), 0o644); err != nil {
		return nil, noop, fmt.Errorf("lower the command timeout of %s (%s) to %s s: %w", disk, file, c.Set, err)
	}
	return c, func() error {
		if err := os.WriteFile(file, []byte(c.Was), 0o644); err != nil {
			return fmt.Errorf("put the command timeout of %s (%s) back to %s s: %w", disk, file, c.Was, err)
		}
		return nil
	}, nil
}
