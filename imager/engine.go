// Package imager streams a source through hashers and sinks: one reader fills
// large buffers from a bounded pool, and each buffer goes, uncopied, to every
// hasher and every sink at once, each on its own goroutine. Unreadable sectors
// are narrowed down to the logical sector, zero-filled and recorded. The engine
// never prints; it reports through Events.
package imager

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

const (
	DefaultBufferSize = 4 << 20
	DefaultBuffers    = 4
	DefaultPieceSize  = 1 << 30
	DefaultRetries    = 2
)

// Options describe one pass over a source.
type Options struct {
	Name       string      // source label for events and errors (device path)
	Source     io.ReaderAt // read-only source
	Size       int64       // bytes to read
	SectorSize int         // logical sector size; 512 when zero

	Hashes  []string // algorithm names; DefaultHashes when empty
	Hashers Hashers

	PieceSize int64  // piecewise window; DefaultPieceSize when 0, none when < 0
	PieceAlg  string // algorithm of the piecewise hashes; PieceAlgorithm when empty
	PartSize  int64  // > 0: also hash every PartSize window with every algorithm (split-image sidecars)

	Sinks []Sink // image destinations; none for a hash-only pass

	// Compare, when set, is read alongside Source and compared byte for byte
	// (verify: source re-read vs image read-back). Its hashes are the source's
	// up to the first difference and computed separately from there on.
	Compare io.ReaderAt

	BufferSize int // bytes per read; DefaultBufferSize when 0 (rounded to the sector)
	Buffers    int // buffers in the pool; DefaultBuffers when 0
	Retries    int // re-reads of a failing sector; DefaultRetries when 0, none when < 0
	// RescueTime bounds the rescue of what failed: the passes after the
	// copy pass, or the time spent narrowing failures down in the stream
	// (E01). What is left stays zero-filled, in the map. 0: no limit.
	RescueTime time.Duration
	// SlowRead: a copy-pass read slower than this (rescue after copying
	// only) is kept but makes the pass skip ahead. DefaultSlowRead when 0,
	// never when < 0.
	SlowRead      time.Duration
	Phase         string        // PhaseAcquire when empty
	Emit          Emitter       // progress and error events
	ProgressEvery time.Duration // 500 ms when 0

	// Checkpoint, when set and every sink can Sync, is called after the
	// sinks made the stream durable on the target: every SyncEvery bytes
	// and at least every SyncInterval. Its error stops the pass. It runs on
	// a sink's goroutine; calls do not overlap.
	Checkpoint   func(Checkpoint) error
	SyncEvery    int64         // DefaultSyncEvery when 0
	SyncInterval time.Duration // DefaultSyncInterval when 0

	// Resume continues an interrupted pass (see Resume).
	Resume *Resume
}

// Resume continues a pass that stopped after Offset bytes were durable on
// the target: those bytes are read back from Prefix (the image there) and
// hashed — re-establishing every hash and piece — but not written again;
// once every consumer is through them, Check is given the pieces they make
// (it compares them with the record and may refuse), and only then is
// Source read, from Offset on, and written. The sinks must continue at
// Offset. Unreadable are the ranges recorded before Offset.
//
// With States, the image hashes start from the states saved at
// States.Offset (a piece boundary at or before Offset) and the prefix is
// read back from there on only; Pieces are the recorded pieces before
// States.Offset, which the caller has checked against the image already.
type Resume struct {
	Offset     int64
	Prefix     io.ReaderAt
	Unreadable []BadRange
	Check      func(pieces []Piece) error
	States     *HashStates
	Pieces     []Piece
}

// from is where the reader starts: the saved states' offset, or byte 0.
func (r *Resume) from() int64 {
	if r == nil || r.States == nil {
		return 0
	}
	return r.States.Offset
}

// Syncer is a Sink that can make what it was given so far durable.
type Syncer interface{ Sync() error }

// LaggingSyncer is a Syncer that makes its stream durable at boundaries of
// its own (an E01 at its chunk groups): Sync only asks for one soon, and
// Durable says how many stream bytes are durable now.
type LaggingSyncer interface {
	Syncer
	Durable() int64
}

// Checkpoint is how much of the stream every sink holds durably.
type Checkpoint struct {
	Bytes      int64      // stream bytes synced on every sink
	Unreadable []BadRange // zero-filled ranges before Bytes
	Pieces     []Piece    // piecewise hashes of the windows that end by Bytes
	Time       time.Time
	// States are the image hashes' states at the end of the last of
	// Pieces that every hasher has passed (nil when they cannot be saved).
	States *HashStates
	// CopyPass, once the rescue passes run, is the image as the copy pass
	// left it: a resume checks it and goes on with the map.
	CopyPass *CopyPass
}

