//go:build linux

package disk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// loopDisk attaches img to a free loop device with partition scanning and
// returns the device and its partition nodes. Kernels without the needed
// partition parsers get the partitions through partx (BLKPG). Detached in
// t.Cleanup.
func loopDisk(t *testing.T, img string, extra ...string) (string, []string) {
	t.Helper()
	needRoot(t)
	needTool(t, "losetup")
	args := append([]string{"-f", "--show", "-P"}, extra...)
	dev := strings.TrimSpace(run(t, "losetup", append(args, img)...))
	t.Cleanup(func() {
		// BLKROSET on a loop device outlives losetup -d: clear it so the
		// next user of this loop device gets a writable one.
		for _, p := range diskPartitions(filepath.Base(dev)) {
			exec.Command("blockdev", "--setrw", filepath.Join("/dev", p)).Run()
		}
		if out, err := exec.Command("blockdev", "--setrw", dev).CombinedOutput(); err != nil {
			t.Errorf("blockdev --setrw %s: %v %s", dev, err, out)
		}
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v %s", dev, err, out)
		}
	})
	name := filepath.Base(dev)
	if len(diskPartitions(name)) == 0 {
		if _, err := exec.LookPath("partx"); err == nil {
			exec.Command("partx", "-a", dev).Run() // "no partitions" is fine
		}
	}
	var parts []string
	for _, p := range diskPartitions(name) {
		node := filepath.Join("/dev", p)
		for i := 0; i < 100; i++ {
			if _, err := os.Stat(node); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		parts = append(parts, node)
	}
	return dev, parts
}

// mountDev mounts dev at a new directory, unmounted in t.Cleanup.
func mountDev(t *testing.T, dev string, opts ...string) string {
	t.Helper()
	needTool(t, "mount")
	mnt := t.TempDir()
	run(t, "mount", append(opts, dev, mnt)...)
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", mnt, err, out)
		}
	})
	return mnt
}

const gptScript = "label: gpt\nstart=2048, size=32768, type=linux, name=\"data part\"\nstart=34816, size=73728, type=uefi, name=EFI\nsize=4M, type=swap\n"

