package qemutests

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/u-root/mkuimage/cpio"
)

// RepoRoot is the module root (where go.mod is).
func RepoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", fmt.Errorf("go.mod not found above the working directory")
		}
		d = p
	}
}

// Appliance is a built appliance.
type Appliance struct {
	Dir, Kernel, Initrd, ModRoot, Release string
}

// FindAppliance locates build/vmlinuz and build/initramfs.cpio.* in dir.
func FindAppliance(dir string) (*Appliance, error) {
	a := &Appliance{Dir: dir, Kernel: filepath.Join(dir, "vmlinuz"), ModRoot: filepath.Join(dir, "modroot")}
	for _, ext := range []string{"zst", "xz", "gz"} {
		p := filepath.Join(dir, "initramfs.cpio."+ext)
		if _, err := os.Stat(p); err == nil {
			a.Initrd = p
			break
		}
	}
	if _, err := os.Stat(a.Kernel); err != nil || a.Initrd == "" {
		return nil, fmt.Errorf("no appliance in %s (make appliance)", dir)
	}
	b, err := os.ReadFile(filepath.Join(dir, "kernel-version"))
	if err != nil {
		return nil, err
	}
	a.Release = strings.TrimSpace(string(b))
	return a, nil
}

// BuildAppliance runs the build driver (go run ./initramfs/cmd/mkappliance).
func BuildAppliance(ctx context.Context, root, out string, log io.Writer) error {
	cmd := exec.CommandContext(ctx, "go", "run", "./initramfs/cmd/mkappliance", "-out", out)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build appliance: %w", err)
	}
	return nil
}

