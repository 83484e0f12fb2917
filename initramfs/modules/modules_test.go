package modules_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coldimage/coldimage/initramfs/kernel"
	"github.com/coldimage/coldimage/initramfs/modules"
)

// TestNamesResolve checks every name against the cached Debian kernel tree
// the way u-root's kmodule looks modules up: the file name must equal the
// name with all '_' turned into '-' or all '-' into '_' (no mixing).
func TestNamesResolve(t *testing.T) {
	cache, _ := os.UserCacheDir()
	trees, _ := filepath.Glob(filepath.Join(cache, "coldimage", "kernel", "tree-*"))
	if len(trees) == 0 {
		t.Skip("no kernel tree in the cache; run fetchkernel first")
	}
	root := trees[len(trees)-1]
	rel := strings.TrimPrefix(filepath.Base(root), "tree-")
	ix, err := kernel.NewIndex(kernel.Tree{Root: root, Release: rel}.ModDir())
	if err != nil {
		t.Fatal(err)
	}
	mods, err := ix.Closure(modules.Names())
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, m := range mods {
		files[m.Name] = strings.TrimSuffix(filepath.Base(m.Path), ".ko")
		for _, f := range modules.Forbidden {
			if kernel.Canon(f) == m.Name {
				t.Errorf("forbidden module %s selected", m.Name)
			}
		}
	}
	for _, n := range modules.Names() {
		if ix.Builtin(n) {
			continue
		}
		f, ok := files[kernel.Canon(n)]
		if !ok {
			t.Errorf("%s: not selected", n)
			continue
		}
		if f != strings.ReplaceAll(n, "_", "-") && f != strings.ReplaceAll(n, "-", "_") {
			t.Errorf("%s: file %s.ko; kmodule's lookup would not find it", n, f)
		}
	}
}
