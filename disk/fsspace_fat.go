package disk

import (
	"encoding/binary"
	"fmt"
	"io"
)

// FAT BIOS parameter block fields read for free space and state, beyond
// those of probe_fat.go (offsets from byte 0 of the volume, little-endian).
const (
	fatRsvdSecCntOff  = 0x0E // BPB_RsvdSecCnt, le16: sectors before FAT #0
	fatRootEntCntOff  = 0x11 // BPB_RootEntCnt, le16: FAT12/16 root directory entries (32 bytes each)
	fatTotSec16Off    = 0x13 // BPB_TotSec16, le16 (0: see BPB_TotSec32)
	fatFATSz16Off     = 0x16 // BPB_FATSz16, le16: sectors per FAT; 0 on FAT32
	fatTotSec32Off    = 0x20 // BPB_TotSec32, le32
	fat16StateOff     = 0x25 // BS_Reserved1 (FAT12/16), u8: bit 0 = dirty (Linux fat_set_state, Windows NT)
	fat32FATSz32Off   = 0x24 // BPB_FATSz32, le32: sectors per FAT
	fat32ExtFlagsOff  = 0x28 // BPB_ExtFlags, le16: bit 7 = only one FAT active, bits 0-3 = which
	fat32StateOff     = 0x41 // BS_Reserved1 (FAT32), u8: bit 0 = dirty, as fat16StateOff
	fatStateDirty     = 0x01
	fat32ExtNoMirror  = 0x0080
	fat32ExtActiveFAT = 0x000F

	// FAT[1] (the second FAT entry) carries Microsoft's volume flags; a
	// clear bit means trouble. FAT12 has none.
	fat16ClnShutBit = 0x8000     // FAT16 ClnShutBitMask: 0 = not cleanly unmounted
	fat16HrdErrBit  = 0x4000     // FAT16 HrdErrBitMask: 0 = I/O errors met
	fat32ClnShutBit = 0x08000000 // FAT32 ClnShutBitMask
	fat32HrdErrBit  = 0x04000000 // FAT32 HrdErrBitMask
	fat32EntryMask  = 0x0FFFFFFF // FAT32 entries are 28 bits; the top 4 are reserved

	// Largest cluster counts the Linux driver accepts (MAX_FAT12/16/32,
	// include/uapi/linux/msdos_fs.h); more is "count of clusters too big".
	fat12MaxClusters = 0xFF4
	fat16MaxClusters = 0xFFF4
	fat32MaxClusters = 0x0FFFFFF6

	fatMaxFile = 1<<32 - 1 // the directory entry's DIR_FileSize is le32
)