// CopyPass is the whole image as a copy pass with areas set aside left it:
// its pieces, hashed with the holes (the areas not read then) as zeros.
// The rescue passes write into the holes only, so every byte outside them
// is still vouched for by these pieces while the rescue goes on.
type CopyPass struct {
	Pieces []Piece    `json:"pieces"`
	Holes  []BadRange `json:"holes"`
}

// Checkpoint defaults: a sync per 256 MiB, and at least every 30 s.
const (
	DefaultSyncEvery    = 256 << 20
	DefaultSyncInterval = 30 * time.Second
)

// Piece is the hash of one window of the stream.
type Piece struct {
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
	Alg    string `json:"alg"`
	Hex    string `json:"hex"`
}

// Result is what a pass found. When the pass fails (cancelled, a write or
// read error) Hashes, Pieces and Parts still cover the Size bytes read
// and handed to every sink, and Sinks says what each sink took of them.
type Result struct {
	Size       int64             // bytes read (and handed to every sink)
	Hashes     map[string]string // of the source stream, zero fill included
	Pieces     []Piece
	Parts      []Piece // PartSize windows, every algorithm
	Sinks      []SinkResult
	Unreadable []BadRange
	Rescue     *RescueReport // when rescue passes ran
	Started    time.Time
	// Duration is the imaging time: from the start of the pass until every
	// buffer was hashed and written and the sinks were finished (flushed,
	// fsynced, closed) or aborted. Size/Duration is the pass's rate.
	Duration time.Duration

	// Compare mode only.
	CompareHashes   map[string]string // of the Compare stream
	FirstDifference int64             // byte offset of the first difference, -1 when identical
}

// SinkResult is what one sink (in Options.Sinks order) made of the stream.
type SinkResult struct {
	Bytes int64 // bytes its Write accepted
	Err   error // why it stopped, or what Finish or Abort returned
}

// Identical says whether a compare pass found both streams equal.
func (r *Result) Identical() bool { return r.FirstDifference < 0 }

type buffer struct {
	data   []byte // len = bytes valid
	cmp    []byte // compare stream, same length
	same   bool
	prefix bool // read back from Resume.Prefix: hashed, not written again
	snap   bool // the hashers keep their state before this buffer (rescue re-hash)
	mark   bool // ends at a piece boundary: the hashers save their states after it
	off    int64
	refs   atomic.Int32
	mem    []byte
	cmem   []byte
}

type engine struct {
	o          Options
	ctx        context.Context
	cancel     context.CancelCauseFunc
	pool       chan *buffer
	scratch    []byte      // BufferSize, aligned: made on first use (only a source that fails needs it)
	precise    io.ReaderAt // reads near failing areas: the source's Precise reader (O_DIRECT even for a file read buffered), else Source
	bad        []BadRange
	pendingBad []BadRange // given up on in the region being rescued, not yet reported
	badMu      sync.Mutex
	done       atomic.Int64 // bytes every consumer is through with: what progress reports
	sinks      []*sinkConsumer
	pieces     *pieceConsumer
	cpMu       sync.Mutex
	cpBytes    int64      // stream bytes the last checkpoint reported
	states     *stateBook // hash states at piece boundaries, for checkpoints; nil when not saved
	copyPass   *CopyPass  // set when the rescue passes start

	// Rescue (rescue.go).
	deferred     bool // rescue after the copy pass: every sink a Patcher
	skipTo       int64
	skipStep     int64
	skipWhy      string
	snapAt       atomic.Int64  // stream offset of the buffer flagged snap; -1 before
	spent        time.Duration // in-stream rescue time so far
	pendingRetry []BadRange    // set aside, not yet reported
	lastEvents   time.Time
	report       *RescueReport
	rescuing     atomic.Bool
	rescueAll    atomic.Int64 // rescue progress: the bytes to deal with…
	rehashLeft   atomic.Int64 // …and, while re-hashing, those left to hash (else -1)
	copyStart    time.Time    // the copy pass (the stream): when it started, its reads and failed reads
	copyReads    int64
	copyFailed   int64
	smallUntil   int64 // the copy pass reads in clusters up to here (near trouble)
}

