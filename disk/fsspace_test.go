package disk

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// needFSTools skips when one of the tools of Debian package pkg is missing.
func needFSTools(t *testing.T, pkg string, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (Debian package %s)", tool, pkg)
		}
	}
}

// fillDir writes a few files of seeded random bytes (sizes in bytes) into a
// new directory, one of them in a subdirectory.
func fillDir(t *testing.T, seed int64, sizes ...int) string {
	t.Helper()
	dir := t.TempDir()
	rnd := rand.New(rand.NewSource(seed))
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i, n := range sizes {
		b := make([]byte, n)
		rnd.Read(b)
		p := filepath.Join(dir, "f"+strconv.Itoa(i)+".bin")
		if i%2 == 1 {
			p = filepath.Join(dir, "sub", "f"+strconv.Itoa(i)+".bin")
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// readSpace runs ReadFSSpace on an image file.
func readSpace(t *testing.T, img, fstype string) (FSSpace, error) {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return ReadFSSpace(f, st.Size(), fstype)
}

func mustSpace(t *testing.T, img, fstype string) FSSpace {
	t.Helper()
	sp, err := readSpace(t, img, fstype)
	if err != nil {
		t.Fatalf("ReadFSSpace(%s): %v", fstype, err)
	}
	return sp
}

// toolFields parses "Key:   value" lines.
func toolFields(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

func toolInt(t *testing.T, m map[string]string, key string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(strings.Fields(m[key] + " x")[0], 10, 64)
	if err != nil {
		t.Fatalf("tool output has no number for %q (%q)", key, m[key])
	}
	return v
}

// patchByte sets or clears mask in the byte at off of a file.
func patchByte(t *testing.T, path string, off int64, mask byte, set bool) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	if set {
		b[0] |= mask
	} else {
		b[0] &^= mask
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// extWant is what dumpe2fs says: Free = (Free blocks - Reserved block
// count) × Block size; Total = Block count × Block size. It also checks
// that the superblock's free count equals the sum of dumpe2fs's per-group
// free blocks, which ReadFSSpace adds up.
func extWant(t *testing.T, img string) (total, free, unit int64, clean bool) {
	t.Helper()
	head := toolFields(run(t, "dumpe2fs", "-h", img))
	bs := toolInt(t, head, "Block size")
	unit = bs
	if head["Cluster size"] != "" {
		unit = toolInt(t, head, "Cluster size")
	}
	blocks := toolInt(t, head, "Block count")
	freeBlocks := toolInt(t, head, "Free blocks")
	reserved := toolInt(t, head, "Reserved block count")
	var groupSum int64
	for _, m := range regexp.MustCompile(`(?m)^\s+(\d+) free (blocks|clusters),`).FindAllStringSubmatch(run(t, "dumpe2fs", img), -1) {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		if m[2] == "clusters" {
			n *= unit / bs
		}
		groupSum += n
	}
	if groupSum != freeBlocks {
		t.Fatalf("dumpe2fs: superblock free blocks %d, groups sum to %d", freeBlocks, groupSum)
	}
	t.Logf("dumpe2fs: Block count %d, Free blocks %d, Reserved block count %d, Block size %d, Cluster size %d, state %q",
		blocks, freeBlocks, reserved, bs, unit, head["Filesystem state"])
	return blocks * bs, max(0, freeBlocks-reserved) * bs, unit, head["Filesystem state"] == "clean"
}

// TestFSSpaceExt formats ext2/3/4 images (some filled through mkfs -d)
// and compares ReadFSSpace with dumpe2fs.
func TestFSSpaceExt(t *testing.T) {
	tests := []struct {
		name    string
		tool    string
		size    int64
		args    []string
		fill    []int // file sizes put in by mkfs -d
		typ     string
		maxFile int64
	}{
		{"ext4-1k", "mkfs.ext4", 16 << 20, nil, nil, "ext4", (1<<32 - 1) << 10},
		{"ext4-4k-filled", "mkfs.ext4", 96 << 20, []string{"-b", "4096"}, []int{3 << 20, 5<<20 + 17, 10000, 1}, "ext4", (1<<32 - 1) << 12},
		{"ext4-no-csum", "mkfs.ext4", 48 << 20, []string{"-O", "^metadata_csum"}, []int{2 << 20}, "ext4", 0},
		{"ext4-no-64bit", "mkfs.ext4", 48 << 20, []string{"-O", "^64bit"}, []int{2 << 20}, "ext4", 0},
		{"ext4-gdt-csum", "mkfs.ext4", 48 << 20, []string{"-O", "^metadata_csum,^64bit,uninit_bg"}, []int{1 << 20}, "ext4", 0},
		{"ext4-meta-bg-1k", "mkfs.ext4", 300 << 20, []string{"-b", "1024", "-O", "^resize_inode,meta_bg"}, []int{7 << 20}, "ext4", 0},
		{"ext4-bigalloc", "mkfs.ext4", 128 << 20, []string{"-b", "4096", "-O", "bigalloc", "-C", "65536"}, []int{3 << 20, 1000}, "ext4", 0},
		{"ext4-no-huge-file", "mkfs.ext4", 32 << 20, []string{"-b", "4096", "-O", "^huge_file"}, nil, "ext4", (1<<32 - 1) >> 3 << 12},
		{"ext4-reserved-0", "mkfs.ext4", 32 << 20, []string{"-m", "0"}, []int{1 << 20}, "ext4", 0},
		{"ext3", "mkfs.ext3", 24 << 20, nil, []int{1 << 20}, "ext3", 0},
		// ext2 with 1 KiB blocks: block-mapped files end at 16 GiB.
		{"ext2-1k", "mkfs.ext2", 24 << 20, []string{"-b", "1024"}, []int{1 << 20}, "ext2", (12 + 256 + 256*256 + 256*256*256) << 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			needFSTools(t, "e2fsprogs", tc.tool, "dumpe2fs")
			img := sparseFile(t, tc.name+".img", tc.size)
			args := append([]string{"-q", "-F"}, tc.args...)
			if tc.fill != nil {
				args = append(args, "-d", fillDir(t, int64(len(tc.name)), tc.fill...))
			}
			run(t, tc.tool, append(args, img)...)
			total, free, unit, clean := extWant(t, img)
			got := mustSpace(t, img, tc.typ)
			t.Logf("ReadFSSpace: %+v", got)
			if got.Type != tc.typ || got.Total != total || got.Free != free || got.Unit != unit || got.Clean != clean || !clean || got.State != "clean" {
				t.Errorf("ReadFSSpace = %+v, want Type %s Total %d Free %d Unit %d, clean", got, tc.typ, total, free, unit)
			}
			if tc.maxFile != 0 && got.MaxFile != tc.maxFile {
				t.Errorf("MaxFile = %d, want %d", got.MaxFile, tc.maxFile)
			}
			if tc.fill != nil {
				var filled int64
				for _, n := range tc.fill {
					filled += int64(n)
				}
				empty := sparseFile(t, "empty.img", tc.size)
				run(t, tc.tool, append(append([]string{"-q", "-F"}, tc.args...), empty)...)
				if e := mustSpace(t, empty, tc.typ); e.Free-got.Free < filled {
					t.Errorf("files of %d bytes took only %d bytes (empty %d free, filled %d)", filled, e.Free-got.Free, e.Free, got.Free)
				}
			}
		})
	}
}

// TestFSSpaceExtState marks ext4 images dirty with debugfs and checks what
// ReadFSSpace makes of them; dumpe2fs confirms each mark.
func TestFSSpaceExtState(t *testing.T) {
	tests := []struct {
		name    string
		mkfs    []string
		debugfs string // debugfs -w -R command
		dumpe2  string // what dumpe2fs -h then shows
		state   string // substring of State
	}{
		{"state-not-valid", nil, "ssv state 0", "Filesystem state:         not clean", "not cleanly unmounted (s_state not valid)"},
		{"needs-recovery", nil, "feature needs_recovery", "needs_recovery", "not cleanly unmounted (journal needs recovery)"},
		{"errors", nil, "ssv state 3", "clean with errors", "errors recorded"},
		{"error-count", nil, "ssv error_count 2", "FS Error count:           2", "errors recorded"},
		{"no-csum-errors", []string{"-O", "^metadata_csum"}, "ssv state 2", "not clean with errors", "not cleanly unmounted (s_state not valid); errors recorded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			needFSTools(t, "e2fsprogs", "mkfs.ext4", "debugfs", "dumpe2fs")
			img := sparseFile(t, "e.img", 16<<20)
			run(t, "mkfs.ext4", append(append([]string{"-q", "-F"}, tc.mkfs...), img)...)
			before := mustSpace(t, img, "ext4")
			run(t, "debugfs", "-w", "-R", tc.debugfs, img)
			if out := run(t, "dumpe2fs", "-h", img); !strings.Contains(out, tc.dumpe2) {
				t.Fatalf("after debugfs %q dumpe2fs -h does not show %q:\n%s", tc.debugfs, tc.dumpe2, out)
			}
			got := mustSpace(t, img, "ext4")
			if got.Clean || !strings.Contains(got.State, tc.state) || got.Free != before.Free || got.Total != before.Total {
				t.Errorf("after %q: %+v, want not clean with %q, Free %d", tc.debugfs, got, tc.state, before.Free)
			}
		})
	}
}

// TestFSSpaceExtStaleSummary writes a wrong s_free_blocks_count (as a
// crash leaves it): ReadFSSpace keeps the group descriptors' sum.
func TestFSSpaceExtStaleSummary(t *testing.T) {
	needFSTools(t, "e2fsprogs", "mkfs.ext4", "debugfs", "dumpe2fs")
	img := sparseFile(t, "e.img", 64<<20)
	run(t, "mkfs.ext4", "-q", "-F", "-d", fillDir(t, 7, 4<<20), img)
	_, free, _, _ := extWant(t, img)
	run(t, "debugfs", "-w", "-R", "ssv free_blocks_count 100", img)
	if out := run(t, "dumpe2fs", "-h", img); !regexp.MustCompile(`Free blocks:\s+100\n`).MatchString(out) {
		t.Fatalf("debugfs did not set the free blocks count:\n%s", out)
	}
	if got := mustSpace(t, img, "ext4"); got.Free != free || !got.Clean {
		t.Errorf("with s_free_blocks_count 100: %+v, want Free %d (group descriptor sum) and clean", got, free)
	}
}

// TestFSSpaceExtChecksums breaks the superblock and a group descriptor
// behind metadata_csum's back.
func TestFSSpaceExtChecksums(t *testing.T) {
	needFSTools(t, "e2fsprogs", "mkfs.ext4")
	tests := []struct {
		name string
		mkfs []string
		off  int64 // byte to flip
		err  string
	}{
		// s_volume_name[0]
		{"superblock", nil, extSBOffset + extVolumeNameOff, "metadata_csum checksum mismatch: s_checksum (byte 0x7FC)"},
		// group 0's bg_free_blocks_count_lo: 4 KiB blocks, table in block 1
		{"descriptor-crc32c", []string{"-b", "4096"}, 4096 + extBGFreeBlocksOff, "ext group 0 descriptor at byte 4096: metadata_csum checksum mismatch"},
		{"descriptor-crc16", []string{"-b", "4096", "-O", "^metadata_csum,uninit_bg"}, 4096 + extBGFreeBlocksOff, "ext group 0 descriptor at byte 4096: gdt_csum checksum mismatch"},
		{"no-checksums", []string{"-O", "^metadata_csum"}, extSBOffset + extVolumeNameOff, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := sparseFile(t, "e.img", 32<<20)
			run(t, "mkfs.ext4", append(append([]string{"-q", "-F"}, tc.mkfs...), img)...)
			mustSpace(t, img, "ext4")
			patchByte(t, img, tc.off, 0x01, true)
			patchByte(t, img, tc.off, 0x02, false)
			_, err := readSpace(t, img, "ext4")
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("ReadFSSpace error %v, want one with %q", err, tc.err)
			}
		})
	}
}

// fsckFATWant is what fsck.fat -n -v says: "N bytes per cluster" and
// "used/total clusters".
func fsckFATWant(t *testing.T, img string) (total, free, unit int64) {
	t.Helper()
	out := run(t, "fsck.fat", "-n", "-v", img)
	cs := regexp.MustCompile(`(?m)^\s*(\d+) bytes per cluster`).FindStringSubmatch(out)
	cl := regexp.MustCompile(`(?m)(\d+)/(\d+) clusters$`).FindStringSubmatch(out)
	if cs == nil || cl == nil {
		t.Fatalf("fsck.fat -n -v: no cluster size or count:\n%s", out)
	}
	unit, _ = strconv.ParseInt(cs[1], 10, 64)
	used, _ := strconv.ParseInt(cl[1], 10, 64)
	n, _ := strconv.ParseInt(cl[2], 10, 64)
	t.Logf("fsck.fat: %d bytes per cluster, %d/%d clusters used", unit, used, n)
	return n * unit, (n - used) * unit, unit
}

// TestFSSpaceFAT formats FAT12/16/32 images at several sizes and cluster
// sizes, fills some with mcopy, and compares with fsck.fat.
func TestFSSpaceFAT(t *testing.T) {
	tests := []struct {
		name string
		size int64
		args []string
		fill []int
	}{
		{"fat12-1m", 1 << 20, []string{"-F", "12"}, nil},
		{"fat12-4m-filled", 4 << 20, []string{"-F", "12", "-s", "4"}, []int{1 << 20, 3000, 1}},
		{"fat12-4k-sectors", 8 << 20, []string{"-F", "12", "-S", "4096"}, []int{100000}},
		{"fat16-16m", 16 << 20, []string{"-F", "16"}, nil},
		{"fat16-64m-filled", 64 << 20, []string{"-F", "16", "-s", "8"}, []int{5 << 20, 12345, 2 << 20}},
		{"fat16-1-fat", 32 << 20, []string{"-F", "16", "-f", "1"}, []int{1 << 20}},
		{"fat32-40m-filled", 40 << 20, []string{"-F", "32", "-s", "1"}, []int{3 << 20, 1, 700000}},
		{"fat32-300m", 300 << 20, []string{"-F", "32", "-s", "8"}, []int{9 << 20}},
		{"fat32-4k-sectors", 300 << 20, []string{"-F", "32", "-S", "4096", "-s", "1"}, []int{1 << 20}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			needFSTools(t, "dosfstools", "mkfs.vfat", "fsck.fat")
			img := sparseFile(t, tc.name+".img", tc.size)
			run(t, "mkfs.vfat", append(tc.args, img)...)
			if tc.fill != nil {
				needFSTools(t, "mtools", "mcopy")
				dir := fillDir(t, int64(len(tc.name)), tc.fill...)
				ents, _ := filepath.Glob(filepath.Join(dir, "*"))
				run(t, "mcopy", append(append([]string{"-s", "-i", img}, ents...), "::/")...)
			}
			total, free, unit := fsckFATWant(t, img)
			got := mustSpace(t, img, "vfat")
			t.Logf("ReadFSSpace: %+v", got)
			want := FSSpace{Type: "vfat", Total: total, Free: free, Unit: unit, Clean: true, State: "clean", MaxFile: 1<<32 - 1}
			if got != want {
				t.Errorf("ReadFSSpace = %+v, want %+v", got, want)
			}
		})
	}
}

