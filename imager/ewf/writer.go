package ewf

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coldimage/coldimage/imager"
)

// Options describe the image to write.
type Options struct {
	SegmentSize int64 // maximum bytes per segment file; default 2 GiB, minimum 1 MiB
	SectorSize  int   // bytes per sector of the source: 512 (default) or 4096; a chunk is 32 KiB
	MediaSize   int64 // bytes expected; 0 if unknown. A shorter or longer stream is fixed up in Finish.
	Level       int   // compression: 0 none, 1 fast (default), 2 best
	// Case metadata, stored in header2 (UTF-16) and header (ASCII).
	Case, Examiner, Evidence, Notes, Description string
	Model, Serial                                string // source identity (header2 "md", "sn")
	Acquired                                     time.Time
	System                                       time.Time
	Tool                                         string // header "av", e.g. "coldimage 1.0"
	// Logical clears the volume's "physical device" flag: set it for
	// partitions, RAID volumes and files (EnCase expects the flag only on
	// media that carry a partition table).
	Logical bool
	// Removable sets the volume media type to removable (USB sticks, cards)
	// instead of fixed disk.
	Removable bool
	// Workers is the number of compressing goroutines; default GOMAXPROCS.
	Workers int
	// FileHashes are the algorithms (imager.Hashers names) each segment
	// written into an object store is hashed with as it is sent
	// (Writer.FileHashes), so the sidecars need not read it back.
	FileHashes []string
	Hashers    imager.Hashers
}

const (
	// ChunkSize is the media bytes per chunk.
	ChunkSize = 32 << 10
	// DefaultSegmentSize is the bytes per segment file when Options.SegmentSize is 0.
	DefaultSegmentSize = 2 << 30
	minSegmentSize     = 1 << 20
	// batchChunks chunks travel together through the compressing pool.
	batchChunks = 32
	// maxBatches bounds the memory in flight to 2 MiB × maxBatches.
	maxBatches = 24
	// remoteTableEntries is the chunks of a group written into an object
	// store (4 MiB of media): the group is held in memory until it closes,
	// so it is a job's memory, eight times over when eight sources stream.
	remoteTableEntries = 128
	// minSegmentOverhead bounds what a segment holds besides chunk data when
	// chunks are incompressible: data section, trailer and tables.
	minSegmentOverhead = 64 << 10
)

// LevelNone, LevelFast and LevelBest are the values of Options.Level.
const (
	LevelNone = 0
	LevelFast = 1
	LevelBest = 2
)

// ErrUnaligned is returned by Finish when the stream did not end on a sector
// boundary: EWF stores whole sectors, so the image holds zero padding.
var ErrUnaligned = errors.New("stream size is not a multiple of the sector size")

// Writer writes an EWF-E01 segment set. It implements imager.Sink.
type Writer struct {
	opt       Options
	chunkSize int

	free    chan *batch // empty batches; bounds memory
	jobs    chan *batch // to the compressing workers
	ordered chan *batch // to the output goroutine, in stream order
	outDone chan struct{}
	workers sync.WaitGroup

	cur     *batch
	written int64
	closed  bool

	out *output

	mu     sync.Mutex
	err    error // first error of the output goroutine
	files  []string
	sums   map[string]map[string]string // segment path → algorithm → hex, of the bytes stored
	zeroCk chunkOut                     // an all-zero chunk as stored

	syncAt  atomic.Int64 // Sync asked for a chunk group to end at these media bytes (0: no)
	durable atomic.Int64 // media bytes in closed, fsynced chunk groups
}

var _ imager.Sink = (*Writer)(nil)

// Create starts dir/base.E01 (never overwriting an existing file) and the
// compressing pool.
func Create(dir, base string, opt Options) (*Writer, error) {
	if err := opt.check(); err != nil {
		return nil, err
	}
	w := &Writer{opt: opt, chunkSize: ChunkSize}
	var setID [16]byte
	if _, err := rand.Read(setID[:]); err != nil {
		return nil, fmt.Errorf("ewf: segment set identifier: %w", err)
	}
	setID[6] = setID[6]&0x0f | 0x40 // RFC 4122 version 4
	setID[8] = setID[8]&0x3f | 0x80
	w.out = &output{
		w: w, dir: dir, base: base, segmentSize: opt.SegmentSize, setID: setID,
		maxEntries: tableEntriesLimit,
	}
	if rem, rel := imager.RemoteOf(dir); rem != nil {
		// Into an object store: a chunk group waits in memory for its
		// size, so groups are kept small.
		w.out.remote, w.out.rel, w.out.maxEntries = rem, rel, remoteTableEntries
	}
	if err := w.out.openSegment(); err != nil {
		if w.out.isOpen() {
			w.out.closeFile()
		}
		return nil, err
	}
	w.start()
	return w, nil
}