// Run performs one pass: read, hash, write to the sinks, and (when the pass
// completes) Finish every sink; on failure every sink is Aborted, keeping
// what was written. The Result is filled as far as the pass got.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	res := &Result{Started: time.Now(), FirstDifference: -1, Sinks: make([]SinkResult, len(o.Sinks))}
	e := &engine{o: o, deferred: o.deferredRescue(), precise: o.Source}
	if p, ok := o.Source.(interface{ Precise() io.ReaderAt }); ok {
		e.precise = p.Precise()
	}
	e.snapAt.Store(-1)
	e.rehashLeft.Store(-1)
	if o.Resume != nil {
		e.bad = append([]BadRange(nil), o.Resume.Unreadable...)
		e.cpBytes = o.Resume.Offset
	}
	e.ctx, e.cancel = context.WithCancelCause(ctx)
	defer e.cancel(nil)

	o.Emit.emit(Event{Kind: EventStart, Phase: o.Phase, Source: o.Name, Total: o.Size})
	prog := e.startProgress(res.Started)
	// The reader and every consumer recover on their own goroutines; this
	// catches a panic in what is left (setting up, summing the hashes), so
	// the sinks are still aborted and the pass ends with the crash.
	err := Safely("imaging of "+o.Name, func() error { return e.run(res) })
	prog.stop()
	res.Unreadable = compactMap(e.bad)
	res.Rescue = e.report
	if err == nil {
		final := Final{Hashes: res.Hashes, Unreadable: e.bad, SectorSize: o.SectorSize, Size: res.Size}
		for i, s := range o.Sinks {
			if ferr := Safely("image writer of "+o.Name, func() error { return s.Finish(final) }); ferr != nil {
				res.Sinks[i].Err = ferr
				if err == nil {
					err = fmt.Errorf("finish image: %w", ferr)
				}
			}
		}
	} else {
		for i, s := range o.Sinks {
			res.Sinks[i].Err = errors.Join(res.Sinks[i].Err, Safely("image writer of "+o.Name, s.Abort))
		}
	}
	res.Duration = time.Since(res.Started)
	if err == nil {
		prog.emit(time.Now(), res.Size) // 100 % once the image is closed
	}
	o.Emit.emit(Event{Kind: EventDone, Phase: o.Phase, Source: o.Name, Bytes: res.Size, Total: o.Size, Err: err})
	return res, err
}

