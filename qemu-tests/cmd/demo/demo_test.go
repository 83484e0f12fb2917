package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	qt "github.com/coldimage/coldimage/qemu-tests"
)

// TestDemo runs what `make demo` runs, so the README's first command stays true.
func TestDemo(t *testing.T) {
	if _, err := exec.LookPath(qt.QEMU); err != nil {
		t.Skipf("%s not installed", qt.QEMU)
	}
	root, err := qt.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	build := filepath.Join(root, "build")
	if _, err := qt.FindAppliance(build); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		if err := qt.BuildAppliance(ctx, root, build, os.Stderr); err != nil {
			t.Fatal(err)
		}
	}
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"-build", build, "-work", t.TempDir()}, &out, &errb); err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, out.String(), errb.String())
	}
	for _, want := range []string{"evidence disks unchanged", "ok=3 failed=0", "_DEMO-GPT"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
