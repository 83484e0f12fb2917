package verify

import (
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// resident counts the pages of path held in the page cache (mincore).
func resident(t *testing.T, path string) (in, total int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	page := os.Getpagesize()
	vec := make([]byte, (len(m)+page-1)/page)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	for _, v := range vec {
		if v&1 != 0 {
			in++
		}
	}
	return in, len(vec)
}

// The read-back must read the target, not the pages the acquisition left in
// memory: after dropCache no page of the image is cached (on a file system
// that keeps files on a device; tmpfs ignores the advice).
func TestDropCache(t *testing.T) {
	dir := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type == unix.TMPFS_MAGIC {
		t.Skip("the test directory is on tmpfs, which keeps files in memory only")
	}
	p := filepath.Join(dir, "image.raw")
	data := make([]byte, 8<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil { // dirty, then cached
		t.Fatal(err)
	}
	if in, _ := resident(t, p); in == 0 {
		t.Skip("the file system did not cache the written file; nothing to drop")
	}
	if err := dropCache([]string{p}); err != nil {
		t.Fatal(err)
	}
	if in, total := resident(t, p); in != 0 {
		t.Errorf("%d of %d pages still cached after dropCache", in, total)
	}
	if err := dropCache([]string{filepath.Join(dir, "missing")}); err == nil {
		t.Error("dropCache of a missing file: no error")
	}
	// The data is intact: dropping the cache never changes a byte.
	got, err := os.ReadFile(p)
	if err != nil || string(got) != string(data) {
		t.Errorf("file changed after dropCache: %v", err)
	}
}