func (o *Options) defaults() error {
	if o.Source == nil {
		return errors.New("no source")
	}
	if o.Size < 0 {
		return fmt.Errorf("source %s: negative size %d", o.Name, o.Size)
	}
	if o.SectorSize == 0 {
		o.SectorSize = 512
	}
	if o.SectorSize < 0 || o.SectorSize&(o.SectorSize-1) != 0 {
		return fmt.Errorf("source %s: sector size %d is not a power of two", o.Name, o.SectorSize)
	}
	if len(o.Hashes) == 0 {
		o.Hashes = DefaultHashes
	}
	for _, a := range o.Hashes {
		if !known(a) {
			return fmt.Errorf("unknown hash algorithm %q", a)
		}
	}
	if o.PieceSize == 0 {
		o.PieceSize = DefaultPieceSize
	}
	if o.PieceAlg == "" {
		o.PieceAlg = PieceAlgorithm
	}
	if o.SyncEvery <= 0 {
		o.SyncEvery = DefaultSyncEvery
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.BufferSize <= 0 {
		o.BufferSize = DefaultBufferSize
	}
	o.BufferSize = (o.BufferSize + o.SectorSize - 1) / o.SectorSize * o.SectorSize
	if o.Buffers <= 0 {
		o.Buffers = DefaultBuffers
	}
	if o.Retries == 0 {
		o.Retries = DefaultRetries
	} else if o.Retries < 0 {
		o.Retries = 0
	}
	if o.Phase == "" {
		o.Phase = PhaseAcquire
	}
	if o.SlowRead == 0 {
		o.SlowRead = DefaultSlowRead
	}
	if o.ProgressEvery == 0 {
		o.ProgressEvery = 500 * time.Millisecond
	}
	return nil
}

// AlignedBuffer returns a zeroed slice whose first byte is 4096-aligned, as O_DIRECT wants.
func AlignedBuffer(size int) []byte {
	const align = 4096
	b := make([]byte, size+align)
	shift := (align - int(uintptr(unsafe.Pointer(unsafe.SliceData(b)))%align)) % align
	return b[shift : shift+size : shift+size]
}

// scratchBuf is the aligned buffer of the rescue's reads, made when a read
// first fails: it is a BufferSize of memory per job that a clean source
// never needs (the reader and the rescue passes that use it run one at a
// time).
func (e *engine) scratchBuf() []byte {
	if e.scratch == nil {
		e.scratch = AlignedBuffer(e.o.BufferSize)
	}
	return e.scratch
}

// consumer is one goroutine's work on each buffer.
type consumer interface {
	consume(b *buffer) error
}

func (e *engine) run(res *Result) error {
	o := e.o
	e.copyStart = time.Now()
	e.pool = make(chan *buffer, o.Buffers)
	for i := 0; i < o.Buffers; i++ {
		b := &buffer{mem: AlignedBuffer(o.BufferSize)}
		if o.Compare != nil {
			b.cmem = AlignedBuffer(o.BufferSize)
		}
		e.pool <- b
	}

	// Consumers: one per algorithm, one per piecewise set, one per sink.
	if o.Checkpoint != nil && o.PieceSize > 0 && o.Compare == nil && StateFormat() != "" {
		want := len(o.Hashes)
		if o.PartSize > 0 {
			want++
		}
		e.states = newStateBook(want)
	}
	var saved *HashStates
	if o.Resume != nil {
		saved = o.Resume.States
		if saved != nil && e.states != nil {
			e.states.seed(saved) // a checkpoint before the hashers reach another boundary keeps them
		}
	}
	var cons []consumer
	hashers := map[string]*hashConsumer{}
	for _, alg := range o.Hashes {
		var h hash.Hash
		var err error
		if saved != nil {
			h, err = restoreState(alg, saved.States[alg])
		} else {
			h, err = o.Hashers.New(alg)
		}
		if err != nil {
			return err
		}
		hc := &hashConsumer{alg: alg, h: h, hashers: o.Hashers, compare: o.Compare != nil, book: e.states}
		hashers[alg] = hc
		cons = append(cons, hc)
	}
	var pieces *pieceConsumer
	if o.PieceSize > 0 {
		pieces = &pieceConsumer{size: o.PieceSize, algs: []string{o.PieceAlg}, hashers: Hashers{}}
		if saved != nil {
			pieces.out, pieces.start = append([]Piece(nil), o.Resume.Pieces...), saved.Offset
			pieces.doneTo.Store(saved.Offset)
		}
		cons = append(cons, pieces)
	}
	e.pieces = pieces
	var parts *pieceConsumer
	if o.PartSize > 0 {
		parts = &pieceConsumer{size: o.PartSize, algs: o.Hashes, hashers: Hashers{}, book: e.states}
		if saved != nil {
			if err := parts.restoreParts(saved.Parts); err != nil {
				return err
			}
		}
		cons = append(cons, parts)
	}
	var sinks []*sinkConsumer
	for _, s := range o.Sinks {
		sc := &sinkConsumer{s: s, name: o.Name, e: e, last: time.Now()}
		if o.Resume != nil { // the sinks hold the prefix already
			sc.n, sc.synced = o.Resume.Offset, o.Resume.Offset
			sc.durable.Store(o.Resume.Offset)
		}
		sinks = append(sinks, sc)
		cons = append(cons, sc)
	}
	e.sinks = sinks

	chans := make([]chan *buffer, len(cons))
	var wg sync.WaitGroup
	for i, c := range cons {
		ch := make(chan *buffer, o.Buffers)
		chans[i] = ch
		wg.Add(1)
		go func(c consumer, ch chan *buffer) {
			defer wg.Done()
			// A consumer that fails (or panics: Safely) stops the pass and
			// goes on draining its channel, so every buffer returns to the
			// pool and the reader never waits on it.
			failed := false
			for b := range ch {
				if !failed {
					if err := Safely(consumerName(c, o.Name), func() error { return c.consume(b) }); err != nil {
						failed = true
						e.cancel(err)
					}
				}
				e.release(b)
			}
		}(c, ch)
	}

	readErr := Safely("reader of "+o.Name, func() error { return e.read(res, chans) })
	if AsPanic(readErr) != nil {
		e.cancel(readErr)
	}
	for _, ch := range chans {
		close(ch)
	}
	wg.Wait()

	if cause := context.Cause(e.ctx); cause != nil && readErr == nil {
		readErr = cause
	}
	if readErr == nil && e.deferred && e.unread() > 0 {
		// Every buffer is hashed and written: the sinks are idle and the
		// rescue writes what it recovers into place.
		recovered, err := e.rescuePasses()
		if err == nil && recovered > 0 {
			var hcs []*hashConsumer
			for _, alg := range o.Hashes {
				hcs = append(hcs, hashers[alg])
			}
			err = e.rehash(hcs, []*pieceConsumer{pieces, parts})
		}
		readErr = err
	}
	for i, sc := range sinks {
		res.Sinks[i] = SinkResult{Bytes: sc.n, Err: sc.err}
	}
	if len(cons) == 0 {
		return readErr
	}
	// Every consumer has seen every buffer handed out: the sums cover the
	// res.Size bytes read, whether or not the pass completed.
	res.Hashes = map[string]string{}
	if o.Compare != nil {
		res.CompareHashes = map[string]string{}
	}
	for alg, hc := range hashers {
		res.Hashes[alg] = hex.EncodeToString(hc.h.Sum(nil))
		if o.Compare != nil {
			if hc.err != nil && readErr == nil {
				readErr = hc.err
			}
			if hc.h2 == nil {
				res.CompareHashes[alg] = res.Hashes[alg]
			} else {
				res.CompareHashes[alg] = hex.EncodeToString(hc.h2.Sum(nil))
			}
		}
	}
	if pieces != nil {
		res.Pieces = pieces.finish()
	}
	if parts != nil {
		res.Parts = parts.finish()
	}
	return readErr
}

func (e *engine) release(b *buffer) {
	if b.refs.Add(-1) == 0 {
		e.done.Add(int64(len(b.data)))
		e.pool <- b
	}
}

// progress reports, every ProgressEvery, the bytes every consumer is done
// with (hashed and written, not merely read: the reader runs up to the
// buffer pool ahead) with their rate and ETA over a RateWindow.
type progress struct {
	e      *engine
	w      RateWindow
	stopc  chan struct{}
	exited chan struct{}
}

func (e *engine) startProgress(start time.Time) *progress {
	p := &progress{e: e, stopc: make(chan struct{}), exited: make(chan struct{})}
	p.w.Add(start, 0)
	if e.o.Emit == nil {
		close(p.exited)
		return p
	}
	go func() {
		defer close(p.exited)
		// A progress renderer that panics stops the pass, not the process.
		defer func() {
			if r := recover(); r != nil {
				e.cancel(NewPanicError("progress report of "+e.o.Name, r))
			}
		}()
		t := time.NewTicker(e.o.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-p.stopc:
				return
			case <-t.C:
				p.emit(time.Now(), e.done.Load())
			}
		}
	}()
	return p
}

