package ewf

import (
	"encoding/binary"
	"fmt"
	"hash/adler32"
)

// Table section data ("table", mirrored by "table2"), EnCase 6 layout:
//
//	offset size field
//	0      4    number of entries n
//	4      4    zero
//	8      8    table base offset (absolute offset in the segment file)
//	16     4    zero
//	20     4    Adler-32 of bytes 0–19
//	24     4·n  entries: bit 31 set = chunk is zlib-compressed; bits 0–30 =
//	            offset of the chunk relative to the table base offset
//	24+4n  4    Adler-32 of the entries
const (
	tableHeaderSize = 24
	// maxTableEntries is the per-table limit EnCase before 6 and FTK 1 obey;
	// we start a new sectors/table/table2 group after it.
	maxTableEntries = 16375
	compressedFlag  = 1 << 31
	// offsetMask keeps the 31-bit offset of a table entry.
	offsetMask = compressedFlag - 1
	// maxTableSectionSize bounds what a reader accepts (EnCase 6 allows 65534 entries).
	maxTableEntriesRead = 1 << 20
)

type tableHeader struct {
	Entries uint32
	Base    uint64
}

func (h tableHeader) marshal() []byte {
	b := make([]byte, tableHeaderSize)
	binary.LittleEndian.PutUint32(b[0:4], h.Entries)
	binary.LittleEndian.PutUint64(b[8:16], h.Base)
	binary.LittleEndian.PutUint32(b[20:24], adler32.Checksum(b[:20]))
	return b
}

func parseTableHeader(b []byte) (tableHeader, error) {
	if len(b) < tableHeaderSize {
		return tableHeader{}, fmt.Errorf("table header: %d bytes, need %d", len(b), tableHeaderSize)
	}
	if err := verifyAdler("table header", b[:20], binary.LittleEndian.Uint32(b[20:24])); err != nil {
		return tableHeader{}, err
	}
	h := tableHeader{
		Entries: binary.LittleEndian.Uint32(b[0:4]),
		Base:    binary.LittleEndian.Uint64(b[8:16]),
	}
	if h.Entries > maxTableEntriesRead {
		return tableHeader{}, fmt.Errorf("table header: %d entries, more than %d", h.Entries, maxTableEntriesRead)
	}
	return h, nil
}

// tableSectionSize is the size of a table section with n entries, descriptor included.
func tableSectionSize(n int) int64 { return descriptorSize + tableHeaderSize + 4*int64(n) + 4 }

// marshalTable returns header, entries and footer of a table section.
func marshalTable(base uint64, entries []uint32) []byte {
	b := make([]byte, 0, tableHeaderSize+4*len(entries)+4)
	b = append(b, tableHeader{Entries: uint32(len(entries)), Base: base}.marshal()...)
	start := len(b)
	for _, e := range entries {
		b = binary.LittleEndian.AppendUint32(b, e)
	}
	return binary.LittleEndian.AppendUint32(b, adler32.Checksum(b[start:]))
}

// parseTableEntries decodes n entries followed by their Adler-32 from b.
func parseTableEntries(b []byte, n int) ([]uint32, error) {
	if len(b) < 4*n+4 {
		return nil, fmt.Errorf("table entries: %d bytes, need %d", len(b), 4*n+4)
	}
	if err := verifyAdler("table entries", b[:4*n], binary.LittleEndian.Uint32(b[4*n:4*n+4])); err != nil {
		return nil, err
	}
	e := make([]uint32, n)
	for i := range e {
		e[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return e, nil
}

// tableEntriesLimit is maxTableEntries; tests lower it to exercise several
// table groups per segment without writing 512 MiB.
var tableEntriesLimit = maxTableEntries
