package disk

import (
	"fmt"
	"io"
)

// FSSpace is what a file system's own metadata says about its room and state.
type FSSpace struct {
	Type    string // "ext4" (also ext2/ext3 as the probe names them), "exfat", "vfat"
	Total   int64  // bytes the file system can hold (blocks/clusters × size)
	Free    int64  // bytes free for a non-root writer (ext: free blocks minus reserved blocks, never < 0)
	Unit    int64  // allocation unit in bytes (ext block size, FAT/exFAT cluster size)
	Clean   bool   // cleanly unmounted: ext s_state VALID and no needs_recovery/journal errors; FAT dirty bit clear (FAT16 ClnShutBitMask/FAT32 FAT[1] bits); exFAT VolumeFlags VolumeDirty clear
	State   string // human words: "clean", "not cleanly unmounted (journal needs recovery)", "errors recorded", "dirty bit set", …
	MaxFile int64  // largest single file: 4 GiB-1 for FAT, 0 for no practical limit
}

// ReadFSSpace reads the superblock/boot sector (and for FAT and exFAT the
// allocation data) of the file system at offset 0 of r (size bytes). fstype
// is what disk's probes call it ("ext4","ext3","ext2","exfat","vfat"); any
// other → error naming it.
//
// It reads metadata only, never more than the volume holds, and allocates at
// most a few MiB whatever the metadata claims:
//   - ext2/3/4 (fsspace_ext.go): the superblock and the group descriptor
//     table, whose free counts it sums (the kernel does the same at mount);
//   - FAT12/16/32 (fsspace_fat.go): the boot sector and one FAT, whose free
//     entries it counts (FSInfo's count is only a hint);
//   - exFAT (fsspace_exfat.go): the boot sector, the root directory (through
//     the FAT) and the allocation bitmap, whose clear bits it counts
//     (PercentInUse is only a hint).
//
// A file system that claims more room than the volume has, or whose
// geometry is impossible, is an error naming the field and its byte offset;
// so is a metadata_csum superblock or group descriptor whose checksum does
// not match. Clean=false with the reason in State is not an error.
//
// Free is what the metadata says. Two things it does not include: the
// Linux ext4 driver keeps back another min(2 %, 4096 clusters) from every
// writer on file systems with extents (s_resv_clusters, set at mount, not
// on disk), and directories, FAT chains and extent trees of what is written
// take some room of their own; callers that must fit an image should keep a
// margin.
func ReadFSSpace(r io.ReaderAt, size int64, fstype string) (FSSpace, error) {
	var read func(io.ReaderAt, int64) (FSSpace, error)
	switch fstype {
	case "ext2", "ext3", "ext4":
		read = readExtSpace
	case "exfat":
		read = readExFATSpace
	case "vfat":
		read = readFATSpace
	default:
		return FSSpace{}, fmt.Errorf("read free space: file system type %q is not supported (ext2, ext3, ext4, exfat, vfat)", fstype)
	}
	if size <= 0 {
		return FSSpace{}, fmt.Errorf("read %s free space: volume size %d", fstype, size)
	}
	sp, err := read(r, size)
	if err != nil {
		return FSSpace{}, fmt.Errorf("read %s free space: %w", fstype, err)
	}
	return sp, nil
}

// spaceChunk is the most ReadFSSpace reads at once (FAT, allocation bitmap).
const spaceChunk = 1 << 20

// readFull fills b from byte off of a size-byte volume; what names the
// structure for the error.
func readFull(r io.ReaderAt, size, off int64, b []byte, what string) error {
	if off < 0 || off > size || int64(len(b)) > size-off {
		return fmt.Errorf("%s at byte %d (%d bytes) lies beyond the end of the %d-byte volume", what, off, len(b), size)
	}
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil // io.EOF with a full read is fine
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read %s at byte %d: %w", what, off, err)
}

// fieldError reports an impossible on-disk value: which field, where, what
// it holds and why that cannot be.
func fieldError(field string, off int, v any, why string) error {
	return fmt.Errorf("%s (byte 0x%X) is %v: %s", field, off, v, why)
}

// joinState joins the reasons a file system is not clean, or says "clean".
func joinState(reasons []string) (bool, string) {
	if len(reasons) == 0 {
		return true, "clean"
	}
	s := reasons[0]
	for _, r := range reasons[1:] {
		s += "; " + r
	}
	return false, s
}