// stop ends the periodic reports; emit may still be called afterwards.
func (p *progress) stop() {
	close(p.stopc)
	<-p.exited
}

func (p *progress) emit(now time.Time, n int64) {
	o := p.e.o
	if o.Emit == nil {
		return
	}
	if p.e.rescuing.Load() {
		all, left := p.e.rescueAll.Load(), p.e.rehashLeft.Load()
		if left < 0 {
			left = p.e.unread()
		}
		o.Emit.emit(Event{Kind: EventProgress, Phase: PhaseRescue, Source: o.Name, Bytes: max(0, all-left), Total: all, ETA: ETAUnknown, Time: now})
		return
	}
	p.w.Add(now, n)
	phase := o.Phase
	if o.Resume != nil && n < o.Resume.Offset {
		phase = PhaseResume // still reading the image back from the target
	}
	o.Emit.emit(Event{Kind: EventProgress, Phase: phase, Source: o.Name, Bytes: n, Total: o.Size, Rate: p.w.Rate(), ETA: p.w.ETA(o.Size), Time: now})
}

// read is the single reader: it fills buffers in order and hands each to every consumer.
func (e *engine) read(res *Result, chans []chan *buffer) error {
	o := e.o
	from := o.Resume.from()
	e.done.Store(from)
	res.Size = from
	for off := from; off < o.Size; {
		var b *buffer
		select {
		case b = <-e.pool:
		case <-e.ctx.Done():
			return context.Cause(e.ctx)
		}
		n := int64(o.BufferSize)
		if rest := o.Size - off; rest < n {
			n = rest
		}
		b.data = b.mem[:n]
		b.off = off
		b.prefix, b.snap = false, false
		if r := o.Resume; r != nil && off < r.Offset {
			// The image already on the target, up to the resume point.
			b.data = b.mem[:min(n, r.Offset-off)]
			n = int64(len(b.data))
			b.prefix = true
			if err := e.readRegion(b.data, off, r.Prefix); err != nil {
				e.pool <- b
				return fmt.Errorf("read back the image on the target at byte %d: %w", off, err)
			}
			if e.deferred && e.snapAt.Load() < 0 && unreadIn(r.Unreadable, off, n, int64(o.SectorSize)) {
				// An area an earlier run left for the rescue: it goes on.
				b.snap = true
				e.snapAt.Store(off)
			}
		} else {
			if r := o.Resume; r != nil && off == r.Offset {
				if err := e.resumeCheck(); err != nil {
					e.pool <- b
					return err
				}
			}
			if off < e.skipTo {
				// Skipped past trouble: zeros for now, rescued later.
				b.data = b.mem[:min(n, e.skipTo-off)]
				n = int64(len(b.data))
				clear(b.data)
				e.setAside(b, off, n, StateNonTried, e.skipWhy)
			} else if err := e.readSource(b); err != nil {
				e.pool <- b
				return err
			}
		}
		b.mark = e.states != nil && (off+n)%o.PieceSize == 0
		if off == 0 && o.Phase == PhaseAcquire {
			FaultHook(FaultFirstPiece, o.Name, "") // test builds only: a parser crashing on the first piece
		}
		b.same = true
		if o.Compare != nil {
			b.cmp = b.cmem[:n]
			if err := e.readRegion(b.cmp, off, o.Compare); err != nil {
				e.pool <- b
				return fmt.Errorf("read image at byte %d: %w", off, err)
			}
			if !bytes.Equal(b.data, b.cmp) {
				b.same = false
				if res.FirstDifference < 0 {
					for i := range b.data {
						if b.data[i] != b.cmp[i] {
							res.FirstDifference = off + int64(i)
							break
						}
					}
				}
			}
		}
		if len(chans) == 0 {
			e.done.Add(n)
			e.pool <- b
		} else {
			b.refs.Store(int32(len(chans)))
			for _, ch := range chans {
				ch <- b
			}
		}
		off += n
		res.Size = off
	}
	e.flushEvents(true)
	if r := o.Resume; r != nil && r.Offset >= o.Size {
		return e.resumeCheck() // everything was on the target already
	}
	return nil
}

