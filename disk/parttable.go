package disk

import (
	"fmt"
	"sort"

	"github.com/diskfs/go-diskfs/backend"
	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/diskfs/go-diskfs/partition/mbr"
)

// partEntry is one partition as the on-disk table describes it.
type partEntry struct {
	Number int
	Start  int64 // bytes
	Size   int64 // bytes
	Type   string
	Label  string
	UUID   string
}

// readPartTable reads a GPT or MBR from f (opened read-only by the caller;
// go-diskfs's gpt.Read/mbr.Read only call ReadAt and Seek). It returns ""
// and no entries when there is no table. An MBR is only believed when its
// entries fit the disk and no filesystem boot sector sits at byte 0 (FAT,
// NTFS and exFAT boot sectors end in 0x55AA too).
func readPartTable(f backend.File, size int64, logical int) (string, []partEntry) {
	if logical <= 0 {
		logical = 512
	}
	if typ, out, ok := readGPT(f, logical); ok {
		return typ, out
	}
	// Images of 4Kn disks keep their GPT at byte 4096 even when we read
	// them as 512-byte-sector files.
	if logical != 4096 {
		if typ, out, ok := readGPT(f, 4096); ok {
			return typ, out
		}
	}
	return readMBR(f, size, logical)
}

// readGPT reads a GPT (primary, or the backup when the primary is corrupt)
// for sector size logical.
func readGPT(f backend.File, logical int) (string, []partEntry, bool) {
	if t, err := gpt.Read(f, logical, logical); err == nil {
		var out []partEntry
		for _, p := range t.Partitions {
			if p == nil || p.Start == 0 || p.End < p.Start {
				continue
			}
			out = append(out, partEntry{
				Number: p.Index,
				Start:  int64(p.Start) * int64(logical),
				Size:   int64(p.End-p.Start+1) * int64(logical),
				Type:   string(p.Type),
				Label:  p.Name,
				UUID:   p.GUID,
			})
		}
		sortEntries(out)
		return "gpt", out, true
	}
	return "", nil, false
}

// readMBR reads an MBR and the logical partitions of its extended
// partition.
func readMBR(f backend.File, size int64, logical int) (string, []partEntry) {
	if fs, ok := Probe(f, size); ok && (fs.Type == "vfat" || fs.Type == "ntfs" || fs.Type == "exfat") {
		if boot := readBytes(f, size, 0, 16); boot != nil && isFSBootSector(boot) {
			return "", nil
		}
	}
	t, err := mbr.Read(f, logical, logical)
	if err != nil {
		return "", nil
	}
	var out []partEntry
	for _, p := range t.Partitions {
		if p == nil || p.Type == mbr.Empty || p.Size == 0 || p.Start == 0 {
			continue
		}
		start := int64(p.Start) * int64(logical)
		psize := int64(p.Size) * int64(logical)
		if size > 0 && start+psize > size {
			return "", nil // not a believable table
		}
		out = append(out, partEntry{
			Number: p.Index,
			Start:  start,
			Size:   psize,
			Type:   fmt.Sprintf("0x%02x", byte(p.Type)),
		})
	}
	for _, p := range t.Partitions {
		if p != nil && isExtendedType(byte(p.Type)) && p.Size > 0 {
			out = append(out, readLogicals(f, size, logical, p.Start, p.Size)...)
			break // only one extended partition is valid
		}
	}
	sortEntries(out)
	return "mbr", out
}

// isFSBootSector says whether byte 0 starts with an x86 jump, as FAT, NTFS
// and exFAT boot sectors do (an MBR starts with boot code, often not a jump).
func isFSBootSector(b []byte) bool {
	return b[0] == 0xEB || b[0] == 0xE9
}

func sortEntries(e []partEntry) {
	sort.Slice(e, func(i, j int) bool { return e[i].Number < e[j].Number })
}
