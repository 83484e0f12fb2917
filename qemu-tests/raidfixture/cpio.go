package raidfixture

import (
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
)

// cpioWriter writes a "newc" (SVR4, no CRC) cpio archive, the format the
// Linux kernel unpacks as an initramfs. Each header is the ASCII magic
// "070701" followed by 13 eight-digit hex fields: ino, mode, uid, gid, nlink,
// mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize
// (including the NUL) and check; then the name, padded to 4 bytes, then the
// data, padded to 4 bytes. The archive ends with the entry "TRAILER!!!".
type cpioWriter struct {
	w    io.Writer
	ino  uint32
	dirs map[string]bool
	err  error
}

func newCpio(w io.Writer) *cpioWriter { return &cpioWriter{w: w, ino: 1, dirs: map[string]bool{}} }

const (
	cpioDir  = 0o040000
	cpioFile = 0o100000
	cpioLink = 0o120000
	cpioChr  = 0o020000
)

func (c *cpioWriter) header(name string, mode uint32, size int, rmaj, rmin uint32) {
	if c.err != nil {
		return
	}
	nlink := 1
	if mode&0o170000 == cpioDir {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		c.ino, mode, 0, 0, nlink, 0, size, 0, 0, rmaj, rmin, len(name)+1, 0)
	c.ino++
	buf := append([]byte(hdr), name...)
	buf = append(buf, 0)
	for len(buf)%4 != 0 {
		buf = append(buf, 0)
	}
	_, c.err = c.w.Write(buf)
}

func (c *cpioWriter) data(b []byte) {
	if c.err != nil {
		return
	}
	if _, c.err = c.w.Write(b); c.err != nil {
		return
	}
	if pad := (4 - len(b)%4) % 4; pad > 0 {
		_, c.err = c.w.Write(make([]byte, pad))
	}
}

// mkdirAll adds every missing parent directory of name (and name itself).
func (c *cpioWriter) mkdirAll(name string) {
	name = strings.Trim(name, "/")
	if name == "" || name == "." || c.dirs[name] {
		return
	}
	c.mkdirAll(path.Dir(name))
	c.dirs[name] = true
	c.header(name, cpioDir|0o755, 0, 0, 0)
}

func (c *cpioWriter) file(name string, mode uint32, b []byte) {
	name = strings.Trim(name, "/")
	c.mkdirAll(path.Dir(name))
	c.header(name, cpioFile|mode, len(b), 0, 0)
	c.data(b)
}

func (c *cpioWriter) symlink(name, target string) {
	name = strings.Trim(name, "/")
	c.mkdirAll(path.Dir(name))
	c.header(name, cpioLink|0o777, len(target), 0, 0)
	c.data([]byte(target))
}

func (c *cpioWriter) chardev(name string, maj, min uint32) {
	name = strings.Trim(name, "/")
	c.mkdirAll(path.Dir(name))
	c.header(name, cpioChr|0o600, 0, maj, min)
}

// hostFile copies a file from the host (following symlinks) to name.
func (c *cpioWriter) hostFile(name, src string, mode uint32) {
	if c.err != nil {
		return
	}
	b, err := os.ReadFile(src)
	if err != nil {
		c.err = fmt.Errorf("initramfs: %w", err)
		return
	}
	c.file(name, mode, b)
}

// tree copies a host directory tree (regular files and directories) below prefix.
func (c *cpioWriter) tree(prefix, root string) {
	if c.err != nil {
		return
	}
	var files []string
	err := walkFiles(root, func(rel string) { files = append(files, rel) })
	if err != nil {
		c.err = err
		return
	}
	sort.Strings(files)
	for _, rel := range files {
		c.hostFile(path.Join(prefix, rel), root+"/"+rel, 0o644)
	}
}

func (c *cpioWriter) close() error {
	c.header("TRAILER!!!", 0, 0, 0, 0)
	return c.err
}
