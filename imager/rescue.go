package imager

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"sort"
	"sync"
	"time"
)

// Where the rescue left a range of the map (BadRange.State). A range with
// no state failed every read, retries included.
const (
	StateNonTried   = "non-tried"   // skipped by the copy pass, not read yet
	StateNonTrimmed = "non-trimmed" // a read of it failed; its edges not yet trimmed
	StateNonScraped = "non-scraped" // between trimmed edges, not yet read sector by sector
)

// Rescue passes (Event.Pass, RescueReport.Passes), in the order they run.
const (
	PassCopy   = "copy"      // the stream itself: skips ahead past failing or slow reads
	PassSkip   = "copy-back" // reads what the copy pass skipped, backwards, in buffer-sized blocks
	PassTrim   = "trim"      // reads the edges of each failed block up to its first bad sector
	PassScrape = "scrape"    // reads what lies between trimmed edges up to each bad sector, smallest areas first
	PassRetry  = "retry"     // re-reads each bad sector, Options.Retries times
	PassRehash = "rehash"    // re-hashes the image from the first rescued area on
)

// DefaultSlowRead is the read time past which the copy pass treats a
// buffer as failing (keeping what it read) and skips ahead.
const DefaultSlowRead = 5 * time.Second

// Patcher is a Sink that can rewrite bytes it already took and read them
// back: a raw image. When every sink is one, a pass does what GNU ddrescue
// does — it copies first, skipping past failing and slow areas so the
// good data is safe before a failing drive gets worse, then trims, scrapes
// and retries what it skipped, writing what it recovers into place — and
// re-hashes the image from the first rescued area on. Otherwise (E01) a
// failing read is narrowed down in the stream.
type Patcher interface {
	Sink
	io.ReaderAt
	io.WriterAt
}

// RescueSettings are the examiner's bounds on the rescue of unreadable
// areas (--retries, --rescue-time, --slow-read).
type RescueSettings struct {
	Retries  int           // re-reads of a bad sector: DefaultRetries when 0, none when < 0
	Time     time.Duration // bound on the rescue after the copy pass; 0: none
	SlowRead time.Duration // DefaultSlowRead when 0, never when < 0
	// DeviceTimeout is the source disk's command timeout for the
	// acquisition (disk.LowerTimeout): disk.DefaultCommandTimeout when
	// 0, left alone when < 0. Not an engine option.
	DeviceTimeout time.Duration
}

// ZeroOff turns a rescue setting as the examiner gives it (flag, kernel
// command line), where 0 means none or never, into RescueSettings' form,
// where 0 means the default and a negative value none.
func ZeroOff[T int | time.Duration](v T) T {
	if v == 0 {
		return -1
	}
	return v
}

// Apply sets the engine's options from s.
func (s RescueSettings) Apply(o *Options) {
	o.Retries, o.RescueTime, o.SlowRead = s.Retries, s.Time, s.SlowRead
}

// RescueReport is what the rescue passes did (Result.Rescue).
type RescueReport struct {
	Passes []PassReport `json:"passes"`
	// TimeLimitSec is Options.RescueTime (0: none); Stopped says the
	// limit ended the rescue with areas left unread (their state says
	// how far each got).
	TimeLimitSec float64 `json:"time_limit_sec,omitempty"`
	Stopped      bool    `json:"stopped_by_time_limit,omitempty"`
	Retries      int     `json:"retries"`
	SlowReadSec  float64 `json:"slow_read_sec,omitempty"`
	// RehashFrom is where the hashes were re-made from the image on the
	// target after rescued bytes were written into it (-1: not needed).
	RehashFrom int64 `json:"rehash_from_byte"`
}

// PassReport is one pass of the rescue.
type PassReport struct {
	Pass      string  `json:"pass"`
	Seconds   float64 `json:"seconds"`
	Reads     int64   `json:"reads"`
	Failed    int64   `json:"failed_reads"`
	Recovered int64   `json:"recovered_bytes"`
	// Left is the bytes of the map not read when the pass ended.
	Left int64 `json:"left_bytes"`
}

