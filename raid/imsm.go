package raid

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// Intel Matrix Storage Manager / Rapid Storage Technology metadata ("IMSM"),
// as written by the option ROM, Windows RST and mdadm --metadata=imsm.
// Little-endian. The MPB (metadata parameter block) starts in the second
// sector from the end; when it is longer than one sector the rest is stored
// in the sectors just before that one, in order.
//
// MPB header:
//
//	0x00 sig             [32] "Intel Raid ISM Cfg Sig. " + version ("1.2.02", ...)
//	0x20 check_sum       u32  Σ u32 words over mpb_size, minus this field
//	0x24 mpb_size        u32  bytes
//	0x28 family_num      u32  container identity
//	0x2C generation_num  u32  incremented on every write
//	0x30 error_log_size  u32
//	0x34 attributes      u32
//	0x38 num_disks       u8
//	0x39 num_raid_devs   u8
//	0x40 orig_family_num u32
//	0x50 creation_time   u64
//	0xD8 disk[num_disks] 48 bytes each: serial[16], total_blocks_lo u32 (16),
//	                     scsi_id (20), status (24: 1 spare, 2 configured, 4 failed),
//	                     owner_cfg_num (28), total_blocks_hi (32)
//	then dev[num_raid_devs], each:
//	  0 volume[16], 16 size_low, 20 size_high (sectors), 24 status, 28 reserved_blocks,
//	  80 vol: 8 migr_state, 9 migr_type, 10 dirty; 32 map[1 or 2]:
//	     0 pba_of_lba0_lo, 4 blocks_per_member_lo, 8 num_data_stripes_lo,
//	    12 blocks_per_strip u16, 14 map_state, 15 raid_level (0, 1, 5; 1 with
//	       more than two members is RAID10), 16 num_members, 17 num_domains,
//	    18 failed_disk_num, 20 pba_of_lba0_hi, 24 blocks_per_member_hi,
//	    28 num_data_stripes_hi, 48 disk_ord_tbl[num_members] (low 24 bits: disk
//	       index; bit 24: rebuilding)
//
// A member knows which disk-table entry it is only by its serial number (the
// drive's, not stored elsewhere on the disk): Member.Serial must be set for
// IMSM volumes to be assembled.
type imsmProber struct{}

const imsmSig = "Intel Raid ISM Cfg Sig. "

func (imsmProber) Name() string  { return "imsm" }
func (imsmProber) Magic() string { return `"Intel Raid ISM Cfg Sig. " two sectors from the end` }

// IMSMInfo is the container as one member's MPB describes it.
type IMSMInfo struct {
	Version     string       `json:"version"`
	Family      uint32       `json:"family"`
	OrigFamily  uint32       `json:"orig_family"`
	Generation  uint32       `json:"generation"`
	Disks       []IMSMDisk   `json:"disks"`
	Volumes     []IMSMVolume `json:"volumes"`
	ThisDisk    int          `json:"this_disk"` // index in Disks by Member.Serial, -1 unknown
	Serial      string       `json:"serial,omitempty"`
	SerialKnown bool         `json:"serial_known"`
}

// IMSMDisk is one entry of the MPB's disk table.
type IMSMDisk struct {
	Serial      string `json:"serial"`
	TotalBlocks int64  `json:"total_blocks"`
	Status      uint32 `json:"status"`
}

// IMSMVolume is one RAID volume of the container.
type IMSMVolume struct {
	Index           int      `json:"index"`
	Name            string   `json:"name"`
	SizeSectors     int64    `json:"size_sectors"`
	MigrState       uint8    `json:"migr_state"`
	MigrType        uint8    `json:"migr_type"`
	Dirty           uint8    `json:"dirty"`
	PBA             int64    `json:"pba_of_lba0"`
	BlocksPerMember int64    `json:"blocks_per_member"`
	DataStripes     int64    `json:"num_data_stripes"`
	StripSectors    int64    `json:"blocks_per_strip"`
	MapState        uint8    `json:"map_state"`
	RAIDLevel       uint8    `json:"raid_level"`
	Members         int      `json:"num_members"`
	Ord             []uint32 `json:"disk_ord_tbl"`
	Level           int      `json:"level"` // md equivalent
	Layout          int      `json:"layout"`
	Err             string   `json:"error,omitempty"`
}

