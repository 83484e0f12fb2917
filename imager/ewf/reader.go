package ewf

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zlib"

	"github.com/coldimage/coldimage/imager"
)

// Reader reads the media of an EWF-E01 segment set, verifying every Adler-32
// it reads: section descriptors and data when opening, chunk tables and
// chunks (zlib's Adler-32 or the stored one) when reading.
type Reader struct {
	segs       []*segFile
	tables     []tableSpan
	size       int64
	sectorSize int
	chunkSize  int64
	chunks     int64
	header     map[string]string
	hashes     map[string]string
	errs       []imager.BadRange

	mu       sync.Mutex
	pos      int64
	openSegs []int // indices of segs with an open file, oldest first
	tblIdx   int
	entries  []uint32
	ckIdx    int64
	ckBuf    []byte
}

type segFile struct {
	path string
	size int64
	f    imager.ImageFile // local, or an object read back from a store
}

type tableSpan struct {
	seg   int
	first int64 // index of its first chunk
	ref   tableRef
}

// maxOpenSegments bounds the segment files a Reader keeps open.
const maxOpenSegments = 16

// Open opens the segment set whose first segment is firstSegment (…E01 or
// …e01) and finds the others by name.
func Open(firstSegment string) (*Reader, error) { return open(firstSegment, false) }

// OpenPartial opens a segment set whose writing stopped before its done
// section (Writer.Abort after an abort or a write error): its media are the
// chunks its intact chunk tables list, in order, and Size is their bytes
// (the last chunk may be short). The set ends at the first segment that is
// missing or ends without a next section; within a segment, at the first
// section cut short or unreadable. A complete set opens as with Open.
func OpenPartial(firstSegment string) (*Reader, error) { return open(firstSegment, true) }