// deferredRescue reports whether the pass can rescue after copying: an
// acquisition whose every sink can rewrite what it took.
func (o *Options) deferredRescue() bool {
	if o.Compare != nil || len(o.Sinks) == 0 || o.Phase != PhaseAcquire {
		return false
	}
	for _, s := range o.Sinks {
		if _, ok := s.(Patcher); !ok {
			return false
		}
	}
	return true
}

// maxSkip bounds how far the copy pass skips ahead after repeated trouble:
// 1 GiB, or 1 % of a larger source.
func (e *engine) maxSkip() int64 {
	m := max(int64(1<<30), e.o.Size/100)
	return m / int64(e.o.BufferSize) * int64(e.o.BufferSize)
}

// skipAfter sets the copy pass to go on past end plus a step that grows
// with each consecutive failing or slow read (none after the first).
func (e *engine) skipAfter(end int64, why string) {
	e.skipTo, e.skipWhy = end+e.skipStep, why
	if e.skipStep == 0 {
		e.skipStep = int64(e.o.BufferSize)
	} else {
		e.skipStep = min(2*e.skipStep, e.maxSkip())
	}
}

// budgetLeft says whether the in-stream rescue may still narrow a failing
// read down (Options.RescueTime bounds the time it spends).
func (e *engine) budgetLeft() bool {
	return e.o.RescueTime <= 0 || e.spent < e.o.RescueTime
}

// readSource fills b from the source in the copy pass. A failing read
// (or, when rescuing later, a slow one) makes the pass skip ahead; what it
// could not read is zero-filled and set aside in the map.
func (e *engine) readSource(b *buffer) error {
	p, off, src := b.data, b.off, e.o.Source
	if e.deferred && off < e.smallUntil {
		return e.readClusters(b)
	}
	t := time.Now()
	n, err := src.ReadAt(p, off)
	took := time.Since(t)
	e.copyReads++
	if err == nil || (n == len(p) && errors.Is(err, io.EOF)) {
		if e.deferred && e.o.SlowRead > 0 && took > e.o.SlowRead {
			e.skipAfter(off+int64(len(p)), fmt.Sprintf("skipped after a slow read (%.1f s for %d bytes at byte %d)", took.Seconds(), len(p), off))
		} else {
			e.skipStep = 0
		}
		return nil
	}
	if err := e.fatalRead(off, n, err, src); err != nil {
		return err
	}
	if !e.deferred && e.budgetLeft() {
		start := time.Now()
		err = e.rescue(p, off, err)
		e.spent += time.Since(start)
		e.flushEvents(false)
		return err
	}
	e.copyFailed++
	clear(p)
	e.setAside(b, off, int64(len(p)), StateNonTrimmed, errText(err))
	e.skipAfter(off+int64(len(p)), "skipped after a read error: "+errText(err))
	e.smallUntil = e.skipTo + smallSpan
	return nil
}

// smallSpan is how far past trouble the copy pass reads in clusters.
const smallSpan = 32 << 20

