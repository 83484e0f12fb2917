//go:build linux

package disk

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// openRO opens path for reading only. Nothing in this package opens a
// source any other way.
func openRO(path string, extra int) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|extra, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// blockDevName returns the kernel name of the block device node at path
// (symlinks such as /dev/disk/by-id/... are followed).
func blockDevName(path string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "", fmt.Errorf("stat %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return "", fmt.Errorf("%s is not a block device", path)
	}
	return nameForDevNum(unix.Major(st.Rdev), unix.Minor(st.Rdev))
}

// Inspect describes path: a block device (disk or partition) or a regular
// file (an image, possibly with a partition table). It only reads.
func Inspect(path string) (Info, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Info{}, fmt.Errorf("inspect %s: %w", path, err)
	}
	switch {
	case st.Mode().IsRegular():
		return inspectFile(path, st.Size())
	case st.Mode()&os.ModeDevice != 0 && st.Mode()&os.ModeCharDevice == 0:
		name, err := blockDevName(path)
		if err != nil {
			return Info{}, fmt.Errorf("inspect %s: %w", path, err)
		}
		return inspectBlock(name, path, nil)
	}
	return Info{}, fmt.Errorf("inspect %s: not a block device or regular file (mode %v)", path, st.Mode())
}

// inspectFile describes a regular file; a partition table inside it is
// reported with its partitions (Kind "part", Path "", not openable).
func inspectFile(path string, size int64) (Info, error) {
	info := Info{
		Path: path, Name: filepath.Base(path), Kind: KindFile, Size: size,
		LogicalSector: 512, PhysicalSector: 512, Transport: "file",
	}
	f, err := openRO(path, 0)
	if err != nil {
		return info, fmt.Errorf("inspect %s: %w", path, err)
	}
	defer f.Close()
	info.ProbeFS(f, size)
	table, entries := readPartTable(f, size, 512)
	info.PartTable = table
	for _, e := range entries {
		p := Info{
			Name: fmt.Sprintf("%s-p%d", info.Name, e.Number), Kind: KindPart, Size: e.Size,
			LogicalSector: 512, PhysicalSector: 512, Transport: "file",
			Parent: info.Name, PartNumber: e.Number, Start: e.Start,
			PartType: e.Type, PartLabel: e.Label, PartUUID: e.UUID,
		}
		p.ProbeFS(io.NewSectionReader(f, e.Start, e.Size), e.Size)
		info.Partitions = append(info.Partitions, p)
	}
	return info, nil
}

// inspectBlock describes kernel block device name opened through path.
// For a disk it reads the partition table and nests the kernel's
// partitions; for a partition it reads the parent's table for type and
// label, unless the caller passes the parent's entries.
func inspectBlock(name, path string, parentEntries []partEntry) (Info, error) {
	id, err := readSysIdent(name)
	if err != nil {
		return Info{Path: path, Name: name}, fmt.Errorf("inspect %s: %w", path, err)
	}
	info := sysInfo(id, path)

	f, err := openRO(path, 0)
	if err != nil {
		err = fmt.Errorf("inspect %s: %w", path, err)
		if !id.IsPart {
			// Still show what sysfs knows about the partitions.
			for _, pn := range diskPartitions(name) {
				p, perr := inspectBlock(pn, filepath.Join(DevRoot, pn), []partEntry{})
				if perr != nil {
					p.Error = perr.Error()
				}
				info.Partitions = append(info.Partitions, p)
			}
		}
		return info, err
	}
	defer f.Close()
	fd := int(f.Fd())
	if info.Size, err = blkSize64(fd); err != nil {
		return info, fmt.Errorf("inspect %s: BLKGETSIZE64: %w", path, err)
	}
	if info.LogicalSector, info.PhysicalSector, err = blkSectorSizes(fd); err != nil {
		return info, fmt.Errorf("inspect %s: %w", path, err)
	}
	if info.ReadOnly, err = blkROGet(fd); err != nil {
		return info, fmt.Errorf("inspect %s: %w", path, err)
	}
	noteAccess("read", fd)
	if info.Size > 0 {
		info.ProbeFS(f, info.Size)
	}

	if id.IsPart {
		if parentEntries == nil {
			parentEntries = parentTable(id.Parent)
		}
		applyEntry(&info, parentEntries)
		return info, nil
	}

	var entries []partEntry
	if info.Size > 0 {
		info.PartTable, entries = readPartTable(f, info.Size, info.LogicalSector)
	}
	if entries == nil {
		entries = []partEntry{} // read: do not re-read for each partition
	}
	kparts := diskPartitions(name)
	for _, pn := range kparts {
		p, err := inspectBlock(pn, filepath.Join(DevRoot, pn), entries)
		if err != nil {
			p.Error = err.Error()
			applyEntry(&p, entries)
		}
		info.Partitions = append(info.Partitions, p)
	}
	if len(kparts) == 0 {
		// The kernel did not scan the table (e.g. a loop device without
		// partscan): report the table's view, not openable on its own.
		for _, e := range entries {
			p := Info{
				Name: fmt.Sprintf("%s-p%d", name, e.Number), Kind: KindPart, Size: e.Size,
				LogicalSector: info.LogicalSector, PhysicalSector: info.PhysicalSector,
				Model: info.Model, Serial: info.Serial, WWN: info.WWN, Transport: info.Transport,
				Removable: info.Removable, ReadOnly: info.ReadOnly,
				Parent: name, PartNumber: e.Number, Start: e.Start,
				PartType: e.Type, PartLabel: e.Label, PartUUID: e.UUID,
			}
			p.ProbeFS(io.NewSectionReader(f, e.Start, e.Size), e.Size)
			info.Partitions = append(info.Partitions, p)
		}
	}
	return info, nil
}

