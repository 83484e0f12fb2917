// Package raidinfo notes RAID membership on the UI's device list and adds
// the RAID volumes that can be assembled in user space as sources. It is
// apart from package ui so the UI builds without the RAID code.
package raidinfo

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager/acquire"
	"github.com/coldimage/coldimage/raid"
	"github.com/coldimage/coldimage/ui"
)

// Annotate reads the RAID metadata (md 0.90/1.x, DDF, IMSM) of every disk
// and partition, opened read-only, and notes each member's array, e.g.
// "md-1.2 raid1 clean 2/2": the examiner sees which disks belong together
// before choosing. Every array that assembles (degraded ones included) is
// appended as a source of Kind "raid" named by its source-id (md-<uuid>,
// ddf-…, imsm-…). Devices that cannot be opened are left as they are.
func Annotate(devs []ui.Device) []ui.Device {
	infos := make([]disk.Info, len(devs))
	for i, d := range devs {
		infos[i] = d.Info
		infos[i].Partitions = append([]disk.Info(nil), d.Partitions...)
		for k, p := range infos[i].Partitions {
			if p.Path == "" && d.Kind != disk.KindFile {
				infos[i].Partitions[k].Path = "/dev/" + p.Name
			}
		}
	}
	rep, done, err := raid.ExamineInfos(infos)
	if err != nil {
		return devs
	}
	defer done()
	raid.Annotate(infos, rep)
	notes := raid.Notes(rep)
	out := make([]ui.Device, len(devs))
	for i, d := range devs {
		d.Info = infos[i]
		out[i] = d
	}
	for _, a := range rep.Arrays {
		vol, err := raid.Open(a)
		if err != nil {
			continue // the members' notes say why (e.g. too many missing)
		}
		out = append(out, volumeDevice(a, vol.Size(), raid.MemberInfos(infos, a.MemberNames()), notes))
	}
	return out
}

// volumeDevice lists an array as a source. Opening it again at imaging time
// (Volume) re-reads the members' metadata, so the image matches the members
// as they are then.
func volumeDevice(a *raid.Array, size int64, members []disk.Info, notes map[string]string) ui.Device {
	id := a.SourceID()
	paths := a.MemberNames() // never offered as targets, rebuilding ones included
	info := raid.VolumeInfo(a, size, members)
	info.RAID = fmt.Sprintf("%s %s %s, members %s", a.Metadata, a.Level, a.State, strings.Join(paths, " "))
	d := ui.Device{Info: info, Members: paths}
	// At imaging time the members are opened again as sources (write-blocked
	// first) and the array re-read, so the image matches them as they are then.
	d.Volume = func() (*acquire.Volume, json.RawMessage, func(), error) {
		return acquire.OpenVolume(id, paths)
	}
	return d
}
