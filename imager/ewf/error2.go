package ewf

import (
	"encoding/binary"
	"fmt"
	"hash/adler32"
	"math"

	"github.com/coldimage/coldimage/imager"
)

// Error2 section data: sectors that could not be read (zero filled).
//
//	offset size field
//	0      4    number of entries n
//	4      512  zero
//	516    4    Adler-32 of bytes 0–515
//	520    8·n  entries: 4 first sector, 4 number of sectors
//	520+8n 4    Adler-32 of the entries
const (
	error2HeaderSize = 520
	maxError2Entries = 1 << 24
)

type errorRange struct{ First, Count uint32 }

// errorRanges converts bad ranges to error2 entries. The format holds 32-bit
// sector numbers: ranges are split at 2^32-1 sectors, and ranges that start
// beyond sector 2^32-1 cannot be expressed and are returned as dropped.
func errorRanges(bad []imager.BadRange) (out []errorRange, dropped []imager.BadRange) {
	for _, r := range bad {
		lba, n := r.LBA, r.Count
		for n > 0 {
			if lba < 0 || lba > math.MaxUint32 {
				dropped = append(dropped, imager.BadRange{LBA: lba, Count: n, Error: r.Error})
				break
			}
			c := min(n, int64(math.MaxUint32))
			out = append(out, errorRange{First: uint32(lba), Count: uint32(c)})
			lba += c
			n -= c
		}
	}
	return out, dropped
}

func marshalError2(rs []errorRange) []byte {
	b := make([]byte, error2HeaderSize, error2HeaderSize+8*len(rs)+4)
	binary.LittleEndian.PutUint32(b[0:4], uint32(len(rs)))
	binary.LittleEndian.PutUint32(b[516:520], adler32.Checksum(b[:516]))
	for _, r := range rs {
		b = binary.LittleEndian.AppendUint32(b, r.First)
		b = binary.LittleEndian.AppendUint32(b, r.Count)
	}
	return binary.LittleEndian.AppendUint32(b, adler32.Checksum(b[error2HeaderSize:]))
}

func parseError2(b []byte) ([]errorRange, error) {
	if len(b) < error2HeaderSize {
		return nil, fmt.Errorf("error2 header: %d bytes, need %d", len(b), error2HeaderSize)
	}
	if err := verifyAdler("error2 header", b[:516], binary.LittleEndian.Uint32(b[516:520])); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(b[0:4])
	if n > maxError2Entries || int64(len(b)) < error2HeaderSize+8*int64(n)+4 {
		return nil, fmt.Errorf("error2: %d entries do not fit in %d bytes", n, len(b))
	}
	e := b[error2HeaderSize : error2HeaderSize+8*int(n)]
	if err := verifyAdler("error2 entries", e, binary.LittleEndian.Uint32(b[error2HeaderSize+8*int(n):])); err != nil {
		return nil, err
	}
	rs := make([]errorRange, n)
	for i := range rs {
		rs[i] = errorRange{First: binary.LittleEndian.Uint32(e[8*i:]), Count: binary.LittleEndian.Uint32(e[8*i+4:])}
	}
	return rs, nil
}
