package disk

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
)

// exFAT boot sector fields read for free space and state, beyond those of
// probe_exfat.go (offsets from byte 0 of the volume, little-endian).
const (
	exfatMustBeZeroOff   = 0x0B // MustBeZero[53]: where a FAT BPB would be
	exfatVolumeLengthOff = 0x48 // le64 VolumeLength, in sectors
	exfatFatOffsetOff    = 0x50 // le32 FatOffset, in sectors
	exfatFatLengthOff    = 0x54 // le32 FatLength, in sectors (each FAT)
	exfatClusterCountOff = 0x5C // le32 ClusterCount: clusters 2..ClusterCount+1 in the heap
	exfatVolumeFlagsOff  = 0x6A // le16 VolumeFlags (byte 106)
	exfatNumberOfFatsOff = 0x6E // u8 NumberOfFats: 1, or 2 with TexFAT
	exfatPercentInUseOff = 0x70 // u8 PercentInUse: a hint (0xFF = unknown); not used
	exfatSignatureOff    = 0x1FE

	// VolumeFlags bits. Neither these bytes (106, 107) nor PercentInUse
	// (112) are covered by the boot region checksum (sector 11), so a
	// driver flips them without rewriting it; we do not verify it.
	exfatFlagActiveFat    = 0x0001 // which FAT and allocation bitmap are in use
	exfatFlagVolumeDirty  = 0x0002 // set while mounted: not cleanly unmounted
	exfatFlagMediaFailure = 0x0004 // the driver met I/O errors

	exfatMaxClusterCount = 0xFFFFFFF5 // 2^32 - 11
	exfatFatEOC          = 0xFFFFFFFF // end of a cluster chain
	exfatMaxDirBytes     = 256 << 20  // a directory holds at most 256 MiB

	// Allocation Bitmap directory entry (32 bytes).
	exfatEntryBitmap        = 0x81
	exfatBitmapFlagsOff     = 1  // u8 BitmapFlags: bit 0 = belongs to the second FAT
	exfatBitmapFirstClusOff = 20 // le32 FirstCluster
	exfatBitmapLengthOff    = 24 // le64 DataLength, bytes
)

// exfatVolume is the geometry of an exFAT boot sector.
type exfatVolume struct {
	sector, cluster int64 // bytes
	heap            int64 // byte offset of cluster 2
	fat             int64 // byte offset of the active FAT
	count           int64 // ClusterCount
}

