package raid

import (
	"strings"

	"github.com/coldimage/coldimage/disk"
)

// KindVolume is the disk.Info Kind of a RAID volume assembled in user space.
const KindVolume = "raid"

// VolumeInfo describes an assembled volume of a as a source: named by its
// source-id (md-…, ddf-…, imsm-…), size bytes long, read-only, its model
// the level and array name. Its sectors are the largest of its members'
// (members lists those known): a volume over 4Kn disks has 4096-byte
// sectors, and one whose members are unknown 512. Every place that lists or
// opens a volume describes it with this.
func VolumeInfo(a *Array, size int64, members []disk.Info) disk.Info {
	id := a.SourceID()
	info := disk.Info{Path: id, Name: id, Kind: KindVolume, Size: size, LogicalSector: 512, PhysicalSector: 512,
		ReadOnly: true, Model: strings.TrimSpace(a.Level + " " + a.Name)}
	for _, m := range members {
		info.LogicalSector = max(info.LogicalSector, m.LogicalSector)
		info.PhysicalSector = max(info.PhysicalSector, m.PhysicalSector, m.LogicalSector)
	}
	return info
}

// MemberInfos picks the descriptions of a volume's member paths from
// infos, disks with their partitions nested (as disk.List gives them).
func MemberInfos(infos []disk.Info, paths []string) []disk.Info {
	want := map[string]bool{}
	for _, p := range paths {
		want[p] = true
	}
	var out []disk.Info
	var walk func([]disk.Info)
	walk = func(l []disk.Info) {
		for _, i := range l {
			if i.Path != "" && want[i.Path] {
				out = append(out, i)
			}
			walk(i.Partitions)
		}
	}
	walk(infos)
	return out
}