func open(firstSegment string, partial bool) (*Reader, error) {
	ext := ""
	if i := strings.LastIndexByte(firstSegment, '.'); i >= 0 {
		ext = firstSegment[i+1:]
	}
	if ext != "E01" && ext != "e01" {
		return nil, fmt.Errorf("ewf: open %s: the first segment must end in .E01", firstSegment)
	}
	prefix := firstSegment[:len(firstSegment)-3]
	upper := ext == "E01"
	r := &Reader{tblIdx: -1, ckIdx: -1}
	var vol *volume
	var hdr2, hdr map[string]string
	var errs []errorRange
	var hashMD5, digMD5 *[16]byte
	var digSHA1 *[20]byte
	var chunks int64
	done := false
	for n := 1; ; n++ {
		e, err := segmentExt(n, upper)
		if err != nil {
			return nil, fmt.Errorf("ewf: %s: no done section before the last possible segment: %w", firstSegment, err)
		}
		p := prefix + e
		f, size, err := imager.OpenImageFile(p)
		if err != nil {
			if partial && n > 1 && errors.Is(err, os.ErrNotExist) {
				break
			}
			if n > 1 && errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("ewf: segment %s is missing: %s ends with a next section (segment set incomplete): %w", p, r.segs[n-2].path, err)
			}
			return nil, fmt.Errorf("ewf: %w", err)
		}
		if partial && n > 1 && size < fileHeaderSize {
			f.Close()
			break // a segment created, its header not written yet: the set ends before it
		}
		s, err := parseSegmentMode(f, size, p, partial)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("ewf: %w", err)
		}
		if int(s.number) != n {
			return nil, fmt.Errorf("ewf: %s: file header says segment %d, its name says %d", p, s.number, n)
		}
		r.segs = append(r.segs, &segFile{path: p, size: size})
		if n == 1 {
			vol, hdr2, hdr = s.vol, s.header2, s.header
			if vol == nil {
				return nil, fmt.Errorf("ewf: %s: no volume section", p)
			}
		} else if s.vol != nil && (s.vol.Chunks != vol.Chunks || s.vol.Sectors != vol.Sectors || s.vol.SectorsPerChunk != vol.SectorsPerChunk || s.vol.BytesPerSector != vol.BytesPerSector) {
			return nil, fmt.Errorf("ewf: %s: data section (%d chunks, %d sectors) disagrees with the volume section of %s (%d chunks, %d sectors)",
				p, s.vol.Chunks, s.vol.Sectors, r.segs[0].path, vol.Chunks, vol.Sectors)
		}
		for _, t := range s.tables {
			r.tables = append(r.tables, tableSpan{seg: n - 1, first: chunks, ref: t})
			chunks += int64(t.n)
		}
		if s.errors != nil {
			errs = s.errors
		}
		if s.hashMD5 != nil {
			hashMD5 = s.hashMD5
		}
		if s.digMD5 != nil {
			digMD5, digSHA1 = s.digMD5, s.digSHA1
		}
		if s.last == "done" {
			done = true
			break
		}
		if s.last != "next" { // partial: the set ends here
			break
		}
	}
	r.chunkSize = vol.chunkSize()
	r.sectorSize = int(vol.BytesPerSector)
	r.size = vol.mediaSize()
	r.chunks = chunks
	if partial && !done {
		if err := r.partialSize(); err != nil {
			return nil, fmt.Errorf("ewf: %s (partial set): %w", firstSegment, err)
		}
	} else if chunks != int64(vol.Chunks) {
		return nil, fmt.Errorf("ewf: %s: the chunk tables list %d chunks, the volume section says %d", firstSegment, chunks, vol.Chunks)
	}
	if want := (r.size + r.chunkSize - 1) / r.chunkSize; want != chunks {
		return nil, fmt.Errorf("ewf: %s: %d sectors of %d bytes need %d chunks, the image has %d", firstSegment, vol.Sectors, vol.BytesPerSector, want, chunks)
	}
	r.hashes = map[string]string{}
	if hashMD5 != nil {
		r.hashes["md5"] = hex.EncodeToString(hashMD5[:])
	}
	if digMD5 != nil {
		if hashMD5 != nil && *hashMD5 != *digMD5 {
			return nil, fmt.Errorf("ewf: %s: the hash section's MD5 %x differs from the digest section's %x", firstSegment, hashMD5[:], digMD5[:])
		}
		r.hashes["md5"] = hex.EncodeToString(digMD5[:])
		r.hashes["sha1"] = hex.EncodeToString(digSHA1[:])
	}
	r.header = headerMap(hdr2, hdr)
	for _, e := range errs {
		r.errs = append(r.errs, imager.BadRange{LBA: int64(e.First), Count: int64(e.Count), Error: "unreadable at acquisition (EWF error2)"})
	}
	return r, nil
}

var headerNames = map[string]string{
	"a": "description", "c": "case", "n": "evidence", "e": "examiner", "t": "notes",
	"md": "model", "sn": "serial", "l": "label", "av": "version", "ov": "platform",
	"m": "acquired", "u": "system", "p": "password", "r": "compression",
}

// headerMap names the header2 values (the header's where there is no
// header2); header2 times become RFC 3339 UTC.
func headerMap(hdr2, hdr map[string]string) map[string]string {
	src, posix := hdr2, true
	if src == nil {
		src, posix = hdr, false
	}
	out := make(map[string]string, len(src))
	for k, v := range src {
		name, ok := headerNames[k]
		if !ok {
			name = k
		}
		if posix && (k == "m" || k == "u") && v != "" {
			if sec, err := strconv.ParseInt(v, 10, 64); err == nil {
				v = time.Unix(sec, 0).UTC().Format(time.RFC3339)
			}
		}
		out[name] = v
	}
	return out
}

