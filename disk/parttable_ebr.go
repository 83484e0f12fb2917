package disk

import (
	"encoding/binary"
	"fmt"
	"io"
)

// MBR extended partitions hold a chain of Extended Boot Records (EBRs),
// one per logical partition; go-diskfs reads only the four primary
// entries. Each EBR is a 512-byte sector ending in 0x55AA with two 16-byte
// entries at 0x1BE:
//
//	entry 1: the logical partition, start relative to this EBR
//	entry 2: the next EBR, start relative to the extended partition
//
// Entry layout: type u8 @4, start LBA le32 @8, sector count le32 @12.
const (
	ebrEntry1      = 0x1BE
	ebrEntry2      = 0x1CE
	ebrTypeOff     = 4
	ebrStartOff    = 8
	ebrSizeOff     = 12
	ebrMaxLogicals = 256
)

// isExtendedType says whether an MBR type byte marks an extended partition
// (DOS CHS 0x05, LBA 0x0F, Linux 0x85).
func isExtendedType(t byte) bool { return t == 0x05 || t == 0x0F || t == 0x85 }

// readLogicals walks the EBR chain of the extended partition starting at
// LBA extStart and numbers the logical partitions from 5, as Linux does.
// A broken chain ends the walk; what was read so far is kept.
func readLogicals(r io.ReaderAt, size int64, logical int, extStart, extSectors uint32) []partEntry {
	var out []partEntry
	lbs := int64(logical)
	seen := map[uint32]bool{}
	ebr := extStart
	for n := 5; n < 5+ebrMaxLogicals; n++ {
		if seen[ebr] {
			break // a loop in the chain
		}
		seen[ebr] = true
		b := readBytes(r, size, int64(ebr)*lbs, 512)
		if b == nil || b[510] != 0x55 || b[511] != 0xAA {
			break
		}
		e1, e2 := b[ebrEntry1:ebrEntry1+16], b[ebrEntry2:ebrEntry2+16]
		if t := e1[ebrTypeOff]; t != 0 {
			start := int64(ebr) + int64(binary.LittleEndian.Uint32(e1[ebrStartOff:]))
			sectors := int64(binary.LittleEndian.Uint32(e1[ebrSizeOff:]))
			if sectors > 0 && (size <= 0 || (start+sectors)*lbs <= size) {
				out = append(out, partEntry{Number: n, Start: start * lbs, Size: sectors * lbs, Type: fmt.Sprintf("0x%02x", t)})
			}
		}
		next := binary.LittleEndian.Uint32(e2[ebrStartOff:])
		if e2[ebrTypeOff] == 0 || next == 0 || next >= extSectors {
			break
		}
		ebr = extStart + next
	}
	return out
}
