package raid

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
)

// Btrfs superblock (detection only: a multi-device file system's members
// are reported with their devid; the file system is not assembled).
//
// Primary copy at 64 KiB (mirrors at 64 MiB and 256 GiB), 4096 bytes, LE:
//
//	  0 csum        [32] checksum of bytes 32..4095 (crc32c: first 4 bytes LE)
//	 32 fsid        [16]
//	 48 bytenr      u64  this copy's position
//	 64 magic       [8]  "_BHRfS_M"
//	 72 generation  u64
//	112 total_bytes u64
//	136 num_devices u64
//	196 csum_type   u16  0 crc32c, 1 xxhash64, 2 sha256, 3 blake2b
//	201 dev_item:   devid u64 (201), total_bytes (209), bytes_used (217),
//	                uuid [16] (267), fsid [16] (283)
//	299 label       [256]
type btrfsProber struct{}

func (btrfsProber) Name() string  { return "btrfs" }
func (btrfsProber) Magic() string { return `"_BHRfS_M" at 64 KiB + 64` }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (btrfsProber) Probe(m Member) (*Superblock, error) {
	const off = 64 << 10
	if m.Size < off+4096 {
		return nil, nil
	}
	b := make([]byte, 4096)
	if _, err := m.R.ReadAt(b, off); err != nil && err != io.EOF {
		return nil, fmt.Errorf("read %s btrfs superblock at byte %d: %w", m.Name, off, err)
	}
	if !bytes.Equal(b[64:72], []byte("_BHRfS_M")) {
		return nil, nil
	}
	le := binary.LittleEndian
	sb := &Superblock{Format: "btrfs", Offset: off, Role: RoleSpare, DevNumber: int(le.Uint64(b[201:])), RecoveryOffset: -1,
		Events: le.Uint64(b[72:])}
	fsid := hex.EncodeToString(b[32:48])
	sb.UUID = fsid[0:8] + "-" + fsid[8:12] + "-" + fsid[12:16] + "-" + fsid[16:20] + "-" + fsid[20:32]
	sb.Name = string(bytes.TrimRight(b[299:299+256], "\x00"))
	switch ct := le.Uint16(b[196:]); ct {
	// Checksums are shown as btrfs-progs shows them: the stored bytes in
	// order (so a crc32c stored little-endian reads byte-swapped).
	case 0:
		var calc [4]byte
		le.PutUint32(calc[:], crc32.Checksum(b[32:], castagnoli))
		sb.Checksum, sb.ChecksumCalc = binary.BigEndian.Uint32(b[0:]), binary.BigEndian.Uint32(calc[:])
		sb.ChecksumOK = sb.Checksum == sb.ChecksumCalc
	case 2:
		sum := sha256.Sum256(b[32:])
		sb.Checksum, sb.ChecksumCalc = binary.BigEndian.Uint32(b[0:]), binary.BigEndian.Uint32(sum[:])
		sb.ChecksumOK = bytes.Equal(sum[:], b[:32])
	default:
		sb.ChecksumNote = fmt.Sprintf("checksum type %d not verified", ct)
	}
	n := le.Uint64(b[136:])
	sb.RaidDisks = int(min(n, 1<<20))
	sb.Detail = fmt.Sprintf("btrfs %q fsid %s, device %d of %d, generation %d", sb.Name, sb.UUID, sb.DevNumber, n, sb.Events)
	if n > 1 {
		sb.Detail += " (multi-device: image every member)"
	}
	return sb, nil
}