// readClusters fills b near trouble: cluster by cluster (rescueCluster),
// as GNU ddrescue copies. A failing cluster is set aside for trimming and
// the rest of the buffer, skipped, for the copy-back; a large read that
// fails costs the drive's timeout for each request the kernel splits it
// into, and leaves megabytes to trim instead of one cluster.
func (e *engine) readClusters(b *buffer) error {
	p, off, src := b.data, b.off, e.precise
	c := rescueCluster(e.o.SectorSize)
	for o := int64(0); o < int64(len(p)); o += c {
		q := p[o:min(o+c, int64(len(p)))]
		t := time.Now()
		n, err := src.ReadAt(q, off+o)
		took := time.Since(t)
		e.copyReads++
		if err == nil || (n == len(q) && errors.Is(err, io.EOF)) {
			if e.o.SlowRead > 0 && took > e.o.SlowRead {
				end := off + o + int64(len(q))
				why := fmt.Sprintf("skipped after a slow read (%.1f s for %d bytes at byte %d)", took.Seconds(), len(q), off+o)
				if rest := int64(len(p)) - (o + int64(len(q))); rest > 0 {
					clear(p[o+int64(len(q)):])
					e.setAside(b, end, rest, StateNonTried, why)
				}
				e.skipAfter(off+int64(len(p)), why)
				e.smallUntil = e.skipTo + smallSpan
				return nil
			}
			continue
		}
		if err := e.fatalRead(off+o, n, err, e.o.Source); err != nil {
			return err
		}
		e.copyFailed++
		clear(p[o:])
		e.setAside(b, off+o, int64(len(q)), StateNonTrimmed, errText(err))
		if rest := int64(len(p)) - (o + int64(len(q))); rest > 0 {
			e.setAside(b, off+o+int64(len(q)), rest, StateNonTried, "skipped after a read error: "+errText(err))
		}
		e.skipAfter(off+int64(len(p)), "skipped after a read error: "+errText(err))
		e.smallUntil = e.skipTo + smallSpan
		return nil
	}
	e.skipStep = 0 // a whole buffer read cleanly
	return nil
}

// fatalRead turns a read failure that no rescue can help into the error
// that stops the pass: cancelled, the device gone, the source shorter
// than recorded. Anything else is a bad area: nil.
func (e *engine) fatalRead(off int64, n int, err error, src io.ReaderAt) error {
	if cerr := context.Cause(e.ctx); cerr != nil {
		return cerr
	}
	if gone(err) {
		return e.vanished(off, err)
	}
	if why := absent(src); why != nil {
		return e.vanished(off+int64(n), why) // a removed disk reads as empty, or fails with EIO
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s ended at byte %d, short of its recorded size %d: %w", e.o.Name, off+int64(n), e.o.Size, err)
	}
	return nil
}

// setAside records bytes [off, off+n) of the stream as zero-filled in
// state, to be rescued later; the first buffer that holds such bytes is
// where the hashers keep their state for the re-hash.
func (e *engine) setAside(b *buffer, off, n int64, state, why string) {
	ss := int64(e.o.SectorSize)
	r := BadRange{LBA: off / ss, Count: (n + ss - 1) / ss, Error: why, State: state}
	e.badMu.Lock()
	e.bad = mergeBad(e.bad, r)
	e.pendingRetry = mergeBad(e.pendingRetry, r)
	e.badMu.Unlock()
	if e.deferred && e.snapAt.Load() < 0 {
		b.snap = true
		e.snapAt.Store(off)
	}
	e.flushEvents(false)
}

// flushEvents emits the ranges set aside and given up on since the last
// time — merged, and at most once a second unless forced, so a failing
// drive is a few lines on a serial console, not one per sector.
func (e *engine) flushEvents(force bool) {
	e.badMu.Lock()
	if !force && time.Since(e.lastEvents) < time.Second {
		e.badMu.Unlock()
		return
	}
	retry, bad := e.pendingRetry, e.pendingBad
	e.pendingRetry, e.pendingBad = nil, nil
	e.lastEvents = time.Now()
	e.badMu.Unlock()
	ss := int64(e.o.SectorSize)
	for _, r := range retry {
		r := r
		e.o.Emit.emit(Event{Kind: EventRetry, Phase: e.o.Phase, Source: e.o.Name, Bytes: r.LBA * ss, Total: e.o.Size, Bad: &r})
	}
	for _, r := range bad {
		r := r
		e.o.Emit.emit(Event{Kind: EventUnreadable, Phase: e.o.Phase, Source: e.o.Name, Bytes: r.LBA * ss, Total: e.o.Size, Bad: &r})
	}
}

// NotRead are the ranges of a rescue map not read yet (a state set).
func NotRead(m []BadRange) []BadRange {
	var out []BadRange
	for _, r := range m {
		if r.State != "" {
			out = append(out, r)
		}
	}
	return out
}