// readFATSpace reads a FAT12/16/32 file system: the geometry from the BPB,
// the free clusters by counting zero entries in the FAT (FSInfo's free
// count at byte 0x1E8 of its sector is a hint that may be stale or
// 0xFFFFFFFF, and Linux ignores it too), the state from the boot sector's
// dirty bit and FAT[1]'s flags.
//
// The FAT type follows the Linux driver (fs/fat/inode.c), which the
// appliance writes with: BPB_FATSz16 = 0 means FAT32; otherwise more than
// 4084 clusters means FAT16, else FAT12. Clusters are counted from the data
// area and capped by what the FAT can hold, as the driver does.
func readFATSpace(r io.ReaderAt, size int64) (FSSpace, error) {
	b := make([]byte, 512)
	if err := readFull(r, size, 0, b, "FAT boot sector"); err != nil {
		return FSSpace{}, err
	}
	if b[fatSignatureOff] != 0x55 || b[fatSignatureOff+1] != 0xAA {
		return FSSpace{}, fieldError("FAT boot signature", fatSignatureOff, fmt.Sprintf("%02X %02X", b[fatSignatureOff], b[fatSignatureOff+1]), "not 55 AA")
	}
	le16 := func(off int) int64 { return int64(binary.LittleEndian.Uint16(b[off:])) }
	le32 := func(off int) int64 { return int64(binary.LittleEndian.Uint32(b[off:])) }

	bps := le16(fatBytesPerSecOff)
	spc := int64(b[fatSecPerClusOff])
	rsvd := le16(fatRsvdSecCntOff)
	nfats := int64(b[fatNumFATsOff])
	rootEnts := le16(fatRootEntCntOff)
	totSec, totField, totOff := le16(fatTotSec16Off), "FAT BPB_TotSec16", fatTotSec16Off
	if totSec == 0 {
		totSec, totField, totOff = le32(fatTotSec32Off), "FAT BPB_TotSec32", fatTotSec32Off
	}
	fatSz := le16(fatFATSz16Off)
	fat32 := fatSz == 0
	if fat32 {
		fatSz = le32(fat32FATSz32Off)
	}
	switch {
	case bps < 512 || bps > 4096 || bps&(bps-1) != 0:
		return FSSpace{}, fieldError("FAT BPB_BytsPerSec", fatBytesPerSecOff, bps, "not 512, 1024, 2048 or 4096")
	case spc == 0 || spc&(spc-1) != 0:
		return FSSpace{}, fieldError("FAT BPB_SecPerClus", fatSecPerClusOff, spc, "not a power of two from 1 to 128")
	case rsvd == 0:
		return FSSpace{}, fieldError("FAT BPB_RsvdSecCnt", fatRsvdSecCntOff, rsvd, "no room for the boot sector")
	case nfats == 0:
		return FSSpace{}, fieldError("FAT BPB_NumFATs", fatNumFATsOff, nfats, "no FAT")
	case fatSz == 0:
		return FSSpace{}, fieldError("FAT BPB_FATSz32", fat32FATSz32Off, fatSz, "no FAT sectors (and BPB_FATSz16 at 0x16 is 0)")
	case totSec == 0:
		return FSSpace{}, fieldError("FAT BPB_TotSec32", fatTotSec32Off, totSec, "no sectors (and BPB_TotSec16 at 0x13 is 0)")
	case nfats*fatSz >= totSec:
		field, off := "FAT BPB_FATSz16", fatFATSz16Off
		if fat32 {
			field, off = "FAT BPB_FATSz32", fat32FATSz32Off
		}
		return FSSpace{}, fieldError(field, off, fatSz, fmt.Sprintf("%d FATs of that many sectors do not fit the volume's %d sectors", nfats, totSec))
	case totSec > size/bps:
		return FSSpace{}, fieldError(totField, totOff, totSec,
			fmt.Sprintf("%d-byte sectors beyond the end of the %d-byte volume", bps, size))
	}
	rootSecs := (rootEnts*32 + bps - 1) / bps
	dataStart := rsvd + nfats*fatSz + rootSecs // sectors; each term < 2^32, no overflow
	if dataStart >= totSec {
		return FSSpace{}, fmt.Errorf("FAT reserved sectors %d + %d FATs × %d sectors + %d root directory sectors leave no data area in %d sectors", rsvd, nfats, fatSz, rootSecs, totSec)
	}
	clusters := (totSec - dataStart) / spc
	entryBits, maxClusters := int64(32), int64(fat32MaxClusters)
	if !fat32 {
		entryBits, maxClusters = 16, fat16MaxClusters
		if clusters <= fat12MaxClusters {
			entryBits, maxClusters = 12, fat12MaxClusters
		}
	}
	clusters = min(clusters, fatSz*bps*8/entryBits-2)
	if clusters <= 0 || clusters > maxClusters {
		return FSSpace{}, fmt.Errorf("FAT%d: %d clusters (data area and FAT size), not 1 to %d", entryBits, clusters, maxClusters)
	}

	// The FAT to count: #0, or on FAT32 with mirroring off the active one.
	fat := int64(0)
	dirty := b[fat16StateOff]&fatStateDirty != 0
	if fat32 {
		ext := le16(fat32ExtFlagsOff)
		if ext&fat32ExtNoMirror != 0 {
			fat = ext & fat32ExtActiveFAT
			if fat >= nfats {
				return FSSpace{}, fieldError("FAT32 BPB_ExtFlags", fat32ExtFlagsOff, fmt.Sprintf("0x%04X", ext), fmt.Sprintf("active FAT %d of %d", fat, nfats))
			}
		}
		dirty = b[fat32StateOff]&fatStateDirty != 0
	}
	fatOff := (rsvd + fat*fatSz) * bps
	free, fat1, err := countFATFree(r, size, fatOff, entryBits, clusters)
	if err != nil {
		return FSSpace{}, err
	}

	var reasons []string
	if dirty {
		reasons = append(reasons, "not cleanly unmounted (dirty bit set in the boot sector)")
	}
	switch entryBits {
	case 16:
		if fat1&fat16ClnShutBit == 0 {
			reasons = append(reasons, "not cleanly unmounted (FAT[1] ClnShutBitMask clear)")
		}
		if fat1&fat16HrdErrBit == 0 {
			reasons = append(reasons, "errors recorded (FAT[1] HrdErrBitMask clear)")
		}
	case 32:
		if fat1&fat32ClnShutBit == 0 {
			reasons = append(reasons, "not cleanly unmounted (FAT[1] ClnShutBitMask clear)")
		}
		if fat1&fat32HrdErrBit == 0 {
			reasons = append(reasons, "errors recorded (FAT[1] HrdErrBitMask clear)")
		}
	}
	clean, words := joinState(reasons)
	unit := spc * bps
	return FSSpace{
		Type:    "vfat",
		Total:   clusters * unit,
		Free:    free * unit,
		Unit:    unit,
		Clean:   clean,
		State:   words,
		MaxFile: fatMaxFile,
	}, nil
}