// check fills in the defaults and refuses what EWF cannot hold.
func (opt *Options) check() error {
	if opt.SegmentSize == 0 {
		opt.SegmentSize = DefaultSegmentSize
	}
	if opt.SegmentSize < minSegmentSize {
		return fmt.Errorf("ewf: segment size %d below the minimum of %d bytes", opt.SegmentSize, minSegmentSize)
	}
	if opt.SectorSize == 0 {
		opt.SectorSize = 512
	}
	if opt.SectorSize < 512 || opt.SectorSize > ChunkSize || ChunkSize%opt.SectorSize != 0 {
		return fmt.Errorf("ewf: sector size %d must be a power of two from 512 to %d", opt.SectorSize, ChunkSize)
	}
	if opt.MediaSize < 0 || opt.MediaSize%int64(opt.SectorSize) != 0 {
		return fmt.Errorf("ewf: media size %d is not a whole number of %d-byte sectors (EWF stores whole sectors; use raw): %w",
			opt.MediaSize, opt.SectorSize, ErrUnaligned)
	}
	if opt.Level < LevelNone || opt.Level > LevelBest {
		return fmt.Errorf("ewf: compression level %d not in 0 (none), 1 (fast), 2 (best)", opt.Level)
	}
	if chunks := (opt.MediaSize + ChunkSize - 1) / ChunkSize; chunks > math.MaxUint32 {
		return fmt.Errorf("ewf: %d bytes need %d chunks; EWF counts chunks in 32 bits (at most %d bytes)", opt.MediaSize, chunks, int64(math.MaxUint32)*ChunkSize)
	}
	// Every segment holds at least its share of media; a set has at most
	// maxSegments files (E01…ZZZ).
	if perSeg := opt.SegmentSize - minSegmentOverhead; perSeg < math.MaxInt64/maxSegments && opt.MediaSize > perSeg*maxSegments {
		return fmt.Errorf("ewf: %d bytes do not fit in %d segments of %d bytes (E01…ZZZ); use a larger segment size", opt.MediaSize, maxSegments, opt.SegmentSize)
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	return nil
}

// start starts the compressing pool and the output goroutine.
func (w *Writer) start() {
	zc := compressChunk(newCompressor(w.opt.Level), make([]byte, ChunkSize))
	w.zeroCk = chunkOut{data: append([]byte(nil), zc.data...), compressed: zc.compressed}

	n := w.opt.Workers
	// Batches in flight: each holds 1 MiB of media and up to 1 MiB of output.
	// Workers get a batch queued each beyond the one they compress; a lone
	// worker (one job of many sharing the CPUs) gets none: one batch being
	// filled, one compressed, one written.
	depth := min(2*n+2, maxBatches)
	if n == 1 {
		depth = 3
	}
	w.free = make(chan *batch, depth)
	for range depth {
		w.free <- &batch{raw: make([]byte, batchChunks*ChunkSize), out: make([]byte, 0, batchChunks*(ChunkSize+4))}
	}
	w.jobs = make(chan *batch, depth)
	w.ordered = make(chan *batch, depth)
	w.outDone = make(chan struct{})
	for range n {
		w.workers.Add(1)
		go w.compressLoop()
	}
	go w.outputLoop()
}

func (w *Writer) setErr(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}

func (w *Writer) firstErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Write copies p into chunks and queues them for compression.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errors.New("ewf: write after Finish or Abort")
	}
	if err := w.firstErr(); err != nil {
		return 0, err
	}
	n := len(p)
	for len(p) > 0 {
		if w.cur == nil {
			w.cur = <-w.free
			w.cur.n = 0
		}
		c := copy(w.cur.raw[w.cur.n:], p)
		w.cur.n += c
		p = p[c:]
		if w.cur.n == len(w.cur.raw) {
			w.dispatch()
		}
	}
	w.written += int64(n)
	return n, nil
}

func (w *Writer) dispatch() {
	b := w.cur
	w.cur = nil
	b.done = make(chan struct{})
	w.ordered <- b
	w.jobs <- b
}

// compressLoop is one worker of the compressing pool.
func (w *Writer) compressLoop() {
	defer w.workers.Done()
	c := newCompressor(w.opt.Level)
	for b := range w.jobs {
		b.chunks = b.chunks[:0]
		b.out = b.out[:0]
		for off := 0; off < b.n; off += w.chunkSize {
			raw := b.raw[off:min(off+w.chunkSize, b.n)]
			if len(raw) == w.chunkSize && isZero(raw) {
				b.chunks = append(b.chunks, chunkOut{zero: true, compressed: w.zeroCk.compressed})
				continue
			}
			ck := compressChunk(c, raw)
			start := len(b.out)
			b.out = append(b.out, ck.data...) // c reuses its buffer
			b.chunks = append(b.chunks, chunkOut{start: start, end: len(b.out), compressed: ck.compressed})
		}
		close(b.done)
	}
}