// partialSize sets the media size of a partial set from its chunks: whole
// chunks but the last, whose length its stored form tells (a zlib stream's
// output, or a stored chunk's bytes less its Adler-32), verified.
func (r *Reader) partialSize() error {
	r.size = r.chunks * r.chunkSize
	if r.chunks == 0 {
		return nil
	}
	l, err := r.locate(r.chunks - 1)
	if err != nil {
		return err
	}
	r.tblIdx = -1 // entries cached by locate belong to the probe
	raw := make([]byte, l.end-l.start)
	if _, err := l.f.ReadAt(raw, l.start); err != nil {
		return fmt.Errorf("read last chunk: %w", err)
	}
	var n int64
	if l.compressed {
		zr, err := zlib.NewReader(bytes.NewReader(raw))
		if err != nil {
			return fmt.Errorf("last chunk: zlib header: %w", err)
		}
		out, err := io.ReadAll(io.LimitReader(zr, r.chunkSize+1))
		if err != nil {
			return fmt.Errorf("last chunk: %w", zlibErr(err, ""))
		}
		n = int64(len(out))
	} else {
		n = int64(len(raw)) - 4
		if n > 0 {
			if err := verifyAdler("stored chunk", raw[:n], binary.LittleEndian.Uint32(raw[n:])); err != nil {
				return fmt.Errorf("last chunk: %w", err)
			}
		}
	}
	if n <= 0 || n > r.chunkSize {
		return fmt.Errorf("last chunk holds %d bytes, not 1 to %d", n, r.chunkSize)
	}
	r.size = (r.chunks-1)*r.chunkSize + n
	return nil
}

// Size is the media size in bytes.
func (r *Reader) Size() int64 { return r.size }

// SectorSize is the bytes per sector of the source: the unit of Errors().
func (r *Reader) SectorSize() int { return r.sectorSize }

// ChunkSize is the media bytes per chunk.
func (r *Reader) ChunkSize() int64 { return r.chunkSize }

// Segments lists the segment files.
func (r *Reader) Segments() []string {
	out := make([]string, len(r.segs))
	for i, s := range r.segs {
		out[i] = s.path
	}
	return out
}

// StoredHashes returns the hashes the image stores: md5 (hash and digest
// sections) and sha1 (digest section), lowercase hex.
func (r *Reader) StoredHashes() map[string]string {
	m := make(map[string]string, len(r.hashes))
	for k, v := range r.hashes {
		m[k] = v
	}
	return m
}

// Header returns the case metadata: description, case, evidence, examiner,
// notes, model, serial, version, platform, acquired, system, password.
func (r *Reader) Header() map[string]string {
	m := make(map[string]string, len(r.header))
	for k, v := range r.header {
		m[k] = v
	}
	return m
}

// Errors returns the unreadable sector ranges of the error2 section.
func (r *Reader) Errors() []imager.BadRange { return append([]imager.BadRange(nil), r.errs...) }

// Read reads sequentially from the current position.
func (r *Reader) Read(p []byte) (int, error) {
	r.mu.Lock()
	pos := r.pos
	r.mu.Unlock()
	n, err := r.ReadAt(p, pos)
	r.mu.Lock()
	r.pos = pos + int64(n)
	r.mu.Unlock()
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// ReadAt reads media bytes at off. Whole chunks of a large read are
// decompressed and verified in parallel.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("ewf: negative offset %d", off)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for n < len(p) {
		if off >= r.size {
			return n, io.EOF
		}
		c := off / r.chunkSize
		if in := off - c*r.chunkSize; in == 0 && int64(len(p)-n) >= 2*r.chunkSize {
			k, err := r.readChunks(p[n:], c)
			n += k
			off += int64(k)
			if err != nil {
				return n, err
			}
			continue
		}
		data, err := r.chunk(c)
		if err != nil {
			return n, err
		}
		k := copy(p[n:], data[off-c*r.chunkSize:])
		n += k
		off += int64(k)
	}
	return n, nil
}

// Close closes the segment files.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, i := range r.openSegs {
		errs = append(errs, r.segs[i].f.Close())
		r.segs[i].f = nil
	}
	r.openSegs = nil
	return errors.Join(errs...)
}