// WritePattern writes size bytes of seeded pseudo-random data (the same
// seed gives the same bytes).
func WritePattern(path string, size int64, seed uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 0xc0, 0x1d}))
	w := bufio.NewWriterSize(f, 1<<20)
	buf := make([]byte, 64<<10)
	for left := size; left > 0; left -= int64(len(buf)) {
		for i := 0; i+8 <= len(buf); i += 8 {
			v := r.Uint64()
			for j := 0; j < 8; j++ {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		n := int64(len(buf))
		if left < n {
			n = left
		}
		w.Write(buf[:n])
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Zero makes a sparse file of size bytes.
func Zero(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Splice copies src into dst at byte offset off.
func Splice(dst, src string, off int64) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return copyInto(dst, os.O_WRONLY, off, in)
}

// copyInto opens dst with flag, writes r to it from byte off and closes it,
// reporting the first error.
func copyInto(dst string, flag int, off int64, r io.Reader) error {
	out, err := os.OpenFile(dst, flag, 0o644)
	if err != nil {
		return err
	}
	if _, err := out.Seek(off, io.SeekStart); err != nil {
		out.Close()
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Run runs a host tool and returns its combined output.
func Run(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// Partition is one entry of sfdisk --json.
type Partition struct {
	Node  string `json:"node"`
	Start int64  `json:"start"`
	Size  int64  `json:"size"`
	Type  string `json:"type"`
}

// Partitions reads a disk image's partition table with sfdisk.
func Partitions(img string) ([]Partition, error) {
	out, err := exec.Command("sfdisk", "--json", img).Output()
	if err != nil {
		return nil, fmt.Errorf("sfdisk --json %s: %w", img, err)
	}
	var pt struct {
		PartitionTable struct {
			Partitions []Partition `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal(out, &pt); err != nil {
		return nil, err
	}
	return pt.PartitionTable.Partitions, nil
}

// Extract copies part (sectors) of img into a new file.
func Extract(img string, p Partition, dst string) error {
	in, err := os.Open(img)
	if err != nil {
		return err
	}
	defer in.Close()
	return copyInto(dst, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0, io.NewSectionReader(in, p.Start*512, p.Size*512))
}

// MakeGPTExt4 makes a GPT disk of sizeMiB with one ext4 partition (label)
// starting at 1 MiB.
func MakeGPTExt4(path string, sizeMiB int, label string) error {
	if err := Zero(path, int64(sizeMiB)<<20); err != nil {
		return err
	}
	if _, err := Run("sgdisk", "-n", "1:2048:-1M", "-t", "1:8300", "-c", "1:"+label, path); err != nil {
		return err
	}
	parts, err := Partitions(path)
	if err != nil || len(parts) != 1 {
		return fmt.Errorf("partitions of %s: %v %v", path, parts, err)
	}
	fs := path + ".part"
	defer os.Remove(fs)
	if err := Zero(fs, parts[0].Size*512); err != nil {
		return err
	}
	if _, err := Run("mkfs.ext4", "-q", "-F", "-L", label, "-E", "lazy_itable_init=0,lazy_journal_init=0", fs); err != nil {
		return err
	}
	return Splice(path, fs, parts[0].Start*512)
}

// MakeMBRVfatSwap makes an MBR disk with a FAT32 partition (files copied in
// with mtools-free means: the file system is left empty but labelled) and a
// Linux swap partition.
func MakeMBRVfatSwap(path string, sizeMiB int) error {
	if err := WritePattern(path, int64(sizeMiB)<<20, 7); err != nil {
		return err
	}
	half := (sizeMiB - 2) / 2
	layout := fmt.Sprintf("label: dos\nstart=2048, size=%dMiB, type=c\ntype=82\n", half)
	cmd := exec.Command("sfdisk", "-q", path)
	cmd.Stdin = strings.NewReader(layout)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("sfdisk %s: %w: %s", path, err, out)
	}
	parts, err := Partitions(path)
	if err != nil || len(parts) != 2 {
		return fmt.Errorf("partitions of %s: %v %v", path, parts, err)
	}
	vfat, swap := path+".p1", path+".p2"
	defer os.Remove(vfat)
	defer os.Remove(swap)
	if err := Zero(vfat, parts[0].Size*512); err != nil {
		return err
	}
	if _, err := Run("mkfs.vfat", "-F", "32", "-n", "MBRVFAT", vfat); err != nil {
		return err
	}
	if err := Zero(swap, parts[1].Size*512); err != nil {
		return err
	}
	if _, err := Run("mkswap", "-L", "SRCSWAP", swap); err != nil {
		return err
	}
	if err := Splice(path, vfat, parts[0].Start*512); err != nil {
		return err
	}
	return Splice(path, swap, parts[1].Start*512)
}

// SHA256File hashes a file.
func SHA256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// CopyFile copies a file (fixtures from the cache are copied before use).
func CopyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return copyInto(dst, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0, in)
}

// dirtyScript runs in the fixture guest: mount the ext4 partition, write,
// sync the data, then power off without unmounting, so the superblock keeps
// needs_recovery and the journal must be replayed by whoever mounts next.
const dirtyScript = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in virtio_pci virtio_blk crc32c_generic ext4; do modprobe $m || echo "FIXTURE modprobe $m failed"; done
i=0; while [ ! -b /dev/vda1 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
mkdir -p /mnt
if mount -t ext4 -o data=journal,commit=600 /dev/vda1 /mnt; then
  mkdir -p /mnt/evidence
  for n in 1 2 3 4 5 6 7 8; do dd if=/dev/urandom of=/mnt/evidence/file$n bs=64k count=8 2>/dev/null; done
  echo "written before the crash" > /mnt/evidence/note.txt
  sync
  echo "more data in the journal" > /mnt/evidence/late.txt
  sync /mnt/evidence/late.txt
  echo FIXTURE-WRITTEN
else
  echo FIXTURE-MOUNT-FAILED
fi
echo o > /proc/sysrq-trigger
sleep 5
poweroff -f
`

// fixtureVersion changes whenever dirtyScript or the disk layout changes.
const fixtureVersion = "e2e-dirty-2"

// DirtyExt4GPT returns a cached GPT disk image whose ext4 partition's
// journal needs recovery, made by writing in a guest (the appliance's
// kernel, busybox-static) and powering it off without unmounting.
func DirtyExt4GPT(ctx context.Context, app *Appliance, cacheDir, logPath string) (string, error) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return "", fmt.Errorf("busybox-static is needed for the fixture guest: %w", err)
	}
	key := sha256.Sum256([]byte(fixtureVersion + app.Release + dirtyScript))
	dir := filepath.Join(cacheDir, "e2e-fixtures", hex.EncodeToString(key[:8]))
	img := filepath.Join(dir, "gpt-ext4-dirty.img")
	if _, err := os.Stat(img); err == nil {
		return img, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := img + ".tmp"
	if err := MakeGPTExt4(tmp, 48, "SRCDATA"); err != nil {
		return "", err
	}
	initrd := filepath.Join(dir, "fixture-initrd.cpio")
	if err := fixtureInitrd(initrd, bb, app); err != nil {
		return "", err
	}
	defer os.Remove(initrd)
	vm, err := Start(Config{Kernel: app.Kernel, Initrd: initrd, Append: "console=ttyS0,115200 panic=0 rdinit=/init",
		Drives: []Drive{{File: tmp, Serial: "FIXTURE"}}, Log: logPath})
	if err != nil {
		return "", err
	}
	defer vm.Kill()
	if _, err := vm.Expect(`FIXTURE-WRITTEN|FIXTURE-MOUNT-FAILED`, 3*time.Minute); err != nil {
		return "", fmt.Errorf("fixture guest: %w (log %s)", err, logPath)
	}
	if err := vm.Wait(time.Minute); err != nil {
		return "", fmt.Errorf("fixture guest: %w", err)
	}
	for _, l := range vm.Lines() {
		if strings.Contains(l, "FIXTURE-MOUNT-FAILED") {
			return "", fmt.Errorf("fixture guest could not mount the ext4 partition (log %s)", logPath)
		}
	}
	// Check on the host that the journal needs recovery.
	parts, err := Partitions(tmp)
	if err != nil || len(parts) != 1 {
		return "", fmt.Errorf("partitions of %s: %v", tmp, err)
	}
	part := tmp + ".p1"
	defer os.Remove(part)
	if err := Extract(tmp, parts[0], part); err != nil {
		return "", err
	}
	out, err := Run("dumpe2fs", "-h", part)
	if err != nil {
		return "", err
	}
	if !strings.Contains(out, "needs_recovery") {
		return "", fmt.Errorf("fixture ext4 does not need recovery after the crash:\n%s", out)
	}
	return img, os.Rename(tmp, img)
}

// fixtureInitrd writes a busybox initramfs with the appliance's modules.
func fixtureInitrd(path, busybox string, app *Appliance) error {
	bb, err := os.ReadFile(busybox)
	if err != nil {
		return err
	}
	recs := []cpio.Record{
		cpio.Directory("bin", 0o755), cpio.Directory("dev", 0o755), cpio.Directory("proc", 0o755),
		cpio.Directory("sys", 0o755), cpio.Directory("mnt", 0o755),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.StaticFile("bin/busybox", string(bb), 0o755),
		cpio.StaticFile("init", dirtyScript, 0o755),
	}
	err = filepath.Walk(app.ModRoot, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(app.ModRoot, p)
		if rel == "." {
			return nil
		}
		if fi.IsDir() {
			recs = append(recs, cpio.Directory(rel, 0o755))
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		recs = append(recs, cpio.StaticFile(rel, string(b), 0o644))
		return nil
	})
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := cpio.Newc.Writer(f)
	if err := cpio.WriteRecordsAndDirs(w, recs); err != nil {
		f.Close()
		return err
	}
	if err := cpio.WriteTrailer(w); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// FaultHookTag builds the test-only fault hook in (imager/faulthook_on.go):
// it panics on purpose for disks whose serial holds PANIC-HOOK (at the
// first piece of an acquisition) or PANIC-LIST (in the console UI's device
// listing). Only TestAppliance builds with it; make appliance never does.
const FaultHookTag = "coldimage_faulthook"

// TestAppliance returns an appliance built with tags into its own folder
// under buildDir (test-<tags>), building it when that folder holds none
// made from the same sources: the key is the sha256 of the tags and of
// every non-test Go file, go.mod and go.sum of the module (qemu-tests and
// build output aside), kept in the folder's source-key file.
func TestAppliance(ctx context.Context, root, buildDir string, tags []string, log io.Writer) (*Appliance, error) {
	key, err := sourceKey(root, tags)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(buildDir, "test-"+strings.Join(tags, "-"))
	keyFile := filepath.Join(dir, "source-key")
	if b, err := os.ReadFile(keyFile); err == nil && strings.TrimSpace(string(b)) == key {
		if a, err := FindAppliance(dir); err == nil {
			return a, nil
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	os.Remove(keyFile)
	cmd := exec.CommandContext(ctx, "go", "run", "./initramfs/cmd/mkappliance", "-out", dir, "-tags", strings.Join(tags, ","))
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("build test appliance (tags %s): %w", strings.Join(tags, ","), err)
	}
	a, err := FindAppliance(dir)
	if err != nil {
		return nil, err
	}
	return a, os.WriteFile(keyFile, []byte(key+"\n"), 0o644)
}

// sourceKey hashes what an appliance is built from (see TestAppliance).
func sourceKey(root string, tags []string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "tags %s\n", strings.Join(tags, ","))
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || rel == "build" || rel == "bin" || rel == "qemu-tests" || rel == "testdata" || strings.HasSuffix(rel, "/testdata")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !(strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") || rel == "go.mod" || rel == "go.sum") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", filepath.ToSlash(rel), len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// SlowDisk is where the failing disk of the rescue test and benchmark
// fails: an 8 MiB region at 100 MiB and 50 scattered sectors away from it
// (a fixed seed), as LBAs.
type SlowDisk struct {
	RegionLo, RegionHi int64 // [lo, hi)
	Scattered          map[int64]bool
}

// NewSlowDisk lays out the bad sectors of a disk of size bytes.
func NewSlowDisk(size, ss int64) SlowDisk {
	d := SlowDisk{RegionLo: (100 << 20) / ss, RegionHi: (108 << 20) / ss, Scattered: map[int64]bool{}}
	r := rand.New(rand.NewPCG(41, 42))
	for len(d.Scattered) < 50 {
		l := r.Int64N(size / ss)
		if l < d.RegionLo-8192 || l >= d.RegionHi+8192 {
			d.Scattered[l] = true
		}
	}
	return d
}

// Bad are the disk's bad byte ranges, for NBDOptions.
func (d SlowDisk) Bad(ss int64) [][2]int64 {
	bad := [][2]int64{{d.RegionLo * ss, d.RegionHi * ss}}
	for l := range d.Scattered {
		bad = append(bad, [2]int64{l * ss, (l + 1) * ss})
	}
	return bad
}

// NBDServer is a read-only NBD server on a unix socket (Debian's nbdkit
// with the failing-disk plugin in testdata/), serving a disk image whose
// bad ranges fail slowly with EIO.
type NBDServer struct {
	Socket string
	cmd    *exec.Cmd
}

// NBDOptions say how the served disk fails.
type NBDOptions struct {
	Bad       [][2]int64    // byte ranges [start, end) whose reads fail…
	BadDelay  time.Duration // …after this long
	ReadDelay time.Duration // every other read takes this long
}

// StartNBD serves img read-only on a new unix socket in dir, failing as o
// says. The server's log goes to dir/nbdkit.log.
func StartNBD(dir, img string, o NBDOptions) (*NBDServer, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	var ranges strings.Builder
	for _, r := range o.Bad {
		fmt.Fprintf(&ranges, "%d %d\n", r[0], r[1])
	}
	badFile := filepath.Join(dir, "bad-ranges.txt")
	if err := os.WriteFile(badFile, []byte(ranges.String()), 0o644); err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "nbd.sock")
	log, err := os.Create(filepath.Join(dir, "nbdkit.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command("nbdkit", "--foreground", "--readonly", "--unix", sock, "python",
		filepath.Join(root, "qemu-tests", "testdata", "failing_disk.py"),
		"file="+img, "bad="+badFile, fmt.Sprintf("delay=%g", o.BadDelay.Seconds()), fmt.Sprintf("readdelay=%g", o.ReadDelay.Seconds()))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start nbdkit (apt-get install nbdkit nbdkit-plugin-python): %w", err)
	}
	s := &NBDServer{Socket: sock, cmd: cmd}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Kill()
			return nil, fmt.Errorf("nbdkit did not open %s within 20 s (see %s)", sock, log.Name())
		}
	}
}

// Kill stops the server at once, as a drive that dies does: the guest's
// reads fail from then on.
func (s *NBDServer) Kill() {
	if s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}