// readExFATSpace reads an exFAT file system: the geometry and state from
// the main boot sector, the free clusters by counting clear bits in the
// allocation bitmap of the active FAT. The bitmap's directory entry is
// found in the root directory, whose cluster chain the FAT describes (the
// root has no stream entry that could mark it contiguous). The bitmap
// itself is read as one contiguous run from its first cluster, as the
// Linux driver (exfat_load_bitmap) and exfatprogs read it, so we count
// what they will use.
func readExFATSpace(r io.ReaderAt, size int64) (FSSpace, error) {
	b := make([]byte, 512)
	if err := readFull(r, size, 0, b, "exFAT boot sector"); err != nil {
		return FSSpace{}, err
	}
	if name := string(b[exfatNameOff : exfatNameOff+8]); name != "EXFAT   " {
		return FSSpace{}, fieldError("exFAT FileSystemName", exfatNameOff, fmt.Sprintf("%q", name), `not "EXFAT   "`)
	}
	if b[exfatSignatureOff] != 0x55 || b[exfatSignatureOff+1] != 0xAA {
		return FSSpace{}, fieldError("exFAT BootSignature", exfatSignatureOff, fmt.Sprintf("%02X %02X", b[exfatSignatureOff], b[exfatSignatureOff+1]), "not 55 AA")
	}
	if !allZero(b[exfatMustBeZeroOff : exfatMustBeZeroOff+53]) {
		return FSSpace{}, fieldError("exFAT MustBeZero", exfatMustBeZeroOff, "not zero", "a FAT BPB, not an exFAT boot sector")
	}
	le32 := func(off int) int64 { return int64(binary.LittleEndian.Uint32(b[off:])) }
	ss, cs := int64(b[exfatSectorShiftOff]), int64(b[exfatClusterShiftOff])
	if ss < 9 || ss > 12 {
		return FSSpace{}, fieldError("exFAT BytesPerSectorShift", exfatSectorShiftOff, ss, "not 9 to 12")
	}
	if ss+cs > 25 {
		return FSSpace{}, fieldError("exFAT SectorsPerClusterShift", exfatClusterShiftOff, cs, "clusters above 32 MiB")
	}
	v := exfatVolume{sector: 1 << ss, cluster: 1 << (ss + cs), count: le32(exfatClusterCountOff)}
	volLen := binary.LittleEndian.Uint64(b[exfatVolumeLengthOff:])
	fatOff, fatLen := le32(exfatFatOffsetOff), le32(exfatFatLengthOff)
	heapOff := le32(exfatHeapOffsetOff)
	nfats := int64(b[exfatNumberOfFatsOff])
	flags := binary.LittleEndian.Uint16(b[exfatVolumeFlagsOff:])
	root := le32(exfatRootClusterOff)
	switch {
	case volLen > uint64(size>>ss):
		return FSSpace{}, fieldError("exFAT VolumeLength", exfatVolumeLengthOff, volLen,
			fmt.Sprintf("%d-byte sectors beyond the end of the %d-byte volume", v.sector, size))
	case nfats != 1 && nfats != 2:
		return FSSpace{}, fieldError("exFAT NumberOfFats", exfatNumberOfFatsOff, nfats, "not 1 or 2")
	case fatOff < 24:
		return FSSpace{}, fieldError("exFAT FatOffset", exfatFatOffsetOff, fatOff, "inside the boot region (sectors 0-23)")
	case v.count == 0 || v.count > exfatMaxClusterCount:
		return FSSpace{}, fieldError("exFAT ClusterCount", exfatClusterCountOff, v.count, "not 1 to 2^32-11")
	case fatLen*v.sector < (v.count+2)*4:
		return FSSpace{}, fieldError("exFAT FatLength", exfatFatLengthOff, fatLen, fmt.Sprintf("too small for %d clusters", v.count))
	case heapOff < fatOff+nfats*fatLen:
		return FSSpace{}, fieldError("exFAT ClusterHeapOffset", exfatHeapOffsetOff, heapOff, "overlaps the FATs")
	case uint64(heapOff)+uint64(v.count<<cs) > volLen:
		return FSSpace{}, fieldError("exFAT ClusterCount", exfatClusterCountOff, v.count,
			fmt.Sprintf("the cluster heap from sector %d ends beyond VolumeLength %d", heapOff, volLen))
	case root < 2 || root > v.count+1:
		return FSSpace{}, fieldError("exFAT FirstClusterOfRootDirectory", exfatRootClusterOff, root, fmt.Sprintf("not a cluster 2 to %d", v.count+1))
	}
	active := int64(flags & exfatFlagActiveFat)
	if active >= nfats {
		return FSSpace{}, fieldError("exFAT VolumeFlags", exfatVolumeFlagsOff, fmt.Sprintf("0x%04X", flags), fmt.Sprintf("ActiveFat %d with NumberOfFats %d", active, nfats))
	}
	v.heap = heapOff * v.sector
	v.fat = (fatOff + active*fatLen) * v.sector

	first, length, err := v.findBitmap(r, size, root, byte(active))
	if err != nil {
		return FSSpace{}, err
	}
	used, err := v.countBitmap(r, size, first, length)
	if err != nil {
		return FSSpace{}, err
	}

	var reasons []string
	if flags&exfatFlagVolumeDirty != 0 {
		reasons = append(reasons, "not cleanly unmounted (VolumeDirty set)")
	}
	if flags&exfatFlagMediaFailure != 0 {
		reasons = append(reasons, "errors recorded (MediaFailure set)")
	}
	clean, words := joinState(reasons)
	return FSSpace{
		Type:    "exfat",
		Total:   v.count * v.cluster,
		Free:    (v.count - used) * v.cluster,
		Unit:    v.cluster,
		Clean:   clean,
		State:   words,
		MaxFile: 0, // DataLength is 64 bits: the volume is the limit
	}, nil
}

// clusterOff is the byte offset of heap cluster c (2..count+1).
func (v *exfatVolume) clusterOff(c int64) int64 { return v.heap + (c-2)*v.cluster }

