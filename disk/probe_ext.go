package disk

import (
	"encoding/binary"
	"io"
)

// ext2/3/4 superblock, 1024 bytes at byte 1024 of the volume. Offsets below
// are relative to the superblock.
const (
	extSBOffset      = 1024
	extMagicOff      = 0x38 // s_magic, le16 = 0xEF53
	extCompatOff     = 0x5C // s_feature_compat
	extIncompatOff   = 0x60 // s_feature_incompat
	extROCompatOff   = 0x64 // s_feature_ro_compat
	extUUIDOff       = 0x68 // s_uuid[16]
	extVolumeNameOff = 0x78 // s_volume_name[16]
	extMagic         = 0xEF53

	extCompatHasJournal   = 0x0004
	extIncompatFiletype   = 0x0002
	extIncompatRecover    = 0x0004
	extIncompatJournalDev = 0x0008
	extIncompatMetaBG     = 0x0010
	extROCompatSparse     = 0x0001
	extROCompatLargeFile  = 0x0002
	extROCompatBtreeDir   = 0x0004
)

// probeExt follows blkid: a journal device is "jbd"; features ext3 does not
// know make it ext4; a journal without them is ext3; otherwise ext2.
func probeExt(r io.ReaderAt, size int64) (FS, bool) {
	sb := readBytes(r, size, extSBOffset, 1024)
	if sb == nil || binary.LittleEndian.Uint16(sb[extMagicOff:]) != extMagic {
		return FS{}, false
	}
	compat := binary.LittleEndian.Uint32(sb[extCompatOff:])
	incompat := binary.LittleEndian.Uint32(sb[extIncompatOff:])
	rocompat := binary.LittleEndian.Uint32(sb[extROCompatOff:])
	fs := FS{
		Label: cString(sb[extVolumeNameOff : extVolumeNameOff+16]),
		UUID:  uuidString(sb[extUUIDOff : extUUIDOff+16]),
	}
	const ext3Incompat = extIncompatFiletype | extIncompatRecover | extIncompatMetaBG
	const ext3ROCompat = extROCompatSparse | extROCompatLargeFile | extROCompatBtreeDir
	switch {
	case incompat&extIncompatJournalDev != 0:
		fs.Type = "jbd"
	case incompat&^ext3Incompat != 0 || rocompat&^ext3ROCompat != 0:
		fs.Type = "ext4"
	case compat&extCompatHasJournal != 0:
		fs.Type = "ext3"
	default:
		fs.Type = "ext2"
	}
	return fs, true
}
