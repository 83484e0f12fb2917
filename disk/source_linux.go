//go:build linux

package disk

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// OpenSource opens path (block device, partition or regular file) for
// reading only. On block devices it first sets and confirms the kernel
// read-only flag unless opt.NoSetReadOnly; a failure there is an error and
// nothing is read.
func OpenSource(path string, opt OpenOptions) (*Source, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open source: %w", err)
	}
	isBlock := isBlockMode(st.Mode())
	if !isBlock && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("open source %s: not a block device or regular file (mode %v)", path, st.Mode())
	}
	f, err := openRO(path, 0)
	if err != nil {
		return nil, fmt.Errorf("open source: %w", err)
	}
	s := &Source{path: path, buffered: f}
	// The read-only flag goes on before anything (even Inspect's probes)
	// reads a byte: on the source, and on what Inspect reads with it (the
	// disk holding a partition, the partitions of a disk).
	if isBlock && !opt.NoSetReadOnly {
		if err := setROfd(path, int(f.Fd())); err != nil {
			f.Close()
			return nil, fmt.Errorf("open source: %w", err)
		}
		s.roSet, s.roConfirmed = true, true
		w := NewWriteBlocker()
		err := w.Block(path)
		w.Close()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("open source: %w", err)
		}
	}
	if s.Info, err = Inspect(path); err != nil {
		f.Close()
		return nil, fmt.Errorf("open source: %w", err)
	}
	if s.Info.Kind == KindFile && isBlock || s.Info.Kind != KindFile && !isBlock {
		f.Close()
		return nil, fmt.Errorf("open source %s: changed type while opening", path)
	}
	s.align = int64(s.Info.LogicalSector)
	if !isBlock {
		// Files: O_DIRECT needs the file system's alignment, which may be
		// larger than 512 (statx DIO alignment when the kernel reports it).
		s.align = fileDirectAlign(path)
	}
	if s.align <= 0 {
		s.align = 512
	}
	s.bulkBuf = opt.BulkBuffered
	if !opt.NoDirect {
		// EINVAL at open (file systems without O_DIRECT) or any other
		// refusal: stay buffered, the buffered descriptor already works.
		if d, err := openRO(path, unix.O_DIRECT); err == nil {
			s.direct = d
			s.useDir.Store(true)
			if !isBlock && s.align > 512 && takesSectorReads(d, s.Info.Size) {
				s.align = 512
			}
		}
	}
	return s, nil
}

// fileDirectAlign returns the O_DIRECT offset alignment for a regular file:
// statx's dio_offset_align when the kernel reports it, else 4096.
func fileDirectAlign(path string) int64 {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_DIOALIGN, &stx); err == nil &&
		stx.Mask&unix.STATX_DIOALIGN != 0 && stx.Dio_offset_align > 0 {
		a := int64(stx.Dio_offset_align)
		if a < 512 {
			a = 512
		}
		return a
	}
	return 4096
}

// takesSectorReads says whether an O_DIRECT descriptor of a file whose
// alignment the kernel does not report as 512 (FUSE reports the page, yet
// passes any request through: a failing disk exported by nbdfuse) takes
// 512-byte reads at a 512-byte offset: one read of sector 1. Only EINVAL
// says it does not; a failing sector (EIO) still says the request was
// taken. A rescue then narrows a failing area to the sector, not the page.
func takesSectorReads(d *os.File, size int64) bool {
	if size < 1024 {
		return false
	}
	buf := AlignedBuffer(4096)
	_, err := d.ReadAt(buf[:512], 512)
	return !errors.Is(err, unix.EINVAL)
}

// ReadAt reads len(p) bytes at off like os.File.ReadAt: n < len(p) only
// with an error, io.EOF at the end of the source. Requests aligned on the
// device use O_DIRECT (through an aligned bounce buffer when p is not
// aligned in memory, see AlignedBuffer); everything else, and everything
// after the first EINVAL from O_DIRECT, uses the buffered descriptor. I/O errors are
// returned wrapped with the device and offset, so errors.Is(err,
// syscall.EIO) holds.
func (s *Source) ReadAt(p []byte, off int64) (int, error) { return s.readAt(p, off, !s.bulkBuf) }

// readAt is ReadAt, with O_DIRECT only when direct is set.
func (s *Source) readAt(p []byte, off int64, direct bool) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %s at offset %d: negative offset", s.path, off)
	}
	if accessHook != nil {
		noteAccess("read", int(s.buffered.Fd()))
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		var m int
		var err error
		if direct && s.direct != nil && s.useDir.Load() && s.alignedSpan(len(p)-n, pos) {
			if memAligned(p[n:]) {
				m, err = pread(s.direct, p[n:], pos)
			} else {
				// Aligned on the device but not in memory (a slice into
				// a buffer): through an aligned bounce buffer, still
				// O_DIRECT — a buffered read would read whole pages and
				// read ahead, touching sectors not asked for (a failing
				// drive's bad ones among them).
				m, err = s.bounced(p[n:], pos)
			}
			s.directReads.Add(1)
			if errors.Is(err, syscall.EINVAL) {
				s.useDir.Store(false)
				continue
			}
		} else {
			m, err = pread(s.buffered, p[n:], pos)
			s.bufferedReads.Add(1)
		}
		if err != nil {
			return n, &ReadError{Path: s.path, Offset: pos, Len: len(p) - n, Sector: s.Info.LogicalSector, Err: err}
		}
		if m == 0 {
			return n, io.EOF
		}
		n += m
	}
	return n, nil
}

// bounceSize is the most one bounced read moves.
const bounceSize = 1 << 20

var bounces = sync.Pool{New: func() any { return AlignedBuffer(bounceSize) }}

// bounced reads p at off through an aligned buffer with O_DIRECT, at most
// bounceSize bytes (ReadAt loops for the rest).
func (s *Source) bounced(p []byte, off int64) (int, error) {
	b := bounces.Get().([]byte)
	defer bounces.Put(b)
	want := min(len(p), bounceSize)
	m, err := pread(s.direct, b[:want], off)
	copy(p, b[:m])
	return m, err
}

func pread(f *os.File, p []byte, off int64) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var perr error
	if err := rc.Read(func(fd uintptr) bool {
		for {
			n, perr = unix.Pread(int(fd), p, off)
			if perr != unix.EINTR {
				return true
			}
		}
	}); err != nil {
		return 0, err
	}
	if n < 0 {
		n = 0
	}
	return n, perr
}

// Gone says whether a block device source is no longer there — removed
// (its sysfs entry gone, or its size now 0) or not answering size queries
// — and why; nil while it is present, and always for image files. The
// engine asks after a failing read: a removed device is not bad sectors.
func (s *Source) Gone() error {
	if s.Info.Kind == KindFile {
		return nil
	}
	if s.Info.Name != "" {
		if _, err := os.Stat(filepath.Join(SysRoot, "class", "block", s.Info.Name)); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s was removed (no %s in sysfs)", s.path, s.Info.Name)
		}
	}
	n, err := blkSize64(int(s.buffered.Fd()))
	if err != nil {
		return fmt.Errorf("%s does not answer BLKGETSIZE64: %w", s.path, err)
	}
	if n == 0 && s.Info.Size > 0 {
		return fmt.Errorf("%s now has size 0 (was %d bytes): removed or medium gone", s.path, s.Info.Size)
	}
	return nil
}
