package ewf

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"runtime"

	"github.com/coldimage/coldimage/imager"
)

// trailerReserve is kept free in every segment for what may close it: a next
// section, or data + digest + hash + done in the last one. error2 is not
// reserved: a last segment with read errors may exceed the segment size by
// 600 + 8 bytes per bad range.
const trailerReserve = descriptorSize + volumeDataSize + descriptorSize + digestDataSize + descriptorSize + hashDataSize + descriptorSize + descriptorSize

// output lays chunks out in segment files. It is used by the output
// goroutine while the pool runs, then by Finish/Abort.
type output struct {
	w           *Writer
	dir, base   string
	segmentSize int64
	setID       [16]byte
	maxEntries  int

	segNo int
	path  string
	f     *os.File
	bw    *bufio.Writer
	pos   int64 // write position in the current segment file

	// A set written into an object store (dir is a staging folder): each
	// segment is one object, streamed (seg); nothing is rewritten in
	// place, so a chunk group is kept in gbuf until its size is known.
	remote imager.Remote
	rel    string
	seg    imager.Sink
	gbuf   []byte
	hs     []hash.Hash // Options.FileHashes of the segment being sent

	inGroup     bool
	groupsInSeg int
	sectorsOff  int64    // offset of the open sectors section = table base
	entries     []uint32 // table entries of the open group

	chunks int64   // chunks written
	vol    volume  // what the volume/data sections say so far
	fixups []fixup // where volume/data sections were written
	cut    *cut    // a reopened set's cut, made before its first write
}

type fixup struct {
	path string
	off  int64 // offset of the section data (after its descriptor)
}

func (o *output) volumeFor(size int64) volume {
	opt := o.w.opt
	flags := uint8(mediaFlagImage | mediaFlagPhysical)
	if opt.Logical {
		flags = mediaFlagImage
	}
	level := uint8(opt.Level)
	media := uint8(mediaFixed)
	if opt.Removable {
		media = mediaRemovable
	}
	return volume{
		MediaType:        media,
		Chunks:           uint32((size + int64(o.w.chunkSize) - 1) / int64(o.w.chunkSize)),
		SectorsPerChunk:  uint32(o.w.chunkSize / opt.SectorSize),
		BytesPerSector:   uint32(opt.SectorSize),
		Sectors:          uint64((size + int64(opt.SectorSize) - 1) / int64(opt.SectorSize)),
		MediaFlags:       flags,
		CompressionLevel: level,
		ErrorGranularity: uint32(o.w.chunkSize / opt.SectorSize),
		SetID:            o.setID,
	}
}

func (o *output) write(b []byte) error {
	if o.remote != nil && o.inGroup {
		o.gbuf = append(o.gbuf, b...)
		o.pos += int64(len(b))
		return nil
	}
	if _, err := o.bw.Write(b); err != nil {
		return fmt.Errorf("ewf: write %s at offset %d: %w", o.path, o.pos, err)
	}
	o.pos += int64(len(b))
	return nil
}

// writeSection writes a descriptor and its data; the next section follows.
func (o *output) writeSection(typ string, data []byte) error {
	size := uint64(descriptorSize + len(data))
	if err := o.write(descriptor{Type: typ, Next: uint64(o.pos) + size, Size: size}.marshal()); err != nil {
		return err
	}
	return o.write(data)
}

// writeLast writes a next or done section: it points to itself, size 0.
func (o *output) writeLast(typ string) error {
	return o.write(descriptor{Type: typ, Next: uint64(o.pos)}.marshal())
}