// putRange records [r.LBA, r.LBA+r.Count) in the map m (sorted, not
// overlapping) as r says, or, with keep false, removes it (read at last).
func putRange(m []BadRange, r BadRange, keep bool) []BadRange {
	end := r.LBA + r.Count
	out := make([]BadRange, 0, len(m)+2)
	done := !keep
	for _, x := range m {
		xe := x.LBA + x.Count
		if xe <= r.LBA || x.LBA >= end {
			if !done && x.LBA >= end {
				out, done = mergeBad(out, r), true
			}
			out = mergeBad(out, x)
			continue
		}
		if x.LBA < r.LBA {
			h := x
			h.Count = r.LBA - x.LBA
			out = mergeBad(out, h)
		}
		if !done {
			out, done = mergeBad(out, r), true
		}
		if xe > end {
			t := x
			t.LBA, t.Count = end, xe-end
			out = mergeBad(out, t)
		}
	}
	if !done {
		out = mergeBad(out, r)
	}
	return out
}

// compactMap merges neighbouring ranges of the same error and state, the
// failed reads not yet trimmed too: the map as the record shows it.
func compactMap(m []BadRange) []BadRange {
	var out []BadRange
	for _, r := range m {
		out = AppendRange(out, r)
	}
	return out
}

func (e *engine) mark(r BadRange, keep bool) {
	e.badMu.Lock()
	defer e.badMu.Unlock()
	e.bad = putRange(e.bad, r, keep)
	if keep && r.State == "" {
		e.pendingBad = putRange(e.pendingBad, r, true) // in place: the scrape's rounds mark an area's sectors between others'
	}
}

// inState lists the map's ranges in state.
func (e *engine) inState(state string) []BadRange {
	e.badMu.Lock()
	defer e.badMu.Unlock()
	var out []BadRange
	for _, r := range e.bad {
		if r.State == state {
			out = append(out, r)
		}
	}
	return out
}

// unread is the bytes of the map not read (every state but bad).
func (e *engine) unread() int64 {
	e.badMu.Lock()
	defer e.badMu.Unlock()
	var n int64
	for _, r := range e.bad {
		if r.State != "" {
			n += r.Count
		}
	}
	return n * int64(e.o.SectorSize)
}

// rescuer runs the passes after the copy pass.
type rescuer struct {
	e         *engine
	deadline  time.Time
	pass      *PassReport
	lastSync  time.Time
	recovered int64
}

var errTimeUp = errors.New("rescue time limit reached")

// rescuePasses works through what the copy pass set aside, in the order
// of GNU ddrescue, bounded by Options.RescueTime: what is left when it
// runs out stays in the map, zero-filled, in the state it reached.
// Recovered bytes are written into every sink in place; every SyncInterval
// the sinks are synced and a checkpoint records the map.
func (e *engine) rescuePasses() (int64, error) {
	rep := &RescueReport{Retries: e.o.Retries, TimeLimitSec: e.o.RescueTime.Seconds(), SlowReadSec: e.o.SlowRead.Seconds(), RehashFrom: -1,
		Passes: []PassReport{{Pass: PassCopy, Seconds: time.Since(e.copyStart).Seconds(), Reads: e.copyReads, Failed: e.copyFailed, Left: e.unread()}}}
	e.report = rep
	r := &rescuer{e: e, lastSync: time.Now()}
	if e.o.RescueTime > 0 {
		r.deadline = time.Now().Add(e.o.RescueTime)
	}
	e.rescueAll.Store(e.unread())
	e.rescuing.Store(true)
	defer e.rescuing.Store(false)
	if e.pieces != nil {
		e.badMu.Lock()
		holes := NotRead(e.bad)
		e.badMu.Unlock()
		e.copyPass = &CopyPass{Pieces: e.pieces.withPartial(), Holes: holes}
	}
	if err := r.checkpoint(true); err != nil {
		return 0, err
	}
	passes := []struct {
		name  string
		state string
		each  func(BadRange) error
		times int
	}{
		{PassSkip, StateNonTried, r.copyBack, 1},
		{PassTrim, StateNonTrimmed, r.trim, 1},
		{PassScrape, StateNonScraped, r.scrape, 1},
		{PassRetry, "", r.retry, e.o.Retries},
	}
	for _, p := range passes {
		for t := 0; t < p.times; t++ {
			todo := e.inState(p.state)
			if p.name == PassScrape {
				todo = r.scrapeOrder(todo)
			}
			if len(todo) == 0 {
				break
			}
			err := r.run(p.name, todo, p.each)
			if errors.Is(err, errTimeUp) {
				left := e.unread()
				rep.Stopped = left > 0
				e.o.Emit.emit(Event{Kind: EventRescue, Phase: e.o.Phase, Source: e.o.Name, Pass: p.name, Bytes: left, Total: e.o.Size,
					Err: fmt.Errorf("%w after %s: %d bytes not read stay zero-filled", errTimeUp, e.o.RescueTime, left)})
				return r.recovered, r.checkpoint(true)
			}
			if err != nil {
				return r.recovered, err
			}
		}
	}
	return r.recovered, r.checkpoint(true)
}

