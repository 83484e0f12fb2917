package disk

import (
	"encoding/binary"
	"io"
)

// exFAT boot sector (offsets from byte 0 of the volume).
const (
	exfatNameOff         = 3    // [8] "EXFAT   "
	exfatHeapOffsetOff   = 0x58 // le32 ClusterHeapOffset, in sectors
	exfatRootClusterOff  = 0x60 // le32 FirstClusterOfRootDirectory
	exfatSerialOff       = 0x64 // le32 VolumeSerialNumber
	exfatSectorShiftOff  = 0x6C // u8 BytesPerSectorShift (9..12)
	exfatClusterShiftOff = 0x6D // u8 SectorsPerClusterShift

	exfatEntryLabel = 0x83 // directory entry type: volume label
	exfatEntryEnd   = 0x00 // end of directory
	exfatMaxScan    = 64 << 10
)

// probeExFAT reads the boot sector and the first cluster of the root
// directory for the volume-label entry (UTF-16LE, up to 11 characters).
func probeExFAT(r io.ReaderAt, size int64) (FS, bool) {
	b := readBytes(r, size, 0, 512)
	if b == nil || string(b[exfatNameOff:exfatNameOff+8]) != "EXFAT   " {
		return FS{}, false
	}
	fs := FS{Type: "exfat", UUID: serial32(b[exfatSerialOff:])}
	ss, cs := uint(b[exfatSectorShiftOff]), uint(b[exfatClusterShiftOff])
	if ss < 9 || ss > 12 || ss+cs > 25 {
		return fs, true
	}
	sector := int64(1) << ss
	cluster := sector << cs
	heap := int64(binary.LittleEndian.Uint32(b[exfatHeapOffsetOff:])) * sector
	root := int64(binary.LittleEndian.Uint32(b[exfatRootClusterOff:]))
	if root < 2 {
		return fs, true
	}
	n := cluster
	if n > exfatMaxScan {
		n = exfatMaxScan
	}
	dir := readBytes(r, size, heap+(root-2)*cluster, int(n))
	for i := 0; i+32 <= len(dir); i += 32 {
		switch dir[i] {
		case exfatEntryEnd:
			return fs, true
		case exfatEntryLabel:
			fs.Label = utf16le(dir[i+2:i+24], int(dir[i+1]))
			return fs, true
		}
	}
	return fs, true
}
