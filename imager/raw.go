package imager

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// RawSink writes a raw (dd) image, optionally split into numbered pieces:
// image.raw, or image.raw.001, image.raw.002, … of SplitSize bytes each.
// Files are created exclusively: an existing file is never overwritten.
type RawSink struct {
	dir, base string
	split     int64
	f         *os.File
	inFile    int64
	files     []string
	written   int64
	mu        sync.Mutex       // guards files: Files is asked from other goroutines (checkpoints)
	patch     map[int]*os.File // pieces opened to rewrite rescued areas (WriteAt) and read them back
}

// NewRawSink prepares a raw sink; files are created on the first Write
// (and an empty image still gets its file at Finish).
func NewRawSink(dir, base string, split int64) (*RawSink, error) {
	if split < 0 {
		return nil, fmt.Errorf("split size %d is negative", split)
	}
	if split > 0 && split%512 != 0 {
		return nil, fmt.Errorf("split size %d is not a multiple of 512 bytes", split)
	}
	return &RawSink{dir: dir, base: base, split: split}, nil
}

// RawFileName is the name of piece i (0-based) of a raw image.
func RawFileName(base string, split bool, i int) string {
	if !split {
		return base + ".raw"
	}
	return fmt.Sprintf("%s.raw.%03d", base, i+1)
}

func (s *RawSink) next() error {
	if s.f != nil {
		if err := closeSynced(s.f); err != nil {
			return err
		}
		s.f = nil
	}
	name := filepath.Join(s.dir, RawFileName(s.base, s.split > 0, len(s.files)))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("create image file: %w", err)
	}
	s.f, s.inFile = f, 0
	s.mu.Lock()
	s.files = append(s.files, name)
	s.mu.Unlock()
	return nil
}

func (s *RawSink) Write(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		if s.f == nil || (s.split > 0 && s.inFile == s.split) {
			if err := s.next(); err != nil {
				return total, err
			}
		}
		chunk := p
		if s.split > 0 && int64(len(chunk)) > s.split-s.inFile {
			chunk = chunk[:s.split-s.inFile]
		}
		n, err := s.f.Write(chunk)
		total += n
		s.inFile += int64(n)
		s.written += int64(n)
		if err != nil {
			return total, fmt.Errorf("write %s at byte %d: %w", s.f.Name(), s.inFile, err)
		}
		p = p[n:]
	}
	return total, nil
}

// Finish fsyncs and closes the last piece and the directory.
func (s *RawSink) Finish(Final) error {
	if err := s.closePatch(); err != nil {
		return err
	}
	if s.f == nil && len(s.files) == 0 {
		if err := s.next(); err != nil { // empty source: an empty image file
			return err
		}
	}
	if s.f != nil {
		if err := closeSynced(s.f); err != nil {
			return err
		}
		s.f = nil
	}
	return SyncDir(s.dir)
}

// Abort closes (synced) what was written, keeping it.
func (s *RawSink) Abort() error {
	perr := s.closePatch()
	if s.f == nil {
		return perr
	}
	err := closeSynced(s.f)
	s.f = nil
	return errors.Join(perr, err, SyncDir(s.dir))
}

// WriteAt rewrites bytes the sink already took (Write): a rescued area,
// zero-filled when it was first written. It never writes past them.
func (s *RawSink) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > s.written {
		return 0, fmt.Errorf("rewrite image bytes %d–%d: only %d bytes were written", off, off+int64(len(p)), s.written)
	}
	return s.at(p, off, func(f *os.File, p []byte, off int64) (int, error) { return f.WriteAt(p, off) })
}

// ReadAt reads back what the sink wrote (with any rewrites).
func (s *RawSink) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > s.written {
		return 0, fmt.Errorf("read image bytes %d–%d back: only %d bytes were written: %w", off, off+int64(len(p)), s.written, io.EOF)
	}
	return s.at(p, off, func(f *os.File, p []byte, off int64) (int, error) { return f.ReadAt(p, off) })
}

// at runs op on the pieces that hold p at stream offset off.
func (s *RawSink) at(p []byte, off int64, op func(*os.File, []byte, int64) (int, error)) (int, error) {
	total := 0
	for len(p) > 0 {
		i, in := 0, off
		chunk := p
		if s.split > 0 {
			i, in = int(off/s.split), off%s.split
			chunk = chunk[:min(int64(len(chunk)), s.split-in)]
		}
		f, err := s.patchFile(i)
		if err != nil {
			return total, err
		}
		n, err := op(f, chunk, in)
		total += n
		if err != nil {
			return total, fmt.Errorf("%s at byte %d: %w", f.Name(), in+int64(n), err)
		}
		p, off = p[n:], off+int64(n)
	}
	return total, nil
}

func (s *RawSink) patchFile(i int) (*os.File, error) {
	if f := s.patch[i]; f != nil {
		return f, nil
	}
	s.mu.Lock()
	if i >= len(s.files) {
		s.mu.Unlock()
		return nil, fmt.Errorf("image piece %d was not written", i+1)
	}
	name := s.files[i]
	s.mu.Unlock()
	f, err := os.OpenFile(name, os.O_RDWR, 0) // an existing piece: never created here
	if err != nil {
		return nil, fmt.Errorf("open image piece to rewrite a rescued area: %w", err)
	}
	if s.patch == nil {
		s.patch = map[int]*os.File{}
	}
	s.patch[i] = f
	return f, nil
}

// closePatch fsyncs and closes the pieces opened by WriteAt/ReadAt.
func (s *RawSink) closePatch() error {
	var errs []error
	for i, f := range s.patch {
		errs = append(errs, closeSynced(f))
		delete(s.patch, i)
	}
	return errors.Join(errs...)
}

func (s *RawSink) Files() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.files...)
}

