//go:build linux

package disk

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// blkSize64 returns BLKGETSIZE64 (bytes).
func blkSize64(fd int) (int64, error) {
	var n uint64
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&n))); e != 0 {
		return 0, e
	}
	return int64(n), nil
}

// blkSectorSizes returns BLKSSZGET (logical) and BLKPBSZGET (physical).
func blkSectorSizes(fd int) (logical, physical int, err error) {
	if logical, err = unix.IoctlGetInt(fd, unix.BLKSSZGET); err != nil {
		return 0, 0, fmt.Errorf("BLKSSZGET: %w", err)
	}
	p, err := unix.IoctlGetUint32(fd, unix.BLKPBSZGET)
	if err != nil {
		return 0, 0, fmt.Errorf("BLKPBSZGET: %w", err)
	}
	return logical, int(p), nil
}

// blkROGet returns the kernel read-only flag (BLKROGET).
func blkROGet(fd int) (bool, error) {
	v, err := unix.IoctlGetInt(fd, unix.BLKROGET)
	if err != nil {
		return false, fmt.Errorf("BLKROGET: %w", err)
	}
	return v != 0, nil
}

// blkROSet sets the kernel read-only flag (BLKROSET); needs CAP_SYS_ADMIN,
// works on an O_RDONLY descriptor.
func blkROSet(fd int, ro bool) error {
	v := 0
	if ro {
		v = 1
	}
	if err := unix.IoctlSetPointerInt(fd, unix.BLKROSET, v); err != nil {
		return fmt.Errorf("BLKROSET: %w", err)
	}
	return nil
}
