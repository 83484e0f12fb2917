package main

import (
	"fmt"
	"os"

	"github.com/coldimage/coldimage/disk"

	"golang.org/x/sys/unix"
)

// setReadOnly sets BLKROSET=1 on dev and confirms with BLKROGET. The node
// is opened O_RDONLY (never for writing) and no byte is read.
// It is package disk's SetReadOnly, shared with `coldimage acquire`.
func setReadOnly(dev string) error {
	return disk.SetReadOnly(dev)
}

// clearReadOnly makes the chosen target writable again.
func clearReadOnly(dev string) error {
	return setRO(dev, 0)
}

func setRO(dev string, v int) error {
	f, err := os.OpenFile(dev, os.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dev, err)
	}
	defer f.Close()
	if err := unix.IoctlSetPointerInt(int(f.Fd()), unix.BLKROSET, v); err != nil {
		return fmt.Errorf("BLKROSET %d on %s: %w", v, dev, err)
	}
	got, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKROGET)
	if err != nil {
		return fmt.Errorf("BLKROGET on %s: %w", dev, err)
	}
	if got != v {
		return fmt.Errorf("BLKROGET on %s says %d after BLKROSET %d", dev, got, v)
	}
	return nil
}

// blkROGet reads the current read-only flag.
func blkROGet(dev string) (int, error) {
	f, err := os.OpenFile(dev, os.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return -1, err
	}
	defer f.Close()
	return unix.IoctlGetInt(int(f.Fd()), unix.BLKROGET)
}
