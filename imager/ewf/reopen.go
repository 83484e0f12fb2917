package ewf

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/coldimage/coldimage/imager"
)

// setScan is what a segment set on the target holds, as a resume sees it:
// the segments that parse (in order, up to the first that does not end with
// a next section) and every file of the set after them.
type setScan struct {
	segs []scannedSeg
	rest []string // later segment files: never made durable, or after a gap
}

type scannedSeg struct {
	path string
	seg  *segment
}

// scanSet reads the segment set dir/base.E01… (upper-case extensions, as
// Create names them), tolerating a last segment cut short.
func scanSet(dir, base string) (*setScan, error) {
	sc := &setScan{}
	open := true
	files, err := segmentFiles(dir, base)
	if err != nil {
		return nil, err
	}
	for i, p := range files {
		if !open {
			sc.rest = append(sc.rest, p)
			continue
		}
		s, err := parseSegmentFile(p)
		if errors.Is(err, errUnreadableHeader) {
			// A segment whose header never reached the disk: the set ends before it.
			open = false
			sc.rest = append(sc.rest, p)
			continue
		}
		if err != nil {
			return nil, err
		}
		if int(s.number) != i+1 {
			return nil, fmt.Errorf("ewf: %s: file header says segment %d, its name says %d", p, s.number, i+1)
		}
		sc.segs = append(sc.segs, scannedSeg{path: p, seg: s})
		open = s.last == "next"
	}
	return sc, nil
}

// errUnreadableHeader: a segment file that does not parse as one.
var errUnreadableHeader = errors.New("not a segment")

// parseSegmentFile parses one segment file as a partial set's.
func parseSegmentFile(p string) (*segment, error) {
	f, size, err := imager.OpenImageFile(p)
	if err != nil {
		return nil, fmt.Errorf("ewf: %w", err)
	}
	defer f.Close()
	s, err := parseSegmentMode(f, size, p, true)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUnreadableHeader, err)
	}
	return s, nil
}

// boundary is one closed chunk group: where a resumed set can go on.
type boundary struct {
	seg    int   // index in setScan.segs
	groups int   // groups of that segment up to and including this one
	chunks int64 // chunks of the set up to the end of this group
	after  int64 // end of its table2 section in the segment file
}

// boundaries lists the closed groups (table and table2 both written) in
// order; a group without its table2 copy ends the list.
func (sc *setScan) boundaries() []boundary {
	var out []boundary
	var chunks int64
	for i, s := range sc.segs {
		for j, t := range s.seg.tables {
			if t.mirrorOff < 0 {
				return out
			}
			chunks += int64(t.n)
			out = append(out, boundary{seg: i, groups: j + 1, chunks: chunks, after: t.after})
		}
	}
	return out
}

// ResumePoint is the last point at or before upTo media bytes where the
// set dir/base.E01… can go on (Reopen): the end of a chunk group closed
// with both its tables — in an object store, the end of a stored segment.
// 0 when there is none.
func ResumePoint(dir, base string, upTo int64) (int64, error) {
	sc, err := scanSet(dir, base)
	if err != nil {
		return 0, err
	}
	remote, _ := imager.RemoteOf(dir)
	var at int64
	for _, b := range sc.boundaries() {
		if remote != nil && !sc.segmentEnd(b) {
			continue // a stored segment is not cut back: only its end counts
		}
		if n := b.chunks * ChunkSize; n <= upTo {
			at = n
		}
	}
	return at, nil
}

// boundaryAt is the closed chunk group that ends at media byte at (set
// names the set for the error).
func (sc *setScan) boundaryAt(at int64, set string) (*boundary, error) {
	for _, x := range sc.boundaries() {
		if x.chunks*ChunkSize == at {
			return &x, nil
		}
	}
	return nil, fmt.Errorf("ewf: %s: no closed chunk group ends at media byte %d: the set cannot go on from there", set, at)
}

// takeVolume gives o the set's identifier and volume section, which must
// be those of the image o's writer continues (its options).
func (sc *setScan) takeVolume(o *output) error {
	first := sc.segs[0].seg.vol
	if first == nil {
		return fmt.Errorf("ewf: %s: no volume section", sc.segs[0].path)
	}
	o.setID = first.SetID // the volume section carries it
	if want := o.volumeFor(o.w.opt.MediaSize); *first != want {
		return fmt.Errorf("ewf: %s: its volume section (%d sectors of %d bytes, compression %d) is not that of the image to continue (%d sectors of %d bytes, compression %d)",
			sc.segs[0].path, first.Sectors, first.BytesPerSector, first.CompressionLevel, want.Sectors, want.BytesPerSector, want.CompressionLevel)
	}
	o.vol = *first
	return nil
}

// segmentEnd says whether b is the last group of a segment that closed
// with a next section.
func (sc *setScan) segmentEnd(b boundary) bool {
	s := sc.segs[b.seg]
	return b.groups == len(s.seg.tables) && s.seg.last == "next"
}

