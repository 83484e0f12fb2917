package disk

import "io"

// btrfs primary superblock at 64 KiB. Offsets relative to the superblock.
const (
	btrfsSBOffset = 0x10000
	btrfsFSIDOff  = 0x20  // fsid[16]
	btrfsMagicOff = 0x40  // [8] "_BHRfS_M"
	btrfsLabelOff = 0x12B // label[256]
)

func probeBtrfs(r io.ReaderAt, size int64) (FS, bool) {
	b := readBytes(r, size, btrfsSBOffset, 0x1000)
	if b == nil || string(b[btrfsMagicOff:btrfsMagicOff+8]) != "_BHRfS_M" {
		return FS{}, false
	}
	return FS{Type: "btrfs", Label: cString(b[btrfsLabelOff : btrfsLabelOff+256]), UUID: uuidString(b[btrfsFSIDOff : btrfsFSIDOff+16])}, true
}
