package kernel

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Module is one module file of a kernel tree.
type Module struct {
	Name    string   // canonical name: file name without .ko*, dashes as underscores
	Path    string   // relative to the module directory, e.g. kernel/fs/ext4/ext4.ko
	Depends []string // canonical names from .modinfo "depends="
}

// Canon turns a module or file name into the kernel's canonical module name.
func Canon(name string) string {
	name = filepath.Base(name)
	for _, ext := range []string{".xz", ".gz", ".zst"} {
		name = strings.TrimSuffix(name, ext)
	}
	name = strings.TrimSuffix(name, ".ko")
	return strings.ReplaceAll(name, "-", "_")
}

// ModInfo reads the "depends=" field of a module's ELF .modinfo section.
// Compressed modules are not supported (Debian 12 ships plain .ko files;
// kmodule could load .ko.xz, but we never recompress signed modules).
func ModInfo(path string) (depends []string, err error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read module %s: %w", path, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("module %s: no .modinfo section", path)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("module %s: read .modinfo: %w", path, err)
	}
	for _, kv := range bytes.Split(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			for _, d := range strings.Split(string(v), ",") {
				if d = strings.TrimSpace(d); d != "" {
					depends = append(depends, Canon(d))
				}
			}
		}
	}
	return depends, nil
}

// Index maps canonical module names to module files under modDir. It reads
// .modinfo lazily (see Closure), so indexing 4000 modules is cheap.
type Index struct {
	ModDir  string
	paths   map[string]string // canonical name → relative path
	builtin map[string]bool
}

// NewIndex walks modDir for *.ko files and reads modules.builtin.
func NewIndex(modDir string) (*Index, error) {
	ix := &Index{ModDir: modDir, paths: map[string]string{}, builtin: map[string]bool{}}
	err := filepath.WalkDir(modDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.Contains(d.Name(), ".ko") {
			return nil
		}
		rel, err := filepath.Rel(modDir, p)
		if err != nil {
			return err
		}
		ix.paths[Canon(d.Name())] = rel
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("index modules in %s: %w", modDir, err)
	}
	if b, err := os.ReadFile(filepath.Join(modDir, "modules.builtin")); err == nil {
		for _, l := range strings.Fields(string(b)) {
			ix.builtin[Canon(l)] = true
		}
	}
	return ix, nil
}

// Builtin reports whether name is compiled into the kernel.
func (ix *Index) Builtin(name string) bool { return ix.builtin[Canon(name)] }

// Closure returns the modules named, plus everything they depend on,
// dependencies first (a topological order). Builtin names are skipped;
// unknown names are an error.
func (ix *Index) Closure(names []string) ([]Module, error) {
	var out []Module
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string, from string) error
	visit = func(name, from string) error {
		name = Canon(name)
		switch state[name] {
		case 1:
			return fmt.Errorf("module dependency cycle at %s", name)
		case 2:
			return nil
		}
		rel, ok := ix.paths[name]
		if !ok {
			if ix.builtin[name] {
				state[name] = 2
				return nil
			}
			if from != "" {
				return fmt.Errorf("module %s (needed by %s) not found in %s", name, from, ix.ModDir)
			}
			return fmt.Errorf("module %s not found in %s", name, ix.ModDir)
		}
		state[name] = 1
		deps, err := ModInfo(filepath.Join(ix.ModDir, rel))
		if err != nil {
			return err
		}
		sort.Strings(deps)
		for _, d := range deps {
			if err := visit(d, name); err != nil {
				return err
			}
		}
		state[name] = 2
		out = append(out, Module{Name: name, Path: rel, Depends: deps})
		return nil
	}
	for _, n := range names {
		if err := visit(n, ""); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ModulesDep renders a modules.dep in depmod's format for mods, which must be
// closed under dependencies: "path: deppath deppath…", where each module's
// list holds its full transitive dependencies (as depmod writes them).
func ModulesDep(mods []Module) (string, error) {
	byName := map[string]Module{}
	for _, m := range mods {
		byName[m.Name] = m
	}
	var b strings.Builder
	for _, m := range mods {
		var all []string
		seen := map[string]bool{}
		var walk func(n string) error
		walk = func(n string) error {
			d, ok := byName[n]
			if !ok {
				return nil // builtin
			}
			for _, x := range d.Depends {
				if seen[x] {
					continue
				}
				seen[x] = true
				if _, ok := byName[x]; ok {
					all = append(all, byName[x].Path)
				}
				if err := walk(x); err != nil {
					return err
				}
			}
			return nil
		}
		if err := walk(m.Name); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s:", m.Path)
		for _, p := range all {
			fmt.Fprintf(&b, " %s", p)
		}
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// Install copies mods unchanged from the index's tree to dst/lib/modules/rel
// and writes modules.dep and modules.builtin there.
func (ix *Index) Install(mods []Module, dst, rel string) error {
	out := filepath.Join(dst, "lib", "modules", rel)
	for _, m := range mods {
		if err := copyFile(filepath.Join(ix.ModDir, m.Path), filepath.Join(out, m.Path), 0o644); err != nil {
			return fmt.Errorf("install module %s: %w", m.Name, err)
		}
	}
	dep, err := ModulesDep(mods)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "modules.dep"), []byte(dep), 0o644); err != nil {
		return fmt.Errorf("write modules.dep: %w", err)
	}
	for _, f := range []string{"modules.builtin", "modules.order"} {
		if _, err := os.Stat(filepath.Join(ix.ModDir, f)); err == nil {
			if err := copyFile(filepath.Join(ix.ModDir, f), filepath.Join(out, f), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}
