package disk

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
)

// ext2/3/4 superblock fields read for free space and state, beyond those of
// probe_ext.go. Offsets are relative to the superblock (byte 1024 of the
// volume), little-endian; "_hi" halves count only with the 64bit feature.
const (
	extBlocksCountOff      = 0x004 // s_blocks_count_lo, le32
	extRBlocksCountOff     = 0x008 // s_r_blocks_count_lo, le32: reserved for root (s_r_blocks_count)
	extFreeBlocksOff       = 0x00C // s_free_blocks_count_lo, le32 (a lazy summary, see readExtSpace)
	extFirstDataBlockOff   = 0x014 // s_first_data_block, le32: 1 with 1 KiB blocks, else 0
	extLogBlockSizeOff     = 0x018 // s_log_block_size, le32: block size = 1024 << n
	extLogClusterSizeOff   = 0x01C // s_log_cluster_size, le32: cluster size = 1024 << n (bigalloc)
	extBlocksPerGroupOff   = 0x020 // s_blocks_per_group, le32
	extClustersPerGroupOff = 0x024 // s_clusters_per_group, le32
	extStateOff            = 0x03A // s_state, le16: 1 = cleanly unmounted, 2 = errors detected
	extRevLevelOff         = 0x04C // s_rev_level, le32: 0 = no feature fields
	extDescSizeOff         = 0x0FE // s_desc_size, le16: group descriptor size with 64bit
	extFirstMetaBGOff      = 0x104 // s_first_meta_bg, le32
	extBlocksCountHiOff    = 0x150 // s_blocks_count_hi, le32
	extRBlocksCountHiOff   = 0x154 // s_r_blocks_count_hi, le32
	extFreeBlocksHiOff     = 0x158 // s_free_blocks_count_hi, le32
	extChecksumTypeOff     = 0x175 // s_checksum_type, u8: 1 = crc32c
	extErrorCountOff       = 0x194 // s_error_count, le32: errors since the last fsck
	extBackupBGsOff        = 0x24C // s_backup_bgs[2], le32 each: backup superblock groups (sparse_super2)
	extChecksumSeedOff     = 0x270 // s_checksum_seed, le32 (csum_seed)
	extChecksumOff         = 0x3FC // s_checksum, le32: crc32c of bytes 0..0x3FB (metadata_csum)

	extStateValid  = 0x0001
	extStateErrors = 0x0002

	extCompatSparseSuper2 = 0x0200
	extIncompatExtents    = 0x0040
	extIncompat64Bit      = 0x0080
	extIncompatCsumSeed   = 0x2000
	extROCompatHugeFile   = 0x0008
	extROCompatGdtCsum    = 0x0010
	extROCompatBigalloc   = 0x0200
	extROCompatMetaCsum   = 0x0400
)