// sysInfo is what sysfs alone says about a block device.
func sysInfo(id sysIdent, path string) Info {
	info := Info{
		Path: path, Name: id.Name, Kind: KindDisk, Size: id.Size,
		LogicalSector: id.Logical, PhysicalSector: id.Physical,
		Model: id.Model, Serial: id.Serial, WWN: id.WWN, Transport: id.Transport,
		Removable: id.Removable, ReadOnly: id.ReadOnly, Holders: id.Holders,
	}
	if id.IsPart {
		info.Kind = KindPart
		info.Parent, info.PartNumber, info.Start = id.Parent, id.PartNumber, id.Start
	}
	return info
}

// Describe is what sysfs says about kernel block device name, without
// opening the device: identity, size, the partition's place and its GPT
// name (the kernel's PARTNAME). The appliance describes devices its
// write-blocker has not confirmed yet with it; Inspect reads the device.
func Describe(name string) (Info, error) {
	id, err := readSysIdent(name)
	if err != nil {
		return Info{Path: filepath.Join(DevRoot, name), Name: name, Kind: KindDisk}, err
	}
	info := sysInfo(id, filepath.Join(DevRoot, name))
	if id.IsPart {
		info.PartLabel = ueventValue(filepath.Join(SysRoot, "class", "block", name), "PARTNAME")
	}
	return info, nil
}

// ueventValue reads KEY=value from a sysfs device's uevent file.
func ueventValue(dir, key string) string {
	for _, l := range strings.Split(readAttr(dir, "uevent"), "\n") {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			return v
		}
	}
	return ""
}

// parentTable reads the partition table of disk parent, nil on failure.
func parentTable(parent string) []partEntry {
	f, err := openRO(filepath.Join(DevRoot, parent), 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	size, err := blkSize64(int(f.Fd()))
	if err != nil {
		return nil
	}
	logical, _, err := blkSectorSizes(int(f.Fd()))
	if err != nil {
		return nil
	}
	noteAccess("read", int(f.Fd()))
	_, entries := readPartTable(f, size, logical)
	return entries
}

// applyEntry copies type, label and GUID of the table entry that matches a
// kernel partition (same number and start; MBR logical partitions, which
// go-diskfs does not read, stay without).
func applyEntry(p *Info, entries []partEntry) {
	for _, e := range entries {
		if e.Number == p.PartNumber && e.Start == p.Start {
			p.PartType, p.PartLabel, p.PartUUID = e.Type, e.Label, e.UUID
			if p.Encryption == "" {
				p.Encryption = TypeEncryption(p.PartType)
			}
			return
		}
	}
}

// List describes every disk in SysRoot/block, partitions nested, sorted by
// name. RAM disks, zram and unbound loop devices are skipped. A disk that
// cannot be opened (no medium, permissions) is listed from sysfs with Error
// set instead of failing the whole list.
func List() ([]Info, error) {
	ents, err := os.ReadDir(filepath.Join(SysRoot, "block"))
	if err != nil {
		return nil, fmt.Errorf("list block devices: %w", err)
	}
	var out []Info
	for _, e := range ents {
		name := e.Name()
		if skipInList(name) {
			continue
		}
		info, err := inspectBlock(name, filepath.Join(DevRoot, name), nil)
		if err != nil {
			info.Error = err.Error()
			if info.Kind == "" {
				info.Kind = KindDisk
			}
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func skipInList(name string) bool {
	switch {
	case strings.HasPrefix(name, "ram"), strings.HasPrefix(name, "zram"):
		return true
	case strings.HasPrefix(name, "loop"):
		return readAttr(SysRoot, "block", name, "loop", "backing_file") == ""
	}
	return false
}

// SetReadOnly sets the kernel read-only flag of block device path
// (BLKROSET=1) and confirms it with BLKROGET.
func SetReadOnly(path string) error {
	if _, err := blockDevName(path); err != nil {
		return fmt.Errorf("set read-only: %w", err)
	}
	f, err := openRO(path, 0)
	if err != nil {
		return fmt.Errorf("set read-only: %w", err)
	}
	defer f.Close()
	return setROfd(path, int(f.Fd()))
}

func setROfd(path string, fd int) error {
	if err := blkROSet(fd, true); err != nil {
		return fmt.Errorf("set read-only on %s: %w", path, err)
	}
	ro, err := blkROGet(fd)
	if err != nil {
		return fmt.Errorf("confirm read-only on %s: %w", path, err)
	}
	if !ro {
		return fmt.Errorf("confirm read-only on %s: %w", path, ErrNotReadOnly)
	}
	noteAccess("setro", fd)
	return nil
}

// ErrNotReadOnly: BLKROGET still reports writable after BLKROSET.
var ErrNotReadOnly = errors.New("kernel still reports the device writable (BLKROGET=0) after BLKROSET")
