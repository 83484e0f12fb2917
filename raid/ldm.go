package raid

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// Windows Logical Disk Manager ("dynamic disk") private header (detection
// only: spanned/striped/mirrored/RAID-5 dynamic volumes are reported, the
// member imaged).
//
// On MBR disks the PRIVHEAD is in sector 6 (the MBR carries one partition of
// type 0x42); on GPT disks it is in the LDM metadata partition, and a copy
// sits at the end of the 1 MiB database. Big-endian:
//
//	0x000 magic          "PRIVHEAD"
//	0x00C version        u16 major (2), u16 minor (11 basic/12 ...)
//	0x030 disk_id        [64] ASCII GUID of this disk
//	0x070 host_id        [64]
//	0x0B0 disk_group_id  [64]
//	0x0F0 disk_group_name[31]
//	0x11B logical_disk_start u64 (sectors)
//	0x123 logical_disk_size  u64
//	0x12B config_start       u64
//	0x133 config_size        u64
//
// The PRIVHEAD carries no checksum.
type ldmProber struct{}

func (ldmProber) Name() string { return "ldm" }
func (ldmProber) Magic() string {
	return `"PRIVHEAD" in sector 6 (MBR) or the last sector of the LDM database`
}

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.TrimSpace(string(b))
}

func (ldmProber) Probe(m Member) (*Superblock, error) {
	cands := []int64{6 * 512}
	if m.Size > 1<<20 {
		cands = append(cands, m.Size&^511-512) // GPT: last sector of the database on some layouts
	}
	b := make([]byte, 512)
	for _, off := range cands {
		if _, err := m.R.ReadAt(b, off); err != nil && err != io.EOF {
			return nil, fmt.Errorf("read %s LDM PRIVHEAD at byte %d: %w", m.Name, off, err)
		}
		if !bytes.Equal(b[:8], []byte("PRIVHEAD")) {
			continue
		}
		be := binary.BigEndian
		sb := &Superblock{Format: "ldm", Offset: off, Role: RoleSpare, DevNumber: -1, RecoveryOffset: -1,
			ChecksumNote: "format has no checksum", UUID: cstr(b[0x30:0x70]), Name: cstr(b[0xF0:0x10F])}
		sb.Detail = fmt.Sprintf("Windows LDM dynamic disk %s (version %d.%d) in disk group %q %s, data sectors %d+%d",
			sb.UUID, be.Uint16(b[0x0C:]), be.Uint16(b[0x0E:]), sb.Name, cstr(b[0xB0:0xF0]),
			be.Uint64(b[0x11B:]), be.Uint64(b[0x123:]))
		return sb, nil
	}
	return nil, nil
}
