package raid

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
)

// ZFS vdev labels (detection only).
//
// Four 256 KiB labels: L0 at 0, L1 at 256 KiB, L2 and L3 in the last 512 KiB
// of the device rounded down to 256 KiB. Each label: 8 KiB blank, 8 KiB boot
// header, 112 KiB XDR name-value list (pool configuration), 128 KiB ring of
// uberblocks in slots of 1 KiB (ashift ≤ 10) or 2^ashift bytes.
//
// Uberblock: 0 ub_magic u64 0x00bab10c (writer's byte order), 8 ub_version,
// 16 ub_txg, 24 ub_guid_sum, 32 ub_timestamp. Each slot ends with a
// zio_eck_t (40 bytes): magic 0x0210da7ab10c7a11, then a 4×u64 SHA-256
// "label" checksum computed over the slot with the checksum words replaced
// by the verifier {physical offset of the slot, 0, 0, 0}; the digest is
// stored as four big-endian-decoded words in the writer's byte order.
//
// The pool name and GUID live in the XDR list, which is not decoded here:
// the report gives the best (highest txg) uberblock and its checksum state.
type zfsProber struct{}

const (
	zfsLabel   = 256 << 10
	zfsUBMagic = 0x00bab10c
	zecMagic   = 0x0210da7ab10c7a11
)

func (zfsProber) Name() string  { return "zfs" }
func (zfsProber) Magic() string { return "uberblock 0x00bab10c in a vdev label's ring at 128 KiB" }

func (zfsProber) Probe(m Member) (*Superblock, error) {
	if m.Size < 4*zfsLabel {
		return nil, nil
	}
	psize := m.Size &^ (zfsLabel - 1)
	for l, loff := range []int64{0, zfsLabel, psize - 2*zfsLabel, psize - zfsLabel} {
		ring := make([]byte, 128<<10)
		roff := loff + 128<<10
		if _, err := m.R.ReadAt(ring, roff); err != nil && err != io.EOF {
			return nil, fmt.Errorf("read %s ZFS label %d uberblocks at byte %d: %w", m.Name, l, roff, err)
		}
		for _, slot := range []int{1 << 10, 4 << 10, 8 << 10} {
			var best *Superblock
			for i := 0; i+slot <= len(ring); i += slot {
				s := ring[i : i+slot]
				var bo binary.ByteOrder
				switch {
				case binary.LittleEndian.Uint64(s) == zfsUBMagic:
					bo = binary.LittleEndian
				case binary.BigEndian.Uint64(s) == zfsUBMagic:
					bo = binary.BigEndian
				default:
					continue
				}
				eck := s[slot-40:]
				if bo.Uint64(eck) != zecMagic {
					continue
				}
				txg := bo.Uint64(s[16:])
				if best != nil && txg <= best.Events {
					continue
				}
				c := append([]byte(nil), s...)
				ce := c[slot-40:]
				bo.PutUint64(ce[8:], uint64(roff+int64(i)))
				bo.PutUint64(ce[16:], 0)
				bo.PutUint64(ce[24:], 0)
				bo.PutUint64(ce[32:], 0)
				sum := sha256.Sum256(c)
				ok := true
				for w := 0; w < 4; w++ {
					if binary.BigEndian.Uint64(sum[8*w:]) != bo.Uint64(eck[8+8*w:]) {
						ok = false
					}
				}
				best = &Superblock{Format: "zfs", Offset: roff + int64(i), Events: txg, ChecksumOK: ok,
					Checksum: uint32(bo.Uint64(eck[8:]) >> 32), ChecksumCalc: binary.BigEndian.Uint32(sum[:]),
					ByteSwapped: bo == binary.BigEndian, Role: RoleSpare, DevNumber: -1, RecoveryOffset: -1,
					UUID: fmt.Sprintf("guid_sum-%016x", bo.Uint64(s[24:]))}
				best.Detail = fmt.Sprintf("ZFS vdev label %d: uberblock txg %d, version %d, guid_sum %016x (pool config not decoded)",
					l, txg, bo.Uint64(s[8:]), bo.Uint64(s[24:]))
			}
			if best != nil {
				return best, nil
			}
		}
	}
	return nil, nil
}