// run is one pass over todo.
func (r *rescuer) run(name string, todo []BadRange, each func(BadRange) error) error {
	e := r.e
	r.pass = &PassReport{Pass: name}
	e.report.Passes = append(e.report.Passes, *r.pass)
	start := time.Now()
	e.o.Emit.emit(Event{Kind: EventRescue, Phase: e.o.Phase, Source: e.o.Name, Pass: name, Bytes: e.unread(), Total: e.o.Size})
	var err error
	for {
		for _, br := range todo {
			if err = each(br); err != nil {
				break
			}
			if err = r.checkpoint(false); err != nil {
				break
			}
		}
		if err != nil || name != PassScrape {
			break
		}
		// The scrape goes round the areas left until none is (each round
		// reads or marks bad at least a sector of each).
		if todo = r.scrapeOrder(e.inState(StateNonScraped)); len(todo) == 0 {
			break
		}
	}
	r.pass.Seconds = time.Since(start).Seconds()
	r.pass.Left = e.unread()
	e.report.Passes[len(e.report.Passes)-1] = *r.pass
	e.flushEvents(true)
	if err == nil {
		e.o.Emit.emit(Event{Kind: EventRescue, Phase: e.o.Phase, Source: e.o.Name, Pass: name, Bytes: r.pass.Left, Total: e.o.Size, Done: true})
	}
	return err
}

// read reads n bytes at off (sector-aligned) through the aligned scratch
// buffer: ok says it read; err is what stops the rescue (time up, the
// device gone, cancelled).
func (r *rescuer) read(off, n int64) (data []byte, ok bool, why string, err error) {
	e := r.e
	if cerr := context.Cause(e.ctx); cerr != nil {
		return nil, false, "", cerr
	}
	if !r.deadline.IsZero() && time.Now().After(r.deadline) {
		return nil, false, "", errTimeUp
	}
	e.flushEvents(false) // what the last reads found, at most once a second
	q := e.scratchBuf()[:n]
	k, rerr := e.precise.ReadAt(q, off)
	r.pass.Reads++
	if rerr == nil || (k == len(q) && errors.Is(rerr, io.EOF)) {
		return q, true, "", nil
	}
	r.pass.Failed++
	if ferr := e.fatalRead(off, k, rerr, e.o.Source); ferr != nil {
		return nil, false, "", ferr
	}
	return nil, false, errText(rerr), nil
}

