package kernel

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func TestParseDepends(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		err            bool
	}{
		{"bookworm", "linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n", "linux-image-6.1.0-56-amd64", false},
		{"alternatives", "linux-image-amd64\n |Depends: linux-image-6.12.9-amd64\n  Depends: foo\n", "linux-image-6.12.9-amd64", false},
		{"no kernel", "linux-image-amd64\n  Depends: foo\n", "", true},
		{"unsigned not picked", "linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64-unsigned-x\n", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDepends(tc.in)
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("ParseDepends = %q, %v; want %q (err %v)", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestCanonAndRelease(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/block/t10-pi.ko": "t10_pi", "crc32c-intel.ko.xz": "crc32c_intel",
		"ext4": "ext4", "nls_iso8859-1.ko.zst": "nls_iso8859_1",
	} {
		if got := Canon(in); got != want {
			t.Errorf("Canon(%q) = %q, want %q", in, got, want)
		}
	}
	if r := Release("linux-image-6.1.0-56-amd64"); r != "6.1.0-56-amd64" {
		t.Errorf("Release = %q", r)
	}
}

// TestModulesDepMatchesDepmod cross-checks our modules.dep against kmod's
// depmod run over the same installed subset. It needs a kernel tree in the
// cache (go run ./initramfs/cmd/fetchkernel) and depmod (Debian kmod).
func TestModulesDepMatchesDepmod(t *testing.T) {
	depmod, err := exec.LookPath("depmod")
	if err != nil {
		t.Skip("depmod (kmod) not installed")
	}
	cache, _ := os.UserCacheDir()
	trees, _ := filepath.Glob(filepath.Join(cache, "coldimage", "kernel", "tree-*"))
	if len(trees) == 0 {
		t.Skip("no kernel tree in the cache; run fetchkernel first")
	}
	root := trees[len(trees)-1]
	rel := strings.TrimPrefix(filepath.Base(root), "tree-")
	ix, err := NewIndex(Tree{Root: root, Release: rel}.ModDir())
	if err != nil {
		t.Fatal(err)
	}
	mods, err := ix.Closure([]string{"ext4", "vfat", "virtio_blk", "virtio_scsi", "sd_mod", "nvme", "uas", "9p", "9pnet_virtio"})
	if err != nil {
		t.Fatal(err)
	}
	ours := t.TempDir()
	if err := ix.Install(mods, ours, rel); err != nil {
		t.Fatal(err)
	}
	// depmod over a copy of our tree without our modules.dep.
	theirs := t.TempDir()
	if err := ix.Install(mods, theirs, rel); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(depmod, "-b", theirs, rel).CombinedOutput(); err != nil {
		t.Fatalf("depmod: %v: %s", err, out)
	}
	parse := func(dir string) map[string][]string {
		b, err := os.ReadFile(filepath.Join(dir, "lib", "modules", rel, "modules.dep"))
		if err != nil {
			t.Fatal(err)
		}
		m := map[string][]string{}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			k, v, _ := strings.Cut(l, ":")
			d := strings.Fields(v)
			sort.Strings(d)
			m[k] = d
		}
		return m
	}
	a, b := parse(ours), parse(theirs)
	if len(a) != len(b) {
		t.Errorf("ours has %d entries, depmod %d", len(a), len(b))
	}
	for k, v := range b {
		if strings.Join(a[k], " ") != strings.Join(v, " ") {
			t.Errorf("%s: ours %v, depmod %v", k, a[k], v)
		}
	}
	// Modules are copied unchanged (signatures intact).
	for _, m := range mods {
		x, _ := os.ReadFile(filepath.Join(ix.ModDir, m.Path))
		y, _ := os.ReadFile(filepath.Join(ours, "lib", "modules", rel, m.Path))
		if string(x) != string(y) || !strings.HasSuffix(string(y), "~Module signature appended~\n") {
			t.Errorf("%s changed or unsigned after install", m.Path)
		}
	}
}
