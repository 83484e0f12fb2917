package ewf

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// File header: 13 bytes at offset 0 of every segment file.
//
//	offset size field
//	0      8    signature "EVF\x09\x0d\x0a\xff\x00"
//	8      1    start of fields, 0x01
//	9      2    segment number, 1 for the first file
//	11     2    end of fields, 0x0000
const fileHeaderSize = 13

var evfSignature = []byte("EVF\x09\x0d\x0a\xff\x00")

func marshalFileHeader(segment uint16) []byte {
	b := make([]byte, fileHeaderSize)
	copy(b, evfSignature)
	b[8] = 1
	binary.LittleEndian.PutUint16(b[9:11], segment)
	return b
}

func parseFileHeader(b []byte) (segment uint16, err error) {
	if len(b) < fileHeaderSize {
		return 0, fmt.Errorf("file header: %d bytes, need %d", len(b), fileHeaderSize)
	}
	if !bytes.Equal(b[:8], evfSignature) {
		return 0, fmt.Errorf("file header: signature % x is not EWF-E01 (EVF)", b[:8])
	}
	if b[8] != 1 || b[11] != 0 || b[12] != 0 {
		return 0, fmt.Errorf("file header: field markers %02x/%02x%02x, want 01/0000", b[8], b[11], b[12])
	}
	segment = binary.LittleEndian.Uint16(b[9:11])
	if segment == 0 {
		return 0, fmt.Errorf("file header: segment number 0")
	}
	return segment, nil
}