// next follows cluster c's entry in the active FAT: the next cluster, or 0
// at the end of the chain.
func (v *exfatVolume) next(r io.ReaderAt, size, c int64) (int64, error) {
	var e [4]byte
	if err := readFull(r, size, v.fat+4*c, e[:], fmt.Sprintf("exFAT FAT entry %d", c)); err != nil {
		return 0, err
	}
	n := int64(binary.LittleEndian.Uint32(e[:]))
	switch {
	case n == exfatFatEOC:
		return 0, nil
	case n < 2 || n > v.count+1:
		return 0, fmt.Errorf("exFAT FAT entry %d (byte %d) is 0x%08X: not a cluster of the chain", c, v.fat+4*c, n)
	}
	return n, nil
}

// findBitmap scans the root directory's cluster chain for the Allocation
// Bitmap entry of FAT which (BitmapFlags bit 0) and returns its first
// cluster and length in bytes, checked against the cluster heap.
func (v *exfatVolume) findBitmap(r io.ReaderAt, size, root int64, which byte) (first, length int64, err error) {
	buf := make([]byte, min(v.cluster, 64<<10))
	scanned := int64(0)
	for c := root; c != 0; {
		for off := int64(0); off < v.cluster; off += int64(len(buf)) {
			if scanned += int64(len(buf)); scanned > exfatMaxDirBytes || scanned > v.count*v.cluster {
				return 0, 0, fmt.Errorf("exFAT root directory from cluster %d: no allocation bitmap in its first %d bytes (a cluster chain loop?)", root, scanned-int64(len(buf)))
			}
			if err := readFull(r, size, v.clusterOff(c)+off, buf, fmt.Sprintf("exFAT root directory cluster %d", c)); err != nil {
				return 0, 0, err
			}
			for i := 0; i+32 <= len(buf); i += 32 {
				e := buf[i : i+32]
				switch {
				case e[0] == exfatEntryEnd:
					return 0, 0, fmt.Errorf("exFAT root directory from cluster %d has no allocation bitmap entry (0x81) for FAT %d", root, which)
				case e[0] != exfatEntryBitmap || e[exfatBitmapFlagsOff]&1 != which:
					continue
				}
				at := v.clusterOff(c) + off + int64(i)
				first = int64(binary.LittleEndian.Uint32(e[exfatBitmapFirstClusOff:]))
				l := binary.LittleEndian.Uint64(e[exfatBitmapLengthOff:])
				need := (v.count + 7) / 8
				clusters := (need + v.cluster - 1) / v.cluster
				switch {
				case first < 2 || first+clusters-1 > v.count+1:
					return 0, 0, fmt.Errorf("exFAT allocation bitmap entry at byte %d: FirstCluster (+%d) is %d, its %d clusters do not fit clusters 2 to %d", at, exfatBitmapFirstClusOff, first, clusters, v.count+1)
				case l < uint64(need):
					return 0, 0, fmt.Errorf("exFAT allocation bitmap entry at byte %d: DataLength (+%d) is %d, less than the %d bytes %d clusters need", at, exfatBitmapLengthOff, l, need, v.count)
				}
				return first, need, nil
			}
		}
		if c, err = v.next(r, size, c); err != nil {
			return 0, 0, fmt.Errorf("exFAT root directory chain: %w", err)
		}
	}
	return 0, 0, fmt.Errorf("exFAT root directory from cluster %d ends without an allocation bitmap entry (0x81) for FAT %d", root, which)
}

// countBitmap counts the set bits for clusters 2..count+1 in the length
// bytes of bitmap from cluster first.
func (v *exfatVolume) countBitmap(r io.ReaderAt, size, first, length int64) (int64, error) {
	buf := make([]byte, min(length, spaceChunk))
	var used int64
	for pos := int64(0); pos < length; pos += int64(len(buf)) {
		p := buf[:min(int64(len(buf)), length-pos)]
		if err := readFull(r, size, v.clusterOff(first)+pos, p, fmt.Sprintf("exFAT allocation bitmap byte %d", pos)); err != nil {
			return 0, err
		}
		if pos+int64(len(p)) == length && v.count%8 != 0 { // bits past the last cluster do not count
			p[len(p)-1] &= byte(1)<<(v.count%8) - 1
		}
		i := 0
		for ; i+8 <= len(p); i += 8 {
			used += int64(bits.OnesCount64(binary.LittleEndian.Uint64(p[i:])))
		}
		for ; i < len(p); i++ {
			used += int64(bits.OnesCount8(p[i]))
		}
	}
	return used, nil
}