// unreadIn says whether bytes [off, off+n) hold a range of the map not
// read yet.
func unreadIn(m []BadRange, off, n, ss int64) bool {
	for _, r := range m {
		if r.State != "" && r.LBA*ss < off+n && (r.LBA+r.Count)*ss > off {
			return true
		}
	}
	return false
}

// resumeCheck waits until every consumer is through the prefix read back
// from the target, then lets Resume.Check compare the pieces made of it
// with the record, before a byte of the source is read or written.
func (e *engine) resumeCheck() error {
	r := e.o.Resume
	for e.done.Load() < r.Offset {
		if cerr := context.Cause(e.ctx); cerr != nil {
			return cerr
		}
		time.Sleep(time.Millisecond)
	}
	if r.Check == nil {
		return nil
	}
	var pieces []Piece
	if e.pieces != nil {
		pieces = e.pieces.done()
	}
	return r.Check(pieces)
}

// readRegion fills p from src at off, for reads that are not rescued
// (the image read back, the compared stream): any read error is returned.
func (e *engine) readRegion(p []byte, off int64, src io.ReaderAt) error {
	n, err := src.ReadAt(p, off)
	if err == nil || (n == len(p) && errors.Is(err, io.EOF)) {
		return nil
	}
	if ferr := e.fatalRead(off, n, err, src); ferr != nil {
		return ferr
	}
	return err
}

// absent asks a source that can tell (disk.Source) whether it is still
// there: a removed device often fails its reads with plain EIO.
func absent(src io.ReaderAt) error {
	if p, ok := src.(interface{ Gone() error }); ok {
		return p.Gone()
	}
	return nil
}

// ErrVanished is why a pass stopped whose device went away (removed,
// medium gone): no rescue is tried, the rest is not zero-filled.
var ErrVanished = errors.New("vanished")

// gone reports a read error that means the device is no longer there, not
// that a sector is bad: ENODEV, ENXIO, ENOMEDIUM.
func gone(err error) bool {
	return errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.ENOMEDIUM)
}

// vanished is the error that stops the pass at once when its device is gone.
func (e *engine) vanished(off int64, err error) error {
	return fmt.Errorf("%s %w at byte %d (read: %s): stopped, nothing past it was read", e.o.Name, ErrVanished, off, errText(err))
}

// rescue re-reads a region that failed: split into up to 8 sector-aligned
// pieces read through the aligned scratch buffer (so O_DIRECT keeps sector
// precision); pieces that read cleanly cost one read, a failing one is split
// again, down to single sectors that get Retries more tries before they are
// zero-filled and recorded. The reads go through e.precise (sector-exact);
// the source itself is asked whether the device is still there.
func (e *engine) rescue(p []byte, off int64, err error) error {
	ss := int64(e.o.SectorSize)
	lba := off / ss
	if int64(len(p)) <= ss {
		for try := 0; try < e.o.Retries; try++ {
			if cerr := context.Cause(e.ctx); cerr != nil {
				return cerr
			}
			q := e.scratchBuf()[:len(p)]
			n, err2 := e.precise.ReadAt(q, off)
			if err2 == nil || (n == len(q) && errors.Is(err2, io.EOF)) {
				copy(p, q)
				return nil
			}
			if gone(err2) {
				return e.vanished(off, err2)
			}
			err = err2
		}
		if why := absent(e.o.Source); why != nil {
			return e.vanished(off, why)
		}
		clear(p)
		e.addBad(BadRange{LBA: lba, Count: 1, Error: errText(err)})
		return nil
	}
	count := (int64(len(p)) + ss - 1) / ss
	e.badMu.Lock()
	e.pendingRetry = mergeBad(e.pendingRetry, BadRange{LBA: lba, Count: count, Error: errText(err)})
	e.badMu.Unlock()
	step := (count + 7) / 8 * ss
	for o := int64(0); o < int64(len(p)); o += step {
		if cerr := context.Cause(e.ctx); cerr != nil {
			return cerr
		}
		end := min(o+step, int64(len(p)))
		q := e.scratchBuf()[:end-o]
		n, err2 := e.precise.ReadAt(q, off+o)
		if err2 == nil || (n == len(q) && errors.Is(err2, io.EOF)) {
			copy(p[o:end], q)
			continue
		}
		if errors.Is(err2, io.EOF) || errors.Is(err2, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%s ended at byte %d, short of its recorded size %d: %w", e.o.Name, off+o+int64(n), e.o.Size, err2)
		}
		if gone(err2) {
			return e.vanished(off+o, err2)
		}
		if err := e.rescue(p[o:end], off+o, err2); err != nil {
			return err
		}
	}
	return nil
}