// recover writes bytes read at last into every sink and takes them off the map.
func (r *rescuer) recover(data []byte, off int64) error {
	e := r.e
	for _, s := range e.o.Sinks {
		if _, err := s.(Patcher).WriteAt(data, off); err != nil {
			return fmt.Errorf("write the bytes rescued at byte %d of %s into the image: %w", off, e.o.Name, err)
		}
	}
	ss := int64(e.o.SectorSize)
	e.mark(BadRange{LBA: off / ss, Count: int64(len(data)) / ss}, false)
	r.recovered += int64(len(data))
	r.pass.Recovered += int64(len(data))
	return nil
}

// copyBack reads a skipped range backwards in clusters (rescueCluster). A
// cluster that fails alone (good ones on both sides) is left for
// trimming. Two failing clusters in a row mean a bad region: what is left
// of the range, from its start to the end of the first of them, is left
// for trimming as one block (its good edges trimmed, its inside scraped
// last, as one large area) instead of costing a failed read per cluster,
// or leaving cluster-sized areas of bad sectors that the scrape, smallest
// first, would take before the good data between two bad sectors.
func (r *rescuer) copyBack(br BadRange) error {
	ss := int64(r.e.o.SectorSize)
	lo, pos := br.LBA*ss, (br.LBA+br.Count)*ss
	block := rescueCluster(r.e.o.SectorSize)
	failedEnd, failedWhy := int64(-1), "" // the end of a failing cluster not yet followed by a good one
	for pos > lo {
		start := max(lo, pos-block)
		data, ok, why, err := r.read(start, pos-start)
		if err != nil {
			return err
		}
		if ok {
			if failedEnd >= 0 { // the failing cluster above this one stood alone
				r.e.mark(BadRange{LBA: pos / ss, Count: (failedEnd - pos) / ss, Error: failedWhy, State: StateNonTrimmed}, true)
				failedEnd = -1
			}
			if err := r.recover(data, start); err != nil {
				return err
			}
			pos = start
			continue
		}
		if failedEnd >= 0 {
			r.e.mark(BadRange{LBA: lo / ss, Count: (failedEnd - lo) / ss, Error: why, State: StateNonTrimmed}, true)
			return nil
		}
		failedEnd, failedWhy = pos, why
		pos = start
	}
	if failedEnd >= 0 { // the range's first cluster failed
		r.e.mark(BadRange{LBA: lo / ss, Count: (failedEnd - lo) / ss, Error: failedWhy, State: StateNonTrimmed}, true)
	}
	return nil
}

// trimMax is the largest read (in sectors) trimming grows to before a
// failure makes it go sector by sector.
const trimMax = 64

// trim reads a failed block from its leading edge forward and from its
// trailing edge backward, each up to its first bad sector; what lies
// between is left for scraping. A block of a cluster or two is trimmed a
// sector at a time, as GNU ddrescue trims: one failed read per edge; a
// larger one with growing reads (a failed one, then sector by sector
// within it: two per edge, but few reads across megabytes).
func (r *rescuer) trim(br BadRange) error {
	lo, hi := br.LBA, br.LBA+br.Count
	grow := int64(trimMax)
	if br.Count*int64(r.e.o.SectorSize) <= 2*rescueCluster(r.e.o.SectorSize) {
		grow = 1
	}
	lo, stopped, err := r.edge(lo, hi, 1, grow)
	if err != nil || !stopped {
		return err
	}
	hi, _, err = r.edge(hi, lo, -1, grow)
	if err != nil {
		return err
	}
	if hi > lo {
		r.e.mark(BadRange{LBA: lo, Count: hi - lo, Error: br.Error, State: StateNonScraped}, true)
	}
	return nil
}