func (imsmProber) Probe(m Member) (*Superblock, error) {
	if m.Size < 4096 {
		return nil, nil
	}
	end := m.Size &^ 511
	first := make([]byte, 512)
	off := end - 1024
	if _, err := m.R.ReadAt(first, off); err != nil && err != io.EOF {
		return nil, fmt.Errorf("read %s IMSM anchor at byte %d (LBA %d): %w", m.Name, off, off/512, err)
	}
	if !bytes.HasPrefix(first, []byte(imsmSig)) {
		return nil, nil
	}
	le := binary.LittleEndian
	size := int64(le.Uint32(first[0x24:]))
	sb := &Superblock{Format: "imsm", Offset: off, Role: RoleSpare, DevNumber: -1, RecoveryOffset: -1,
		Checksum: le.Uint32(first[0x20:])}
	if size < 0xD8 || size > 1<<20 || size > off {
		sb.Detail = fmt.Sprintf("IMSM MPB size %d implausible", size)
		return sb, nil
	}
	mpb := make([]byte, (size+511)&^511)
	copy(mpb, first)
	if extra := int64(len(mpb)) - 512; extra > 0 {
		if _, err := m.R.ReadAt(mpb[512:], off-extra); err != nil && err != io.EOF {
			return nil, fmt.Errorf("read %s IMSM MPB continuation at byte %d: %w", m.Name, off-extra, err)
		}
	}
	mpb = mpb[:size]
	var sum uint32
	for i := 0; i+4 <= len(mpb); i += 4 {
		sum += le.Uint32(mpb[i:])
	}
	sb.ChecksumCalc = sum - sb.Checksum
	sb.ChecksumOK = sb.ChecksumCalc == sb.Checksum
	info, err := parseIMSM(mpb, m.Serial)
	sb.IMSM = info
	if err != nil {
		sb.Detail = err.Error()
		sb.ChecksumOK = false
		return sb, nil
	}
	sb.UUID = fmt.Sprintf("%08x", info.Family)
	sb.Events = uint64(info.Generation)
	sb.Detail = fmt.Sprintf("IMSM container family %08x, %d disks, %d volumes", info.Family, len(info.Disks), len(info.Volumes))
	sb.DevNumber = info.ThisDisk
	return sb, nil
}

func imsmString(b []byte) string { return strings.TrimSpace(string(bytes.TrimRight(b, "\x00"))) }

