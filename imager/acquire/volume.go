package acquire

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/raid"
)

// OpenVolume opens the members at paths as sources (block devices set
// read-only and confirmed first), finds the array whose source-id is id
// among them and assembles it in user space. It returns the volume to image,
// the array's geometry for the record, and a func that closes the members
// once imaging (and verification) is done.
func OpenVolume(id string, paths []string) (*Volume, json.RawMessage, func(), error) {
	var members []raid.Member
	var srcs []*disk.Source
	closeAll := func() {
		for _, s := range srcs {
			s.Close()
		}
	}
	for _, p := range paths {
		s, err := OpenSource(p)
		if err != nil {
			closeAll()
			return nil, nil, nil, fmt.Errorf("RAID volume %s: open member %s: %w", id, p, err)
		}
		srcs = append(srcs, s)
		members = append(members, raid.Member{Name: p, R: s, Size: s.Info.Size, Serial: s.Info.Serial})
	}
	rep, err := raid.Examine(members)
	if err != nil {
		closeAll()
		return nil, nil, nil, fmt.Errorf("RAID volume %s: %w", id, err)
	}
	for _, a := range rep.Arrays {
		if a.SourceID() != id {
			continue
		}
		vol, err := raid.Open(a)
		if err != nil {
			closeAll()
			return nil, nil, nil, fmt.Errorf("RAID volume %s: %w", id, err)
		}
		geo, err := json.Marshal(a)
		if err != nil {
			closeAll()
			return nil, nil, nil, fmt.Errorf("RAID volume %s: geometry: %w", id, err)
		}
		var infos []disk.Info
		for _, s := range srcs {
			infos = append(infos, s.Info)
		}
		info := raid.VolumeInfo(a, vol.Size(), infos)
		info.RAID = raid.Notes(rep)[paths[0]]
		return &Volume{R: vol, Info: info, Members: paths}, geo, closeAll, nil
	}
	closeAll()
	return nil, nil, nil, fmt.Errorf("RAID volume %s: not found on %s (members changed since they were listed?)", id, strings.Join(paths, ", "))
}