// edge reads sectors from `from` towards `to` (dir +1: forward, -1:
// backward, to exclusive), growing each read up to grow sectors while they
// succeed; after a
// failed read it goes sector by sector until one fails, which is marked
// bad. It returns where it stopped (the first unread sector past the bad
// one, in its direction) and whether a bad sector stopped it.
func (r *rescuer) edge(from, to, dir, grow int64) (int64, bool, error) {
	ss := int64(r.e.o.SectorSize)
	pos, size := from, int64(1)
	for (dir > 0 && pos < to) || (dir < 0 && pos > to) {
		n := min(size, (to-pos)*dir)
		first := pos
		if dir < 0 {
			first = pos - n
		}
		data, ok, why, err := r.read(first*ss, n*ss)
		if err != nil {
			return pos, false, err
		}
		if ok {
			if err := r.recover(data, first*ss); err != nil {
				return pos, false, err
			}
			pos += n * dir
			size = min(2*size, grow)
			continue
		}
		if n == 1 {
			r.e.mark(BadRange{LBA: first, Count: 1, Error: why}, true)
			return pos + dir, true, nil
		}
		// The bad sector is within these n: one at a time now.
		for i := int64(0); i < n; i++ {
			s := pos + i*dir
			if dir < 0 {
				s = pos - 1 - i
			}
			data, ok, why, err := r.read(s*ss, ss)
			if err != nil {
				return s, false, err
			}
			if !ok {
				r.e.mark(BadRange{LBA: s, Count: 1, Error: why}, true)
				if dir < 0 {
					return s, true, nil
				}
				return s + 1, true, nil
			}
			if err := r.recover(data, s*ss); err != nil {
				return s, false, err
			}
		}
		pos += n * dir // every sector read one by one: the failure did not repeat
		size = 1
	}
	return pos, false, nil
}

// scrapeFailures is how many failed reads one area may cost per round of
// the scrape before the next area's turn.
const scrapeFailures = 2

// scrape reads a range forward up to each bad sector in turn, the reads
// growing while they succeed (as trim's edges do): a run of bad sectors
// costs one failed read each, good sectors between bad ones few reads.
// After scrapeFailures failed reads the area waits for the next round
// (what is left of it stays non-scraped in the map): an area of bad
// sectors does not hold up the good data of the others.
func (r *rescuer) scrape(br BadRange) error {
	failed := 0
	for pos, end := br.LBA, br.LBA+br.Count; pos < end && failed < scrapeFailures; failed++ {
		next, stopped, err := r.edge(pos, end, 1, trimMax)
		if err != nil || !stopped {
			return err
		}
		pos = next
	}
	return nil
}

// scrapeOrder is the order of a scrape round: smallest first (a small area
// between two bad sectors of one failed block is mostly good and quick to
// read; a large one is most likely a bad region), each area for a few
// failed reads at a time (scrape).
func (r *rescuer) scrapeOrder(todo []BadRange) []BadRange {
	sort.SliceStable(todo, func(i, j int) bool { return todo[i].Count < todo[j].Count })
	return todo
}

// retry reads each bad sector of the range once more.
func (r *rescuer) retry(br BadRange) error {
	ss := int64(r.e.o.SectorSize)
	for s := br.LBA; s < br.LBA+br.Count; s++ {
		data, ok, _, err := r.read(s*ss, ss)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := r.recover(data, s*ss); err != nil {
			return err
		}
	}
	return nil
}

// checkpoint makes the rescued bytes durable and records the map, at most
// every SyncInterval unless forced.
func (r *rescuer) checkpoint(force bool) error {
	e := r.e
	if !force && time.Since(r.lastSync) < e.o.SyncInterval {
		return nil
	}
	r.lastSync = time.Now()
	if e.o.Checkpoint == nil {
		return nil
	}
	for _, s := range e.o.Sinks {
		sy, ok := s.(Syncer)
		if !ok {
			return nil
		}
		if err := sy.Sync(); err != nil {
			return fmt.Errorf("make the image of %s durable during its rescue: %w", e.o.Name, err)
		}
	}
	e.cpMu.Lock()
	defer e.cpMu.Unlock()
	e.cpBytes = e.o.Size
	return e.o.Checkpoint(e.checkpointAt(e.o.Size))
}