// Reopen continues the segment set dir/base.E01… that a run left after a
// crash, a power cut or Abort, from media byte at: a point ResumePoint
// gave. opt must be the options the set was created with (the set's
// volume section must agree). Chunk groups and segments past that point,
// which no checkpoint vouched for, are cut off, and writing goes on as if
// the run had not stopped: the set keeps its identifier and its first
// segment's header. At 0 the set is removed and created anew.
func Reopen(dir, base string, opt Options, at int64) (*Writer, error) {
	if err := opt.check(); err != nil {
		return nil, err
	}
	sc, err := scanSet(dir, base)
	if err != nil {
		return nil, err
	}
	if rem, rel := imager.RemoteOf(dir); rem != nil {
		return reopenRemote(dir, base, opt, at, sc, rem, rel)
	}
	if at == 0 {
		for _, s := range sc.segs {
			sc.rest = append(sc.rest, s.path)
		}
		if err := removeAll(dir, sc.rest); err != nil {
			return nil, err
		}
		return Create(dir, base, opt)
	}
	b, err := sc.boundaryAt(at, segName(dir, base))
	if err != nil {
		return nil, err
	}
	w := &Writer{opt: opt, chunkSize: ChunkSize}
	o := &output{w: w, dir: dir, base: base, segmentSize: opt.SegmentSize, maxEntries: tableEntriesLimit}
	if err := sc.takeVolume(o); err != nil {
		return nil, err
	}
	for _, s := range sc.segs[:b.seg+1] {
		o.fixups = append(o.fixups, fixup{path: s.path, off: s.seg.volOff})
		w.files = append(w.files, s.path)
	}
	for _, s := range sc.segs[b.seg+1:] {
		sc.rest = append(sc.rest, s.path)
	}
	last := sc.segs[b.seg].path
	f, err := os.OpenFile(last, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("ewf: reopen %s: %w", last, err)
	}
	o.segNo, o.path, o.f, o.pos = b.seg+1, last, f, b.after
	o.groupsInSeg, o.chunks = b.groups, b.chunks
	o.bw = newBufWriter(f)
	// The set changes only when the first chunk (or Finish) comes: a
	// resume refused before then (Abort) leaves it as it was.
	o.cut = &cut{remove: sc.rest}
	w.out, w.written = o, at
	w.durable.Store(at)
	w.start()
	return w, nil
}

// cut is what Reopen removes from the set before it goes on: the current
// segment's bytes past the resume point, and the later segment files.
type cut struct{ remove []string }

// applyCut cuts the set back to where it goes on, once.
func (o *output) applyCut() error {
	c := o.cut
	if c == nil {
		return nil
	}
	o.cut = nil
	if err := removeAll(o.dir, c.remove); err != nil {
		return err
	}
	if err := o.f.Truncate(o.pos); err != nil {
		return fmt.Errorf("ewf: cut %s back to %d bytes: %w", o.path, o.pos, err)
	}
	if _, err := o.f.Seek(o.pos, 0); err != nil {
		return fmt.Errorf("ewf: reopen %s at %d: %w", o.path, o.pos, err)
	}
	if err := o.f.Sync(); err != nil {
		return fmt.Errorf("ewf: make %s durable: %w", o.path, err)
	}
	return nil
}

// removeAll removes segment files that a resume does not keep, durably.
func removeAll(dir string, paths []string) error {
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("ewf: remove %s, past the point the set goes on from: %w", p, err)
		}
	}
	if len(paths) == 0 {
		return nil
	}
	if err := imager.SyncDir(dir); err != nil {
		return fmt.Errorf("ewf: %w", err)
	}
	return nil
}

func segName(dir, base string) string {
	p, _ := segmentPath(dir, base, 1)
	return p
}

// SegmentFiles lists the segment files of dir/base present on the target,
// in order, up to the first missing one.
func SegmentFiles(dir, base string) []string {
	out, _ := segmentFiles(dir, base)
	return out
}

// segmentFiles is SegmentFiles, with the error that stopped the listing
// when it is not a missing file (an object store that did not answer).
func segmentFiles(dir, base string) ([]string, error) {
	var out []string
	for n := 1; ; n++ {
		p, err := segmentPath(dir, base, n)
		if err != nil {
			return out, nil
		}
		if r, rel := imager.RemoteOf(p); r != nil {
			f, err := r.Open(rel)
			if errors.Is(err, os.ErrNotExist) {
				return out, nil
			}
			if err != nil {
				return out, fmt.Errorf("ewf: %w", err)
			}
			f.Close()
		} else if _, err := os.Lstat(p); err != nil {
			return out, nil
		}
		out = append(out, p)
	}
}

// reopenRemote continues a set in an object store. Its stored segments
// are whole objects, never rewritten: the set goes on only at the end of
// one that closed with a next section (where the durable point of a
// stored set is), with the next segment, a new object. A segment object
// past that point (kept by a run that stopped on an error) is replaced
// when its successor is stored.
func reopenRemote(dir, base string, opt Options, at int64, sc *setScan, rem imager.Remote, rel string) (*Writer, error) {
	if at == 0 {
		return Create(dir, base, opt)
	}
	b, err := sc.boundaryAt(at, rem.URL(path.Join(rel, base+".E01")))
	if err != nil {
		return nil, err
	}
	if last := sc.segs[b.seg]; !sc.segmentEnd(*b) {
		return nil, fmt.Errorf("ewf: %s: media byte %d is inside the stored segment, which is not rewritten: the set goes on only after a whole segment", rem.URL(path.Join(rel, filepath.Base(last.path))), at)
	}
	w := &Writer{opt: opt, chunkSize: ChunkSize}
	o := &output{w: w, dir: dir, base: base, segmentSize: opt.SegmentSize, maxEntries: remoteTableEntries, remote: rem, rel: rel}
	if err := sc.takeVolume(o); err != nil {
		return nil, err
	}
	for _, s := range sc.segs[:b.seg+1] {
		w.files = append(w.files, s.path)
	}
	o.segNo, o.chunks = b.seg+1, b.chunks
	w.out, w.written = o, at
	w.durable.Store(at)
	if err := o.openSegment(); err != nil {
		if o.isOpen() {
			o.seg.Abort()
		}
		return nil, err
	}
	w.start()
	return w, nil
}
