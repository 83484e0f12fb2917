package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coldimage/coldimage/imager"
)

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	b, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, b)
	}
	return strings.TrimSpace(string(b))
}

// Real block devices: a loop device with a GPT and an ext4 partition.
func TestAcquireLoopDevice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for loop devices")
	}
	needTool(t, "losetup", "sfdisk", "mkfs.ext4", "blockdev", "sha256sum")
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	sh(t, "truncate", "-s", "24M", img)
	cmd := exec.Command("sfdisk", "-q", img)
	cmd.Stdin = strings.NewReader("label: gpt\nstart=2048, size=20480, type=L\n")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v %s", err, b)
	}
	loop := sh(t, "losetup", "-f", "--show", "-P", img)
	part := loop + "p1"
	mnt := filepath.Join(dir, "mnt")
	t.Cleanup(func() {
		exec.Command("umount", mnt).Run()
		exec.Command("blockdev", "--setrw", loop).Run()
		exec.Command("blockdev", "--setrw", part).Run()
		exec.Command("losetup", "-d", loop).Run()
	})
	ensureNode(t, loop, part)
	// The fixture is made writable first: a loop device keeps the kernel's
	// read-only flag an earlier acquisition of the same name set (BLKROSET
	// outlives losetup -d), and mkfs would fail with EPERM.
	sh(t, "blockdev", "--setrw", loop)
	sh(t, "blockdev", "--setrw", part)
	sh(t, "mkfs.ext4", "-q", "-L", "LOOPDATA", part)
	want := strings.Fields(sh(t, "sha256sum", img))[0]

	// list --json asks the disk itself too (a loop device answers no
	// passthrough command: the identity says so instead of guessing).
	listed, _, err := runCLI(t, "list", "--json", loop)
	if err != nil {
		t.Fatal(err)
	}
	var entries []struct {
		Kind   string
		Device *imager.DeviceIdentity `json:"device"`
	}
	if err := json.Unmarshal([]byte(listed), &entries); err != nil || len(entries) != 1 || entries[0].Kind != "disk" || entries[0].Device == nil || entries[0].Device.Transport != "none" || len(entries[0].Device.Errors) == 0 {
		t.Errorf("list --json %s: %v\n%s", loop, err, listed)
	}

	out := filepath.Join(dir, "out")
	if _, stderr, err := runCLI(t, "acquire", loop, out); err != nil {
		t.Fatalf("acquire %s: %v\n%s", loop, err, stderr)
	}
	rec, err := imager.ReadRecord(out)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Hashes["sha256"] != want {
		t.Errorf("image SHA-256 %s, backing file %s", rec.Hashes["sha256"], want)
	}
	if !rec.Source.ReadOnly || rec.Source.ReadOnlySetBy != "BLKROSET" || rec.Source.Transport != "loop" {
		t.Errorf("source record %+v", rec.Source)
	}
	if rec.HPA == nil || rec.HPA.Mode != imager.HPAReport || !strings.Contains(rec.HPA.Outcome, "not an ATA drive") || rec.HPA.NotImaged != "" {
		t.Errorf("hidden-area choice of a loop device: %+v", rec.HPA)
	}
	if ro := sh(t, "blockdev", "--getro", loop); ro != "1" {
		t.Errorf("BLKROGET of %s after acquisition = %s, want 1", loop, ro)
	}

	// A partition as the source: its bytes are the file's at 1 MiB.
	pout := filepath.Join(dir, "pout")
	if _, stderr, err := runCLI(t, "acquire", "--hash", "sha256", "--hpa", "image", part, pout); err != nil {
		t.Fatalf("acquire %s: %v\n%s", part, err, stderr)
	}
	prec, _ := imager.ReadRecord(pout)
	region := filepath.Join(dir, "region")
	sh(t, "dd", "if="+img, "of="+region, "bs=512", "skip=2048", "count=20480", "status=none")
	if got, want := prec.Hashes["sha256"], strings.Fields(sh(t, "sha256sum", region))[0]; got != want {
		t.Errorf("partition image SHA-256 %s, want %s", got, want)
	}
	if prec.HPA == nil || prec.HPA.Mode != imager.HPAImage {
		t.Errorf("--hpa image not recorded: %+v", prec.HPA)
	}
	if !strings.HasPrefix(prec.Source.ID, filepath.Base(part)) {
		t.Errorf("partition source id %q", prec.Source.ID)
	}

	// Self-target: OUTDIR on a filesystem of the source is refused. (The test
	// fixture is made writable and mounted here on purpose.)
	sh(t, "blockdev", "--setrw", part)
	sh(t, "blockdev", "--setrw", loop)
	os.Mkdir(mnt, 0o755)
	sh(t, "mount", part, mnt)
	for _, src := range []string{loop, part} {
		_, _, err := runCLI(t, "acquire", src, filepath.Join(mnt, "out"))
		if exitCode(err) != exitRefused || !strings.Contains(err.Error(), "on the source") {
			t.Errorf("acquire %s into its own filesystem: exit %d, %v", src, exitCode(err), err)
		}
	}
	if ents, _ := os.ReadDir(mnt); len(ents) != 1 || ents[0].Name() != "lost+found" {
		t.Errorf("the refused acquisitions wrote into the source: %v", ents)
	}
}

// ensureNode creates /dev/NAME from sysfs when no udev does (containers, CI).
func ensureNode(t *testing.T, parent, dev string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join("/sys/class/block", filepath.Base(dev))); err != nil {
		exec.Command("partx", "-a", parent).Run() // losetup -P does not always scan here
	}
	if _, err := os.Stat(dev); err == nil {
		return
	}
	exec.Command("udevadm", "settle").Run()
	if _, err := os.Stat(dev); err == nil {
		return
	}
	b, err := os.ReadFile(filepath.Join("/sys/class/block", filepath.Base(dev), "dev"))
	if err != nil {
		t.Fatalf("partition %s unknown to the kernel: %v", dev, err)
	}
	mm := strings.Split(strings.TrimSpace(string(b)), ":")
	sh(t, "mknod", dev, "b", mm[0], mm[1])
	t.Cleanup(func() { os.Remove(dev) })
}
