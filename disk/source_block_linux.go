//go:build linux

package disk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// WriteBlocker sets block devices read-only in the kernel (BLKROSET,
// confirmed by BLKROGET) before anything reads them, and keeps the
// read-only descriptor that did so open until Close. A program that reads
// evidence calls Block (or BlockReadOnlyDisks) first and Inspect,
// OpenSource or any other reader only after it returned.
//
// The kernel flag outlives Close and the process (on a loop device it even
// outlives losetup -d): undo it with `blockdev --setrw DEV`.
type WriteBlocker struct {
	mu    sync.Mutex
	held  map[string]*os.File // kernel name → descriptor that set the flag
	paths []string            // in the order they were blocked
}

// NewWriteBlocker returns an empty WriteBlocker.
func NewWriteBlocker() *WriteBlocker { return &WriteBlocker{held: map[string]*os.File{}} }

// IsBlockDevice reports whether path (symlinks followed) is a block device.
func IsBlockDevice(path string) bool {
	st, err := os.Stat(path)
	return err == nil && isBlockMode(st.Mode())
}

func isBlockMode(m os.FileMode) bool { return m&os.ModeDevice != 0 && m&os.ModeCharDevice == 0 }

// Block write-blocks path when it is a block device (symlinks such as
// /dev/disk/by-id/… followed) together with what reading it through this
// package also reads: for a partition the disk holding it (Inspect reads
// its partition table), for a disk its partitions (Inspect probes their
// file systems). Every one is set read-only and confirmed before Block
// returns; the first failure is returned and nothing should then be read.
// A regular file needs no flag: nil. Anything else is an error.
func (w *WriteBlocker) Block(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("write-block %s: %w", path, err)
	}
	if st.Mode().IsRegular() {
		return nil
	}
	if !isBlockMode(st.Mode()) {
		return fmt.Errorf("write-block %s: not a block device or regular file (mode %v)", path, st.Mode())
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	name, err := w.blockOne(path)
	if err != nil {
		return err
	}
	return w.blockRelated(name)
}

// blockRelated write-blocks the disk holding partition name, or the
// partitions of disk name, through their nodes in DevRoot (the nodes
// Inspect opens; a node that does not exist is read by nobody).
func (w *WriteBlocker) blockRelated(name string) error {
	id, err := readSysIdent(name)
	if err != nil {
		return fmt.Errorf("write-block %s: %w", name, err)
	}
	related := diskPartitions(name)
	if id.IsPart {
		related = []string{id.Parent}
	}
	for _, r := range related {
		p := filepath.Join(DevRoot, r)
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if _, err := w.blockOne(p); err != nil {
			return err
		}
	}
	return nil
}

// blockOne opens path read-only, sets BLKROSET and confirms BLKROGET on
// that descriptor, and keeps it. It returns the kernel name of the device
// the descriptor holds.
func (w *WriteBlocker) blockOne(path string) (string, error) {
	f, err := openRO(path, 0)
	if err != nil {
		return "", fmt.Errorf("write-block %s: %w", path, err)
	}
	name, err := fdDevName(int(f.Fd()))
	if err != nil {
		f.Close()
		return "", fmt.Errorf("write-block %s: %w", path, err)
	}
	if _, ok := w.held[name]; ok {
		f.Close()
		return name, nil
	}
	if err := setROfd(path, int(f.Fd())); err != nil {
		f.Close()
		return "", fmt.Errorf("write-block: %w", err)
	}
	w.held[name] = f
	w.paths = append(w.paths, filepath.Join(DevRoot, name))
	return name, nil
}

// BlockReadOnlyDisks write-blocks, as Block does, every disk (partitions
// included) that the kernel already reports read-only (sysfs ro = 1: a
// hardware write-blocker, the appliance's sweep, blockdev --setro), so that
// they can be searched — for RAID members — without reading a writable
// device and without changing the state of a device nobody named. It
// returns the paths of those disks, and one line per disk it left alone
// and did not read ("sdb: writable").
func (w *WriteBlocker) BlockReadOnlyDisks() (disks, notSearched []string, err error) {
	names := listDir(filepath.Join(SysRoot, "block"))
	if names == nil {
		return nil, nil, fmt.Errorf("list block devices: nothing in %s", filepath.Join(SysRoot, "block"))
	}
	for _, name := range names {
		if skipInList(name) {
			continue
		}
		node := filepath.Join(DevRoot, name)
		if _, err := os.Stat(node); err != nil {
			notSearched = append(notSearched, name+": no device node")
			continue
		}
		if readAttr(SysRoot, "block", name, "ro") != "1" {
			notSearched = append(notSearched, name+": writable")
			continue
		}
		if err := w.Block(node); err != nil {
			notSearched = append(notSearched, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		disks = append(disks, node)
	}
	return disks, notSearched, nil
}

// Blocked returns the device paths (DevRoot/NAME) set read-only so far, in
// order.
func (w *WriteBlocker) Blocked() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.paths...)
}

// Close closes the descriptors; the kernel flags stay set.
func (w *WriteBlocker) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var errs []error
	for _, f := range w.held {
		errs = append(errs, f.Close())
	}
	w.held = map[string]*os.File{}
	return errors.Join(errs...)
}

// fdDevName is the kernel name of the block device open on fd.
func fdDevName(fd int) (string, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "", fmt.Errorf("fstat: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return "", errors.New("not a block device")
	}
	return nameForDevNum(unix.Major(st.Rdev), unix.Minor(st.Rdev))
}

// accessHook, set only by tests, is told of every BLKROSET ("setro") and
// every read ("read") of a block device by this package, with the kernel
// name of the device.
var accessHook func(op, name string)

func noteAccess(op string, fd int) {
	if accessHook == nil {
		return
	}
	name, err := fdDevName(fd)
	if err != nil {
		return // not a block device: regular files need no flag
	}
	accessHook(op, name)
}
