package ewf

import (
	"fmt"
	"io"
)

// segment is what one segment file declares, with chunk tables kept as
// references: entries are read (and their Adler-32 verified) when needed.
type segment struct {
	number  uint16
	header2 map[string]string
	header  map[string]string
	vol     *volume
	tables  []tableRef
	volOff  int64 // data offset of the first volume (or data) section
	errors  []errorRange
	hashMD5 *[16]byte
	digMD5  *[16]byte
	digSHA1 *[20]byte
	last    string // "next" or "done"; "" for a partial segment that just ends
}

// tableRef locates one table section's entries.
type tableRef struct {
	entriesOff int64 // offset of the entries array
	mirrorOff  int64 // entries of the table2 copy, or -1
	n          int
	base       int64
	end        int64 // end of the chunk data of the last entry
	after      int64 // end of the last section describing it (its table2 copy when there is one)
}

// maxSectionRead bounds the data read for a header, volume, error2, hash or
// digest section (the sectors section is never read whole).
const maxSectionRead = 64 << 20

// parseSegment walks the section chain of one segment file, verifying every
// descriptor and every section's Adler-32 except the table entries'.
func parseSegment(r io.ReaderAt, size int64, name string) (*segment, error) {
	return parseSegmentMode(r, size, name, false)
}

