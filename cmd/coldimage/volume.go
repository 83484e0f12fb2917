package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager/acquire"
	"github.com/coldimage/coldimage/raid"
)

// isVolumeID says whether a SOURCE names a RAID volume by its source-id
// (md-<uuid>, ddf-<guid>, imsm-<id>) rather than a path.
func isVolumeID(s string) bool {
	if _, err := os.Stat(s); err == nil {
		return false
	}
	return raid.IsSourceID(s)
}

// candidates lists where RAID members may be: this machine's disks and the
// member images named on the command line.
func candidates(memberFiles []string) ([]disk.Info, error) {
	infos, err := disk.List()
	if err != nil && len(memberFiles) == 0 {
		return nil, err
	}
	for _, f := range memberFiles {
		i, err := disk.Inspect(f)
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", f, err)
		}
		infos = append(infos, i)
	}
	return infos, nil
}

// openVolume finds the array whose source-id is id, opens its members as
// sources (block devices set read-only and confirmed first) and assembles
// the volume in user space. close releases the members after imaging.
func openVolume(id string, memberFiles []string) (*acquire.Volume, json.RawMessage, func(), error) {
	infos, err := candidates(memberFiles)
	if err != nil {
		return nil, nil, nil, err
	}
	rep, done, err := raid.ExamineInfos(infos)
	if err != nil {
		return nil, nil, nil, err
	}
	var paths []string
	for _, a := range rep.Arrays {
		if a.SourceID() != id {
			continue
		}
		paths = a.MemberNames()
	}
	done()
	if len(paths) == 0 {
		return nil, nil, nil, fmt.Errorf("RAID volume %s: no members found among this machine's disks%s", id, memberHint(memberFiles))
	}
	return acquire.OpenVolume(id, paths)
}

func memberHint(files []string) string {
	if len(files) == 0 {
		return " (image files as members: --member PATH)"
	}
	return " or the --member files"
}

// volumeInfos lists every RAID volume that assembles from infos, for `list`.
func volumeInfos(infos []disk.Info) []disk.Info {
	rep, done, err := raid.ExamineInfos(infos)
	if err != nil {
		return nil
	}
	defer done()
	notes := raid.Notes(rep)
	var out []disk.Info
	for _, a := range rep.Arrays {
		vol, err := raid.Open(a)
		if err != nil {
			continue
		}
		paths := a.MemberNames()
		id := a.SourceID()
		note := ""
		if len(paths) > 0 {
			note = notes[paths[0]] + ", members " + strings.Join(paths, " ")
		}
		out = append(out, disk.Info{Path: id, Name: id, Kind: "raid", Size: vol.Size(), LogicalSector: 512, PhysicalSector: 512,
			ReadOnly: true, Model: strings.TrimSpace(a.Level + " " + a.Name), RAID: note})
	}
	return out
}