func (r *Reader) file(i int) (imager.ImageFile, error) {
	s := r.segs[i]
	if s.f != nil {
		return s.f, nil
	}
	if len(r.openSegs) >= maxOpenSegments {
		old := r.openSegs[0]
		r.openSegs = r.openSegs[1:]
		r.segs[old].f.Close()
		r.segs[old].f = nil
	}
	f, _, err := imager.OpenImageFile(s.path)
	if err != nil {
		return nil, fmt.Errorf("ewf: %w", err)
	}
	s.f = f
	r.openSegs = append(r.openSegs, i)
	return f, nil
}

// chunkLoc is where a chunk is stored and how many media bytes it holds.
type chunkLoc struct {
	c          int64
	seg        *segFile
	f          imager.ImageFile
	start, end int64
	compressed bool
	want       int64 // media bytes
	mediaOff   int64
}

// locate finds chunk c through its (cached) table.
func (r *Reader) locate(c int64) (chunkLoc, error) {
	ti := r.tableOf(c)
	if ti == len(r.tables) {
		return chunkLoc{}, fmt.Errorf("ewf: chunk %d is in no table", c)
	}
	t := r.tables[ti]
	seg := r.segs[t.seg]
	f, err := r.file(t.seg)
	if err != nil {
		return chunkLoc{}, err
	}
	if ti != r.tblIdx {
		r.tblIdx = -1
		e, err := readEntries(f, t.ref, seg.path)
		if err != nil {
			return chunkLoc{}, fmt.Errorf("ewf: chunk %d: %w", c, err)
		}
		r.entries, r.tblIdx = e, ti
	}
	j := c - t.first
	e := r.entries[j]
	l := chunkLoc{c: c, seg: seg, f: f, start: t.ref.base + int64(e&offsetMask), end: t.ref.end,
		compressed: e&compressedFlag != 0, want: min(r.chunkSize, r.size-c*r.chunkSize), mediaOff: c * r.chunkSize}
	if j+1 < int64(len(r.entries)) {
		l.end = t.ref.base + int64(r.entries[j+1]&offsetMask)
	}
	if l.end <= l.start || l.end-l.start > 2*r.chunkSize+1024 || l.end > seg.size {
		return chunkLoc{}, fmt.Errorf("ewf: %s: chunk %d: table entry gives bytes %d–%d, not a plausible chunk", seg.path, c, l.start, l.end)
	}
	return l, nil
}

// tableOf returns the index of the table that lists chunk c, or len(r.tables).
func (r *Reader) tableOf(c int64) int {
	return sort.Search(len(r.tables), func(i int) bool { return r.tables[i].first+int64(r.tables[i].ref.n) > c })
}

// decoder holds the buffers of one decoding goroutine.
type decoder struct {
	raw []byte
	zr  io.ReadCloser
}

var decoders = sync.Pool{New: func() any { return new(decoder) }}

// decode reads chunk l into out (len l.want) and verifies its checksum.
func (d *decoder) decode(l chunkLoc, out []byte) error {
	if int64(cap(d.raw)) < l.end-l.start {
		d.raw = make([]byte, l.end-l.start)
	}
	raw := d.raw[:l.end-l.start]
	var err error
	if _, err = l.f.ReadAt(raw, l.start); err == nil {
		if l.compressed {
			err = d.inflate(raw, out)
		} else if int64(len(raw)) != l.want+4 {
			err = fmt.Errorf("stored chunk of %d bytes, want %d + 4 (Adler-32)", len(raw), l.want)
		} else {
			copy(out, raw[:l.want])
			err = verifyAdler("stored chunk", out, binary.LittleEndian.Uint32(raw[l.want:]))
		}
	}
	if err != nil {
		return fmt.Errorf("ewf: %s offset %d: chunk %d (media offset %d): %w", l.seg.path, l.start, l.c, l.mediaOff, err)
	}
	return nil
}