// parseSegmentMode is parseSegment; with partial set, a chain that ends
// without a next or done section (a set whose writing stopped: Writer.Abort,
// a full target) is not an error: the segment ends before the first section
// that is missing, cut short or unreadable, and keeps the chunk tables
// found before it.
func parseSegmentMode(r io.ReaderAt, size int64, name string, partial bool) (*segment, error) {
	fh := make([]byte, fileHeaderSize)
	if _, err := r.ReadAt(fh, 0); err != nil {
		return nil, fmt.Errorf("%s: read file header: %w", name, err)
	}
	num, err := parseFileHeader(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &segParser{r: r, size: size, name: name, partial: partial, s: &segment{number: num}, sectorsEnd: -1}
	return p.sections()
}

// segParser walks the sections of one segment file.
type segParser struct {
	r          io.ReaderAt
	size       int64
	name       string
	partial    bool // a segment still being written: stop at the first incomplete section
	s          *segment
	sectorsEnd int64 // end of the last sectors section, -1 before one
	tableErr   error // a bad table header, forgiven if table2 follows intact
	header2Err error // a bad header2, forgiven if its copy follows intact
}

// sections reads section after section until "next" or "done" (or, for a
// partial segment, the first one cut short).
func (p *segParser) sections() (*segment, error) {
	off := int64(fileHeaderSize)
	db := make([]byte, descriptorSize)
	for {
		if off+descriptorSize > p.size {
			if p.partial && p.header2Err == nil {
				return p.s, nil
			}
			return nil, fmt.Errorf("%s: section at offset %d runs past the end of the file (%d bytes): segment truncated", p.name, off, p.size)
		}
		if _, err := p.r.ReadAt(db, off); err != nil {
			return nil, fmt.Errorf("%s: read section descriptor at offset %d: %w", p.name, off, err)
		}
		d, err := parseDescriptor(db)
		if err != nil && p.partial && p.header2Err == nil {
			return p.s, nil // e.g. the placeholder of a sectors section never closed
		}
		if err != nil {
			return nil, fmt.Errorf("%s: offset %d: %w", p.name, off, err)
		}
		if p.header2Err != nil && d.Type != "header2" {
			return nil, p.header2Err
		}
		if d.Type == "next" || d.Type == "done" {
			if p.tableErr != nil {
				return nil, p.tableErr
			}
			p.s.last = d.Type
			return p.s, nil
		}
		if d.Size < descriptorSize || d.Size > uint64(p.size-off) {
			if p.partial && p.header2Err == nil && d.Size >= descriptorSize {
				return p.s, nil // cut short by the end of the file
			}
			return nil, fmt.Errorf("%s: offset %d: %q section size %d does not fit in the file (%d bytes)", p.name, off, d.Type, d.Size, p.size)
		}
		if d.Type != "table2" && p.tableErr != nil {
			return nil, p.tableErr
		}
		if err := p.section(d, off); err != nil {
			return nil, err
		}
		if d.Next <= uint64(off) || d.Next > uint64(p.size) {
			if p.partial && d.Next > uint64(p.size) {
				return p.s, nil
			}
			return nil, fmt.Errorf("%s: %q section at offset %d points to the next section at %d (file has %d bytes)", p.name, d.Type, off, d.Next, p.size)
		}
		off = int64(d.Next)
	}
}

// sec is one section being read: its descriptor and where it lies.
type sec struct {
	p       *segParser
	d       descriptor
	off     int64 // of the descriptor
	dataOff int64
	dataLen int64
}

// read reads the section's data (bounded by maxSectionRead).
func (c sec) read() ([]byte, error) {
	if c.dataLen > maxSectionRead {
		return nil, fmt.Errorf("%s: offset %d: %q section of %d bytes is too large", c.p.name, c.off, c.d.Type, c.d.Size)
	}
	b := make([]byte, c.dataLen)
	if _, err := c.p.r.ReadAt(b, c.dataOff); err != nil {
		return nil, fmt.Errorf("%s: read %q section at offset %d: %w", c.p.name, c.d.Type, c.off, err)
	}
	return b, nil
}

// wrap says which section an error is about.
func (c sec) wrap(err error) error {
	return fmt.Errorf("%s: %q section at offset %d: %w", c.p.name, c.d.Type, c.off, err)
}

// section takes in one section of a type it knows; others are skipped.
func (p *segParser) section(d descriptor, off int64) error {
	c := sec{p: p, d: d, off: off, dataOff: off + descriptorSize, dataLen: int64(d.Size) - descriptorSize}
	switch d.Type {
	case "header2", "header":
		return p.headerSection(c)
	case "volume", "data", "disk":
		b, err := c.read()
		if err != nil {
			return err
		}
		v, err := parseVolume(b)
		if err != nil {
			return c.wrap(err)
		}
		if p.s.vol == nil {
			p.s.vol, p.s.volOff = &v, c.dataOff
		}
	case "sectors":
		p.sectorsEnd = off + int64(d.Size)
	case "table", "table2":
		return p.tableSection(c)
	case "error2", "hash", "digest":
		return p.summarySection(c)
	}
	return nil
}

// headerSection reads header2 or header (the first of each; its copy is
// skipped). A bad header2 is forgiven when its copy follows intact.
func (p *segParser) headerSection(c sec) error {
	h2 := c.d.Type == "header2"
	if (h2 && p.s.header2 != nil) || (!h2 && p.s.header != nil) {
		return nil // the copy
	}
	b, err := c.read()
	if err != nil {
		return err
	}
	var m map[string]string
	if h2 {
		m, err = parseHeader2(b)
	} else {
		m, err = parseHeader(b)
	}
	if err != nil && h2 && p.header2Err == nil {
		p.header2Err = c.wrap(err) // forgiven if the copy that follows is intact
		return nil
	}
	if err != nil {
		if p.header2Err != nil {
			return fmt.Errorf("%w; and the copy: %w", p.header2Err, c.wrap(err))
		}
		return c.wrap(err)
	}
	if h2 {
		p.header2Err = nil
		p.s.header2 = m
	} else {
		p.s.header = m
	}
	return nil
}

// tableSection notes a table (or its table2 copy): where its entries are,
// the chunks' base and end. A bad table is forgiven when table2 is intact.
func (p *segParser) tableSection(c sec) error {
	if c.dataLen < tableHeaderSize {
		return c.wrap(fmt.Errorf("%d bytes of data, need %d", c.dataLen, tableHeaderSize))
	}
	hb := make([]byte, tableHeaderSize)
	if _, err := p.r.ReadAt(hb, c.dataOff); err != nil {
		return c.wrap(err)
	}
	h, err := parseTableHeader(hb)
	if err == nil && tableHeaderSize+4*int64(h.Entries)+4 > c.dataLen {
		err = fmt.Errorf("%d entries do not fit in %d bytes", h.Entries, c.dataLen)
	}
	if err == nil && h.Base > uint64(p.size) {
		err = fmt.Errorf("table base offset %d beyond the end of the file (%d bytes)", h.Base, p.size)
	}
	end := c.off // end of the last chunk: the preceding sectors section, else this table
	if p.sectorsEnd > 0 && p.sectorsEnd <= c.off {
		end = p.sectorsEnd
	}
	t := tableRef{entriesOff: c.dataOff + tableHeaderSize, mirrorOff: -1, n: int(h.Entries), base: int64(h.Base), end: end, after: c.off + int64(c.d.Size)}
	switch {
	case c.d.Type == "table" && err != nil:
		p.tableErr = c.wrap(err)
	case c.d.Type == "table":
		p.s.tables = append(p.s.tables, t)
	case err != nil && p.tableErr != nil:
		return fmt.Errorf("%w; its table2 copy: %w", p.tableErr, c.wrap(err))
	case err != nil:
		// The table was good: the copy is only needed if its entries are bad.
	case p.tableErr != nil:
		p.s.tables = append(p.s.tables, t) // table2 replaces the damaged table
		p.tableErr = nil
	case len(p.s.tables) > 0:
		if q := &p.s.tables[len(p.s.tables)-1]; q.n == t.n && q.base == t.base && q.mirrorOff < 0 {
			q.mirrorOff, q.after = t.entriesOff, t.after
		}
	}
	return nil
}

// summarySection reads the error2, hash and digest sections.
func (p *segParser) summarySection(c sec) error {
	b, err := c.read()
	if err != nil {
		return err
	}
	switch c.d.Type {
	case "error2":
		if p.s.errors, err = parseError2(b); err != nil {
			return c.wrap(err)
		}
	case "hash":
		m, err := parseHash(b)
		if err != nil {
			return c.wrap(err)
		}
		p.s.hashMD5 = &m
	case "digest":
		m, h, err := parseDigest(b)
		if err != nil {
			return c.wrap(err)
		}
		p.s.digMD5, p.s.digSHA1 = &m, &h
	}
	return nil
}

// readEntries reads and verifies the entries of t, falling back to the
// table2 copy when the table's checksum does not match.
func readEntries(r io.ReaderAt, t tableRef, name string) ([]uint32, error) {
	b := make([]byte, 4*t.n+4)
	if _, err := r.ReadAt(b, t.entriesOff); err != nil {
		return nil, fmt.Errorf("%s: read table entries at offset %d: %w", name, t.entriesOff, err)
	}
	e, err := parseTableEntries(b, t.n)
	if err == nil {
		return e, nil
	}
	err = fmt.Errorf("%s: table at offset %d: %w", name, t.entriesOff-tableHeaderSize-descriptorSize, err)
	if t.mirrorOff < 0 {
		return nil, err
	}
	if _, rerr := r.ReadAt(b, t.mirrorOff); rerr != nil {
		return nil, fmt.Errorf("%w; table2: %w", err, rerr)
	}
	e, err2 := parseTableEntries(b, t.n)
	if err2 != nil {
		return nil, fmt.Errorf("%w; table2 at offset %d: %w", err, t.mirrorOff-tableHeaderSize-descriptorSize, err2)
	}
	return e, nil
}
