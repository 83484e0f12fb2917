package raid

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// md v1.x superblock (struct mdp_superblock_1, linux/raid/md_p.h), little-endian.
//
// Position by minor version: 1.0 at (size_in_sectors - 16) &^ 7 sectors (8 KiB
// from the end, 4 KiB aligned), 1.1 at byte 0, 1.2 at byte 4096.
//
// Byte offsets:
//
//	  0 magic              u32  0xa92b4efc
//	  4 major_version      u32  1
//	  8 feature_map        u32  MD_FEATURE_* bits
//	 12 pad0               u32
//	 16 set_uuid           [16]
//	 32 set_name           [32] NUL padded, "homehost:name"
//	 64 ctime              u64  low 40 bits seconds, high 24 bits microseconds
//	 72 level              s32  -1 linear, 0, 1, 4, 5, 6, 10
//	 76 layout             u32
//	 80 size               u64  sectors used per member (component size)
//	 88 chunksize          u32  sectors
//	 92 raid_disks         u32
//	 96 bitmap_offset      s32  sectors from the superblock (or ppl offset s16 + size u16)
//	100 new_level          u32  \
//	104 reshape_position   u64   | valid with MD_FEATURE_RESHAPE_ACTIVE
//	112 delta_disks        u32   |
//	116 new_layout         u32   |
//	120 new_chunk          u32   |
//	124 new_offset         u32  /  signed, sectors (MD_FEATURE_NEW_OFFSET)
//	128 data_offset        u64  sectors from the start of the member
//	136 data_size          u64  sectors available for data
//	144 super_offset       u64  sectors, where this superblock is
//	152 recovery_offset    u64  sectors rebuilt (MD_FEATURE_RECOVERY_OFFSET); journal_tail
//	160 dev_number         u32  index into dev_roles
//	164 cnt_corrected_read u32
//	168 device_uuid        [16]
//	184 devflags           u8   bit 0 write-mostly, bit 1 failfast
//	185 bblog_shift        u8
//	186 bblog_size         u16
//	188 bblog_offset       u32
//	192 utime              u64  as ctime
//	200 events             u64
//	208 resync_offset      u64  sectors resynced; all ones = clean
//	216 sb_csum            u32
//	220 max_dev            u32  number of dev_roles entries
//	224 pad3               [32]
//	256 dev_roles          [max_dev]u16  role per dev_number; 0xffff spare, 0xfffe faulty, 0xfffd journal
//
// Checksum: the 256 + 2·max_dev bytes summed as little-endian u32 words (a
// trailing u16 added alone) with sb_csum as zero, in a 64-bit accumulator,
// folded once: (sum & 0xffffffff) + (sum >> 32), truncated to 32 bits.
type md1Prober struct{ minor int }

const (
	md1HeaderSize = 256
	md1MaxDev     = (4096 - md1HeaderSize) / 2 // what fits in the 4 KiB reserved for the superblock
)

func (p md1Prober) Name() string  { return fmt.Sprintf("md-1.%d", p.minor) }
func (p md1Prober) Magic() string { return "a92b4efc (le32) + major_version 1" }

// md1Offset is the byte offset of a 1.minor superblock on a device of size bytes.
func md1Offset(minor int, size int64) int64 {
	switch minor {
	case 0:
		sectors := size / 512
		if sectors < 16+8 {
			return -1
		}
		return ((sectors - 16) &^ 7) * 512
	case 1:
		return 0
	case 2:
		return 4096
	}
	return -1
}

func (p md1Prober) Probe(m Member) (*Superblock, error) {
	off := md1Offset(p.minor, m.Size)
	if off < 0 || off+4096 > m.Size {
		return nil, nil
	}
	buf := make([]byte, 4096)
	if _, err := m.R.ReadAt(buf, off); err != nil && err != io.EOF {
		return nil, fmt.Errorf("read %s 1.%d superblock at byte %d (LBA %d): %w", m.Name, p.minor, off, off/512, err)
	}
	return parseMD1(buf, p.minor, off)
}

func md1Time(v uint64) time.Time {
	return time.Unix(int64(v&(1<<40-1)), int64(v>>40)*1000).UTC()
}