// TestFSSpaceFATState patches the documented flag bytes: the boot sector's
// dirty bit (fsck.fat must then say so) and FAT[1]'s ClnShut and HrdErr
// bits; a wrong or unknown FSInfo free count changes nothing.
func TestFSSpaceFATState(t *testing.T) {
	needFSTools(t, "dosfstools", "mkfs.vfat", "fsck.fat")
	const rsvd16, rsvd32 = 4, 32 // mkfs.vfat's reserved sectors (-R)
	tests := []struct {
		name  string
		fat   string
		off   int64
		mask  byte
		set   bool
		fsck  string // what fsck.fat -n then says, "" = no check
		state string // "" = clean
	}{
		{"fat12-dirty", "12", fat16StateOff, fatStateDirty, true, "Dirty bit is set", "not cleanly unmounted (dirty bit set in the boot sector)"},
		{"fat16-dirty", "16", fat16StateOff, fatStateDirty, true, "Dirty bit is set", "not cleanly unmounted (dirty bit set in the boot sector)"},
		{"fat32-dirty", "32", fat32StateOff, fatStateDirty, true, "Dirty bit is set", "not cleanly unmounted (dirty bit set in the boot sector)"},
		// FAT[1] is bytes 2-3 (FAT16) or 4-7 (FAT32) of the first FAT.
		{"fat16-clnshut", "16", rsvd16*512 + 3, 0x80, false, "", "not cleanly unmounted (FAT[1] ClnShutBitMask clear)"},
		{"fat16-hrderr", "16", rsvd16*512 + 3, 0x40, false, "", "errors recorded (FAT[1] HrdErrBitMask clear)"},
		{"fat32-clnshut", "32", rsvd32*512 + 7, 0x08, false, "", "not cleanly unmounted (FAT[1] ClnShutBitMask clear)"},
		{"fat32-hrderr", "32", rsvd32*512 + 7, 0x04, false, "", "errors recorded (FAT[1] HrdErrBitMask clear)"},
		// FSInfo (sector 1) FSI_Free_Count at 0x1E8: a hint, not read.
		{"fat32-fsinfo-unknown", "32", 512 + 0x1E8, 0xFF, true, "", ""},
		{"fat32-fsinfo-wrong", "32", 512 + 0x1EA, 0x10, true, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := sparseFile(t, "f.img", 40<<20)
			run(t, "mkfs.vfat", "-F", tc.fat, img)
			before := mustSpace(t, img, "vfat")
			patchByte(t, img, tc.off, tc.mask, tc.set)
			if tc.fsck != "" {
				out, _ := exec.Command("fsck.fat", "-n", img).CombinedOutput()
				if !bytes.Contains(out, []byte(tc.fsck)) {
					t.Fatalf("fsck.fat -n after the patch does not say %q:\n%s", tc.fsck, out)
				}
			}
			got := mustSpace(t, img, "vfat")
			want := before
			if tc.state != "" {
				want.Clean, want.State = false, tc.state
			}
			if got != want {
				t.Errorf("after patching byte %d: %+v, want %+v", tc.off, got, want)
			}
		})
	}
}