// countFATFree counts the zero entries among clusters 2..clusters+1 of the
// FAT at byte off and returns them with entry 1 (the volume flags). It reads
// at most spaceChunk bytes at a time.
func countFATFree(r io.ReaderAt, size, off, bits, clusters int64) (free int64, fat1 uint32, err error) {
	entries := clusters + 2
	if bits == 12 { // at most 4086 entries in 6129 bytes: read them at once
		p := make([]byte, (entries*12+7)/8)
		if err := readFull(r, size, off, p, "FAT12"); err != nil {
			return 0, 0, err
		}
		fat1 = fat12Entry(p, 1)
		for n := int64(2); n < entries; n++ {
			if fat12Entry(p, n) == 0 {
				free++
			}
		}
		return free, fat1, nil
	}
	width := bits / 8
	per := spaceChunk / width
	buf := make([]byte, min(per, entries)*width)
	for first := int64(0); first < entries; first += per {
		p := buf[:min(per, entries-first)*width]
		if err := readFull(r, size, off+first*width, p, fmt.Sprintf("FAT%d entries %d and on", bits, first)); err != nil {
			return 0, 0, err
		}
		for i := int64(0); i*width < int64(len(p)); i++ {
			var v uint32
			if bits == 16 {
				v = uint32(binary.LittleEndian.Uint16(p[i*2:]))
			} else {
				v = binary.LittleEndian.Uint32(p[i*4:]) & fat32EntryMask
			}
			switch n := first + i; {
			case n == 1:
				fat1 = v
			case n >= 2 && v == 0:
				free++
			}
		}
	}
	return free, fat1, nil
}

// fat12Entry decodes entry n of a FAT12: 12 bits at byte n*3/2, the low
// ones for even n, the high ones for odd n.
func fat12Entry(p []byte, n int64) uint32 {
	w := uint32(binary.LittleEndian.Uint16(p[n*3/2:]))
	if n&1 == 1 {
		return w >> 4
	}
	return w & 0xFFF
}
