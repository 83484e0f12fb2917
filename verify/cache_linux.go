package verify

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/coldimage/coldimage/imager"
)

// dropCache asks the kernel to forget the cached pages of each image file
// (posix_fadvise POSIX_FADV_DONTNEED), so that the read-back reads the
// target medium rather than the copy the acquisition left in memory. The
// files are opened read-only; dirty pages are written first (fdatasync),
// since DONTNEED leaves them in place. The advice is given even when that
// write fails: pages whose write-back failed are clean again, and must not
// stand in for what the target holds. tmpfs keeps files only in memory and
// ignores the advice.
func dropCache(paths []string) error {
	for _, p := range paths {
		if r, _ := imager.RemoteOf(p); r != nil {
			continue // read back from its store: no page cache here
		}
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("drop cached pages of %s: %w", p, err)
		}
		err = unix.Fdatasync(int(f.Fd()))
		if ferr := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err == nil {
			err = ferr
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("drop cached pages of %s: %w", p, err)
		}
	}
	return nil
}