func (o *output) openSegment() error {
	p, err := segmentPath(o.dir, o.base, o.segNo+1)
	if err != nil {
		return fmt.Errorf("ewf: %w", err)
	}
	if o.remote != nil {
		name := filepath.Base(p)
		k, err := o.remote.ObjectSink(o.dir, o.rel, name, o.segmentSize)
		if err != nil {
			return fmt.Errorf("ewf: create segment %s: %w", o.remote.URL(path.Join(o.rel, name)), err)
		}
		o.segNo++
		o.path, o.seg, o.pos, o.groupsInSeg = p, k, 0, 0
		o.hs = o.hs[:0]
		ws := []io.Writer{k}
		for _, alg := range o.w.opt.FileHashes {
			h, err := o.w.opt.Hashers.New(alg)
			if err != nil {
				k.Abort()
				return fmt.Errorf("ewf: segment %s: %w", name, err)
			}
			o.hs = append(o.hs, h)
			ws = append(ws, h)
		}
		sent := io.MultiWriter(ws...)
		if o.bw == nil {
			o.bw = bufio.NewWriterSize(sent, 1<<20)
		} else {
			o.bw.Reset(sent)
		}
		o.w.addFile(p)
		return o.segmentStart()
	}
	f, err := createExcl(p)
	if err != nil {
		return fmt.Errorf("ewf: create segment: %w", err)
	}
	o.segNo++
	o.path, o.f, o.pos, o.groupsInSeg = p, f, 0, 0
	if o.bw == nil {
		o.bw = newBufWriter(f)
	} else {
		o.bw.Reset(f)
	}
	o.w.addFile(p)
	if err := imager.SyncDir(o.dir); err != nil { // the new name must outlive a power cut too
		return fmt.Errorf("ewf: create segment %s: %w", p, err)
	}
	return o.segmentStart()
}

// segmentStart writes what opens a segment: its file header, and the
// header and volume sections (segment 1) or a data section.
func (o *output) segmentStart() error {
	if err := o.write(marshalFileHeader(uint16(o.segNo))); err != nil {
		return err
	}
	if o.segNo == 1 {
		opt := o.w.opt
		hv := headerValues{
			Description: opt.Description, Case: opt.Case, Evidence: opt.Evidence, Examiner: opt.Examiner,
			Notes: opt.Notes, Model: opt.Model, Serial: opt.Serial, Version: opt.Tool,
			Platform: platform(), Acquired: opt.Acquired, System: opt.System,
		}
		h2 := marshalHeader2(hv)
		for _, s := range []struct {
			typ  string
			data []byte
		}{{"header2", h2}, {"header2", h2}, {"header", marshalHeader(hv)}} {
			if err := o.writeSection(s.typ, s.data); err != nil {
				return err
			}
		}
		o.vol = o.volumeFor(opt.MediaSize)
		return o.writeVolume("volume")
	}
	return o.writeVolume("data")
}

func (o *output) writeVolume(typ string) error {
	o.fixups = append(o.fixups, fixup{path: o.path, off: o.pos + descriptorSize})
	return o.writeSection(typ, o.vol.marshal())
}

func newBufWriter(f *os.File) *bufio.Writer { return bufio.NewWriterSize(f, 1<<20) }

func platform() string {
	if runtime.GOOS == "linux" {
		return "Linux"
	}
	return runtime.GOOS
}

// fits reports whether a chunk of need bytes, a group with n entries and the
// trailer fit into the current segment.
func (o *output) fits(need int64, n int, newGroup bool) bool {
	extra := int64(0)
	if newGroup {
		extra = descriptorSize
	}
	return o.pos+extra+need+2*tableSectionSize(n)+trailerReserve <= o.segmentSize
}

func (o *output) writeChunk(data []byte, compressed bool) error {
	if err := o.applyCut(); err != nil {
		return err
	}
	need := int64(len(data))
	if o.inGroup && (len(o.entries) >= o.maxEntries || !o.fits(need, len(o.entries)+1, false)) {
		if err := o.closeGroup(); err != nil {
			return err
		}
	}
	if !o.inGroup {
		if o.groupsInSeg > 0 && !o.fits(need, 1, true) {
			if err := o.closeSegment(); err != nil {
				return err
			}
			if err := o.openSegment(); err != nil {
				return err
			}
		}
		if err := o.openGroup(); err != nil {
			return err
		}
	}
	if o.chunks >= math.MaxUint32 {
		return fmt.Errorf("ewf: chunk %d: EWF counts chunks in 32 bits", o.chunks)
	}
	rel := o.pos - o.sectorsOff
	if rel > offsetMask {
		return fmt.Errorf("ewf: chunk %d at %s offset %d is %d bytes past its table base: beyond 31 bits", o.chunks, o.path, o.pos, rel)
	}
	e := uint32(rel)
	if compressed {
		e |= compressedFlag
	}
	o.entries = append(o.entries, e)
	o.chunks++
	return o.write(data)
}

