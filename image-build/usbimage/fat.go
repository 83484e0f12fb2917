package usbimage

import (
	"encoding/binary"
	"fmt"
	"io"
)

// FAT32 on-disk fields used to repair go-diskfs v1.9.4's output.
//
// Boot sector: +14 reserved sectors (2), +16 number of FATs (1),
// +36 sectors per FAT (4), +44 root directory cluster (4), +11 bytes per
// sector (2), +13 sectors per cluster (1).
// Directory entry (32 bytes): +0 name (11), +11 attributes (0x10 directory,
// 0x0f long-name part), +20 first cluster high (2), +26 low (2).
const (
	dirEntrySize = 32
	attrDir      = 0x10
	attrLFN      = 0x0f
)

// fixDotDot sets the ".." entry of each subdirectory of the root to
// cluster 0, as the FAT specification requires (go-diskfs writes the root's
// cluster number, which fsck.fat reports as an invalid ".." entry). esp is
// the file system's first byte in rw.
func fixDotDot(rw interface {
	io.ReaderAt
	io.WriterAt
}, esp int64) error {
	bs := make([]byte, 512)
	if _, err := rw.ReadAt(bs, esp); err != nil {
		return fmt.Errorf("FAT boot sector: %w", err)
	}
	bps := int64(binary.LittleEndian.Uint16(bs[11:]))
	spc := int64(bs[13])
	reserved := int64(binary.LittleEndian.Uint16(bs[14:]))
	nfat := int64(bs[16])
	spf := int64(binary.LittleEndian.Uint32(bs[36:]))
	root := binary.LittleEndian.Uint32(bs[44:])
	if bps != sectorSize || spc == 0 || nfat == 0 || string(bs[82:87]) != "FAT32" {
		return fmt.Errorf("FAT boot sector: not the FAT32 layout written (bytes/sector %d, sectors/cluster %d, %q)", bps, spc, bs[82:87])
	}
	clusterBytes := bps * spc
	data := esp + (reserved+nfat*spf)*bps
	clusterOff := func(c uint32) int64 { return data + int64(c-2)*clusterBytes }
	// The root directory's first cluster is enough: it holds a handful
	// of entries (checked: an entry list that runs to the cluster's end
	// is refused).
	rootDir := make([]byte, clusterBytes)
	if _, err := rw.ReadAt(rootDir, clusterOff(root)); err != nil {
		return fmt.Errorf("FAT root directory: %w", err)
	}
	end := false
	for i := 0; i+dirEntrySize <= len(rootDir); i += dirEntrySize {
		e := rootDir[i : i+dirEntrySize]
		if e[0] == 0 {
			end = true
			break
		}
		if e[0] == 0xe5 || e[11] == attrLFN || e[11]&attrDir == 0 {
			continue
		}
		c := uint32(binary.LittleEndian.Uint16(e[20:]))<<16 | uint32(binary.LittleEndian.Uint16(e[26:]))
		dotdot := make([]byte, dirEntrySize)
		off := clusterOff(c) + dirEntrySize
		if _, err := rw.ReadAt(dotdot, off); err != nil {
			return fmt.Errorf("FAT directory %q: %w", e[:11], err)
		}
		if string(dotdot[:11]) != "..         " {
			return fmt.Errorf("FAT directory %q: second entry is %q, not \"..\"", e[:11], dotdot[:11])
		}
		binary.LittleEndian.PutUint16(dotdot[20:], 0)
		binary.LittleEndian.PutUint16(dotdot[26:], 0)
		if _, err := rw.WriteAt(dotdot, off); err != nil {
			return fmt.Errorf("FAT directory %q: %w", e[:11], err)
		}
	}
	if !end {
		return fmt.Errorf("FAT root directory fills its first cluster; fixDotDot reads only that one")
	}
	return nil
}
