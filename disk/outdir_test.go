//go:build linux

package disk

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestFreeSpace(t *testing.T) {
	dir := t.TempDir()
	df, err := exec.Command("df", "--output=avail", "-B1", dir).Output()
	if err != nil {
		t.Skipf("df: %v", err)
	}
	lines := strings.Fields(string(df))
	want, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Join(dir, "not", "yet", "there")} {
		got, err := FreeSpace(d)
		if err != nil {
			t.Fatal(err)
		}
		// Other engineers write to this file system meanwhile: allow 1 GiB.
		if diff := got - want; diff > 1<<30 || diff < -(1<<30) {
			t.Errorf("FreeSpace(%s) = %d, df says %d", d, got, want)
		}
	}
	if _, err := FreeSpace("relative/but/missing"); err != nil {
		t.Errorf("FreeSpace of a missing relative dir: %v (want the cwd's file system)", err)
	}
}

// TestOutputOnSourceFile: for a file source only the source itself is
// refused, not other files on the same file system.
func TestOutputOnSourceFile(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "evidence.dd")
	if err := os.WriteFile(src, []byte("evidence"), 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := Inspect(src)
	if err != nil {
		t.Fatal(err)
	}
	linked := t.TempDir()
	if err := os.Link(src, filepath.Join(linked, "image.raw")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		dir  string
		want bool
	}{
		{"same-dir-other-files", dir, false},
		{"new-dir-same-fs", filepath.Join(dir, "out"), false},
		{"outdir-is-the-source", src, true},
		{"image.raw-is-the-source", linked, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, why, err := OutputOnSource(tc.dir, info)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || (got && why == "") {
				t.Errorf("OutputOnSource(%s) = %v %q, want %v", tc.dir, got, why, tc.want)
			}
		})
	}
}
