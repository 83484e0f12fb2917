package disk

import (
	"encoding/binary"
	"io"
)

// LVM2 physical volume label, in one of the first four 512-byte sectors:
// "LABELONE" @0, offset_xl le32 @20 (pv_header offset from the label start),
// type "LVM2 001" @24. The pv_header starts with the 32-character PV UUID.
const (
	lvmLabelTypeOff = 24
	lvmOffsetXLOff  = 20
)

func probeLVM(r io.ReaderAt, size int64) (FS, bool) {
	for sec := int64(0); sec < 4; sec++ {
		b := readBytes(r, size, sec*512, 512)
		if b == nil || string(b[:8]) != "LABELONE" || string(b[lvmLabelTypeOff:lvmLabelTypeOff+8]) != "LVM2 001" {
			continue
		}
		fs := FS{Type: "LVM2_member"}
		off := int(binary.LittleEndian.Uint32(b[lvmOffsetXLOff:]))
		if off+32 <= len(b) {
			u := string(b[off : off+32])
			// blkid groups the PV UUID 6-4-4-4-4-4-6.
			fs.UUID = u[0:6] + "-" + u[6:10] + "-" + u[10:14] + "-" + u[14:18] + "-" + u[18:22] + "-" + u[22:26] + "-" + u[26:32]
		}
		return fs, true
	}
	return FS{}, false
}
