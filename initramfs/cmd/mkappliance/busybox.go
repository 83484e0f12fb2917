package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/coldimage/coldimage/initramfs/kernel"
)

// The emergency shell is Debian's busybox-static: its ash has job control
// (Ctrl-Z, jobs, fg, bg) and line editing, which u-root's gosh lacks. It goes
// in as /bin/busybox with /bin/sh pointing at it; the busybox binary runs
// its applets (head, sleep, stty, …) itself, without links.

// busyboxPkg is the Debian package the shell comes from.
const busyboxPkg = "busybox-static"

// shellInput is the shell binary and where it came from.
type shellInput struct {
	Path    string // the file copied to /bin/busybox
	Version string // Debian package version
	From    string // the .deb, or "installed package"
	SHA256  string // of the binary
}

// Record is the line kept in build/shell and the initramfs's
// /etc/coldimage/shell.
func (s *shellInput) Record() string {
	return fmt.Sprintf("Debian %s %s (busybox sha256 %s)", busyboxPkg, s.Version, s.SHA256)
}

// fetchBusybox takes busybox-static's .deb from the package cache (apt-get
// download, as the kernel's) and unpacks it there; when that fails, the
// installed package's /bin/busybox (scripts/install-deps.sh installs it).
func fetchBusybox(ctx context.Context, cache string, logf func(string, ...any)) (*shellInput, error) {
	s, err := busyboxFromDeb(ctx, cache)
	if err != nil {
		logf("%s .deb: %v; trying the installed package", busyboxPkg, err)
		var ierr error
		if s, ierr = busyboxInstalled(ctx); ierr != nil {
			return nil, fmt.Errorf("%w; installed package: %w", err, ierr)
		}
	}
	if err := checkStatic(s.Path); err != nil {
		return nil, err
	}
	sum, err := fileSHA256(s.Path)
	if err != nil {
		return nil, err
	}
	s.SHA256 = sum
	return s, nil
}

func busyboxFromDeb(ctx context.Context, cache string) (*shellInput, error) {
	deb, err := kernel.Fetch(ctx, busyboxPkg, filepath.Join(cache, "debs"))
	if err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, "dpkg-deb", "-f", deb, "Version").Output()
	if err != nil {
		return nil, fmt.Errorf("dpkg-deb -f %s Version: %w", deb, err)
	}
	// Not cache/tree-*: that is the kernel's (its tests look there).
	root := filepath.Join(cache, "unpacked", strings.TrimSuffix(filepath.Base(deb), ".deb"))
	if _, err := os.Stat(filepath.Join(root, ".done")); err != nil {
		os.RemoveAll(root)
		if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
			return nil, err
		}
		if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, root).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("dpkg-deb -x %s: %w: %s", deb, err, bytes.TrimSpace(out))
		}
		if err := os.WriteFile(filepath.Join(root, ".done"), nil, 0o644); err != nil {
			return nil, err
		}
	}
	return &shellInput{Path: filepath.Join(root, "bin", "busybox"), Version: strings.TrimSpace(string(out)), From: deb}, nil
}

func busyboxInstalled(ctx context.Context) (*shellInput, error) {
	out, err := exec.CommandContext(ctx, "dpkg-query", "-W", "-f", "${Version} ${db:Status-Status}", busyboxPkg).Output()
	if err != nil {
		return nil, fmt.Errorf("dpkg-query %s: %w", busyboxPkg, err)
	}
	ver, status, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if status != "installed" {
		return nil, fmt.Errorf("%s is not installed (apt-get install %s)", busyboxPkg, busyboxPkg)
	}
	return &shellInput{Path: "/bin/busybox", Version: ver, From: "installed package"}, nil
}

// checkStatic refuses a dynamically linked binary: the initramfs has no
// C library.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("busybox %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("busybox %s is dynamically linked (want %s's static one)", path, busyboxPkg)
		}
	}
	return nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
