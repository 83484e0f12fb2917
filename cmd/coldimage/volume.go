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

// candidates lists where RAID members may be: the disks of this machine
// that are read-only already (a hardware write-blocker, the appliance,
// blockdev --setro) and the --member paths (images, or devices, which are
// set read-only here), each write-blocked before it is read. Writable disks
// nobody named are neither read nor changed; notSearched says which.
func candidates(memberPaths []string, wb *disk.WriteBlocker) (infos []disk.Info, notSearched []string, err error) {
	for _, m := range memberPaths {
		if err := wb.Block(m); err != nil {
			return nil, nil, fmt.Errorf("member %s: %w", m, err)
		}
	}
	disks, notSearched, err := wb.BlockReadOnlyDisks()
	if err != nil && len(memberPaths) == 0 {
		return nil, nil, err
	}
	for _, d := range disks {
		if named(d, memberPaths) {
			continue // inspected below, under the name given
		}
		i, err := disk.Inspect(d)
		if err != nil {
			continue // unreadable: not a member we could use
		}
		infos = append(infos, i)
	}
	for _, f := range memberPaths {
		i, err := disk.Inspect(f)
		if err != nil {
			return nil, nil, fmt.Errorf("member %s: %w", f, err)
		}
		infos = append(infos, i)
	}
	return infos, notSearched, nil
}

// named says whether dev is one of paths (symlinks and other nodes of the
// same device included).
func named(dev string, paths []string) bool {
	st, err := os.Stat(dev)
	if err != nil {
		return false
	}
	for _, p := range paths {
		if pst, err := os.Stat(p); err == nil && os.SameFile(st, pst) {
			return true
		}
	}
	return false
}

// openVolume finds the array whose source-id is id, opens its members as
// sources (block devices set read-only and confirmed first, by wb) and
// assembles the volume in user space. close releases the members after
// imaging.
func openVolume(id string, memberPaths []string, wb *disk.WriteBlocker) (*acquire.Volume, json.RawMessage, func(), error) {
	infos, notSearched, err := candidates(memberPaths, wb)
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
		return nil, nil, nil, fmt.Errorf("RAID volume %s: no members found among this machine's read-only disks%s%s", id, memberHint(memberPaths), notSearchedHint(notSearched))
	}
	for _, p := range paths {
		if !disk.IsBlockDevice(p) {
			continue
		}
		if err := wb.Block(p); err != nil { // blocked already as a disk or partition: a no-op
			return nil, nil, nil, fmt.Errorf("RAID volume %s: member %s: %w", id, p, err)
		}
	}
	return acquire.OpenVolume(id, paths)
}

func notSearchedHint(ns []string) string {
	if len(ns) == 0 {
		return ""
	}
	return fmt.Sprintf("; not searched (coldimage sets no disk read-only unless it is named: give members with --member PATH, or blockdev --setro them first): %s", strings.Join(ns, ", "))
}

func memberHint(files []string) string {
	if len(files) == 0 {
		return " (image files as members: --member PATH)"
	}
	return " or the --member paths"
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
		note := ""
		if len(paths) > 0 {
			note = notes[paths[0]] + ", members " + strings.Join(paths, " ")
		}
		info := raid.VolumeInfo(a, vol.Size(), raid.MemberInfos(infos, paths))
		info.RAID = note
		out = append(out, info)
	}
	return out
}
