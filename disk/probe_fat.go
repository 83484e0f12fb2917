package disk

import (
	"encoding/binary"
	"io"
)

// FAT boot sector (offsets from byte 0 of the volume).
const (
	fatBytesPerSecOff = 0x0B // le16
	fatSecPerClusOff  = 0x0D // u8, power of two
	fatNumFATsOff     = 0x10 // u8
	fat16SerialOff    = 0x27 // le32 volume serial (FAT12/16 extended BPB)
	fat16LabelOff     = 0x2B // [11] volume label
	fat16TypeOff      = 0x36 // [8] "FAT12   ", "FAT16   ", "FAT     "
	fat32SerialOff    = 0x43 // le32 volume serial (FAT32 extended BPB)
	fat32LabelOff     = 0x47 // [11]
	fat32TypeOff      = 0x52 // [8] "FAT32   "
	fatSignatureOff   = 0x1FE
)

// probeFAT recognises FAT12/16/32 by the boot-sector signature, a sane BPB
// and the file-system type string. The label is the boot-sector label
// ("NO NAME" means none).
func probeFAT(r io.ReaderAt, size int64) (FS, bool) {
	b := readBytes(r, size, 0, 512)
	if b == nil || b[fatSignatureOff] != 0x55 || b[fatSignatureOff+1] != 0xAA {
		return FS{}, false
	}
	if b[0] != 0xEB && b[0] != 0xE9 {
		return FS{}, false
	}
	bps := binary.LittleEndian.Uint16(b[fatBytesPerSecOff:])
	spc := b[fatSecPerClusOff]
	if bps < 512 || bps > 4096 || bps&(bps-1) != 0 || spc == 0 || spc&(spc-1) != 0 || b[fatNumFATsOff] == 0 {
		return FS{}, false
	}
	var serial, label []byte
	switch {
	case string(b[fat32TypeOff:fat32TypeOff+5]) == "FAT32":
		serial, label = b[fat32SerialOff:fat32SerialOff+4], b[fat32LabelOff:fat32LabelOff+11]
	case string(b[fat16TypeOff:fat16TypeOff+3]) == "FAT":
		serial, label = b[fat16SerialOff:fat16SerialOff+4], b[fat16LabelOff:fat16LabelOff+11]
	default:
		return FS{}, false
	}
	fs := FS{Type: "vfat", Label: cString(label), UUID: serial32(serial)}
	if fs.Label == "NO NAME" {
		fs.Label = ""
	}
	return fs, true
}
