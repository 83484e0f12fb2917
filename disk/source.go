package disk

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"unsafe"
)

// OpenOptions change how OpenSource opens a source. The zero value is the
// forensic default.
type OpenOptions struct {
	// NoSetReadOnly skips BLKROSET/BLKROGET. By default a block device is
	// set read-only in the kernel and the flag confirmed before the first
	// byte is read; failure is an error.
	NoSetReadOnly bool
	// NoDirect skips O_DIRECT. By default OpenSource also opens the source
	// with O_DIRECT and uses it for aligned reads, falling back to buffered
	// reads when the file system or device refuses it (EINVAL).
	NoDirect bool
	// BulkBuffered reads through the page cache (ReadAt: a regular file's
	// readahead makes its stream fast) and keeps O_DIRECT for Precise, the
	// reads near a failing area: they then touch the sectors asked for, not
	// whole pages (an image file is rarely failing; a failing disk exported
	// as a file through FUSE is).
	BulkBuffered bool
}

// Source is an opened, read-only evidence source. ReadAt is safe for
// concurrent use.
type Source struct {
	Info Info

	path     string
	buffered *os.File
	direct   *os.File    // nil without O_DIRECT
	useDir   atomic.Bool // O_DIRECT still in use (cleared on EINVAL)
	align    int64       // offset/length alignment for O_DIRECT reads
	bulkBuf  bool        // ReadAt buffered; O_DIRECT only through Precise

	roSet, roConfirmed bool

	directReads, bufferedReads atomic.Int64
}

// DirectAlign is the memory alignment AlignedBuffer guarantees and ReadAt
// requires of a buffer before it uses O_DIRECT.
const DirectAlign = 4096

// AlignedBuffer returns a zeroed slice of length size whose first byte is
// DirectAlign-aligned, suitable for O_DIRECT reads.
func AlignedBuffer(size int) []byte {
	if size <= 0 {
		return []byte{}
	}
	b := make([]byte, size+DirectAlign)
	off := 0
	if r := int(uintptr(unsafe.Pointer(&b[0])) & (DirectAlign - 1)); r != 0 {
		off = DirectAlign - r
	}
	return b[off : off+size : off+size]
}

// Direct reports whether aligned reads currently go through O_DIRECT.
func (s *Source) Direct() bool { return s.direct != nil && s.useDir.Load() && !s.bulkBuf }

// Precise is the source read with O_DIRECT wherever a request is aligned,
// also when its stream is read buffered (BulkBuffered): for the reads near
// a failing area, which should fail for the sectors asked for only.
func (s *Source) Precise() io.ReaderAt { return preciseReader{s} }

type preciseReader struct{ s *Source }

func (p preciseReader) ReadAt(b []byte, off int64) (int, error) { return p.s.readAt(b, off, true) }

// ReadOnlyState says whether OpenSource set BLKROSET and whether BLKROGET
// confirmed the kernel read-only flag afterwards.
func (s *Source) ReadOnlyState() (set bool, confirmed bool) { return s.roSet, s.roConfirmed }

// ReadStats counts the read system calls issued through O_DIRECT and
// through the buffered descriptor.
func (s *Source) ReadStats() (direct, buffered int64) {
	return s.directReads.Load(), s.bufferedReads.Load()
}

// Path is the path the source was opened with.
func (s *Source) Path() string { return s.path }

// Size is the source size in bytes.
func (s *Source) Size() int64 { return s.Info.Size }

// Close closes both descriptors.
func (s *Source) Close() error {
	var err error
	if s.direct != nil {
		err = s.direct.Close()
	}
	if e := s.buffered.Close(); e != nil && err == nil {
		err = e
	}
	return err
}

// alignedSpan reports whether n bytes at off are whole aligned units of
// the device (O_DIRECT may read them given an aligned buffer).
func (s *Source) alignedSpan(n int, off int64) bool {
	return n > 0 && off%s.align == 0 && int64(n)%s.align == 0
}

// memAligned reports whether p starts where O_DIRECT may read into it.
func memAligned(p []byte) bool {
	return len(p) > 0 && uintptr(unsafe.Pointer(&p[0]))&(DirectAlign-1) == 0
}

// ReadError is a failed read of a source: device or file, byte offset,
// the LBA in logical sectors and the underlying error (a syscall.Errno such
// as EIO).
type ReadError struct {
	Path   string
	Offset int64
	Len    int
	Sector int
	Err    error
}

func (e *ReadError) Error() string {
	sec := e.Sector
	if sec <= 0 {
		sec = 512
	}
	return fmt.Sprintf("read %s at offset %d (LBA %d, %d bytes): %v", e.Path, e.Offset, e.Offset/int64(sec), e.Len, e.Err)
}

func (e *ReadError) Unwrap() error { return e.Err }
