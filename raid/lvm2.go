package raid

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// LVM2 physical volume label (detection only: the PV is reported, the
// member imaged; logical volumes are not assembled).
//
// The label is in one of the first four sectors (normally sector 1):
//
//	 0 id        [8]  "LABELONE"
//	 8 sector_xl u64  the sector holding this label
//	16 crc_xl    u32  CRC of bytes 20..511 of the sector
//	20 offset_xl u32  byte offset of the PV header from the label (32)
//	24 type      [8]  "LVM2 001"
//
// PV header (at offset_xl): pv_uuid [32] (printed 6-4-4-4-4-4-6),
// device_size_xl u64, then the data and metadata area lists (offset, size
// u64 pairs, each list ended by a zero pair).
//
// The CRC is LVM's: the reflected CRC-32 (IEEE polynomial) started from
// 0xf597a6cf, without final inversion.
type lvm2Prober struct{}

func (lvm2Prober) Name() string  { return "lvm2" }
func (lvm2Prober) Magic() string { return `"LABELONE" + "LVM2 001" in sectors 0-3` }

func lvmCRC(b []byte) uint32 { return ^crc32.Update(^uint32(0xf597a6cf), crc32.IEEETable, b) }

func (lvm2Prober) Probe(m Member) (*Superblock, error) {
	if m.Size < 4*512 {
		return nil, nil
	}
	buf := make([]byte, 4*512)
	if _, err := m.R.ReadAt(buf, 0); err != nil && err != io.EOF {
		return nil, fmt.Errorf("read %s LVM2 label area (LBA 0-3): %w", m.Name, err)
	}
	le := binary.LittleEndian
	for s := 0; s < 4; s++ {
		sec := buf[s*512 : (s+1)*512]
		if !bytes.Equal(sec[:8], []byte("LABELONE")) || !bytes.Equal(sec[24:32], []byte("LVM2 001")) {
			continue
		}
		sb := &Superblock{Format: "lvm2", Offset: int64(s) * 512, Checksum: le.Uint32(sec[16:]), ChecksumCalc: lvmCRC(sec[20:]),
			Role: RoleSpare, DevNumber: -1, RecoveryOffset: -1}
		sb.ChecksumOK = sb.Checksum == sb.ChecksumCalc
		off := int(le.Uint32(sec[20:]))
		if off < 32 || off+40 > 512 {
			sb.Detail = fmt.Sprintf("LVM2 PV label in sector %d: PV header offset %d out of range", s, off)
			sb.ChecksumOK = false
			return sb, nil
		}
		u := string(sec[off : off+32])
		sb.UUID = u[0:6] + "-" + u[6:10] + "-" + u[10:14] + "-" + u[14:18] + "-" + u[18:22] + "-" + u[22:26] + "-" + u[26:32]
		devSize := le.Uint64(sec[off+32:])
		sb.Detail = fmt.Sprintf("LVM2 physical volume %s (label sector %d, device size %d bytes)", sb.UUID, s, devSize)
		var areas []string
		for p := off + 40; p+16 <= 512; p += 16 {
			o, n := le.Uint64(sec[p:]), le.Uint64(sec[p+8:])
			if o == 0 && n == 0 {
				break
			}
			areas = append(areas, fmt.Sprintf("%d+%d", o, n))
		}
		if len(areas) > 0 {
			sb.Detail += fmt.Sprintf(", data area %s", areas[0])
			if o := le.Uint64(sec[off+40:]); o > 0 {
				sb.DataOffset = int64(o) / 512
			}
		}
		return sb, nil
	}
	return nil, nil
}
