package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestProbeFS formats small files with Debian's mkfs tools and checks our
// probers against blkid, the reference.
func TestProbeFS(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		mkfs []string
		size int64
	}{
		{"ext4", []string{"mkfs.ext4", "-q", "-F", "-L", "EVIDENCE"}, 8 << 20},
		{"vfat", []string{"mkfs.vfat", "-n", "EVID16"}, 8 << 20},
		{"vfat", []string{"mkfs.vfat", "-F", "32", "-n", "EVID32"}, 40 << 20},
		{"exfat", []string{"mkfs.exfat", "-L", "EVIDX"}, 8 << 20},
	} {
		t.Run(tc.mkfs[len(tc.mkfs)-1], func(t *testing.T) {
			if _, err := exec.LookPath(tc.mkfs[0]); err != nil {
				t.Skipf("%s not installed", tc.mkfs[0])
			}
			img := filepath.Join(t.TempDir(), "fs.img")
			if err := os.WriteFile(img, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(img, tc.size); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(tc.mkfs[0], append(tc.mkfs[1:], img)...).CombinedOutput(); err != nil {
				t.Fatalf("%v: %v: %s", tc.mkfs, err, out)
			}
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fs, err := ProbeFS(f)
			if err != nil || fs == nil {
				t.Fatalf("ProbeFS = %v, %v", fs, err)
			}
			if fs.Type != tc.typ || fs.Label != tc.mkfs[len(tc.mkfs)-1] {
				t.Errorf("got %+v, want type %s label %s", fs, tc.typ, tc.mkfs[len(tc.mkfs)-1])
			}
			if blkid, err := exec.LookPath("blkid"); err == nil {
				out, err := exec.Command(blkid, "-p", "-o", "value", "-s", "UUID", img).Output()
				if err == nil && strings.TrimSpace(string(out)) != fs.UUID {
					t.Errorf("UUID %q, blkid says %q", fs.UUID, strings.TrimSpace(string(out)))
				}
			}
		})
	}
	// Not a file system.
	f, _ := os.CreateTemp(t.TempDir(), "zero")
	f.Truncate(1 << 20)
	if fs, err := ProbeFS(f); fs != nil || err != nil {
		t.Errorf("zeros: %v %v", fs, err)
	}
}
