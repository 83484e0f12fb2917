package disk

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// debianPackage names the package .ci/run must install for a tool.
var debianPackage = map[string]string{
	"mkfs.ext2": "e2fsprogs", "mkfs.ext3": "e2fsprogs", "mkfs.ext4": "e2fsprogs",
	"mkfs.vfat": "dosfstools", "mkfs.exfat": "exfatprogs", "mkntfs": "ntfs-3g",
	"mkfs.xfs": "xfsprogs", "mkfs.btrfs": "btrfs-progs", "mkswap": "util-linux",
	"xorriso": "xorriso", "sfdisk": "fdisk", "blkid": "util-linux", "losetup": "mount",
	"partx": "util-linux", "mount": "mount", "mkapfs": "apfsprogs", "fsapfsinfo": "libfsapfs-utils",
}

// needTool skips the test when a command-line tool is missing.
func needTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed (Debian package %s)", name, debianPackage[name])
	}
}

// run runs a command and fails the test with its output on error.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// runIn runs a command with stdin.
func runIn(t testing.TB, stdin string, name string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// sparseFile creates a sparse file of size bytes in the test's temp dir.
func sparseFile(t testing.TB, name string, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// blkidExport returns `blkid -p -o export` for path (low-level probing, no
// cache), or nil when blkid is missing or finds nothing.
func blkidExport(t *testing.T, path string) map[string]string {
	t.Helper()
	if _, err := exec.LookPath("blkid"); err != nil {
		return nil
	}
	out, err := exec.Command("blkid", "-p", "-o", "export", path).Output()
	if err != nil {
		return nil
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = strings.ReplaceAll(v, `\ `, " ")
		}
	}
	return m
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (loop devices, BLKROSET, mount)")
	}
}