func TestLoopInspectList(t *testing.T) {
	needRoot(t)
	img := partitionedImage(t, gptScript)
	dev, parts := loopDisk(t, img)
	if len(parts) != 3 {
		t.Fatalf("%s has %d partitions, want 3", dev, len(parts))
	}
	name := filepath.Base(dev)

	info, err := Inspect(dev)
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != KindDisk || info.Name != name || info.Size != 64<<20 || info.LogicalSector != 512 ||
		info.Transport != "loop" || info.PartTable != "gpt" {
		t.Fatalf("Inspect(%s) = %+v", dev, info)
	}
	var sf sfdiskJSON
	if err := json.Unmarshal([]byte(run(t, "sfdisk", "--json", dev)), &sf); err != nil {
		t.Fatal(err)
	}
	if len(info.Partitions) != len(sf.PartitionTable.Partitions) {
		t.Fatalf("%d partitions, sfdisk says %d", len(info.Partitions), len(sf.PartitionTable.Partitions))
	}
	for i, want := range sf.PartitionTable.Partitions {
		got := info.Partitions[i]
		if got.Path != want.Node || got.Kind != KindPart || got.Parent != name || got.PartNumber != i+1 ||
			got.Start != want.Start*512 || got.Size != want.Size*512 || got.PartLabel != want.Name ||
			!strings.EqualFold(got.PartType, want.Type) || got.Error != "" {
			t.Errorf("partition %d = %+v; sfdisk: %+v", i+1, got, want)
		}
	}
	if p := info.Partitions[0]; p.FSType != "ext4" || p.FSLabel != "DATA" {
		t.Errorf("%s: fs %q %q, want ext4 DATA", p.Path, p.FSType, p.FSLabel)
	}

	// A partition on its own reads its type and label from the parent.
	p2, err := Inspect(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	if p2.Kind != KindPart || p2.Parent != name || p2.PartNumber != 2 || p2.Start != 34816*512 ||
		p2.PartLabel != "EFI" || p2.FSType != "vfat" || p2.FSUUID != "0BAD-F00D" || ID(p2) != filepath.Base(parts[1]) {
		t.Errorf("Inspect(%s) = %+v", parts[1], p2)
	}

	list, err := List()
	if err != nil {
		t.Fatal(err)
	}
	var found *Info
	for i := range list {
		if i > 0 && list[i-1].Name > list[i].Name {
			t.Errorf("List not sorted: %s before %s", list[i-1].Name, list[i].Name)
		}
		if list[i].Name == name {
			found = &list[i]
		}
		if strings.HasPrefix(list[i].Name, "zram") || strings.HasPrefix(list[i].Name, "ram") {
			t.Errorf("List includes %s", list[i].Name)
		}
	}
	if found == nil {
		t.Fatalf("List does not include %s", name)
	}
	if len(found.Partitions) != 3 || found.PartTable != "gpt" {
		t.Errorf("List entry for %s: table %q, %d partitions", name, found.PartTable, len(found.Partitions))
	}
}

func TestLoopSectorSize4K(t *testing.T) {
	needRoot(t)
	img := sparseFile(t, "4k.img", 8<<20)
	dev, _ := loopDisk(t, img, "-b", "4096")
	info, err := Inspect(dev)
	if err != nil {
		t.Fatal(err)
	}
	ss := strings.TrimSpace(run(t, "blockdev", "--getss", dev))
	pbs := strings.TrimSpace(run(t, "blockdev", "--getpbsz", dev))
	if info.LogicalSector != 4096 || fmt.Sprint(info.LogicalSector) != ss || fmt.Sprint(info.PhysicalSector) != pbs {
		t.Errorf("sector sizes %d/%d, blockdev says %s/%s (want logical 4096)", info.LogicalSector, info.PhysicalSector, ss, pbs)
	}
}

// TestLoop4KnGPT partitions a 4096-byte-sector loop device: the kernel's
// partitions and the image file read on its own (GPT at byte 4096) must
// agree with sfdisk.
func TestLoop4KnGPT(t *testing.T) {
	needRoot(t)
	needTool(t, "sfdisk")
	img := sparseFile(t, "4kn.img", 64<<20)
	dev, _ := loopDisk(t, img, "-b", "4096")
	runIn(t, "label: gpt\nsize=8M, type=linux, name=four\nsize=4M, type=swap\n", "sfdisk", "-q", dev)
	if _, err := exec.LookPath("partx"); err == nil {
		exec.Command("partx", "-a", dev).Run()
	}
	var sf sfdiskJSON
	if err := json.Unmarshal([]byte(run(t, "sfdisk", "--json", dev)), &sf); err != nil {
		t.Fatal(err)
	}
	if sf.PartitionTable.SectorSize != 4096 {
		t.Fatalf("sfdisk sector size %d", sf.PartitionTable.SectorSize)
	}
	for _, path := range []string{img, dev} {
		info, err := Inspect(path)
		if err != nil {
			t.Fatal(err)
		}
		if info.PartTable != "gpt" || len(info.Partitions) != len(sf.PartitionTable.Partitions) {
			t.Fatalf("%s: table %q with %d partitions, sfdisk: gpt with %d", path, info.PartTable, len(info.Partitions), len(sf.PartitionTable.Partitions))
		}
		for i, want := range sf.PartitionTable.Partitions {
			got := info.Partitions[i]
			if got.Start != want.Start*4096 || got.Size != want.Size*4096 || got.PartLabel != want.Name || got.Error != "" {
				t.Errorf("%s partition %d: start %d size %d label %q %s; sfdisk: %d %d %q", path, i+1,
					got.Start, got.Size, got.PartLabel, got.Error, want.Start*4096, want.Size*4096, want.Name)
			}
		}
	}
}

func TestLoopSetReadOnly(t *testing.T) {
	needRoot(t)
	img := partitionedImage(t, gptScript)
	dev, parts := loopDisk(t, img)
	for _, d := range []string{parts[0], dev} {
		if ro := strings.TrimSpace(run(t, "blockdev", "--getro", d)); ro != "0" {
			t.Fatalf("%s starts read-only (%s)", d, ro)
		}
		if err := SetReadOnly(d); err != nil {
			t.Fatal(err)
		}
		if ro := strings.TrimSpace(run(t, "blockdev", "--getro", d)); ro != "1" {
			t.Errorf("after SetReadOnly(%s) blockdev --getro says %s", d, ro)
		}
		info, err := Inspect(d)
		if err != nil || !info.ReadOnly {
			t.Errorf("Inspect(%s).ReadOnly = %v, %v", d, info.ReadOnly, err)
		}
		// The kernel now refuses writes (a test fixture: a write that got
		// through would only touch the unused last sector).
		if f, err := os.OpenFile(d, os.O_WRONLY, 0); err == nil {
			_, werr := f.WriteAt(make([]byte, 512), info.Size-512)
			f.Close()
			if werr == nil {
				t.Errorf("%s accepted a write after SetReadOnly", d)
			}
		}
	}
	if err := SetReadOnly(img); err == nil || !strings.Contains(err.Error(), img) {
		t.Errorf("SetReadOnly(regular file) = %v, want an error naming it", err)
	}
}

func TestLoopOpenSource(t *testing.T) {
	needRoot(t)
	img := partitionedImage(t, gptScript)
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	dev, _ := loopDisk(t, img)
	tests := []struct {
		name       string
		opt        OpenOptions
		wantDirect bool
		wantRO     bool
	}{
		{"default", OpenOptions{}, true, true},
		{"buffered-no-ro", OpenOptions{NoDirect: true, NoSetReadOnly: true}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := OpenSource(dev, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if set, confirmed := s.ReadOnlyState(); set != tc.wantRO || confirmed != tc.wantRO {
				t.Errorf("ReadOnlyState = %v, %v; want %v", set, confirmed, tc.wantRO)
			}
			if s.Direct() != tc.wantDirect {
				t.Fatalf("Direct() = %v, want %v", s.Direct(), tc.wantDirect)
			}
			// Whole device in 1 MiB aligned chunks equals the backing file.
			buf := AlignedBuffer(1 << 20)
			var got bytes.Buffer
			for off := int64(0); ; off += int64(len(buf)) {
				n, err := s.ReadAt(buf, off)
				got.Write(buf[:n])
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got.Bytes(), data) {
				t.Fatalf("device bytes differ from the backing file (%d vs %d bytes)", got.Len(), len(data))
			}
			checkReads(t, s, data)
			direct, _ := s.ReadStats()
			if tc.wantDirect != (direct > 0) {
				t.Errorf("%d O_DIRECT reads, want direct=%v", direct, tc.wantDirect)
			}
		})
	}
}

func TestLoopOutputOnSource(t *testing.T) {
	needRoot(t)
	needTool(t, "mkfs.ext4")
	img := partitionedImage(t, gptScript)
	dev, parts := loopDisk(t, img)
	mnt := mountDev(t, parts[0])

	// A loop device backed by a file on the source's partition, mounted.
	inner := filepath.Join(mnt, "inner.img")
	if err := os.WriteFile(inner, make([]byte, 8<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "mkfs.ext4", "-q", "-F", inner)
	innerDev, _ := loopDisk(t, inner)
	innerMnt := mountDev(t, innerDev)

	// Another disk, mounted: not the source.
	other := sparseFile(t, "other.img", 16<<20)
	run(t, "mkfs.ext4", "-q", "-F", other)
	otherDev, _ := loopDisk(t, other)
	otherMnt := mountDev(t, otherDev)

	diskInfo, err := Inspect(dev)
	if err != nil {
		t.Fatal(err)
	}
	p1, _ := Inspect(parts[0])
	p2, _ := Inspect(parts[1])
	tests := []struct {
		name string
		dir  string
		src  Info
		want bool
	}{
		{"disk/mounted-partition", mnt, diskInfo, true},
		{"disk/not-yet-existing-dir", filepath.Join(mnt, "case", "2026"), diskInfo, true},
		{"partition/itself", mnt, p1, true},
		{"partition/sibling-on-same-disk", mnt, p2, true},
		{"disk/loop-backed-by-file-on-it", filepath.Join(innerMnt, "out"), diskInfo, true},
		{"disk/other-disk", otherMnt, diskInfo, false},
		{"disk/root-fs", t.TempDir(), diskInfo, false},
		{"other-disk/source-mount", mnt, mustInspect(t, otherDev), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, why, err := OutputOnSource(tc.dir, tc.src)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || (got && !strings.Contains(why, tc.dir)) {
				t.Errorf("OutputOnSource(%s, %s) = %v %q, want %v", tc.dir, tc.src.Name, got, why, tc.want)
			}
			t.Logf("%v %s", got, why)
		})
	}
}

// TestLoopOutputOnSourceBtrfs: btrfs reports an anonymous st_dev, so the
// check must find the device through the mount table.
func TestLoopOutputOnSourceBtrfs(t *testing.T) {
	needRoot(t)
	needTool(t, "mkfs.btrfs")
	img := sparseFile(t, "btrfs.img", 256<<20)
	runIn(t, "label: gpt\nsize=200M, type=linux\n", "sfdisk", "-q", img)
	dev, parts := loopDisk(t, img)
	if len(parts) != 1 {
		t.Fatalf("%d partitions", len(parts))
	}
	run(t, "mkfs.btrfs", "-q", "-f", parts[0])
	mnt := mountDev(t, parts[0])
	src, err := Inspect(dev)
	if err != nil {
		t.Fatal(err)
	}
	got, why, err := OutputOnSource(mnt, src)
	if err != nil || !got {
		t.Errorf("OutputOnSource(btrfs on %s) = %v %q %v, want true", parts[0], got, why, err)
	}
}

// TestLoopOutputOnSourceFileBacked: an image file attached to a loop device
// whose partition is mounted as OUTDIR would be written into.
func TestLoopOutputOnSourceFileBacked(t *testing.T) {
	needRoot(t)
	img := partitionedImage(t, gptScript)
	_, parts := loopDisk(t, img)
	mnt := mountDev(t, parts[0])
	src := mustInspect(t, img)
	got, why, err := OutputOnSource(filepath.Join(mnt, "out"), src)
	if err != nil || !got || !strings.Contains(why, img) {
		t.Errorf("OutputOnSource(dir on loop of %s) = %v %q %v, want true", img, got, why, err)
	}
	if got, why, err := OutputOnSource(t.TempDir(), src); err != nil || got {
		t.Errorf("OutputOnSource(other dir) = %v %q %v, want false", got, why, err)
	}
}

func mustInspect(t *testing.T, path string) Info {
	t.Helper()
	i, err := Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// TestLoopGone: a block device source whose sysfs entry went away (as a
// removed disk's does) reports it is gone: what the engine asks after a
// failing read, so a removed device is not taken for bad sectors. (A loop
// device cannot be detached while we hold it open; QEMU's device_del in
// the qemu-tests removes a real one.)
func TestLoopGone(t *testing.T) {
	needRoot(t)
	img := filepath.Join(t.TempDir(), "gone.img")
	if err := os.WriteFile(img, make([]byte, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	dev, _ := loopDisk(t, img)
	s, err := OpenSource(dev, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Gone(); err != nil {
		t.Fatalf("attached loop device: Gone = %v, want nil", err)
	}
	old := SysRoot
	SysRoot = t.TempDir() // a sysfs without the device
	defer func() { SysRoot = old }()
	if why := s.Gone(); why == nil || !strings.Contains(why.Error(), "removed") {
		t.Fatalf("device missing from sysfs: Gone = %v, want it removed", why)
	}
	SysRoot = old
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, []byte("x"), 0o644)
	fs, err := OpenSource(f, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	if err := fs.Gone(); err != nil {
		t.Errorf("an image file is never gone: %v", err)
	}
}