// rehash re-makes every hash from the image on the target, from the
// buffer where the hashers kept their state (the first area the copy pass
// set aside) on: the image there now holds the rescued bytes, which the
// hashes made during the copy pass saw as zeros.
func (e *engine) rehash(hcs []*hashConsumer, pcs []*pieceConsumer) error {
	from := e.snapAt.Load()
	e.report.RehashFrom = from
	start := time.Now()
	e.o.Emit.emit(Event{Kind: EventRescue, Phase: e.o.Phase, Source: e.o.Name, Pass: PassRehash, Bytes: e.o.Size - from, Total: e.o.Size})
	var cons []consumer
	for _, hc := range hcs {
		if err := hc.restore(); err != nil {
			return err
		}
		cons = append(cons, hc)
	}
	for _, pc := range pcs {
		if pc != nil {
			if err := pc.restore(); err != nil {
				return err
			}
			cons = append(cons, pc)
		}
	}
	img := e.o.Sinks[0].(Patcher)
	e.rescueAll.Store(e.o.Size - from)
	e.rehashLeft.Store(e.o.Size - from)
	e.rescuing.Store(true)
	defer e.rescuing.Store(false)
	for off := from; off < e.o.Size; {
		if cerr := context.Cause(e.ctx); cerr != nil {
			return cerr
		}
		n := min(int64(e.o.BufferSize), e.o.Size-off)
		p := e.scratchBuf()[:n] // the rescue is over: the scratch buffer is free
		if _, err := img.ReadAt(p, off); err != nil {
			return fmt.Errorf("read the rescued image of %s back at byte %d to hash it: %w", e.o.Name, off, err)
		}
		b := &buffer{data: p, off: off, same: true}
		var wg sync.WaitGroup
		for _, c := range cons {
			wg.Add(1)
			go func(c consumer) {
				defer wg.Done()
				c.consume(b)
			}(c)
		}
		wg.Wait()
		off += n
		e.rehashLeft.Store(e.o.Size - off)
	}
	e.report.Passes = append(e.report.Passes, PassReport{Pass: PassRehash, Seconds: time.Since(start).Seconds(), Reads: (e.o.Size - from + int64(e.o.BufferSize) - 1) / int64(e.o.BufferSize), Left: e.unread()})
	return nil
}

// save and restore keep a hasher's state at the buffer flagged snap.
func (c *hashConsumer) save() {
	c.snap, c.snapErr = c.hashers.cloneHash(c.alg, c.h)
}

func (c *hashConsumer) restore() error {
	if c.snapErr != nil {
		return fmt.Errorf("re-hash the rescued image: %w", c.snapErr)
	}
	if c.snap == nil {
		return fmt.Errorf("re-hash the rescued image: no %s state was kept", c.alg)
	}
	c.h = c.snap
	return nil
}

type pieceSnap struct {
	n       int
	start   int64
	filled  int64
	cur     []hash.Hash
	saveErr error
}

func (c *pieceConsumer) save() {
	s := &pieceSnap{start: c.start, filled: c.filled}
	c.mu.Lock()
	s.n = len(c.out)
	c.mu.Unlock()
	for i, h := range c.cur {
		h2, err := c.hashers.cloneHash(c.algs[i], h)
		if err != nil {
			s.saveErr = err
		}
		s.cur = append(s.cur, h2)
	}
	c.snap = s
}

func (c *pieceConsumer) restore() error {
	s := c.snap
	if s == nil {
		return errors.New("re-hash the rescued image: no piece state was kept")
	}
	if s.saveErr != nil {
		return fmt.Errorf("re-hash the rescued image: %w", s.saveErr)
	}
	c.mu.Lock()
	c.out = c.out[:s.n]
	c.mu.Unlock()
	c.start, c.filled, c.cur = s.start, s.filled, s.cur
	return nil
}

// rescueCluster is the read size of the copy-back: GNU ddrescue's default
// cluster (64 KiB), at least a sector. A failing read costs the drive's
// timeout however long it is, and the kernel splits a large one into
// requests that fail one by one: small reads around trouble cost less.
func rescueCluster(sector int) int64 {
	return max(64<<10, int64(sector))
}