func parseIMSM(mpb []byte, serial string) (*IMSMInfo, error) {
	le := binary.LittleEndian
	info := &IMSMInfo{
		Version:    imsmString(mpb[len(imsmSig):32]),
		Family:     le.Uint32(mpb[0x28:]),
		Generation: le.Uint32(mpb[0x2C:]),
		OrigFamily: le.Uint32(mpb[0x40:]),
		ThisDisk:   -1,
		Serial:     serial,
	}
	nd, nv := int(mpb[0x38]), int(mpb[0x39])
	p := 0xD8
	for i := 0; i < nd; i++ {
		if p+48 > len(mpb) {
			return info, fmt.Errorf("IMSM disk table entry %d beyond the MPB (%d bytes)", i, len(mpb))
		}
		d := mpb[p : p+48]
		info.Disks = append(info.Disks, IMSMDisk{
			Serial:      imsmString(d[:16]),
			TotalBlocks: int64(le.Uint32(d[16:])) | int64(le.Uint32(d[32:]))<<32,
			Status:      le.Uint32(d[24:]),
		})
		if serial != "" && imsmSerialMatch(imsmString(d[:16]), serial) {
			info.ThisDisk, info.SerialKnown = i, true
		}
		p += 48
	}
	for v := 0; v < nv; v++ {
		if p+80+32+48 > len(mpb) {
			return info, fmt.Errorf("IMSM volume %d beyond the MPB", v)
		}
		d := mpb[p:]
		vol := IMSMVolume{
			Index:       v,
			Name:        imsmString(d[:16]),
			SizeSectors: int64(le.Uint32(d[16:])) | int64(le.Uint32(d[20:]))<<32,
			MigrState:   d[80+8],
			MigrType:    d[80+9],
			Dirty:       d[80+10],
		}
		mp := d[112:]
		vol.PBA = int64(le.Uint32(mp[0:])) | int64(le.Uint32(mp[20:]))<<32
		vol.BlocksPerMember = int64(le.Uint32(mp[4:])) | int64(le.Uint32(mp[24:]))<<32
		vol.DataStripes = int64(le.Uint32(mp[8:])) | int64(le.Uint32(mp[28:]))<<32
		vol.StripSectors = int64(le.Uint16(mp[12:]))
		vol.MapState, vol.RAIDLevel, vol.Members = mp[14], mp[15], int(mp[16])
		mapLen := 48 + 4*max(vol.Members, 1)
		if 112+mapLen > len(d) {
			return info, fmt.Errorf("IMSM volume %d map beyond the MPB", v)
		}
		for i := 0; i < vol.Members; i++ {
			vol.Ord = append(vol.Ord, le.Uint32(mp[48+4*i:]))
		}
		switch {
		case vol.RAIDLevel == 0:
			vol.Level = 0
		case vol.RAIDLevel == 1 && vol.Members == 2:
			vol.Level = 1
		case vol.RAIDLevel == 1 || vol.RAIDLevel == 10:
			vol.Level, vol.Layout = 10, 0x102
		case vol.RAIDLevel == 5:
			vol.Level, vol.Layout = 5, algLeftAsymmetric
		default:
			vol.Err = fmt.Sprintf("IMSM raid level %d not supported", vol.RAIDLevel)
		}
		info.Volumes = append(info.Volumes, vol)
		size := 112 + mapLen
		if vol.MigrState != 0 {
			// A second map (the previous geometry) follows.
			if 112+mapLen+48 > len(d) {
				return info, fmt.Errorf("IMSM volume %d second map beyond the MPB", v)
			}
			m2 := int(d[112+mapLen+16])
			size += 48 + 4*max(m2, 1)
		}
		p += size
	}
	return info, nil
}

// imsmSerialMatch compares a disk-table serial with a drive serial. IMSM
// keeps at most 16 characters: the last 16 of longer serials.
func imsmSerialMatch(table, drive string) bool {
	drive = strings.TrimSpace(drive)
	if len(drive) > 16 {
		drive = drive[len(drive)-16:]
	}
	return table == drive
}

// dataDisks is how many members' worth of data a volume holds.
func (v *IMSMVolume) dataDisks() int {
	switch v.Level {
	case 0:
		return v.Members
	case 1:
		return 1
	case 5:
		return v.Members - 1
	case 10:
		return v.Members / 2
	}
	return 0
}

