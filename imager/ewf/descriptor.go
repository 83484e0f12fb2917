package ewf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/adler32"
)

// Section descriptor: 76 bytes at the start of every section.
//
//	offset size field
//	0      16   section type, ASCII, NUL padded ("header2", "table", …)
//	16     8    offset of the next section from the start of the segment file
//	24     8    size of the section, descriptor included (0 for next/done)
//	32     40   padding (zero)
//	72     4    Adler-32 of bytes 0–71
const descriptorSize = 76

type descriptor struct {
	Type string
	Next uint64
	Size uint64
}

func (d descriptor) marshal() []byte {
	b := make([]byte, descriptorSize)
	copy(b[0:16], d.Type)
	binary.LittleEndian.PutUint64(b[16:24], d.Next)
	binary.LittleEndian.PutUint64(b[24:32], d.Size)
	binary.LittleEndian.PutUint32(b[72:76], adler32.Checksum(b[:72]))
	return b
}

func parseDescriptor(b []byte) (descriptor, error) {
	if len(b) < descriptorSize {
		return descriptor{}, fmt.Errorf("section descriptor: %d bytes, need %d", len(b), descriptorSize)
	}
	if err := verifyAdler("section descriptor", b[:72], binary.LittleEndian.Uint32(b[72:76])); err != nil {
		return descriptor{}, err
	}
	t := b[0:16]
	if i := bytes.IndexByte(t, 0); i >= 0 {
		t = t[:i]
	}
	return descriptor{
		Type: string(t),
		Next: binary.LittleEndian.Uint64(b[16:24]),
		Size: binary.LittleEndian.Uint64(b[24:32]),
	}, nil
}
