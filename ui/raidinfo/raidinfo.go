// Package raidinfo notes RAID membership on the UI's device list. It is
// apart from package ui so the UI builds without the RAID code.
package raidinfo

import (
	"fmt"
	"os"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/raid"
	"github.com/coldimage/coldimage/ui"
)

// Annotate reads the RAID metadata (md 0.90/1.x, DDF) of every disk and
// partition, opened read-only, and notes each member's array, e.g.
// "md-1.2 raid1 clean 2/2": the examiner sees which disks belong together
// before choosing. Devices that cannot be opened are left as they are.
func Annotate(devs []ui.Device) []ui.Device {
	var members []raid.Member
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	add := func(i disk.Info) {
		if i.Size == 0 || i.Path == "" {
			return
		}
		f, err := os.Open(i.Path) // O_RDONLY: reads only a few metadata sectors
		if err != nil {
			return
		}
		files = append(files, f)
		members = append(members, raid.Member{Name: i.Path, R: f, Size: i.Size})
	}
	for _, d := range devs {
		add(d.Info)
		for _, p := range d.Partitions {
			if p.Path == "" {
				p.Path = "/dev/" + p.Name
			}
			add(p)
		}
	}
	if len(members) == 0 {
		return devs
	}
	rep, err := raid.Examine(members)
	if err != nil || rep == nil {
		return devs
	}
	notes := raidNotes(rep)
	out := make([]ui.Device, len(devs))
	for i, d := range devs {
		if n := notes[d.Path]; n != "" && d.RAID == "" {
			d.RAID = n
		}
		d.Partitions = append([]disk.Info(nil), d.Partitions...)
		for k, p := range d.Partitions {
			path := p.Path
			if path == "" {
				path = "/dev/" + p.Name
			}
			if n := notes[path]; n != "" && p.RAID == "" {
				d.Partitions[k].RAID = n
			}
		}
		out[i] = d
	}
	return out
}

// raidNotes maps member paths to a one-line description of their array.
func raidNotes(rep *raid.Report) map[string]string {
	notes := map[string]string{}
	for _, a := range rep.Arrays {
		present := 0
		for _, m := range a.Members {
			if m.Name != "" && m.Status == raid.StatusActive {
				present++
			}
		}
		n := fmt.Sprintf("%s %s %s %d/%d", a.Metadata, a.Level, a.State, present, a.RaidDevices)
		if a.Name != "" {
			n += " " + a.Name
		}
		for _, m := range a.Members {
			if m.Name != "" {
				notes[m.Name] = n + " (" + m.Status + ")"
			}
		}
	}
	return notes
}