// groupIMSM builds one Array per IMSM volume.
func groupIMSM(rep *Report) {
	type ent struct {
		mr *MemberReport
		sb *Superblock
	}
	var order []uint32
	byFam := map[uint32][]ent{}
	for _, mr := range rep.Members {
		for _, sb := range mr.Found {
			if sb.IMSM == nil || sb.UUID == "" {
				continue
			}
			f := sb.IMSM.Family
			if _, ok := byFam[f]; !ok {
				order = append(order, f)
			}
			byFam[f] = append(byFam[f], ent{mr, sb})
		}
	}
	for _, fam := range order {
		es := byFam[fam]
		var fresh *Superblock
		for _, e := range es {
			if e.sb.ChecksumOK && (fresh == nil || e.sb.IMSM.Generation > fresh.IMSM.Generation) {
				fresh = e.sb
			}
		}
		if fresh == nil {
			fresh = es[0].sb
		}
		for vi := range fresh.IMSM.Volumes {
			vol := &fresh.IMSM.Volumes[vi]
			a := &Array{Metadata: "imsm", UUID: fmt.Sprintf("%08x-%d", fam, vi), Name: vol.Name,
				LevelNum: vol.Level, Level: LevelName(vol.Level), LayoutNum: vol.Layout,
				Layout: LayoutName(vol.Level, vol.Layout, false), ChunkBytes: vol.StripSectors * 512,
				RaidDevices: vol.Members, Events: uint64(fresh.IMSM.Generation)}
			if !fresh.ChecksumOK {
				a.Problems = append(a.Problems, "no member has an MPB with a valid checksum")
			}
			if vol.Err != "" {
				a.Problems = append(a.Problems, vol.Err)
			}
			dd := vol.dataDisks()
			devSectors := vol.BlocksPerMember
			if dd > 0 {
				devSectors = vol.SizeSectors / int64(dd)
			}
			a.DevSize = devSectors * 512
			if vol.MigrState != 0 && vol.MigrType == 3 {
				a.Reshape = &Reshape{NewLevel: vol.Level, NewLayout: vol.Layout, NewChunk: a.ChunkBytes}
			}
			a.fresh = &Superblock{Format: "imsm", UUID: a.UUID, Level: vol.Level, Layout: vol.Layout,
				ChunkSectors: vol.StripSectors, RaidDisks: vol.Members, DevSectors: devSectors,
				Events: a.Events, ChecksumOK: fresh.ChecksumOK && vol.Err == "", RecoveryOffset: -1}
			roles := make([]*ArrayMember, min(max(vol.Members, 0), maxRaidDisks))
			var extra []*ArrayMember
			for _, e := range es {
				am := &ArrayMember{Name: e.mr.Name, Role: -1, Events: uint64(e.sb.IMSM.Generation), DataOffset: vol.PBA * 512,
					sb:     &Superblock{Format: "imsm", DataOffset: vol.PBA, DataSize: devSectors, DevSectors: devSectors, RecoveryOffset: -1},
					member: e.mr.member}
				pos := -1
				var ord uint32
				if e.sb.IMSM.ThisDisk >= 0 {
					for i, o := range vol.Ord {
						if int(o&0xffffff) == e.sb.IMSM.ThisDisk {
							pos, ord = i, o
						}
					}
				}
				switch {
				case !e.sb.ChecksumOK:
					am.Status = StatusBadSum
					a.Problems = append(a.Problems, fmt.Sprintf("%s: IMSM checksum stored %08x, computed %08x", e.mr.Name, e.sb.Checksum, e.sb.ChecksumCalc))
				case !e.sb.IMSM.SerialKnown:
					am.Status = StatusUnplaced
					a.Problems = append(a.Problems, fmt.Sprintf("%s: drive serial unknown or not in the IMSM disk table (serial %q); give it to place the member", e.mr.Name, e.sb.IMSM.Serial))
				case e.sb.IMSM.Generation < fresh.IMSM.Generation:
					am.Status = StatusStale
					a.Problems = append(a.Problems, fmt.Sprintf("%s: stale, generation %d < %d", e.mr.Name, e.sb.IMSM.Generation, fresh.IMSM.Generation))
				case pos < 0:
					am.Status = StatusSpare
				case e.sb.IMSM.ThisDisk < len(fresh.IMSM.Disks) && fresh.IMSM.Disks[e.sb.IMSM.ThisDisk].Status&4 != 0:
					am.Status, am.Role = StatusFaulty, pos
				case ord&(1<<24) != 0:
					am.Status, am.Role = StatusRebuilding, pos
					roles[pos] = am
					continue
				case roles[pos] == nil:
					am.Status, am.Role = StatusActive, pos
					roles[pos] = am
					continue
				default:
					am.Status = StatusDuplicate
				}
				extra = append(extra, am)
			}
			finishArray(a, roles, extra)
			if a.Size > 0 && a.Size != vol.SizeSectors*512 {
				a.Problems = append(a.Problems, fmt.Sprintf("computed size %d bytes differs from the IMSM volume size %d", a.Size, vol.SizeSectors*512))
			}
			rep.Arrays = append(rep.Arrays, a)
		}
	}
}