func (o *output) openGroup() error {
	o.sectorsOff = o.pos
	o.inGroup = true
	o.entries = o.entries[:0]
	if o.remote != nil && o.gbuf == nil {
		// The group's most: every chunk stored with its checksum.
		o.gbuf = make([]byte, 0, descriptorSize+o.maxEntries*(o.w.chunkSize+4))
	}
	// Placeholder descriptor, rewritten by closeGroup once the size is known.
	return o.write(make([]byte, descriptorSize))
}

func (o *output) closeGroup() error {
	o.inGroup = false
	o.groupsInSeg++
	d := descriptor{Type: "sectors", Next: uint64(o.pos), Size: uint64(o.pos - o.sectorsOff)}
	if o.remote != nil {
		copy(o.gbuf[:descriptorSize], d.marshal())
		_, err := o.bw.Write(o.gbuf)
		o.gbuf = o.gbuf[:0]
		if err != nil {
			return fmt.Errorf("ewf: write %s: %w", o.where(), err)
		}
	} else {
		if err := o.bw.Flush(); err != nil {
			return fmt.Errorf("ewf: write %s: %w", o.path, err)
		}
		if _, err := o.f.WriteAt(d.marshal(), o.sectorsOff); err != nil {
			return fmt.Errorf("ewf: write sectors descriptor to %s at offset %d: %w", o.path, o.sectorsOff, err)
		}
	}
	t := marshalTable(uint64(o.sectorsOff), o.entries)
	if err := o.writeSection("table", t); err != nil {
		return err
	}
	if err := o.writeSection("table2", t); err != nil {
		return err
	}
	if o.remote != nil {
		// Durable once its segment is stored whole (closeFile).
		return nil
	}
	// A closed group is a point the set can be resumed from: made durable.
	if err := o.bw.Flush(); err != nil {
		return fmt.Errorf("ewf: write %s: %w", o.path, err)
	}
	if err := o.f.Sync(); err != nil {
		return fmt.Errorf("ewf: make %s durable: %w", o.path, err)
	}
	o.w.durable.Store(o.chunks * int64(o.w.chunkSize))
	return nil
}

// closeSegment ends a segment that is followed by another one.
func (o *output) closeSegment() error {
	if err := o.writeLast("next"); err != nil {
		return err
	}
	return o.closeFile()
}

// where names the current segment for messages.
func (o *output) where() string {
	if o.remote != nil {
		return o.remote.URL(path.Join(o.rel, filepath.Base(o.path)))
	}
	return o.path
}

// isOpen says whether a segment is open.
func (o *output) isOpen() bool { return o.f != nil || o.seg != nil }

func (o *output) closeFile() error {
	if o.remote != nil {
		k := o.seg
		o.seg = nil
		err := o.bw.Flush()
		if err == nil {
			err = k.Finish(imager.Final{})
		}
		if err != nil {
			k.Abort() // the object keeps what the store holds of it
			return fmt.Errorf("ewf: store %s: %w", o.where(), err)
		}
		if len(o.hs) > 0 {
			sums := map[string]string{}
			for i, alg := range o.w.opt.FileHashes {
				sums[alg] = hex.EncodeToString(o.hs[i].Sum(nil))
			}
			o.w.addSums(o.path, sums)
		}
		o.w.durable.Store(o.chunks * int64(o.w.chunkSize))
		return nil
	}
	f := o.f
	o.f = nil
	err := o.bw.Flush()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("ewf: close %s: %w", o.path, err)
	}
	return nil
}