// chunk returns the media bytes of chunk c (cached until the next call).
func (r *Reader) chunk(c int64) ([]byte, error) {
	if c == r.ckIdx {
		return r.ckBuf, nil
	}
	l, err := r.locate(c)
	if err != nil {
		return nil, err
	}
	if int64(cap(r.ckBuf)) < r.chunkSize {
		r.ckBuf = make([]byte, r.chunkSize)
	}
	r.ckIdx = -1
	out := r.ckBuf[:l.want]
	d := decoders.Get().(*decoder)
	defer decoders.Put(d)
	if err := d.decode(l, out); err != nil {
		return nil, err
	}
	r.ckBuf, r.ckIdx = out, c
	return out, nil
}

// readChunks fills p with whole chunks from chunk c on (and the last,
// shorter chunk of the image) that lie in the segment file of chunk c,
// decoding them on up to GOMAXPROCS goroutines. It returns the bytes
// before the first failing chunk.
func (r *Reader) readChunks(p []byte, c int64) (int, error) {
	var locs []chunkLoc
	var locErr error
	for n := int64(0); n < int64(len(p)) && c*r.chunkSize < r.size; c++ {
		if ti := r.tableOf(c); len(locs) > 0 && ti < len(r.tables) && r.segs[r.tables[ti].seg] != locs[0].seg {
			// One segment per batch: opening another file may close
			// (evict) the one the batch's locations use.
			break
		}
		l, err := r.locate(c)
		if err != nil {
			locErr = err
			break
		}
		if n+l.want > int64(len(p)) {
			break // a partial chunk: left to the caller
		}
		locs = append(locs, l)
		n += l.want
	}
	errs := make([]error, len(locs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(locs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := decoders.Get().(*decoder)
			for i := next.Add(1) - 1; i < int64(len(locs)); i = next.Add(1) - 1 {
				o := i * r.chunkSize
				// In PID 1 this reads the image back on the target: a
				// panic fails the chunk (imager.Safely), not the process.
				errs[i] = imager.Safely("E01 chunk decoder", func() error { return d.decode(locs[i], p[o:o+locs[i].want]) })
				if imager.AsPanic(errs[i]) != nil {
					return // this decoder's state is unknown: not reused
				}
			}
			decoders.Put(d)
		}()
	}
	wg.Wait()
	n := 0
	for i, err := range errs {
		if err != nil {
			return n, err
		}
		n += int(locs[i].want)
	}
	return n, locErr
}

// inflate decompresses a zlib chunk into out, which it must fill exactly;
// zlib verifies the Adler-32 of the data at the end of the stream.
func (d *decoder) inflate(raw, out []byte) error {
	var err error
	if d.zr == nil {
		d.zr, err = zlib.NewReader(bytes.NewReader(raw))
	} else {
		err = d.zr.(zlib.Resetter).Reset(bytes.NewReader(raw), nil)
	}
	if err != nil {
		return fmt.Errorf("zlib header: %w", err)
	}
	if _, err := io.ReadFull(d.zr, out); err != nil {
		return zlibErr(err, "compressed chunk shorter than its media bytes")
	}
	var one [1]byte
	if n, err := d.zr.Read(one[:]); n != 0 || err != io.EOF {
		if err == nil || err == io.EOF {
			return fmt.Errorf("compressed chunk holds more than %d bytes", len(out))
		}
		return zlibErr(err, "")
	}
	return nil
}

func zlibErr(err error, short string) error {
	switch {
	case errors.Is(err, zlib.ErrChecksum):
		return fmt.Errorf("zlib: %w", ErrChecksum)
	case errors.Is(err, io.ErrUnexpectedEOF) && short != "":
		return fmt.Errorf("%s: %w", short, err)
	}
	return fmt.Errorf("zlib: %w", err)
}
