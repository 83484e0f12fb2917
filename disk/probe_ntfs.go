package disk

import (
	"encoding/binary"
	"fmt"
	"io"
)

// NTFS boot sector (offsets from byte 0 of the volume).
const (
	ntfsOEMOff          = 3    // [8] "NTFS    "
	ntfsBytesPerSecOff  = 0x0B // le16
	ntfsSecPerClusOff   = 0x0D // u8
	ntfsMFTClusterOff   = 0x30 // le64 LCN of $MFT
	ntfsClusPerRecOff   = 0x40 // s8: >0 clusters per MFT record, <0 record is 2^-v bytes
	ntfsSerialOff       = 0x48 // le64 volume serial
	ntfsVolumeRecord    = 3    // MFT record number of $Volume
	ntfsAttrVolumeName  = 0x60
	ntfsAttrEnd         = 0xFFFFFFFF
	ntfsRecUSAOff       = 0x04 // le16 update sequence array offset
	ntfsRecUSACountOff  = 0x06 // le16 entries (1 + sectors)
	ntfsRecAttrsOff     = 0x14 // le16 first attribute offset
	ntfsAttrLenOff      = 0x04 // le32 attribute length
	ntfsAttrNonResOff   = 0x08 // u8
	ntfsAttrValueLenOff = 0x10 // le32 (resident)
	ntfsAttrValueOff    = 0x14 // le16 (resident)
)

// probeNTFS reports the volume serial as blkid does (16 upper-case hex
// digits) and the label from the $VOLUME_NAME attribute of MFT record 3.
func probeNTFS(r io.ReaderAt, size int64) (FS, bool) {
	b := readBytes(r, size, 0, 512)
	if b == nil || string(b[ntfsOEMOff:ntfsOEMOff+8]) != "NTFS    " {
		return FS{}, false
	}
	fs := FS{Type: "ntfs", UUID: fmt.Sprintf("%016X", binary.LittleEndian.Uint64(b[ntfsSerialOff:]))}
	fs.Label = ntfsLabel(r, size, b)
	return fs, true
}

func ntfsLabel(r io.ReaderAt, size int64, boot []byte) string {
	bps := int64(binary.LittleEndian.Uint16(boot[ntfsBytesPerSecOff:]))
	spc := int64(boot[ntfsSecPerClusOff])
	if bps < 256 || bps > 4096 || spc == 0 {
		return ""
	}
	cluster := bps * spc
	var recSize int64
	if v := int8(boot[ntfsClusPerRecOff]); v > 0 {
		recSize = int64(v) * cluster
	} else if v < 0 && v > -32 {
		recSize = 1 << uint(-v)
	}
	if recSize < 512 || recSize > 64<<10 {
		return ""
	}
	mft := int64(binary.LittleEndian.Uint64(boot[ntfsMFTClusterOff:])) * cluster
	rec := readBytes(r, size, mft+ntfsVolumeRecord*recSize, int(recSize))
	if rec == nil || string(rec[:4]) != "FILE" {
		return ""
	}
	// Undo the update sequence fixups: the last two bytes of every
	// 512-byte stride were replaced by the sequence number.
	usa := int(binary.LittleEndian.Uint16(rec[ntfsRecUSAOff:]))
	cnt := int(binary.LittleEndian.Uint16(rec[ntfsRecUSACountOff:]))
	for i := 1; i < cnt; i++ {
		end := i*512 - 2
		if usa+2*i+2 > len(rec) || end+2 > len(rec) {
			break
		}
		copy(rec[end:end+2], rec[usa+2*i:usa+2*i+2])
	}
	off := int(binary.LittleEndian.Uint16(rec[ntfsRecAttrsOff:]))
	for off+24 <= len(rec) {
		typ := binary.LittleEndian.Uint32(rec[off:])
		if typ == ntfsAttrEnd {
			break
		}
		alen := int(binary.LittleEndian.Uint32(rec[off+ntfsAttrLenOff:]))
		if alen < 24 || off+alen > len(rec) {
			break
		}
		if typ == ntfsAttrVolumeName && rec[off+ntfsAttrNonResOff] == 0 {
			vlen := int(binary.LittleEndian.Uint32(rec[off+ntfsAttrValueLenOff:]))
			voff := int(binary.LittleEndian.Uint16(rec[off+ntfsAttrValueOff:]))
			if off+voff+vlen <= len(rec) {
				return utf16le(rec[off+voff:off+voff+vlen], vlen/2)
			}
			break
		}
		off += alen
	}
	return ""
}
