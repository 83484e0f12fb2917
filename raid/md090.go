package raid

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// md v0.90 superblock (mdp_super_t, linux/raid/md_p.h).
//
// 4096 bytes of 32-bit words in the byte order of the host that wrote it (we
// read little-endian natively and big-endian as "byte-swapped"), at
// MD_NEW_SIZE_SECTORS(size): the device size rounded down to 64 KiB, minus 64 KiB.
//
// Word offsets (byte offset = 4 × word):
//
//	 0 md_magic        0xa92b4efc
//	 1 major_version   0
//	 2 minor_version   90 (91 while a reshape is in progress)
//	 3 patch_version
//	 4 gvalid_words
//	 5 set_uuid0
//	 6 ctime           seconds
//	 7 level           -1 linear, 0, 1, 4, 5, 6, 10, -4 multipath
//	 8 size            KiB used per member (component size)
//	 9 nr_disks
//	10 raid_disks
//	11 md_minor
//	12 not_persistent
//	13 set_uuid1
//	14 set_uuid2
//	15 set_uuid3
//	32 utime
//	33 state           bit 0 clean, 1 errors, 8 bitmap present
//	34 active_disks
//	35 working_disks
//	36 failed_disks
//	37 spare_disks
//	38 sb_csum
//	39 events_lo       (big-endian hosts: events_hi)
//	40 events_hi       (big-endian hosts: events_lo)
//	41 cp_events_lo    (swapped likewise)
//	42 cp_events_hi
//	43 recovery_cp     sectors resynced; 0xffffffff = clean
//	44 reshape_position (64 bits, host order)
//	46 new_level
//	47 delta_disks
//	48 new_layout
//	49 new_chunk       bytes
//	64 layout
//	65 chunk_size      bytes
//	128 disks[27]      32 words each: number, major, minor, raid_disk, state
//	992 this_disk      same 32-word descriptor
//
// Disk state bits: 0 faulty, 1 active, 2 sync, 3 removed, 9 write-mostly.
// Checksum: sum of the 1024 words (sb_csum taken as 0) in a 64-bit
// accumulator, folded once: (sum & 0xffffffff) + (sum >> 32), truncated to 32 bits.
type md090Prober struct{}

const (
	md090Size         = 4096
	md090Reserved     = 64 << 10
	md090DisksWord    = 128
	md090ThisDiskWord = 992
	md090MaxDisks     = 27

	md090DiskFaulty = 1 << 0
	md090DiskActive = 1 << 1
	md090DiskSync   = 1 << 2
	md090DiskRemove = 1 << 3
)

func (md090Prober) Name() string  { return "md-0.90" }
func (md090Prober) Magic() string { return "a92b4efc (32-bit, host order) at size&^64KiB - 64KiB" }

// md090Offset is the byte offset of a 0.90 superblock on a device of size bytes.
func md090Offset(size int64) int64 {
	if size < 2*md090Reserved {
		return -1
	}
	return size&^(md090Reserved-1) - md090Reserved
}

func (p md090Prober) Probe(m Member) (*Superblock, error) {
	off := md090Offset(m.Size)
	if off < 0 {
		return nil, nil
	}
	buf := make([]byte, md090Size)
	if _, err := m.R.ReadAt(buf, off); err != nil && err != io.EOF {
		return nil, fmt.Errorf("read %s 0.90 superblock at byte %d (LBA %d): %w", m.Name, off, off/512, err)
	}
	return parseMD090(buf, off)
}