func (o *output) abort() error {
	if !o.isOpen() {
		return nil
	}
	var err error
	if o.inGroup {
		err = o.closeGroup()
	}
	if cerr := o.closeFile(); err == nil {
		err = cerr
	}
	return err
}

// finish closes the last segment and fixes up volume/data sections.
func (o *output) finish(size int64, f imager.Final) error {
	if !o.isOpen() {
		return errors.New("ewf: finish: image already closed")
	}
	if err := o.applyCut(); err != nil {
		o.abort()
		return err
	}
	if o.inGroup {
		if err := o.closeGroup(); err != nil {
			o.abort()
			return err
		}
	}
	final := o.volumeFor(size)
	if int64(final.Chunks) != o.chunks {
		o.abort()
		return fmt.Errorf("ewf: wrote %d chunks for %d bytes, expected %d", o.chunks, size, final.Chunks)
	}
	if final != o.vol {
		if o.remote != nil {
			// The volume and data sections are in stored objects.
			o.abort()
			return fmt.Errorf("ewf: the set in %s holds %d sectors, not the %d its volume section announces, and that section is in a stored object, which is not rewritten", imager.Where(o.dir), final.Sectors, o.vol.Sectors)
		}
		o.vol = final
		for _, fx := range o.fixups {
			if err := patch(fx, o.vol.marshal(), o.path == fx.path, o); err != nil {
				o.abort()
				return err
			}
		}
	}
	var errs []error
	fail := func(err error) error { o.abort(); return err }
	if o.segNo == 1 {
		if err := o.writeSection("data", o.vol.marshal()); err != nil {
			return fail(err)
		}
	}
	if len(f.Unreadable) > 0 {
		rs, dropped := errorRanges(f.Unreadable)
		if len(dropped) > 0 {
			errs = append(errs, fmt.Errorf("ewf: error2 holds 32-bit sector numbers: %d unreadable ranges from sector %d on are not in the image (they are in the record)", len(dropped), dropped[0].LBA))
		}
		if len(rs) > 0 {
			if err := o.writeSection("error2", marshalError2(rs)); err != nil {
				return fail(err)
			}
		}
	}
	md5, md5err := decodeHex(f.Hashes, "md5", 16)
	sha1, sha1err := decodeHex(f.Hashes, "sha1", 20)
	if md5err == nil && sha1err == nil {
		if err := o.writeSection("digest", marshalDigest([16]byte(md5), [20]byte(sha1))); err != nil {
			return fail(err)
		}
	}
	if md5err == nil {
		if err := o.writeSection("hash", marshalHash([16]byte(md5))); err != nil {
			return fail(err)
		}
	}
	errs = append(errs, md5err, sha1err)
	if err := o.writeLast("done"); err != nil {
		return fail(err)
	}
	if err := o.closeFile(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// patch rewrites the data of a volume or data section.
func patch(fx fixup, data []byte, current bool, o *output) error {
	if current {
		if err := o.bw.Flush(); err != nil {
			return fmt.Errorf("ewf: write %s: %w", o.path, err)
		}
		if _, err := o.f.WriteAt(data, fx.off); err != nil {
			return fmt.Errorf("ewf: fix up volume data in %s at offset %d: %w", fx.path, fx.off, err)
		}
		return nil
	}
	f, err := os.OpenFile(fx.path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("ewf: fix up volume data: %w", err)
	}
	_, err = f.WriteAt(data, fx.off)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("ewf: fix up volume data in %s at offset %d: %w", fx.path, fx.off, err)
	}
	return nil
}

func decodeHex(h map[string]string, alg string, n int) ([]byte, error) {
	s, ok := h[alg]
	if !ok {
		return nil, fmt.Errorf("ewf: Final.Hashes has no %s: the image lacks it", alg)
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != n {
		return nil, fmt.Errorf("ewf: Final.Hashes[%q] = %q is not %d hex bytes", alg, s, n)
	}
	return b, nil
}