// Sync makes everything written so far durable: the open piece is
// fsync'ed (earlier pieces were synced when they were closed) and the
// folder synced, so the piece files exist after a power cut. A target that
// has gone (unplugged, I/O errors on writeback) fails here, not silently in
// the page cache.
func (s *RawSink) Sync() error {
	for _, f := range s.patch {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", f.Name(), err)
		}
	}
	if s.f != nil {
		if err := s.f.Sync(); err != nil { // the file grows: its size must be synced too
			return fmt.Errorf("sync %s: %w", s.f.Name(), err)
		}
	}
	return SyncDir(s.dir)
}

func closeSynced(f *os.File) error {
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", f.Name(), err)
	}
	return nil
}

// SyncDir fsyncs a folder, so that the files created, renamed or removed
// in it stay so after a power cut.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s to fsync: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// MultiFile reads a sequence of files as one stream (a split raw image).
type MultiFile struct {
	files  []ImageFile
	starts []int64
	size   int64
}

// OpenFiles opens files read-only, in the given order.
func OpenFiles(paths []string) (*MultiFile, error) {
	m := &MultiFile{}
	for _, p := range paths {
		f, size, err := OpenImageFile(p)
		if err != nil {
			m.Close()
			return nil, err
		}
		m.files = append(m.files, f)
		m.starts = append(m.starts, m.size)
		m.size += size
	}
	return m, nil
}

// ImageFile is an image file opened for reading: local, or read back from
// the remote its staging folder stands for.
type ImageFile interface {
	io.ReaderAt
	io.Closer
	Name() string
}

// OpenImageFile opens an image file for reading: local, or read back from
// the remote its staging folder stands for. A file that is not there is an
// error wrapping fs.ErrNotExist either way.
func OpenImageFile(p string) (ImageFile, int64, error) {
	if r, rel := RemoteOf(p); r != nil {
		f, err := r.Open(rel)
		if err != nil {
			return nil, 0, fmt.Errorf("open image file %s: %w", r.URL(rel), err)
		}
		return f, f.Size(), nil
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, 0, fmt.Errorf("open image file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("stat %s: %w", p, err)
	}
	return f, st.Size(), nil
}

func (m *MultiFile) Size() int64 { return m.size }

func (m *MultiFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read at negative offset %d", off)
	}
	i := sort.Search(len(m.starts), func(i int) bool { return m.starts[i] > off }) - 1
	total := 0
	for len(p) > 0 && i >= 0 && i < len(m.files) {
		end := m.size
		if i+1 < len(m.starts) {
			end = m.starts[i+1]
		}
		if off >= end {
			i++
			continue
		}
		want := min(int64(len(p)), end-off)
		n, err := m.files[i].ReadAt(p[:want], off-m.starts[i])
		total += n
		off += int64(n)
		p = p[n:]
		if err != nil && !(errors.Is(err, io.EOF) && int64(n) == want) {
			if errors.Is(err, io.EOF) {
				return total, fmt.Errorf("%s: shorter than when opened: %w", m.files[i].Name(), io.ErrUnexpectedEOF)
			}
			return total, err
		}
		i++
	}
	if len(p) > 0 {
		return total, io.EOF
	}
	return total, nil
}

func (m *MultiFile) Close() error {
	var errs []error
	for _, f := range m.files {
		errs = append(errs, f.Close())
	}
	m.files = nil
	return errors.Join(errs...)
}

// ResumeRawSink continues a raw image in dir that holds at least offset
// bytes (what its record says is durable): whatever lies past offset —
// bytes written after the last checkpoint — is cut off, and writing goes
// on at offset. Every file before the one holding offset must be a whole
// piece; a missing or short one is an error and nothing is changed.
func ResumeRawSink(dir, base string, split, offset int64) (*RawSink, error) {
	s, err := NewRawSink(dir, base, split)
	if err != nil {
		return nil, err
	}
	last, within := 0, offset // the file holding offset, and offset in it
	if split > 0 {
		last, within = int(offset/split), offset%split
	}
	var files []string
	for i := 0; i <= last; i++ {
		name := filepath.Join(dir, RawFileName(base, split > 0, i))
		st, err := os.Stat(name)
		if err != nil {
			if i == last && within == 0 && errors.Is(err, os.ErrNotExist) {
				break // offset is a piece boundary: the next Write creates it
			}
			return nil, fmt.Errorf("resume image in %s: %w", dir, err)
		}
		want := split
		if i == last {
			want = within
		}
		if st.Size() < want {
			return nil, fmt.Errorf("resume image: %s holds %d bytes, the record says %d are durable", name, st.Size(), want)
		}
		files = append(files, name)
	}
	// Pieces written after the last checkpoint go.
	for i := last + 1; split > 0; i++ {
		name := filepath.Join(dir, RawFileName(base, true, i))
		if err := os.Remove(name); errors.Is(err, os.ErrNotExist) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("resume image: remove %s (past the durable point): %w", name, err)
		}
	}
	if len(files) > last && (within > 0 || split == 0) {
		f, err := os.OpenFile(files[last], os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("resume image: %w", err)
		}
		if err := f.Truncate(within); err != nil {
			f.Close()
			return nil, fmt.Errorf("resume image: cut %s at %d bytes: %w", files[last], within, err)
		}
		if _, err := f.Seek(within, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("resume image: %w", err)
		}
		s.f, s.inFile = f, within
	} else if len(files) > last {
		// offset is a piece boundary and that piece exists, written past
		// the checkpoint: it starts again empty.
		if err := os.Remove(files[last]); err != nil {
			return nil, fmt.Errorf("resume image: %w", err)
		}
		files = files[:last]
	}
	s.files, s.written = files, offset
	return s, SyncDir(dir)
}