// ext group descriptor fields (offsets within one descriptor of
// s_desc_size bytes; 32 without the 64bit feature).
const (
	extBGFreeBlocksOff   = 0x0C // bg_free_blocks_count_lo, le16 (free clusters with bigalloc)
	extBGChecksumOff     = 0x1E // bg_checksum, le16
	extBGFreeBlocksHiOff = 0x2C // bg_free_blocks_count_hi, le16 (descriptors of 64 bytes and more)
	extDescSize32        = 32
	extDescSize64        = 64
	extDescSizeMax       = 1024
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32cRaw is the kernel's and e2fsprogs' crc32c(seed, p): no inversion
// before or after, unlike hash/crc32's Update.
func crc32cRaw(seed uint32, p []byte) uint32 {
	return ^crc32.Update(^seed, castagnoli, p)
}

// readExtSpace reads an ext2/3/4 file system.
//
// Free space: s_free_blocks_count in the superblock is a summary the
// kernel writes only from ext4_commit_super (unmount, freeze, remount
// read-only, error handling, and sync on journal-less file systems); while
// mounted and after a crash it is stale, and the kernel ignores it: at
// mount it recomputes the count by summing bg_free_blocks_count over the
// group descriptors (ext4_count_free_clusters, fs/ext4/balloc.c), as e2fsck
// does before correcting the superblock. We do the same: the sum of the
// descriptors' counts (each checked against the group size, and checksummed
// with metadata_csum or gdt_csum) is Free before the reserve
// s_r_blocks_count is taken off. After a clean unmount both agree, so the
// numbers are what dumpe2fs -h and df (less the driver's own reserve, see
// ReadFSSpace) show.
func readExtSpace(r io.ReaderAt, size int64) (FSSpace, error) {
	sb := make([]byte, 1024)
	if err := readFull(r, size, extSBOffset, sb, "ext superblock"); err != nil {
		return FSSpace{}, err
	}
	le16 := func(off int) uint32 { return uint32(binary.LittleEndian.Uint16(sb[off:])) }
	le32 := func(off int) uint32 { return binary.LittleEndian.Uint32(sb[off:]) }
	at := func(off int) int { return extSBOffset + off } // volume offset for errors
	if m := le16(extMagicOff); m != extMagic {
		return FSSpace{}, fieldError("ext s_magic", at(extMagicOff), fmt.Sprintf("0x%04X", m), "not an ext2/3/4 superblock (0xEF53)")
	}
	fs, _ := probeExt(r, size)
	if fs.Type == "jbd" {
		return FSSpace{}, fmt.Errorf("ext superblock at byte %d is an external journal device, not a file system", extSBOffset)
	}
	var compat, incompat, rocompat uint32
	if le32(extRevLevelOff) >= 1 { // revision 0 has no feature fields
		compat, incompat, rocompat = le32(extCompatOff), le32(extIncompatOff), le32(extROCompatOff)
	}
	if rocompat&extROCompatMetaCsum != 0 {
		if t := sb[extChecksumTypeOff]; t != 1 {
			return FSSpace{}, fieldError("ext s_checksum_type", at(extChecksumTypeOff), t, "unknown checksum type (1 = crc32c)")
		}
		want, got := le32(extChecksumOff), crc32cRaw(math.MaxUint32, sb[:extChecksumOff])
		if want != got {
			return FSSpace{}, fmt.Errorf("ext superblock at byte %d: metadata_csum checksum mismatch: s_checksum (byte 0x%X) is 0x%08X, computed 0x%08X", extSBOffset, at(extChecksumOff), want, got)
		}
	}

	logBS := le32(extLogBlockSizeOff)
	if logBS > 6 {
		return FSSpace{}, fieldError("ext s_log_block_size", at(extLogBlockSizeOff), logBS, "block size above 64 KiB")
	}
	bits := 10 + uint(logBS)
	bs := int64(1) << bits
	blocks := uint64(le32(extBlocksCountOff))
	reserved := uint64(le32(extRBlocksCountOff))
	is64 := incompat&extIncompat64Bit != 0
	if is64 {
		blocks |= uint64(le32(extBlocksCountHiOff)) << 32
		reserved |= uint64(le32(extRBlocksCountHiOff)) << 32
	}
	firstData := uint64(le32(extFirstDataBlockOff))
	switch {
	case blocks == 0:
		return FSSpace{}, fieldError("ext s_blocks_count", at(extBlocksCountOff), blocks, "no blocks")
	case blocks > uint64(size/bs):
		return FSSpace{}, fieldError("ext s_blocks_count", at(extBlocksCountOff), blocks,
			fmt.Sprintf("%d-byte blocks beyond the end of the %d-byte volume", bs, size))
	case firstData >= blocks:
		return FSSpace{}, fieldError("ext s_first_data_block", at(extFirstDataBlockOff), firstData, fmt.Sprintf("not below s_blocks_count %d", blocks))
	}

	// Clusters: the allocation unit, one block unless bigalloc.
	ratio := uint64(1)
	if rocompat&extROCompatBigalloc != 0 {
		logCS := le32(extLogClusterSizeOff)
		if logCS < logBS || logCS-logBS > 16 {
			return FSSpace{}, fieldError("ext s_log_cluster_size", at(extLogClusterSizeOff), logCS, fmt.Sprintf("not a block size %d to 64Ki blocks", bs))
		}
		ratio = 1 << (logCS - logBS)
	}
	bpg := uint64(le32(extBlocksPerGroupOff))
	cpg := bpg
	if ratio > 1 {
		cpg = uint64(le32(extClustersPerGroupOff))
		if cpg == 0 || cpg > uint64(8*bs) || bpg != cpg*ratio {
			return FSSpace{}, fieldError("ext s_clusters_per_group", at(extClustersPerGroupOff), cpg,
				fmt.Sprintf("not 1 to %d with s_blocks_per_group %d = clusters × %d", 8*bs, bpg, ratio))
		}
	}
	if bpg == 0 || cpg > uint64(8*bs) {
		return FSSpace{}, fieldError("ext s_blocks_per_group", at(extBlocksPerGroupOff), bpg, fmt.Sprintf("not 1 to %d (one bitmap block)", 8*bs))
	}

	descSize := int64(extDescSize32)
	if is64 {
		descSize = int64(le16(extDescSizeOff))
		if descSize < extDescSize64 || descSize > extDescSizeMax || descSize&(descSize-1) != 0 {
			return FSSpace{}, fieldError("ext s_desc_size", at(extDescSizeOff), descSize, "not a power of two from 64 to 1024 (64bit feature)")
		}
	}

	g := extGeometry{
		bs: bs, blocks: blocks, firstData: firstData, bpg: bpg, cpg: cpg,
		groups:     (blocks - firstData + bpg - 1) / bpg,
		descSize:   descSize,
		metaBG:     incompat&extIncompatMetaBG != 0,
		firstMeta:  uint64(le32(extFirstMetaBGOff)),
		sparse:     rocompat&extROCompatSparse != 0,
		sparse2:    compat&extCompatSparseSuper2 != 0,
		backupBGs:  [2]uint64{uint64(le32(extBackupBGsOff)), uint64(le32(extBackupBGsOff + 4))},
		uuid:       sb[extUUIDOff : extUUIDOff+16],
		metaCsum:   rocompat&extROCompatMetaCsum != 0,
		gdtCsum:    rocompat&extROCompatGdtCsum != 0,
		csumSeed:   crc32cRaw(math.MaxUint32, sb[extUUIDOff:extUUIDOff+16]),
		sbOffBlock: uint64(extSBOffset / bs), // 1 with 1 KiB blocks
	}
	if incompat&extIncompatCsumSeed != 0 {
		g.csumSeed = le32(extChecksumSeedOff)
	}
	freeClusters, err := g.sumFree(r, size)
	if err != nil {
		return FSSpace{}, err
	}
	freeBlocks := freeClusters * ratio
	if freeBlocks > blocks {
		return FSSpace{}, fmt.Errorf("ext group descriptors count %d free blocks, more than s_blocks_count %d", freeBlocks, blocks)
	}
	avail := uint64(0)
	if freeBlocks > reserved {
		avail = freeBlocks - reserved
	}

	var reasons []string
	state := le16(extStateOff)
	if incompat&extIncompatRecover != 0 {
		reasons = append(reasons, "not cleanly unmounted (journal needs recovery)")
	} else if state&extStateValid == 0 {
		reasons = append(reasons, "not cleanly unmounted (s_state not valid)")
	}
	if n := le32(extErrorCountOff); state&extStateErrors != 0 || n > 0 {
		reasons = append(reasons, fmt.Sprintf("errors recorded (s_state 0x%X, s_error_count %d): run e2fsck", state, n))
	}
	clean, words := joinState(reasons)
	maxFile := extMaxBitmapSize(bits, rocompat&extROCompatHugeFile != 0)
	if incompat&extIncompatExtents != 0 {
		maxFile = extMaxExtentSize(bits, rocompat&extROCompatHugeFile != 0)
	}
	return FSSpace{
		Type:    fs.Type,
		Total:   int64(blocks) * bs,
		Free:    int64(avail) * bs,
		Unit:    bs * int64(ratio),
		Clean:   clean,
		State:   words,
		MaxFile: maxFile,
	}, nil
}

// extGeometry is what it takes to find and check the group descriptors.
type extGeometry struct {
	bs                int64
	blocks, firstData uint64
	bpg, cpg, groups  uint64
	descSize          int64
	metaBG            bool
	firstMeta         uint64
	sparse, sparse2   bool
	backupBGs         [2]uint64
	uuid              []byte
	metaCsum, gdtCsum bool
	csumSeed          uint32
	sbOffBlock        uint64
}

// sumFree adds bg_free_blocks_count over every group descriptor, one
// descriptor block at a time (they lie together after the superblock, or
// with meta_bg at the start of each meta group).
func (g *extGeometry) sumFree(r io.ReaderAt, size int64) (uint64, error) {
	perBlock := uint64(g.bs / g.descSize)
	buf := make([]byte, g.bs)
	var free uint64
	for group := uint64(0); group < g.groups; {
		nr := group / perBlock
		loc := g.descriptorLoc(nr)
		if loc >= g.blocks {
			return 0, fmt.Errorf("ext group descriptor block %d at block %d lies beyond s_blocks_count %d", nr, loc, g.blocks)
		}
		if err := readFull(r, size, int64(loc)*g.bs, buf, fmt.Sprintf("ext group descriptor block %d", nr)); err != nil {
			return 0, err
		}
		for i := uint64(0); i < perBlock && group < g.groups; i, group = i+1, group+1 {
			d := buf[int64(i)*g.descSize : int64(i+1)*g.descSize]
			at := int64(loc)*g.bs + int64(i)*g.descSize
			if err := g.checkDesc(group, d, at); err != nil {
				return 0, err
			}
			f := uint64(binary.LittleEndian.Uint16(d[extBGFreeBlocksOff:]))
			if g.descSize >= extDescSize64 {
				f |= uint64(binary.LittleEndian.Uint16(d[extBGFreeBlocksHiOff:])) << 16
			}
			if f > g.cpg {
				return 0, fmt.Errorf("ext group %d descriptor at byte %d: bg_free_blocks_count (+0x%X) is %d, more than the group's %d", group, at, extBGFreeBlocksOff, f, g.cpg)
			}
			free += f
		}
	}
	return free, nil
}

// descriptorLoc is the block holding descriptor block nr, as the kernel's
// descriptor_loc (fs/ext4/super.c) finds it.
func (g *extGeometry) descriptorLoc(nr uint64) uint64 {
	if !g.metaBG || nr < g.firstMeta {
		return g.sbOffBlock + nr + 1
	}
	bg := uint64(g.bs/g.descSize) * nr
	var hasSuper uint64
	if g.hasSuper(bg) {
		hasSuper = 1
	}
	if g.bs == 1024 && nr == 0 && g.firstData == 0 {
		hasSuper++
	}
	return g.firstData + bg*g.bpg + hasSuper
}

// hasSuper tells whether group holds a superblock copy (ext4_bg_has_super).
func (g *extGeometry) hasSuper(group uint64) bool {
	switch {
	case group == 0:
		return true
	case g.sparse2:
		return group == g.backupBGs[0] || group == g.backupBGs[1]
	case group <= 1 || !g.sparse:
		return true
	case group&1 == 0:
		return false
	}
	for _, base := range []uint64{3, 5, 7} {
		p := base
		for p < group {
			p *= base
		}
		if p == group {
			return true
		}
	}
	return false
}

// checkDesc verifies a group descriptor's bg_checksum: crc32c (low 16 bits)
// of the checksum seed, the le32 group number and the descriptor with the
// checksum field as zero for metadata_csum; crc16 of the UUID, group number
// and descriptor without the field for gdt_csum (ext4_group_desc_csum).
func (g *extGeometry) checkDesc(group uint64, d []byte, at int64) error {
	if !g.metaCsum && !g.gdtCsum {
		return nil
	}
	var num [4]byte
	binary.LittleEndian.PutUint32(num[:], uint32(group))
	var got uint16
	if g.metaCsum {
		c := crc32cRaw(g.csumSeed, num[:])
		c = crc32cRaw(c, d[:extBGChecksumOff])
		c = crc32cRaw(c, []byte{0, 0})
		c = crc32cRaw(c, d[extBGChecksumOff+2:])
		got = uint16(c)
	} else {
		c := crc16(0xFFFF, g.uuid)
		c = crc16(c, num[:])
		c = crc16(c, d[:extBGChecksumOff])
		if g.descSize > extDescSize32 {
			c = crc16(c, d[extBGChecksumOff+2:])
		}
		got = c
	}
	if want := binary.LittleEndian.Uint16(d[extBGChecksumOff:]); want != got {
		kind := "gdt_csum"
		if g.metaCsum {
			kind = "metadata_csum"
		}
		return fmt.Errorf("ext group %d descriptor at byte %d: %s checksum mismatch: bg_checksum (+0x%X) is 0x%04X, computed 0x%04X", group, at, kind, extBGChecksumOff, want, got)
	}
	return nil
}

// crc16 is the kernel's crc16 (polynomial 0x8005 bit-reflected, no final
// inversion), used by gdt_csum.
func crc16(crc uint16, p []byte) uint16 {
	for _, b := range p {
		crc ^= uint16(b)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

// extMaxExtentSize is the largest file with extents (ext4_max_size,
// fs/ext4/super.c): 2^32-1 blocks, and without huge_file no more than
// 2^32-1 512-byte sectors counted in i_blocks.
func extMaxExtentSize(bits uint, hugeFile bool) int64 {
	res := int64(math.MaxUint32) << bits
	if !hugeFile {
		upper := int64(math.MaxUint32) >> (bits - 9) << bits
		res = min(res, upper)
	}
	return res
}

// extMaxBitmapSize is the largest block-mapped file, as ext2/ext3 files are
// (ext4_max_bitmap_size, fs/ext4/super.c): what 12 direct, one indirect,
// one double and one triple indirect block address, less the indirect
// blocks, within the sectors i_blocks can count.
func extMaxBitmapSize(bits uint, hugeFile bool) int64 {
	const direct = 12
	ppb := int64(1) << (bits - 2)
	upper := int64(1)<<48 - 1
	if !hugeFile {
		upper = int64(math.MaxUint32) >> (bits - 9)
	}
	res := direct + ppb + ppb*ppb + ppb*ppb*ppb
	meta := 1 + (1 + ppb) + (1 + ppb + ppb*ppb)
	if res+meta > upper {
		res = upper
		upper -= direct
		meta = 1
		upper -= ppb
		if upper < ppb*ppb {
			meta += 1 + (upper+ppb-1)/ppb
		} else {
			meta += 1 + ppb
			upper -= ppb * ppb
			meta += 1 + (upper+ppb-1)/ppb + (upper+ppb*ppb-1)/(ppb*ppb)
		}
		res -= meta
	}
	if res > math.MaxInt64>>bits {
		return math.MaxInt64
	}
	return res << bits
}