// parseMD1 decodes a 1.x superblock (buf: up to 4096 bytes) read from byte off.
func parseMD1(buf []byte, minor int, off int64) (*Superblock, error) {
	if len(buf) < md1HeaderSize {
		return nil, nil
	}
	le := binary.LittleEndian
	if le.Uint32(buf[0:]) != mdMagic || le.Uint32(buf[4:]) != 1 {
		return nil, nil
	}
	maxDev := int(le.Uint32(buf[220:]))
	superOffset := int64(le.Uint64(buf[144:]))
	// A 1.x superblock records where it is; one found at another minor's
	// position (e.g. a 1.1 block read as 1.0 on a tiny device) is not ours.
	if superOffset*512 != off {
		return nil, nil
	}
	if maxDev > md1MaxDev || md1HeaderSize+2*maxDev > len(buf) {
		return nil, fmt.Errorf("md 1.%d superblock at byte %d: max_dev %d does not fit in 4 KiB", minor, off, maxDev)
	}
	feat := le.Uint32(buf[8:])
	sb := &Superblock{
		Format:         fmt.Sprintf("md-1.%d", minor),
		Offset:         off,
		MajorVersion:   1,
		MinorVersion:   minor,
		FeatureMap:     feat,
		Features:       featureNames(feat),
		SetUUID:        bytes.Clone(buf[16:32]),
		UUID:           mdUUIDString(buf[16:32]),
		Name:           string(bytes.TrimRight(buf[32:64], "\x00")),
		CTime:          md1Time(le.Uint64(buf[64:])),
		Level:          int(int32(le.Uint32(buf[72:]))),
		Layout:         int(le.Uint32(buf[76:])),
		DevSectors:     int64(le.Uint64(buf[80:])),
		ChunkSectors:   int64(le.Uint32(buf[88:])),
		RaidDisks:      int(le.Uint32(buf[92:])),
		DataOffset:     int64(le.Uint64(buf[128:])),
		DataSize:       int64(le.Uint64(buf[136:])),
		SuperOffset:    superOffset,
		RecoveryOffset: -1,
		DevNumber:      int(le.Uint32(buf[160:])),
		DeviceUUID:     mdUUIDString(buf[168:184]),
		UTime:          md1Time(le.Uint64(buf[192:])),
		Events:         le.Uint64(buf[200:]),
		ResyncOffset:   le.Uint64(buf[208:]),
		Checksum:       le.Uint32(buf[216:]),
	}
	sb.LevelName = LevelName(sb.Level)
	sb.LayoutName = LayoutName(sb.Level, sb.Layout, feat&mdFeatureRAID0Layout != 0)
	if feat&mdFeatureRecoveryOffset != 0 {
		sb.RecoveryOffset = int64(le.Uint64(buf[152:]))
	}
	if feat&mdFeatureReshapeActive != 0 {
		sb.reshape = true
		sb.NewLevel = int(int32(le.Uint32(buf[100:])))
		sb.ReshapePosition = le.Uint64(buf[104:])
		sb.DeltaDisks = int(int32(le.Uint32(buf[112:])))
		sb.NewLayout = int(le.Uint32(buf[116:]))
		sb.NewChunkSectors = int64(le.Uint32(buf[120:]))
		if feat&mdFeatureNewOffset != 0 {
			sb.NewOffset = int64(int32(le.Uint32(buf[124:])))
		}
	}

	// Checksum.
	size := md1HeaderSize + 2*maxDev
	var sum uint64
	i := 0
	for ; size-i >= 4; i += 4 {
		if i == 216 {
			continue
		}
		sum += uint64(le.Uint32(buf[i:]))
	}
	if size-i == 2 {
		sum += uint64(le.Uint16(buf[i:]))
	}
	sb.ChecksumCalc = uint32((sum & 0xffffffff) + (sum >> 32))
	sb.ChecksumOK = sb.ChecksumCalc == sb.Checksum

	sb.Roles = make([]int, maxDev)
	for d := 0; d < maxDev; d++ {
		sb.Roles[d] = md1Role(le.Uint16(buf[md1HeaderSize+2*d:]))
	}
	sb.Role = RoleSpare
	if sb.DevNumber >= 0 && sb.DevNumber < maxDev {
		sb.Role = sb.Roles[sb.DevNumber]
	} else {
		sb.DevNumber = -1
	}
	return sb, nil
}

func md1Role(v uint16) int {
	switch v {
	case 0xffff:
		return RoleSpare
	case 0xfffe:
		return RoleFaulty
	case 0xfffd:
		return RoleJournal
	}
	return int(v)
}