// errText reduces an error to its cause, so neighbouring sectors failing the
// same way merge into one range.
func errText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return fmt.Sprintf("%s (errno %d)", errno.Error(), int(errno))
	}
	return err.Error()
}

func (e *engine) addBad(r BadRange) {
	e.badMu.Lock()
	defer e.badMu.Unlock()
	e.bad = mergeBad(e.bad, r)
	e.pendingBad = mergeBad(e.pendingBad, r)
}

// mergeBad appends r to l, extending the last range when r continues it
// with the same error and state — except failed reads not yet trimmed:
// each is trimmed on its own, from its own edges (merged, a run of failed
// blocks would leave everything between its first and last bad sector to
// the slow scrape).
func mergeBad(l []BadRange, r BadRange) []BadRange {
	if r.State == StateNonTrimmed {
		return append(l, r)
	}
	return AppendRange(l, r)
}

type hashConsumer struct {
	alg     string
	h, h2   hash.Hash
	hashers Hashers
	compare bool
	err     error
	snap    hash.Hash // state before the buffer flagged snap
	snapErr error
	book    *stateBook
}

func (c *hashConsumer) consume(b *buffer) error {
	if b.snap {
		c.save()
	}
	if c.compare && !b.same && c.h2 == nil && c.err == nil {
		// First difference: the compared stream's hash forks off here.
		h2, err := c.hashers.cloneHash(c.alg, c.h)
		if err != nil {
			c.err = fmt.Errorf("image hash %s: %w", c.alg, err)
		}
		c.h2 = h2
	}
	c.h.Write(b.data)
	if c.h2 != nil {
		c.h2.Write(b.cmp)
	}
	if b.mark && c.book != nil {
		c.book.putHash(b.off+int64(len(b.data)), c.alg, c.h)
	}
	return nil
}

// pieceConsumer hashes fixed windows of the stream.
type pieceConsumer struct {
	size    int64
	algs    []string
	hashers Hashers
	cur     []hash.Hash
	start   int64
	filled  int64
	mu      sync.Mutex // guards out: checkpoints read it from a sink's goroutine
	out     []Piece
	snap    *pieceSnap   // state before the buffer flagged snap
	doneTo  atomic.Int64 // the end of the pieces finished so far
	book    *stateBook   // parts of a split image: their states at piece boundaries
}

// done is a copy of the pieces finished so far.
func (c *pieceConsumer) done() []Piece {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Piece(nil), c.out...)
}

func (c *pieceConsumer) consume(b *buffer) error {
	if b.snap {
		c.save()
	}
	p := b.data
	for len(p) > 0 {
		if c.cur == nil {
			for _, a := range c.algs {
				h, err := c.hashers.New(a)
				if err != nil {
					return err
				}
				c.cur = append(c.cur, h)
			}
		}
		take := min(int64(len(p)), c.size-c.filled)
		for _, h := range c.cur {
			h.Write(p[:take])
		}
		c.filled += take
		p = p[take:]
		if c.filled == c.size {
			c.flush()
		}
	}
	if b.mark && c.book != nil {
		st, err := c.partStates()
		c.book.putParts(b.off+int64(len(b.data)), st, err)
	}
	return nil
}

// partStates are the parts finished and the state of the one being hashed.
func (c *pieceConsumer) partStates() (*PartStates, error) {
	p := &PartStates{Done: c.done(), Start: c.start, Filled: c.filled}
	if c.filled > 0 {
		st, err := saveStates(c.algs, c.cur)
		if err != nil {
			return nil, err
		}
		p.States = st
	}
	return p, nil
}

// restoreParts goes on from saved part states (HashStates.Usable checked them).
func (c *pieceConsumer) restoreParts(p *PartStates) error {
	if p == nil {
		return errors.New("resume: no part states saved for the split image")
	}
	c.out, c.start, c.filled, c.cur = append([]Piece(nil), p.Done...), p.Start, p.Filled, nil
	if p.Filled > 0 {
		for _, a := range c.algs {
			h, err := restoreState(a, p.States[a])
			if err != nil {
				return err
			}
			c.cur = append(c.cur, h)
		}
	}
	c.doneTo.Store(p.Start)
	return nil
}

func (c *pieceConsumer) flush() {
	c.mu.Lock()
	for i, h := range c.cur {
		c.out = append(c.out, Piece{Offset: c.start, Length: c.filled, Alg: c.algs[i], Hex: hex.EncodeToString(h.Sum(nil))})
	}
	c.mu.Unlock()
	c.start += c.filled
	c.doneTo.Store(c.start)
	c.filled = 0
	c.cur = nil
}

