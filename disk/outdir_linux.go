//go:build linux

package disk

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// nearestExisting returns the absolute, symlink-resolved path of dir or of
// its nearest existing ancestor.
func nearestExisting(dir string) (string, error) {
	p, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", dir, err)
	}
	for {
		if _, err := os.Stat(p); err == nil {
			r, err := filepath.EvalSymlinks(p)
			if err != nil {
				return "", fmt.Errorf("resolve %s: %w", p, err)
			}
			return r, nil
		} else if !os.IsNotExist(err) {
			return "", fmt.Errorf("stat %s: %w", p, err)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return "", fmt.Errorf("resolve %s: no existing ancestor", dir)
		}
		p = parent
	}
}

// FreeSpace returns the bytes available to us (statfs f_bavail) on the file
// system holding dir, or its nearest existing ancestor.
func FreeSpace(dir string) (int64, error) {
	p, err := nearestExisting(dir)
	if err != nil {
		return 0, fmt.Errorf("free space: %w", err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return 0, fmt.Errorf("free space on %s: statfs: %w", p, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// OutputOnSource reports whether writing to dir (which may not exist yet)
// would write onto source src, with a human reason when it would.
//
// Block devices: true when dir's file system lives on the source, on the
// disk holding it, on any partition of that disk, or on any device stacked
// on those (sysfs holders, transitively; loop devices backed by a file on
// them). The whole physical disk counts as evidence.
//
// Regular files: true when dir, or an output file the engine would write in
// dir (image.*, acquisition.*), is the source file itself, or when dir lives
// on a loop device backed by the source file. Other files on the same file
// system are fine.
func OutputOnSource(dir string, src Info) (bool, string, error) {
	existing, err := nearestExisting(dir)
	if err != nil {
		return false, "", fmt.Errorf("self-target check: %w", err)
	}
	if src.Kind == KindFile {
		if on, why, err := fileIsSource(dir, existing, src); on || err != nil {
			return on, why, err
		}
	}
	return landsOnSource("OUTDIR "+dir, existing, src)
}

// OutputFileOnSource reports whether creating and writing the file path
// (which may not exist yet; raid assemble -o OUT) would write onto source
// src, with a human reason when it would: path is the source itself
// (directly, through symlinks or as a hard link), or a block device the
// source taints (the source, its disk, its partitions, devices stacked on
// them, a loop device backed by a source file), or its directory lies on
// a file system of the source as OutputOnSource decides for an OUTDIR.
func OutputFileOnSource(path string, src Info) (bool, string, error) {
	what := "output " + path
	if st, err := os.Stat(path); err == nil { // symlinks followed
		if sst, err := os.Stat(src.Path); err == nil && os.SameFile(st, sst) {
			return true, fmt.Sprintf("%s is the source %s", what, src.Path), nil
		}
		if isBlockMode(st.Mode()) {
			name, err := blockDevName(path)
			if err != nil {
				return false, "", fmt.Errorf("self-target check: %w", err)
			}
			tainted, err := taintedBy(src)
			if err != nil {
				return false, "", err
			}
			if why, ok := tainted[name]; ok {
				return true, fmt.Sprintf("%s is %s", what, why), nil
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, "", fmt.Errorf("self-target check: %w", err)
	}
	existing, err := nearestExisting(filepath.Dir(path))
	if err != nil {
		return false, "", fmt.Errorf("self-target check: %w", err)
	}
	return landsOnSource(what, existing, src)
}

// fileIsSource: for a file source, the output directory, or an output file
// the engine would write in it (image.*, acquisition.*), is the source file.
func fileIsSource(dir, existing string, src Info) (bool, string, error) {
	sst, err := os.Stat(src.Path)
	if err != nil {
		return false, "", fmt.Errorf("self-target check: %w", err)
	}
	if st, err := os.Stat(existing); err == nil && os.SameFile(st, sst) {
		return true, fmt.Sprintf("OUTDIR %s is the source file %s", dir, src.Path), nil
	}
	for _, pat := range []string{"image.*", "acquisition.*"} {
		m, _ := filepath.Glob(filepath.Join(existing, pat))
		for _, f := range m {
			if st, err := os.Stat(f); err == nil && os.SameFile(st, sst) {
				return true, fmt.Sprintf("output file %s would be the source file %s", f, src.Path), nil
			}
		}
	}
	return false, "", nil
}

// landsOnSource reports whether the file system holding existing (an
// existing, resolved directory) lives on a device source src taints.
// what names the output in the reason.
func landsOnSource(what, existing string, src Info) (bool, string, error) {
	tainted, err := taintedBy(src)
	if err != nil {
		return false, "", err
	}
	if len(tainted) == 0 {
		return false, "", nil
	}
	outDevs, err := devicesUnder(existing)
	if err != nil {
		return false, "", fmt.Errorf("self-target check: %w", err)
	}
	for _, d := range outDevs {
		if why, ok := tainted[d]; ok {
			return true, fmt.Sprintf("%s is on %s", what, why), nil
		}
		// Downward too: a device mapper / md target built on a tainted device.
		for _, s := range slavesOf(d) {
			if why, ok := tainted[s]; ok {
				return true, fmt.Sprintf("%s is on %s, which is built on %s", what, d, why), nil
			}
		}
	}
	return false, "", nil
}

// taintedBy maps the devices that must not receive output while src is
// imaged to why: for a block device taintedDevices; for a regular file the
// loop devices backed by it (the image may be attached: writing to its
// file system writes into the source file) and what taintedDevices says
// of them.
func taintedBy(src Info) (map[string]string, error) {
	if src.Kind != KindFile {
		srcName := src.Name
		if n, err := blockDevName(src.Path); err == nil {
			srcName = n
		}
		t, err := taintedDevices(srcName)
		if err != nil {
			return nil, fmt.Errorf("self-target check for %s: %w", src.Path, err)
		}
		return t, nil
	}
	sst, err := os.Stat(src.Path)
	if err != nil {
		return nil, fmt.Errorf("self-target check: %w", err)
	}
	out := map[string]string{}
	for loop, back := range boundLoops() {
		if st, err := os.Stat(back); err != nil || !os.SameFile(st, sst) {
			continue
		}
		t, err := taintedDevices(loop)
		if err != nil {
			continue
		}
		for d, why := range t {
			if _, ok := out[d]; !ok {
				out[d] = fmt.Sprintf("%s; %s is backed by the source file %s", why, loop, src.Path)
			}
		}
	}
	return out, nil
}

// taintedDevices maps every kernel device name that must not receive
// output while srcName is imaged to a description of why.
func taintedDevices(srcName string) (map[string]string, error) {
	id, err := readSysIdent(srcName)
	if err != nil {
		return nil, err
	}
	base := srcName
	t := map[string]string{srcName: srcName + ", the source"}
	if id.IsPart {
		base = id.Parent
		t[base] = fmt.Sprintf("%s, the disk holding source %s", base, srcName)
	}
	for _, p := range diskPartitions(base) {
		if _, ok := t[p]; ok {
			continue
		}
		if base == srcName {
			t[p] = fmt.Sprintf("%s, a partition of source %s", p, srcName)
		} else {
			t[p] = fmt.Sprintf("%s, another partition of disk %s holding source %s", p, base, srcName)
		}
	}
	// A RAID / device-mapper source: the devices under it (transitively)
	// and the disks holding them are evidence too.
	for _, s := range slavesOf(srcName) {
		if _, ok := t[s]; !ok {
			t[s] = fmt.Sprintf("%s, under source %s", s, srcName)
		}
		sid, err := readSysIdent(s)
		if err != nil || !sid.IsPart {
			continue
		}
		if _, ok := t[sid.Parent]; !ok {
			t[sid.Parent] = fmt.Sprintf("%s, the disk holding %s under source %s", sid.Parent, s, srcName)
		}
		for _, p := range diskPartitions(sid.Parent) {
			if _, ok := t[p]; !ok {
				t[p] = fmt.Sprintf("%s, on disk %s holding %s under source %s", p, sid.Parent, s, srcName)
			}
		}
	}
	loops := boundLoops()
	for changed := true; changed; {
		changed = false
		for name := range t {
			for _, h := range listDir(filepath.Join(SysRoot, "class", "block", name, "holders")) {
				if _, ok := t[h]; !ok {
					t[h] = fmt.Sprintf("%s, stacked on %s (source %s)", h, name, srcName)
					changed = true
				}
			}
		}
		for loop, back := range loops {
			if _, ok := t[loop]; ok {
				continue
			}
			devs, err := devicesUnder(back)
			if err != nil {
				continue
			}
			for _, d := range devs {
				if _, ok := t[d]; ok {
					t[loop] = fmt.Sprintf("%s, backed by %s on %s (source %s)", loop, back, d, srcName)
					for _, p := range diskPartitions(loop) {
						t[p] = fmt.Sprintf("%s, a partition of %s backed by %s on %s (source %s)", p, loop, back, d, srcName)
					}
					changed = true
					break
				}
			}
		}
	}
	return t, nil
}

// boundLoops maps loop device names to their backing files.
func boundLoops() map[string]string {
	m := map[string]string{}
	for _, n := range listDir(filepath.Join(SysRoot, "block")) {
		if !strings.HasPrefix(n, "loop") {
			continue
		}
		if b := strings.TrimSuffix(readAttr(SysRoot, "block", n, "loop", "backing_file"), " (deleted)"); b != "" {
			m[n] = b
		}
	}
	return m
}

func slavesOf(name string) []string {
	seen := map[string]bool{}
	var walk func(n string)
	walk = func(n string) {
		for _, s := range listDir(filepath.Join(SysRoot, "class", "block", n, "slaves")) {
			if !seen[s] {
				seen[s] = true
				walk(s)
			}
		}
	}
	walk(name)
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	return out
}

// devicesUnder returns the block devices holding path's file system: the
// device of st_dev when it is a block device, the mount's source device
// (btrfs and others use anonymous st_dev numbers), and, for btrfs, every
// member device.
func devicesUnder(path string) ([]string, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	var out []string
	add := func(n string) {
		for _, o := range out {
			if o == n {
				return
			}
		}
		out = append(out, n)
	}
	if n, err := nameForDevNum(unix.Major(st.Dev), unix.Minor(st.Dev)); err == nil {
		add(n)
	}
	if m, ok := mountOf(path, st.Dev); ok && strings.HasPrefix(m.source, "/") {
		if n, err := blockDevName(m.source); err == nil {
			add(n)
			if m.fstype == "btrfs" {
				for _, d := range btrfsMembers(n) {
					add(d)
				}
			}
		}
	}
	return out, nil
}

type mountEntry struct {
	point, fstype, source string
}

// mountOf finds the mount holding path in /proc/self/mountinfo: the entry
// with the same device number, else the longest mount point prefix.
func mountOf(path string, dev uint64) (mountEntry, bool) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return mountEntry{}, false
	}
	defer f.Close()
	var best mountEntry
	bestLen := -1
	devStr := fmt.Sprintf("%d:%d", unix.Major(dev), unix.Minor(dev))
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, fl := range fields {
			if fl == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 5 || sep < 0 || sep+2 >= len(fields) {
			continue
		}
		mp := unescapeMount(fields[4])
		if !(path == mp || mp == "/" || strings.HasPrefix(path, mp+"/")) {
			continue
		}
		l := len(mp)
		if fields[2] == devStr {
			l += 1 << 20 // the right device wins over a longer unrelated prefix
		}
		if l >= bestLen {
			bestLen = l
			best = mountEntry{point: mp, fstype: fields[sep+1], source: unescapeMount(fields[sep+2])}
		}
	}
	return best, bestLen >= 0
}

// unescapeMount decodes mountinfo's octal escapes (\040 for space, ...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// btrfsMembers lists the devices of the btrfs file system on device name.
func btrfsMembers(name string) []string {
	f, err := openRO(filepath.Join(DevRoot, name), 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	size, err := blkSize64(int(f.Fd()))
	if err != nil {
		return nil
	}
	noteAccess("read", int(f.Fd()))
	fs, ok := probeBtrfs(f, size)
	if !ok || fs.UUID == "" {
		return nil
	}
	return listDir(filepath.Join(SysRoot, "fs", "btrfs", fs.UUID, "devices"))
}
