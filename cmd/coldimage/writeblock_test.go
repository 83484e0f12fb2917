package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/raid"
)

// TestHelperCLI is the coldimage command when COLDIMAGE_HELPER_CLI=1: the
// write-block tests run it as a process of its own under strace, with the
// command line after "--".
func TestHelperCLI(t *testing.T) {
	if os.Getenv("COLDIMAGE_HELPER_CLI") != "1" {
		t.Skip("helper process for the strace tests")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	if v := os.Getenv("COLDIMAGE_HELPER_SYNC_EVERY"); v != "" {
		fmt.Sscan(v, &syncEvery) // small checkpoints for the power-cut tests
	}
	err := run(context.Background(), args, strings.NewReader(""), io.Discard, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "coldimage:", err)
		os.Exit(exitCode(err))
	}
	os.Exit(0)
}

// straceCLI runs the coldimage command under strace (openat, ioctl, read,
// pread64, every thread, descriptors shown with their paths) and returns
// the trace, stderr and the exit code.
func straceCLI(t *testing.T, args ...string) (trace, stderr string, code int) {
	t.Helper()
	logf := filepath.Join(t.TempDir(), "strace.log")
	sargs := append([]string{"-f", "-qq", "-y", "-e", "trace=openat,ioctl,read,pread64", "-o", logf,
		os.Args[0], "-test.run=^TestHelperCLI$", "--"}, args...)
	cmd := exec.Command("strace", sargs...)
	cmd.Env = append(os.Environ(), "COLDIMAGE_HELPER_CLI=1")
	var eb strings.Builder
	cmd.Stderr = &eb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("strace coldimage %s: %v", strings.Join(args, " "), err)
	}
	b, err := os.ReadFile(logf)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), eb.String(), code
}

var straceCall = regexp.MustCompile(`^(?:\d+\s+)?(read|pread64|ioctl)\((\d+)<([^>]*)>(?:, (\w+))?`)

// writeBlockOrder checks a trace: no read or pread64 of any of devs before
// a BLKROSET and then a BLKROGET on that device. It returns the number of
// reads per device.
func writeBlockOrder(t *testing.T, trace string, devs ...string) map[string]int {
	t.Helper()
	want := map[string]bool{}
	for _, d := range devs {
		want[filepath.Base(d)] = true
	}
	type state struct{ set, confirmed bool }
	st := map[string]*state{}
	reads := map[string]int{}
	for n, line := range strings.Split(trace, "\n") {
		m := straceCall.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		dev := filepath.Base(m[3])
		if !want[dev] || !strings.HasPrefix(m[3], "/dev/") {
			continue
		}
		s := st[dev]
		if s == nil {
			s = &state{}
			st[dev] = s
		}
		switch {
		case m[1] == "ioctl" && m[4] == "BLKROSET":
			s.set = true
		case m[1] == "ioctl" && m[4] == "BLKROGET" && s.set:
			s.confirmed = true
		case m[1] == "read" || m[1] == "pread64":
			if !s.confirmed && reads[dev] == 0 {
				t.Errorf("trace line %d reads %s before BLKROSET (set %v) and BLKROGET (confirmed %v):\n%s", n+1, dev, s.set, s.confirmed, line)
			}
			reads[dev]++
		}
	}
	return reads
}

// blockLoop attaches img (partition scan on) and returns the device and its
// partitions. Cleanup clears the kernel read-only flags (they outlive
// losetup -d) and detaches.
func blockLoop(t *testing.T, img string) (string, []string) {
	t.Helper()
	loop := sh(t, "losetup", "-f", "--show", "-P", img)
	var parts []string
	t.Cleanup(func() {
		for _, p := range parts {
			exec.Command("blockdev", "--setrw", p).Run()
		}
		exec.Command("blockdev", "--setrw", loop).Run()
		exec.Command("losetup", "-d", loop).Run()
	})
	sh(t, "blockdev", "--setrw", loop) // a flag left by an earlier user of this loop device
	if b, err := os.ReadFile(img); err == nil && len(b) > 1024 && string(b[512:520]) == "EFI PART" {
		parts = append(parts, loop+"p1")
		ensureNode(t, loop, loop+"p1")
	}
	return loop, parts
}

func setRW(t *testing.T, devs ...string) {
	t.Helper()
	for _, d := range devs {
		sh(t, "blockdev", "--setrw", d)
	}
}

func needStrace(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for loop devices and BLKROSET")
	}
	if _, err := exec.LookPath("strace"); err != nil {
		t.Skip("strace not installed: the write-block order is checked in a system call trace (apt-get install strace)")
	}
	needTool(t, "losetup", "sfdisk", "mkfs.ext4", "blockdev")
}