// outputLoop writes compressed batches in stream order.
func (w *Writer) outputLoop() {
	defer close(w.outDone)
	for b := range w.ordered {
		<-b.done
		if w.firstErr() == nil {
			for _, ck := range b.chunks {
				data := w.zeroCk.data
				if !ck.zero {
					data = b.out[ck.start:ck.end]
				}
				if err := w.out.writeChunk(data, ck.compressed); err != nil {
					w.setErr(err)
					break
				}
				if at := w.syncAt.Load(); at > 0 && w.out.chunks*int64(w.chunkSize) >= at && w.out.inGroup {
					w.syncAt.CompareAndSwap(at, 0)
					if err := w.out.closeGroup(); err != nil {
						w.setErr(err)
						break
					}
				}
			}
		}
		b.chunks = b.chunks[:0]
		w.free <- b
	}
}

// drain stops the pool after the queued batches are written.
func (w *Writer) drain() {
	if w.closed {
		return
	}
	w.closed = true
	if w.cur != nil && w.cur.n > 0 {
		w.dispatch()
	}
	close(w.jobs)
	close(w.ordered)
	<-w.outDone
	w.workers.Wait()
}

// Finish writes the last sections (error2, digest, hash, done), fixes up the
// volume and data sections with the final size, fsyncs and closes.
// f.Hashes must hold "md5" and "sha1".
func (w *Writer) Finish(f imager.Final) error {
	received := w.written
	var unaligned error
	if r := received % int64(w.opt.SectorSize); r != 0 && !w.closed && w.firstErr() == nil {
		pad := int64(w.opt.SectorSize) - r
		if _, err := w.Write(make([]byte, pad)); err != nil {
			w.drain()
			w.out.abort()
			return err
		}
		unaligned = fmt.Errorf("ewf: the stream of %d bytes ends inside a %d-byte sector; the image is padded with %d zero bytes and its stored MD5/SHA-1 cover the unpadded stream: %w",
			received, w.opt.SectorSize, pad, ErrUnaligned)
	}
	w.drain()
	if err := w.firstErr(); err != nil {
		w.out.abort()
		return err
	}
	if f.Size != 0 && f.Size != received {
		w.out.abort()
		return fmt.Errorf("ewf: engine reports %d bytes, sink received %d", f.Size, received)
	}
	if f.SectorSize != 0 && f.SectorSize != w.opt.SectorSize {
		w.out.abort()
		return fmt.Errorf("ewf: engine sector size %d, image was created with %d", f.SectorSize, w.opt.SectorSize)
	}
	return errors.Join(w.out.finish(w.written, f), unaligned)
}

// Abort stops, keeps what was written (with the open table group closed so
// the chunks stay indexable) but writes no done section: the set stays
// visibly incomplete (OpenPartial reads it). Every byte Write accepted is
// in the set when Abort returns nil; an error (of the output or of Abort
// itself) says some are not.
func (w *Writer) Abort() error {
	w.drain()
	return errors.Join(w.firstErr(), w.out.abort())
}

// Sync asks for the chunks given so far to be made durable: the output
// closes the chunk group where they end (the engine's buffers end on chunk
// boundaries, and so at its piece boundaries) and fsyncs the segment. It
// does not wait; Durable says how far the set is durable. (A group is
// where a resumed set can go on: Reopen.)
func (w *Writer) Sync() error {
	if w.written > 0 {
		w.syncAt.Store(w.written)
	}
	return w.firstErr()
}

// Durable is how many media bytes are durable on the target: those of the
// chunk groups closed and fsynced so far, at a segment's end, at the chunk
// table's limit, or after Sync.
func (w *Writer) Durable() int64 { return w.durable.Load() }

// Files lists the segment files created so far.
func (w *Writer) Files() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.files...)
}

// FileHashes are the hashes of a segment written into an object store,
// taken of the bytes sent as they were sent (the store checked each part
// against its SHA-256); nil for a segment on a file system or not stored
// whole.
func (w *Writer) FileHashes(path string) map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sums[path]
}

func (w *Writer) addSums(p string, sums map[string]string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sums == nil {
		w.sums = map[string]map[string]string{}
	}
	w.sums[p] = sums
}

func (w *Writer) addFile(p string) {
	w.mu.Lock()
	w.files = append(w.files, p)
	w.mu.Unlock()
}

// segmentPath names segment n of dir/base.
func segmentPath(dir, base string, n int) (string, error) {
	ext, err := segmentExt(n, true)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, base+"."+ext), nil
}

func createExcl(p string) (*os.File, error) {
	return os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
}
