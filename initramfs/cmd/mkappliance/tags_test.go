package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTags: -tags reaches the build as a list and marks the version; no
// tags (the default) leaves the version alone.
func TestTags(t *testing.T) {
	if got := splitTags(""); len(got) != 0 {
		t.Errorf("splitTags(\"\") = %q", got)
	}
	if got := splitTags("coldimage_faulthook, other,"); strings.Join(got, "|") != "coldimage_faulthook|other" {
		t.Errorf("splitTags = %q", got)
	}
	if v := taggedVersion("v1.2", nil); v != "v1.2" {
		t.Errorf("untagged version %q", v)
	}
	if v := taggedVersion("v1.2", []string{"coldimage_faulthook"}); v != "v1.2+coldimage_faulthook" {
		t.Errorf("tagged version %q", v)
	}
}

// TestShippedBuildsHaveNoTestTags: what we ship (make build, make
// appliance, make usb, the demo and image scripts) never passes -tags or
// names the fault hook's tag: only qemu-tests builds a test appliance.
func TestShippedBuildsHaveNoTestTags(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	files := []string{filepath.Join(root, "Makefile")}
	for _, dir := range []string{"scripts", "image-build"} {
		filepath.Walk(filepath.Join(root, dir), func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() && !strings.HasSuffix(p, "_test.go") {
				files = append(files, p)
			}
			return nil
		})
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "coldimage_faulthook") || strings.Contains(l, "mkappliance") && strings.Contains(l, "-tags") {
				t.Errorf("%s:%d ships a test build tag: %s", f, i+1, strings.TrimSpace(l))
			}
		}
	}
}
