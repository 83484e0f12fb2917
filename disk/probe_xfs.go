package disk

import "io"

// XFS superblock at byte 0 of the volume.
const (
	xfsMagicOff = 0   // [4] "XFSB"
	xfsUUIDOff  = 32  // sb_uuid[16]
	xfsFnameOff = 108 // sb_fname[12]
)

func probeXFS(r io.ReaderAt, size int64) (FS, bool) {
	b := readBytes(r, size, 0, 512)
	if b == nil || string(b[xfsMagicOff:xfsMagicOff+4]) != "XFSB" {
		return FS{}, false
	}
	return FS{Type: "xfs", Label: cString(b[xfsFnameOff : xfsFnameOff+12]), UUID: uuidString(b[xfsUUIDOff : xfsUUIDOff+16])}, true
}
