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
	s := &segment{number: num}
	sectorsEnd := int64(-1)
	var tableErr error   // a bad table header, forgiven if table2 follows intact
	var header2Err error // a bad header2, forgiven if its copy follows intact
	off := int64(fileHeaderSize)
	db := make([]byte, descriptorSize)
	for {
		if off+descriptorSize > size {
			if partial && header2Err == nil {
				return s, nil
			}
			return nil, fmt.Errorf("%s: section at offset %d runs past the end of the file (%d bytes): segment truncated", name, off, size)
		}
		if _, err := r.ReadAt(db, off); err != nil {
			return nil, fmt.Errorf("%s: read section descriptor at offset %d: %w", name, off, err)
		}
		d, err := parseDescriptor(db)
		if err != nil && partial && header2Err == nil {
			return s, nil // e.g. the placeholder of a sectors section never closed
		}
		if err != nil {
			return nil, fmt.Errorf("%s: offset %d: %w", name, off, err)
		}
		if header2Err != nil && d.Type != "header2" {
			return nil, header2Err
		}
		if d.Type == "next" || d.Type == "done" {
			if tableErr != nil {
				return nil, tableErr
			}
			s.last = d.Type
			return s, nil
		}
		if d.Size < descriptorSize || d.Size > uint64(size-off) {
			if partial && header2Err == nil && d.Size >= descriptorSize {
				return s, nil // cut short by the end of the file
			}
			return nil, fmt.Errorf("%s: offset %d: %q section size %d does not fit in the file (%d bytes)", name, off, d.Type, d.Size, size)
		}
		dataOff, dataLen := off+descriptorSize, int64(d.Size)-descriptorSize
		read := func() ([]byte, error) {
			if dataLen > maxSectionRead {
				return nil, fmt.Errorf("%s: offset %d: %q section of %d bytes is too large", name, off, d.Type, d.Size)
			}
			b := make([]byte, dataLen)
			if _, err := r.ReadAt(b, dataOff); err != nil {
				return nil, fmt.Errorf("%s: read %q section at offset %d: %w", name, d.Type, off, err)
			}
			return b, nil
		}
		wrap := func(err error) error { return fmt.Errorf("%s: %q section at offset %d: %w", name, d.Type, off, err) }
		if d.Type != "table2" && tableErr != nil {
			return nil, tableErr
		}
		switch d.Type {
		case "header2", "header":
			if (d.Type == "header2" && s.header2 != nil) || (d.Type == "header" && s.header != nil) {
				break // the copy
			}
			b, err := read()
			if err != nil {
				return nil, err
			}
			var m map[string]string
			if d.Type == "header2" {
				m, err = parseHeader2(b)
			} else {
				m, err = parseHeader(b)
			}
			if err != nil && d.Type == "header2" && header2Err == nil {
				header2Err = wrap(err) // forgiven if the copy that follows is intact
				break
			}
			if err != nil {
				if header2Err != nil {
					return nil, fmt.Errorf("%w; and the copy: %w", header2Err, wrap(err))
				}
				return nil, wrap(err)
			}
			if d.Type == "header2" {
				header2Err = nil
			}
			if d.Type == "header2" {
				s.header2 = m
			} else {
				s.header = m
			}
		case "volume", "data", "disk":
			b, err := read()
			if err != nil {
				return nil, err
			}
			v, err := parseVolume(b)
			if err != nil {
				return nil, wrap(err)
			}
			if s.vol == nil {
				s.vol = &v
			}
		case "sectors":
			sectorsEnd = off + int64(d.Size)
		case "table", "table2":
			if dataLen < tableHeaderSize {
				return nil, wrap(fmt.Errorf("%d bytes of data, need %d", dataLen, tableHeaderSize))
			}
			hb := make([]byte, tableHeaderSize)
			if _, err := r.ReadAt(hb, dataOff); err != nil {
				return nil, wrap(err)
			}
			h, err := parseTableHeader(hb)
			if err == nil && tableHeaderSize+4*int64(h.Entries)+4 > dataLen {
				err = fmt.Errorf("%d entries do not fit in %d bytes", h.Entries, dataLen)
			}
			if err == nil && h.Base > uint64(size) {
				err = fmt.Errorf("table base offset %d beyond the end of the file (%d bytes)", h.Base, size)
			}
			end := off // end of the last chunk: the preceding sectors section, else this table
			if sectorsEnd > 0 && sectorsEnd <= off {
				end = sectorsEnd
			}
			t := tableRef{entriesOff: dataOff + tableHeaderSize, mirrorOff: -1, n: int(h.Entries), base: int64(h.Base), end: end}
			switch {
			case d.Type == "table" && err != nil:
				tableErr = wrap(err)
			case d.Type == "table":
				s.tables = append(s.tables, t)
			case err != nil && tableErr != nil:
				return nil, fmt.Errorf("%w; its table2 copy: %w", tableErr, wrap(err))
			case err != nil:
				// The table was good: the copy is only needed if its entries are bad.
			case tableErr != nil:
				s.tables = append(s.tables, t) // table2 replaces the damaged table
				tableErr = nil
			case len(s.tables) > 0:
				if p := &s.tables[len(s.tables)-1]; p.n == t.n && p.base == t.base && p.mirrorOff < 0 {
					p.mirrorOff = t.entriesOff
				}
			}
		case "error2":
			b, err := read()
			if err != nil {
				return nil, err
			}
			if s.errors, err = parseError2(b); err != nil {
				return nil, wrap(err)
			}
		case "hash":
			b, err := read()
			if err != nil {
				return nil, err
			}
			m, err := parseHash(b)
			if err != nil {
				return nil, wrap(err)
			}
			s.hashMD5 = &m
		case "digest":
			b, err := read()
			if err != nil {
				return nil, err
			}
			m, h, err := parseDigest(b)
			if err != nil {
				return nil, wrap(err)
			}
			s.digMD5, s.digSHA1 = &m, &h
		}
		if d.Next <= uint64(off) || d.Next > uint64(size) {
			if partial && d.Next > uint64(size) {
				return s, nil
			}
			return nil, fmt.Errorf("%s: %q section at offset %d points to the next section at %d (file has %d bytes)", name, d.Type, off, d.Next, size)
		}
		off = int64(d.Next)
	}
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
