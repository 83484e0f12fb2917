package ewf

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
)

// TestReadEwfacquire reads images written by libewf's ewfacquire (the
// independent writer) with our Reader: media, stored hashes and header.
func TestReadEwfacquire(t *testing.T) {
	if _, err := exec.LookPath("ewfacquire"); err != nil {
		t.Skip("ewfacquire not on PATH (apt-get install ewf-tools)")
	}
	for _, c := range []struct {
		name string
		kind string
		size int
		args []string
		segs int // at least
	}{
		{"encase6 fast", "mixed", 1<<20 + 7*512, []string{"-f", "encase6", "-c", "fast"}, 1},
		{"encase6 none multi-segment", "random", 3<<20 + 512, []string{"-f", "encase6", "-c", "none", "-S", "1048576"}, 3},
		{"encase6 best", "mixed", 1 << 20, []string{"-f", "encase6", "-c", "best"}, 1},
		{"encase5", "mixed", 1 << 20, []string{"-f", "encase5", "-c", "fast"}, 1},
		{"encase4 sha1", "mixed", 512 * 1000, []string{"-f", "encase4", "-c", "fast", "-d", "sha1"}, 1},
		{"ftk", "zero", 1 << 20, []string{"-f", "ftk", "-c", "fast"}, 1},
		{"linen6 4096-byte sectors", "mixed", 1 << 20, []string{"-f", "linen6", "-c", "fast", "-P", "4096"}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			data := testData(c.kind, c.size, 11)
			src := filepath.Join(dir, "src.raw")
			if err := os.WriteFile(src, data, 0o644); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"-u", "-q", "-t", filepath.Join(dir, "lib"), "-C", "CASE-L", "-e", "Lib Examiner", "-E", "EV-L", "-D", "desc", "-N", "notes"}, c.args...)
			if out, err := exec.Command("ewfacquire", append(args, src)...).CombinedOutput(); err != nil {
				t.Fatalf("ewfacquire: %v\n%s", err, out)
			}
			r, err := Open(filepath.Join(dir, "lib.E01"))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer r.Close()
			if len(r.Segments()) < c.segs {
				t.Errorf("%d segments, want at least %d", len(r.Segments()), c.segs)
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if sha256hex(got) != sha256hex(data) {
				t.Fatalf("media differs: %d bytes read, %d written", len(got), len(data))
			}
			h := hexsum(data)
			if r.StoredHashes()["md5"] != h["md5"] {
				t.Errorf("stored hashes %v, md5 %s", r.StoredHashes(), h["md5"])
			}
			if s, ok := r.StoredHashes()["sha1"]; ok && s != h["sha1"] {
				t.Errorf("stored sha1 %s, want %s", s, h["sha1"])
			}
			hd := r.Header()
			got3 := [3]string{hd["case"], hd["examiner"], hd["evidence"]}
			if want := [3]string{"CASE-L", "Lib Examiner", "EV-L"}; !reflect.DeepEqual(got3, want) {
				t.Errorf("header %v, want %v", got3, want)
			}
		})
	}
}
