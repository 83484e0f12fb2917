package ewf

import (
	"encoding/binary"
	"fmt"
	"hash/adler32"
)

// Volume section data ("volume" in the first segment, identical "data" in the
// others and after the last table2 of a single-segment image): 1052 bytes
// after the descriptor, EnCase 5–7 layout.
//
//	offset size field
//	0      1    media type: 0x00 removable, 0x01 fixed, 0x03 optical, 0x10 memory
//	1      3    zero
//	4      4    number of chunks in the whole image
//	8      4    sectors per chunk
//	12     4    bytes per sector
//	16     8    number of sectors in the whole image
//	24     12   C:H:S cylinders, heads, sectors (zero)
//	36     1    media flags: 0x01 image file, 0x02 physical device
//	37     3    zero
//	40     4    PALM volume start sector (zero)
//	44     4    zero
//	48     4    SMART logs start sector (zero)
//	52     1    compression level: 0 none, 1 good (fast), 2 best
//	53     3    zero
//	56     4    error granularity in sectors
//	60     4    zero
//	64     16   segment file set identifier (random GUID)
//	80     963  zero
//	1043   5    signature (zero)
//	1048   4    Adler-32 of bytes 0–1047
const volumeDataSize = 1052

const (
	mediaRemovable    = 0x00
	mediaFixed        = 0x01
	mediaFlagImage    = 0x01
	mediaFlagPhysical = 0x02
)

type volume struct {
	MediaType        uint8
	Chunks           uint32
	SectorsPerChunk  uint32
	BytesPerSector   uint32
	Sectors          uint64
	MediaFlags       uint8
	CompressionLevel uint8
	ErrorGranularity uint32
	SetID            [16]byte
}

func (v volume) marshal() []byte {
	b := make([]byte, volumeDataSize)
	b[0] = v.MediaType
	binary.LittleEndian.PutUint32(b[4:8], v.Chunks)
	binary.LittleEndian.PutUint32(b[8:12], v.SectorsPerChunk)
	binary.LittleEndian.PutUint32(b[12:16], v.BytesPerSector)
	binary.LittleEndian.PutUint64(b[16:24], v.Sectors)
	b[36] = v.MediaFlags
	b[52] = v.CompressionLevel
	binary.LittleEndian.PutUint32(b[56:60], v.ErrorGranularity)
	copy(b[64:80], v.SetID[:])
	binary.LittleEndian.PutUint32(b[1048:1052], adler32.Checksum(b[:1048]))
	return b
}

func parseVolume(b []byte) (volume, error) {
	if len(b) < volumeDataSize {
		return volume{}, fmt.Errorf("volume data: %d bytes, need %d (only the EnCase 5+ layout is supported)", len(b), volumeDataSize)
	}
	if err := verifyAdler("volume data", b[:1048], binary.LittleEndian.Uint32(b[1048:1052])); err != nil {
		return volume{}, err
	}
	v := volume{
		MediaType:        b[0],
		Chunks:           binary.LittleEndian.Uint32(b[4:8]),
		SectorsPerChunk:  binary.LittleEndian.Uint32(b[8:12]),
		BytesPerSector:   binary.LittleEndian.Uint32(b[12:16]),
		Sectors:          binary.LittleEndian.Uint64(b[16:24]),
		MediaFlags:       b[36],
		CompressionLevel: b[52],
		ErrorGranularity: binary.LittleEndian.Uint32(b[56:60]),
	}
	copy(v.SetID[:], b[64:80])
	if v.BytesPerSector == 0 || v.BytesPerSector > 1<<16 {
		return volume{}, fmt.Errorf("volume data: bytes per sector %d out of range", v.BytesPerSector)
	}
	if v.SectorsPerChunk == 0 || v.SectorsPerChunk > 1<<15 {
		return volume{}, fmt.Errorf("volume data: sectors per chunk %d out of range", v.SectorsPerChunk)
	}
	if cs := uint64(v.SectorsPerChunk) * uint64(v.BytesPerSector); cs > 1<<26 {
		return volume{}, fmt.Errorf("volume data: chunk size %d too large", cs)
	}
	if v.Sectors > 1<<48 {
		return volume{}, fmt.Errorf("volume data: sector count %d out of range", v.Sectors)
	}
	return v, nil
}

// chunkSize is the number of media bytes per chunk.
func (v volume) chunkSize() int64 { return int64(v.SectorsPerChunk) * int64(v.BytesPerSector) }

// mediaSize is the number of media bytes in the image.
func (v volume) mediaSize() int64 { return int64(v.Sectors) * int64(v.BytesPerSector) }
