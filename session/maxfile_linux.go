package session

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// maxFileOf is the largest file the file system holding dir (or its
// nearest existing parent) can store: 4 GiB - 1 on FAT (vfat, msdos),
// whose directory entries keep sizes in 32 bits; 0 for no such limit.
func maxFileOf(dir string) int64 {
	p := filepath.Clean(dir)
	for {
		if _, err := os.Stat(p); err == nil || filepath.Dir(p) == p {
			break
		}
		p = filepath.Dir(p)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return 0
	}
	if st.Type == unix.MSDOS_SUPER_MAGIC {
		return 4<<30 - 1
	}
	return 0
}