// dumpExFATWant is what dump.exfat says ("Cluster size", "Total Clusters",
// "Free Clusters", the last counted from the allocation bitmap).
func dumpExFATWant(t *testing.T, img string) (total, free, unit int64) {
	t.Helper()
	m := toolFields(run(t, "dump.exfat", img))
	unit = toolInt(t, m, "Cluster size")
	n, f := toolInt(t, m, "Total Clusters"), toolInt(t, m, "Free Clusters")
	t.Logf("dump.exfat: cluster size %d, %d clusters, %d free", unit, n, f)
	return n * unit, f * unit, unit
}

// TestFSSpaceExFAT formats exFAT images at several sizes and cluster
// sizes and compares with dump.exfat; VolumeDirty (byte 106, bit 1) and
// MediaFailure (bit 2) make them unclean.
func TestFSSpaceExFAT(t *testing.T) {
	tests := []struct {
		name string
		size int64
		args []string
	}{
		{"8m", 8 << 20, nil},
		{"64m-4k", 64 << 20, []string{"-c", "4K"}},
		{"64m-128k", 64 << 20, []string{"-c", "128K"}},
		{"300m-1m", 300 << 20, []string{"-c", "1M"}},
		{"1g-512", 1 << 30, []string{"-c", "512"}},
		{"64m-pack-bitmap", 64 << 20, []string{"--pack-bitmap"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			needFSTools(t, "exfatprogs", "mkfs.exfat", "dump.exfat")
			img := sparseFile(t, tc.name+".img", tc.size)
			run(t, "mkfs.exfat", append(tc.args, img)...)
			total, free, unit := dumpExFATWant(t, img)
			got := mustSpace(t, img, "exfat")
			t.Logf("ReadFSSpace: %+v", got)
			want := FSSpace{Type: "exfat", Total: total, Free: free, Unit: unit, Clean: true, State: "clean"}
			if got != want {
				t.Errorf("ReadFSSpace = %+v, want %+v", got, want)
			}
			patchByte(t, img, exfatVolumeFlagsOff, exfatFlagVolumeDirty, true)
			want.Clean, want.State = false, "not cleanly unmounted (VolumeDirty set)"
			if got := mustSpace(t, img, "exfat"); got != want {
				t.Errorf("with VolumeDirty: %+v, want %+v", got, want)
			}
			patchByte(t, img, exfatVolumeFlagsOff, exfatFlagVolumeDirty, false)
			patchByte(t, img, exfatVolumeFlagsOff, exfatFlagMediaFailure, true)
			want.State = "errors recorded (MediaFailure set)"
			if got := mustSpace(t, img, "exfat"); got != want {
				t.Errorf("with MediaFailure: %+v, want %+v", got, want)
			}
		})
	}
}