// withPartial are the pieces finished so far and the one being hashed,
// as far as it goes (Sum leaves a hash's state as it is).
func (c *pieceConsumer) withPartial() []Piece {
	out := c.done()
	for i, h := range c.cur {
		if c.filled > 0 {
			out = append(out, Piece{Offset: c.start, Length: c.filled, Alg: c.algs[i], Hex: hex.EncodeToString(h.Sum(nil))})
		}
	}
	return out
}

func (c *pieceConsumer) finish() []Piece {
	if c.filled > 0 {
		c.flush()
	}
	return c.out
}

type sinkConsumer struct {
	s       Sink
	name    string
	e       *engine
	n       int64 // bytes Write accepted
	err     error
	synced  int64 // bytes at the last Sync
	last    time.Time
	durable atomic.Int64
}

func (c *sinkConsumer) consume(b *buffer) error {
	if b.prefix {
		return nil // on the target already
	}
	k, err := c.s.Write(b.data)
	c.n += int64(k)
	if err != nil {
		c.err = fmt.Errorf("write image of %s at byte %d: %w", c.name, b.off+int64(k), err)
		return c.err
	}
	return c.sync()
}

// sync makes the image durable every SyncEvery bytes or SyncInterval and
// reports the checkpoint every sink has reached.
func (c *sinkConsumer) sync() error {
	o := c.e.o
	sy, ok := c.s.(Syncer)
	if !ok || o.Checkpoint == nil {
		return nil
	}
	lag, lagging := c.s.(LaggingSyncer)
	if lagging {
		// A checkpoint once the pieces reach what became durable, so that
		// it vouches for every byte a resume keeps.
		if d := lag.Durable(); d > c.durable.Load() && c.e.piecesTo(d) {
			c.durable.Store(d)
			if err := c.e.checkpoint(); err != nil {
				return err
			}
		}
	}
	if c.n-c.synced < o.SyncEvery && time.Since(c.last) < o.SyncInterval {
		return nil
	}
	if lagging && !c.e.pieceBoundary(c.n) && time.Since(c.last) < 2*o.SyncInterval {
		return nil // a sink durable at its own boundaries: one a resume can go on from
	}
	if err := sy.Sync(); err != nil {
		c.err = fmt.Errorf("make the image of %s durable at byte %d: %w", c.name, c.n, err)
		return c.err
	}
	c.synced, c.last = c.n, time.Now()
	if lagging {
		return nil // the checkpoint comes once the sink says it is durable
	}
	c.durable.Store(c.n)
	return c.e.checkpoint()
}

// piecesTo says whether the piece hashes have reached byte n (true without
// piece hashing).
func (e *engine) piecesTo(n int64) bool {
	return e.pieces == nil || e.pieces.doneTo.Load() >= n
}

// pieceBoundary says whether byte n ends a piece (true without pieces).
func (e *engine) pieceBoundary(n int64) bool {
	return e.pieces == nil || n%e.o.PieceSize == 0
}

// checkpoint calls Options.Checkpoint when every sink has made more of the
// stream durable than the last checkpoint said.
func (e *engine) checkpoint() error {
	e.cpMu.Lock()
	defer e.cpMu.Unlock()
	n := int64(-1)
	for _, sc := range e.sinks {
		if _, ok := sc.s.(Syncer); !ok {
			return nil
		}
		if d := sc.durable.Load(); n < 0 || d < n {
			n = d
		}
	}
	if n <= e.cpBytes {
		return nil
	}
	e.cpBytes = n
	return e.o.Checkpoint(e.checkpointAt(n))
}

// checkpointAt is the checkpoint for n durable stream bytes: the map
// before them and the pieces that end by them — but none from the first
// area set aside for the rescue on, whose bytes the rescue may still
// write: a resume goes on from there.
func (e *engine) checkpointAt(n int64) Checkpoint {
	var bad []BadRange
	e.badMu.Lock()
	for _, r := range e.bad {
		if r.LBA*int64(e.o.SectorSize) < n {
			bad = append(bad, r)
		}
	}
	e.badMu.Unlock()
	limit := n
	if s := e.snapAt.Load(); s >= 0 && s < limit {
		limit = s
	}
	var pieces []Piece
	var states *HashStates
	if e.pieces != nil {
		end := int64(0)
		for _, p := range e.pieces.done() {
			if p.Offset+p.Length <= limit {
				pieces = append(pieces, p)
				end = p.Offset + p.Length
			}
		}
		if e.states != nil {
			states = e.states.latest(end)
		}
	}
	return Checkpoint{Bytes: n, Unreadable: bad, Pieces: pieces, Time: time.Now(), States: states, CopyPass: e.copyPass}
}

// consumerName says which consumer of a pass crashed.
func consumerName(c consumer, source string) string {
	switch c := c.(type) {
	case *hashConsumer:
		return c.alg + " hasher of " + source
	case *pieceConsumer:
		return "piecewise hasher of " + source
	case *sinkConsumer:
		return "image writer of " + source
	}
	return "consumer of " + source
}