// TestWriteBlockBeforeRead: a disk or partition SOURCE, and the disk holding
// a partition, are set read-only (BLKROSET) and confirmed (BLKROGET) before
// the command reads a byte of them — inspection and preflight included — as
// the system calls show.
func TestWriteBlockBeforeRead(t *testing.T) {
	needStrace(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	sh(t, "truncate", "-s", "24M", img)
	cmd := exec.Command("sfdisk", "-q", img)
	cmd.Stdin = strings.NewReader("label: gpt\nstart=2048, size=20480, type=L\n")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v %s", err, b)
	}
	loop, parts := blockLoop(t, img)
	if len(parts) != 1 {
		t.Fatalf("no partition node for %s", loop)
	}
	part := parts[0]
	sh(t, "mkfs.ext4", "-q", "-L", "WBTEST", part)

	for _, tc := range []struct {
		name string
		args func(out string) []string
	}{
		{"disk", func(out string) []string { return []string{"acquire", "--hash", "sha256", loop, out} }},
		{"partition", func(out string) []string { return []string{"acquire", "--hash", "sha256", part, out} }},
		{"disk-and-partition", func(out string) []string {
			return []string{"acquire", "--hash", "sha256", "--no-verify", part, loop, out}
		}},
		{"symlink", func(out string) []string {
			ln := filepath.Join(dir, "by-id-link")
			os.Remove(ln)
			if err := os.Symlink(part, ln); err != nil {
				t.Fatal(err)
			}
			return []string{"acquire", "--hash", "sha256", ln, out}
		}},
		{"raid-examine", func(string) []string { return []string{"raid", "examine", loop} }},
		{"raid-assemble", func(out string) []string { return []string{"raid", "assemble", "-o", out, part} }},
		{"volume-member", func(out string) []string {
			return []string{"acquire", "--member", loop, "md-00000000-00000000-00000000-00000000", out}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setRW(t, loop, part)
			out := filepath.Join(t.TempDir(), "out")
			trace, stderr, code := straceCLI(t, tc.args(out)...)
			t.Logf("exit %d: %s", code, stderr)
			reads := writeBlockOrder(t, trace, loop, part)
			if reads[filepath.Base(loop)] == 0 {
				t.Errorf("the trace shows no read of %s: nothing checked\n%s", loop, stderr)
			}
			if tc.name == "disk" || tc.name == "partition" || tc.name == "symlink" {
				if code != 0 {
					t.Fatalf("exit %d: %s", code, stderr)
				}
				rec, err := imager.ReadRecord(out)
				if err != nil {
					t.Fatal(err)
				}
				if rec.Source.ReadOnlySetBy != "BLKROSET" {
					t.Errorf("record source %+v", rec.Source)
				}
			}
			for _, d := range []string{loop, part} {
				if ro := sh(t, "blockdev", "--getro", d); ro != "1" {
					t.Errorf("BLKROGET %s = %s after the command, want 1", d, ro)
				}
			}
		})
	}
}

// TestWriteBlockRAIDMembers: members of a RAID volume SOURCE on loop
// devices are write-blocked before they are read, whether given with
// --member or found among the machine's read-only disks; writable disks
// nobody named are neither read nor set read-only.
func TestWriteBlockRAIDMembers(t *testing.T) {
	needStrace(t)
	r := raidFixture(t, "v10-raid1")
	dir := t.TempDir()
	var loops []string
	for i, m := range r.Members {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		c := filepath.Join(dir, fmt.Sprintf("m%d.img", i))
		if err := os.WriteFile(c, b, 0o644); err != nil {
			t.Fatal(err)
		}
		l, _ := blockLoop(t, c)
		loops = append(loops, l)
	}
	var rep raid.Report
	stdout, _, err := runCLI(t, append([]string{"raid", "examine", "--json"}, r.Members...)...)
	if err == nil {
		err = json.Unmarshal([]byte(stdout), &rep)
	}
	if err != nil || len(rep.Arrays) != 1 {
		t.Fatalf("raid examine: %v %s", err, stdout)
	}
	id := rep.Arrays[0].SourceID()

	check := func(t *testing.T, args []string, wantCode int) string {
		t.Helper()
		out := filepath.Join(t.TempDir(), "out")
		trace, stderr, code := straceCLI(t, append(args, id, out)...)
		if code != wantCode {
			t.Fatalf("exit %d, want %d: %s", code, wantCode, stderr)
		}
		reads := writeBlockOrder(t, trace, loops...)
		if code == 0 {
			rec, err := imager.ReadRecord(out)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Hashes["sha256"] != r.SHA256 {
				t.Errorf("volume sha256 %s, kernel md %s", rec.Hashes["sha256"], r.SHA256)
			}
			for _, l := range loops {
				if reads[filepath.Base(l)] == 0 {
					t.Errorf("no read of member %s in the trace", l)
				}
			}
		}
		return trace
	}
	t.Run("member-flags", func(t *testing.T) {
		setRW(t, loops...)
		args := []string{"acquire", "--hash", "sha256"}
		for _, l := range loops {
			args = append(args, "--member", l)
		}
		check(t, args, 0)
	})
	t.Run("found-read-only", func(t *testing.T) {
		for _, l := range loops {
			sh(t, "blockdev", "--setro", l)
		}
		check(t, []string{"acquire", "--hash", "sha256"}, 0)
	})
	t.Run("writable-not-searched", func(t *testing.T) {
		setRW(t, loops...)
		trace := check(t, []string{"acquire", "--hash", "sha256"}, exitRefused)
		for _, l := range loops {
			for _, line := range strings.Split(trace, "\n") {
				if m := straceCall.FindStringSubmatch(line); m != nil && m[3] == l && (m[1] != "ioctl" || m[4] == "BLKROSET") {
					t.Errorf("writable %s, named by nobody, was touched: %s", l, line)
					break
				}
			}
			if ro := sh(t, "blockdev", "--getro", l); ro != "0" {
				t.Errorf("BLKROGET %s = %s, want it left writable", l, ro)
			}
		}
	})
}