// TestFSSpaceExFATFilled needs files on an exFAT volume. exfatprogs has no
// userspace writer, so this writes them through the kernel's exfat driver
// or, failing that, exfat-fuse on a loop device (root only), and skips
// where neither can be done.
func TestFSSpaceExFATFilled(t *testing.T) {
	needFSTools(t, "exfatprogs", "mkfs.exfat", "dump.exfat")
	if os.Geteuid() != 0 {
		t.Skip("filled exFAT: exfatprogs has no userspace writer; writing through the kernel's exfat driver or exfat-fuse needs root")
	}
	img := sparseFile(t, "x.img", 64<<20)
	run(t, "mkfs.exfat", "-c", "8K", img)
	empty := mustSpace(t, img, "exfat")
	mnt := t.TempDir()
	unmount, how, err := mountExFAT(img, mnt)
	if err != nil {
		t.Skipf("filled exFAT: exfatprogs has no userspace writer and no driver could mount it here: %v", err)
	}
	sizes := []int{3 << 20, 100000, 1, 2 << 20}
	out, err := exec.Command("cp", "-r", fillDir(t, 3, sizes...)+"/.", mnt).CombinedOutput()
	exec.Command("sync").Run()
	if uerr := unmount(); uerr != nil {
		t.Fatalf("unmount %s (%s): %v", mnt, how, uerr)
	}
	if err != nil {
		t.Fatalf("cp into exFAT (%s): %v %s", how, err, out)
	}
	t.Logf("files written through %s", how)
	total, free, unit := dumpExFATWant(t, img)
	want := FSSpace{Type: "exfat", Total: total, Free: free, Unit: unit, Clean: true, State: "clean"}
	got := mustSpace(t, img, "exfat")
	t.Logf("ReadFSSpace: %+v", got)
	if got != want {
		t.Errorf("ReadFSSpace = %+v, want %+v", got, want)
	}
	if filled := int64(3<<20 + 100000 + 1 + 2<<20); empty.Free-got.Free < filled {
		t.Errorf("files of %d bytes took only %d bytes", filled, empty.Free-got.Free)
	}
}

