package kernel

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Prepared is what Prepare leaves in the output directory.
type Prepared struct {
	Package string   // versioned Debian package, e.g. linux-image-6.1.0-56-amd64
	Deb     string   // the .deb in the cache
	Release string   // uname -r
	Vmlinuz string   // out/vmlinuz
	ModRoot string   // out/modroot: lib/modules/<release>/… for the initramfs
	Modules []Module // installed modules, dependencies first
}

// Prepare resolves linux-image-amd64 to its versioned package, downloads it
// into cacheDir (kept between builds), unpacks it, copies the kernel image to
// out/vmlinuz, records the release in out/kernel-version and installs the
// named modules with their dependencies into out/modroot.
// log receives one line per step.
func Prepare(ctx context.Context, cacheDir, out string, names []string, forbidden []string, log func(string, ...any)) (*Prepared, error) {
	pkg, err := Resolve(ctx)
	if err != nil {
		// Fresh machines often have no package lists yet: update once.
		log("%v; running apt-get update", err)
		if out, uerr := exec.CommandContext(ctx, "apt-get", "update", "-qq").CombinedOutput(); uerr != nil {
			return nil, fmt.Errorf("%w (apt-get update: %v: %s)", err, uerr, strings.TrimSpace(string(out)))
		}
		if pkg, err = Resolve(ctx); err != nil {
			return nil, err
		}
	}
	rel := Release(pkg)
	log("kernel package %s (release %s)", pkg, rel)
	deb, err := Fetch(ctx, pkg, filepath.Join(cacheDir, "debs"))
	if err != nil {
		return nil, err
	}
	log("kernel package file %s", deb)
	tree := Tree{Root: filepath.Join(cacheDir, "tree-"+rel), Release: rel}
	if err := Extract(ctx, deb, tree.Root, rel); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("output directory %s: %w", out, err)
	}
	p := &Prepared{Package: pkg, Deb: deb, Release: rel, Vmlinuz: filepath.Join(out, "vmlinuz"), ModRoot: filepath.Join(out, "modroot")}
	if err := copyFile(tree.Vmlinuz(), p.Vmlinuz, 0o644); err != nil {
		return nil, fmt.Errorf("copy kernel image: %w", err)
	}
	ver := fmt.Sprintf("%s\n", rel)
	if err := os.WriteFile(filepath.Join(out, "kernel-version"), []byte(ver), 0o644); err != nil {
		return nil, fmt.Errorf("record kernel version: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out, "kernel-package"), []byte(strings.TrimSuffix(filepath.Base(deb), ".deb")+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("record kernel package: %w", err)
	}
	ix, err := NewIndex(tree.ModDir())
	if err != nil {
		return nil, err
	}
	mods, err := ix.Closure(names)
	if err != nil {
		return nil, err
	}
	for _, m := range mods {
		for _, f := range forbidden {
			if m.Name == Canon(f) {
				return nil, fmt.Errorf("module selection pulls in forbidden module %s", m.Name)
			}
		}
	}
	os.RemoveAll(p.ModRoot)
	if err := ix.Install(mods, p.ModRoot, rel); err != nil {
		return nil, err
	}
	p.Modules = mods
	log("installed %d modules (with dependencies) for %d requested into %s", len(mods), len(names), p.ModRoot)
	return p, nil
}
