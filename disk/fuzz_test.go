package disk

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"testing"
	"time"
)

// memFile is a disk image in memory, as go-diskfs's partition readers want
// it (ReadAt, Seek, Stat).
type memFile struct {
	*bytes.Reader
}

func (memFile) Close() error                 { return nil }
func (m memFile) Stat() (fs.FileInfo, error) { return memInfo(m.Size()), nil }

type memInfo int64

func (m memInfo) Name() string     { return "fuzz.img" }
func (m memInfo) Size() int64      { return int64(m) }
func (memInfo) Mode() fs.FileMode  { return 0o444 }
func (memInfo) ModTime() time.Time { return time.Time{} }
func (memInfo) IsDir() bool        { return false }
func (memInfo) Sys() any           { return nil }

// seedImages adds partition tables and file systems made by the real tools
// (those installed), cut to what the readers look at, plus a hand-made MBR
// with an extended partition.
func seedImages(f *testing.F) {
	f.Helper()
	have := func(tools ...string) bool {
		for _, t := range tools {
			if _, err := exec.LookPath(t); err != nil {
				return false
			}
		}
		return true
	}
	table := func(script string) {
		img := sparseFile(f, "disk.img", 4<<20)
		runIn(f, script, "sfdisk", "-q", img)
		b, err := os.ReadFile(img)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:3<<19]) // the first 1.5 MiB: MBR, GPT and the EBR chain
	}
	if have("sfdisk") {
		table("label: gpt\nstart=64, size=1024, type=linux, name=\"data\"\nstart=2048, size=2048, type=uefi\n")
		table("label: dos\nstart=64, size=1024, type=83\nstart=2048, size=4096, type=5\nstart=2112, size=512, type=83\nstart=2688, size=512, type=82\n")
	}
	for _, fs := range []struct {
		tool string
		size int64
		args []string
	}{
		{"mkfs.ext4", 8 << 20, []string{"-q", "-F", "-L", "DATA"}},
		{"mkfs.vfat", 36 << 20, []string{"-F", "32", "-n", "EFI"}},
		{"mkfs.vfat", 4 << 20, []string{"-F", "12"}},
		{"mkfs.exfat", 8 << 20, []string{"-L", "X"}},
		{"mkntfs", 8 << 20, []string{"-Q", "-F", "-L", "W"}},
		{"mkswap", 1 << 20, []string{"-L", "SW"}},
	} {
		if have(fs.tool) {
			b := fsImage(f, fs.size, fs.tool, fs.args...)
			f.Add(b[:min(len(b), 128<<10)])
		}
	}
	mbr := make([]byte, 64<<10)
	mbr[510], mbr[511] = 0x55, 0xAA
	mbr[446+4], mbr[446+8], mbr[446+12] = 0x05, 1, 100 // an extended partition at LBA 1
	f.Add(mbr)
}

// A seized disk is untrusted input: whatever its first sectors hold, the
// partition table reader returns entries inside the disk and never panics.
func FuzzPartTable(f *testing.F) {
	seedImages(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, logical := range []int{512, 4096} {
			_, entries := readPartTable(memFile{bytes.NewReader(b)}, int64(len(b)), logical)
			for _, e := range entries {
				if e.Start < 0 || e.Size < 0 {
					t.Fatalf("logical %d: entry %+v has a negative start or size", logical, e)
				}
			}
		}
	})
}

// The file-system probes read superblocks of untrusted disks: never a
// panic, and a guess names a type.
func FuzzProbe(f *testing.F) {
	seedImages(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if fs, ok := Probe(bytes.NewReader(b), int64(len(b))); ok && fs.Type == "" {
			t.Fatalf("probe matched without a type: %+v", fs)
		}
	})
}

// seedFSSpace adds small but complete file systems made by the real tools
// (those installed): ReadFSSpace rejects a volume cut short before it reads
// the allocation data, so the seeds are whole.
func seedFSSpace(f *testing.F) {
	f.Helper()
	for _, fs := range []struct {
		tool string
		size int64
		args []string
	}{
		{"mkfs.ext4", 64 << 10, []string{"-q", "-F", "-N", "16"}},
		{"mkfs.ext4", 256 << 10, []string{"-q", "-F", "-N", "16", "-b", "4096", "-O", "^metadata_csum,^64bit,uninit_bg"}},
		{"mkfs.ext4", 192 << 10, []string{"-q", "-F", "-N", "16", "-O", "^resize_inode,meta_bg", "-g", "256"}},
		{"mkfs.ext2", 64 << 10, []string{"-q", "-F", "-N", "16"}},
		{"mkfs.exfat", 256 << 10, []string{"-b", "4K", "-c", "512"}},
		{"mkfs.vfat", 64 << 10, []string{"-F", "12"}},
		{"mkfs.vfat", 2200 << 10, []string{"-F", "16", "-s", "1"}},
		{"mkfs.vfat", 1 << 20, []string{"-F", "32"}},
	} {
		if _, err := exec.LookPath(fs.tool); err == nil {
			f.Add(fsImage(f, fs.size, fs.tool, fs.args...))
		}
	}
}

// ReadFSSpace reads the target's metadata before write-blocking is lifted
// on it: any bytes under any type name give an error or a consistent
// answer, never a panic, and never more room than the volume has.
func FuzzFSSpace(f *testing.F) {
	seedFSSpace(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, fstype := range []string{"ext4", "ext3", "ext2", "exfat", "vfat"} {
			sp, err := ReadFSSpace(bytes.NewReader(b), int64(len(b)), fstype)
			if err != nil {
				continue
			}
			if sp.Total <= 0 || sp.Total > int64(len(b)) || sp.Free < 0 || sp.Free > sp.Total || sp.Unit <= 0 ||
				sp.MaxFile < 0 || sp.State == "" || sp.Clean != (sp.State == "clean") {
				t.Fatalf("ReadFSSpace(%s) = %+v for %d bytes", fstype, sp, len(b))
			}
		}
	})
}
