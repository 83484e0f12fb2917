//go:build !linux

package disk

import (
	"errors"
	"fmt"
	"runtime"
)

// ErrUnsupported: block devices, ioctls and sysfs are Linux-only.
var ErrUnsupported = fmt.Errorf("disk: block device access is only implemented on Linux, not %s", runtime.GOOS)

// ErrNotReadOnly: BLKROGET still reports writable after BLKROSET.
var ErrNotReadOnly = errors.New("kernel still reports the device writable (BLKROGET=0) after BLKROSET")

func Inspect(path string) (Info, error) { return Info{}, ErrUnsupported }

func List() ([]Info, error) { return nil, ErrUnsupported }

func SetReadOnly(path string) error { return ErrUnsupported }

func OpenSource(path string, opt OpenOptions) (*Source, error) { return nil, ErrUnsupported }

func (s *Source) ReadAt(p []byte, off int64) (int, error) { return 0, ErrUnsupported }

func (s *Source) readAt(p []byte, off int64, direct bool) (int, error) { return 0, ErrUnsupported }

func OutputOnSource(dir string, src Info) (bool, string, error) { return false, "", ErrUnsupported }

func FreeSpace(dir string) (int64, error) { return 0, ErrUnsupported }
