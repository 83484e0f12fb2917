// Package kernel fetches Debian's kernel package and selects the modules the
// appliance needs, with their dependencies, computed from the modules'
// own .modinfo sections (the package ships no modules.dep).
//
// The steps are split prepare → select → write, in the spirit of gokrazy's
// packer: Resolve and Fetch talk to apt, Extract unpacks, Index/Closure
// compute, Install writes the module tree for the initramfs.
package kernel

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Meta is the Debian metapackage that always depends on the current kernel.
const Meta = "linux-image-amd64"

var versionedRE = regexp.MustCompile(`^linux-image-([0-9][^ ]*-amd64)$`)

// ParseDepends returns the versioned image package named by the output of
// `apt-cache depends linux-image-amd64`: the first "Depends: linux-image-V".
func ParseDepends(out string) (string, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && strings.TrimPrefix(f[0], "|") == "Depends:" && versionedRE.MatchString(f[1]) {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("no versioned linux-image dependency in apt-cache depends %s output", Meta)
}

// Release returns the kernel release (uname -r) of a versioned image package
// name: linux-image-6.1.0-56-amd64 → 6.1.0-56-amd64.
func Release(pkg string) string {
	m := versionedRE.FindStringSubmatch(pkg)
	if m == nil {
		return ""
	}
	return m[1]
}

// Resolve asks apt which versioned image package linux-image-amd64 pulls in.
func Resolve(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", Meta).Output()
	if err != nil {
		return "", fmt.Errorf("apt-cache depends %s: %w (run apt-get update first?)", Meta, err)
	}
	return ParseDepends(string(out))
}

// Fetch downloads pkg's .deb into cacheDir with apt-get download, unless a
// .deb of that package is already there. It returns the .deb's path.
func Fetch(ctx context.Context, pkg, cacheDir string) (string, error) {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("kernel cache %s: %w", cacheDir, err)
	}
	if deb, ok := cachedDeb(pkg, cacheDir); ok {
		return deb, nil
	}
	cmd := exec.CommandContext(ctx, "apt-get", "download", pkg)
	cmd.Dir = cacheDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("apt-get download %s in %s: %w: %s", pkg, cacheDir, err, strings.TrimSpace(stderr.String()))
	}
	deb, ok := cachedDeb(pkg, cacheDir)
	if !ok {
		return "", fmt.Errorf("apt-get download %s left no %s_*.deb in %s", pkg, pkg, cacheDir)
	}
	return deb, nil
}

func cachedDeb(pkg, dir string) (string, bool) {
	m, _ := filepath.Glob(filepath.Join(dir, pkg+"_*_amd64.deb"))
	if len(m) == 0 {
		return "", false
	}
	sort.Strings(m)
	return m[len(m)-1], true
}

// Extract unpacks deb into dir (dpkg-deb -x) unless dir already holds the
// unpacked kernel of release rel.
func Extract(ctx context.Context, deb, dir, rel string) error {
	if _, err := os.Stat(filepath.Join(dir, "boot", "vmlinuz-"+rel)); err == nil {
		return nil
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, tmp).CombinedOutput(); err != nil {
		return fmt.Errorf("dpkg-deb -x %s: %w: %s", deb, err, bytes.TrimSpace(out))
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("move extracted kernel into %s: %w", dir, err)
	}
	return nil
}

// Tree is an unpacked kernel package.
type Tree struct {
	Root    string // where the .deb was unpacked
	Release string // uname -r
}

// Vmlinuz is the kernel image's path.
func (t Tree) Vmlinuz() string { return filepath.Join(t.Root, "boot", "vmlinuz-"+t.Release) }

// ModDir is /lib/modules/<release> inside the tree.
func (t Tree) ModDir() string {
	for _, d := range []string{"lib", "usr/lib"} {
		p := filepath.Join(t.Root, d, "modules", t.Release)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return filepath.Join(t.Root, "lib", "modules", t.Release)
}

// copyFile copies src to dst byte for byte (modules are signed: never
// rewrite them).
func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return out.Close()
}

// CopyFile is copyFile for callers outside the package.
func CopyFile(src, dst string, mode os.FileMode) error { return copyFile(src, dst, mode) }