// mountExFAT mounts img at mnt with the kernel's exfat driver or else with
// exfat-fuse on a loop device; unmount undoes what it did.
func mountExFAT(img, mnt string) (unmount func() error, how string, err error) {
	out, err := exec.Command("mount", "-t", "exfat", "-o", "loop", img, mnt).CombinedOutput()
	if err == nil {
		return func() error { return exec.Command("umount", mnt).Run() }, "the kernel's exfat driver", nil
	}
	kernel := fmt.Errorf("mount -t exfat: %v (%s)", err, bytes.TrimSpace(out))
	if _, err := exec.LookPath("mount.exfat-fuse"); err != nil {
		return nil, "", fmt.Errorf("%w; mount.exfat-fuse not installed (Debian package exfat-fuse)", kernel)
	}
	out, err = exec.Command("losetup", "-f", "--show", img).CombinedOutput()
	if err != nil {
		return nil, "", fmt.Errorf("%w; losetup: %v (%s)", kernel, err, bytes.TrimSpace(out))
	}
	dev := string(bytes.TrimSpace(out))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "mount.exfat-fuse", dev, mnt).CombinedOutput(); err != nil {
		exec.Command("losetup", "-d", dev).Run()
		return nil, "", fmt.Errorf("%w; mount.exfat-fuse %s: %v (%s)", kernel, dev, err, bytes.TrimSpace(out))
	}
	return func() error {
		err := exec.Command("umount", mnt).Run()
		if err != nil {
			exec.Command("umount", "-l", mnt).Run()
		}
		if derr := exec.Command("losetup", "-d", dev).Run(); err == nil {
			err = derr
		}
		return err
	}, "exfat-fuse on " + dev, nil
}