// parseMD090 decodes a 4096-byte 0.90 superblock read from byte offset off.
func parseMD090(buf []byte, off int64) (*Superblock, error) {
	if len(buf) < md090Size {
		return nil, nil
	}
	var bo binary.ByteOrder
	switch {
	case binary.LittleEndian.Uint32(buf) == mdMagic:
		bo = binary.LittleEndian
	case binary.BigEndian.Uint32(buf) == mdMagic:
		bo = binary.BigEndian
	default:
		return nil, nil
	}
	w := func(i int) uint32 { return bo.Uint32(buf[4*i:]) }
	if w(1) != 0 || (w(2) != 90 && w(2) != 91) {
		// md magic but not a 0.90 superblock (a 1.x one, say).
		return nil, nil
	}
	sb := &Superblock{
		Format:         "md-0.90",
		Offset:         off,
		ByteSwapped:    bo == binary.BigEndian,
		MajorVersion:   0,
		MinorVersion:   int(w(2)),
		CTime:          time.Unix(int64(w(6)), 0).UTC(),
		UTime:          time.Unix(int64(w(32)), 0).UTC(),
		Level:          int(int32(w(7))),
		Layout:         int(w(64)),
		ChunkSectors:   int64(w(65)) / 512,
		RaidDisks:      int(w(10)),
		DevSectors:     int64(w(8)) * 2,
		DataOffset:     0,
		DataSize:       off / 512,
		SuperOffset:    off / 512,
		State:          w(33),
		Checksum:       w(38),
		ResyncOffset:   uint64(w(43)),
		RecoveryOffset: -1,
	}
	if sb.ResyncOffset == 0xffffffff {
		sb.ResyncOffset = ^uint64(0)
	}
	// Events: the 64-bit count is stored as two words whose order follows the
	// writer's byte order (md_p.h declares events_hi first on big-endian hosts).
	if bo == binary.BigEndian {
		sb.Events = uint64(w(39))<<32 | uint64(w(40))
	} else {
		sb.Events = uint64(w(40))<<32 | uint64(w(39))
	}
	var uuid [16]byte
	binary.BigEndian.PutUint32(uuid[0:], w(5))
	binary.BigEndian.PutUint32(uuid[4:], w(13))
	binary.BigEndian.PutUint32(uuid[8:], w(14))
	binary.BigEndian.PutUint32(uuid[12:], w(15))
	sb.SetUUID = uuid[:]
	sb.UUID = mdUUIDString(uuid[:])
	sb.LevelName = LevelName(sb.Level)
	sb.LayoutName = LayoutName(sb.Level, sb.Layout, false)

	// Checksum over 1024 words with sb_csum as zero.
	var sum uint64
	for i := 0; i < md090Size/4; i++ {
		if i == 38 {
			continue
		}
		sum += uint64(w(i))
	}
	sb.ChecksumCalc = uint32((sum & 0xffffffff) + (sum >> 32))
	sb.ChecksumOK = sb.ChecksumCalc == sb.Checksum

	if sb.MinorVersion == 91 {
		sb.reshape = true
		sb.ReshapePosition = bo.Uint64(buf[44*4:])
		if bo == binary.LittleEndian {
			sb.ReshapePosition = uint64(w(44)) | uint64(w(45))<<32
		}
		sb.NewLevel = int(int32(w(46)))
		sb.DeltaDisks = int(int32(w(47)))
		sb.NewLayout = int(w(48))
		sb.NewChunkSectors = int64(w(49)) / 512
	}

	role := func(d int) (num, raidDisk int, state uint32) {
		base := d * 32
		return int(w(base)), int(w(base + 3)), w(base + 4)
	}
	roleFromState := func(raidDisk int, state uint32) int {
		switch {
		case state&md090DiskFaulty != 0:
			return RoleFaulty
		case state&md090DiskActive != 0 && state&md090DiskSync != 0 && raidDisk >= 0 && raidDisk < md090MaxDisks:
			return raidDisk
		}
		// Not active, or a raid_disk no 0.90 array can have (it holds at
		// most md090MaxDisks): not placed in the array.
		return RoleSpare
	}
	num, rd, st := role(md090ThisDiskWord / 32)
	sb.DevNumber = num
	sb.Role = roleFromState(rd, st)
	sb.DiskState = st
	if sb.DevNumber < 0 || sb.DevNumber >= md090MaxDisks {
		sb.DevNumber = -1
	}
	sb.Roles = make([]int, md090MaxDisks)
	for d := 0; d < md090MaxDisks; d++ {
		_, rd, st := role(md090DisksWord/32 + d)
		if st&md090DiskRemove != 0 && st&(md090DiskActive|md090DiskSync) == 0 {
			sb.Roles[d] = RoleSpare
			continue
		}
		sb.Roles[d] = roleFromState(rd, st)
	}
	return sb, nil
}