// TestFSSpaceErrors: unknown types, a volume cut short, the wrong format,
// and impossible fields name what is wrong.
func TestFSSpaceErrors(t *testing.T) {
	needFSTools(t, "e2fsprogs", "mkfs.ext4")
	needFSTools(t, "dosfstools", "mkfs.vfat")
	needFSTools(t, "exfatprogs", "mkfs.exfat")
	ext := fsImage(t, 16<<20, "mkfs.ext4", "-q", "-F")
	fat := fsImage(t, 16<<20, "mkfs.vfat", "-F", "16")
	exf := fsImage(t, 16<<20, "mkfs.exfat")
	le32 := func(b []byte, off int, v uint32) []byte {
		c := bytes.Clone(b)
		binary.LittleEndian.PutUint32(c[off:], v)
		return c
	}
	tests := []struct {
		name, fstype string
		b            []byte
		size         int64 // 0 = len(b)
		err          string
	}{
		{"ntfs", "ntfs", ext, 0, `file system type "ntfs" is not supported`},
		{"empty-type", "", ext, 0, `file system type "" is not supported`},
		{"ext-short", "ext4", ext[:8<<20], 0, "ext s_blocks_count (byte 0x404) is 16384: 1024-byte blocks beyond the end of the 8388608-byte volume"},
		{"fat-short", "vfat", fat[:8<<20], 0, "FAT BPB_TotSec16 (byte 0x13) is 32768: 512-byte sectors beyond the end of the 8388608-byte volume"},
		{"exfat-short", "exfat", exf[:8<<20], 0, "exFAT VolumeLength (byte 0x48) is 32768"},
		{"ext-as-vfat", "vfat", ext, 0, "FAT boot signature (byte 0x1FE)"},
		{"fat-as-ext", "ext4", fat, 0, "ext s_magic (byte 0x438) is 0x0000"},
		{"fat-as-exfat", "exfat", fat, 0, `exFAT FileSystemName (byte 0x3) is "mkfs.fat"`},
		{"exfat-as-vfat", "vfat", exf, 0, "FAT BPB_BytsPerSec (byte 0xB) is 0"},
		{"tiny", "ext4", ext[:100], 0, "ext superblock at byte 1024 (1024 bytes) lies beyond the end of the 100-byte volume"},
		{"no-size", "exfat", exf, -1, "volume size -1"},
		{"exfat-clusters", "exfat", le32(exf, exfatClusterCountOff, 1<<30), 0, "exFAT FatLength (byte 0x54) is 32: too small for 1073741824 clusters"},
		{"exfat-root", "exfat", le32(exf, exfatRootClusterOff, 1), 0, "exFAT FirstClusterOfRootDirectory (byte 0x60) is 1"},
		// BPB_FATSz16 = 0 makes it FAT32 (the extended BPB then lies where BPB_FATSz32 is read)
		{"fat-fatsz-big", "vfat", le32(le32(fat, fatFATSz16Off, 0), fat32FATSz32Off, 1<<20), 0, "FAT BPB_FATSz32 (byte 0x24) is 1048576: 2 FATs of that many sectors do not fit the volume's 32768 sectors"},
		{"fat-fatsz-0", "vfat", le32(le32(fat, fatFATSz16Off, 0), fat32FATSz32Off, 0), 0, "FAT BPB_FATSz32 (byte 0x24) is 0: no FAT sectors"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			size := tc.size
			if size == 0 {
				size = int64(len(tc.b))
			}
			_, err := ReadFSSpace(bytes.NewReader(tc.b), size, tc.fstype)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ReadFSSpace error %v, want one with %q", err, tc.err)
			}
		})
	}
}
