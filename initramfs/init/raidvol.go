package main

import (
	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/raid"
)

// raidVolumes finds the RAID volumes that assemble in user space from the
// devices seen (md, DDF, IMSM; degraded ones too). Each comes back as a
// Device named by its source-id (md-…, ddf-…, imsm-…) with Members set;
// the session assembles it again from them, read-only, when it runs.
// Nothing here writes a byte or touches the kernel's md driver.
func raidVolumes(devs []Device) []Device {
	var infos []disk.Info
	byPath := map[string]Device{}
	for _, d := range devs {
		if d.Size == 0 || len(d.Members) > 0 {
			continue
		}
		info := d.Info
		info.Path = d.Dev()
		infos = append(infos, info)
		byPath[d.Dev()] = d
	}
	rep, done, err := raid.ExamineInfos(infos)
	if err != nil {
		return nil
	}
	defer done()
	var out []Device
	for _, a := range rep.Arrays {
		vol, err := raid.Open(a)
		if err != nil {
			continue // too many members missing, reshape, …: the members are still imaged
		}
		v := Device{RO: true}
		var members []disk.Info
		for _, name := range a.MemberNames() {
			d, ok := byPath[name]
			if !ok {
				continue
			}
			v.Members = append(v.Members, d.Name)
			v.RO = v.RO && d.RO
			members = append(members, d.Info)
		}
		v.Info = raid.VolumeInfo(a, vol.Size(), members)
		if len(v.Members) > 0 {
			out = append(out, v)
		}
	}
	return out
}

// addVolumes applies coldimage.raid to an "all sources" selection: both adds
// the volumes, volumes replaces the member disks by their volumes, members
// leaves the selection as it is. A volume with a member on the target's disk
// or our boot medium is skipped.
func addVolumes(sources []Device, vols []Device, all []Device, mode, targetDisk string, boot map[string]bool) ([]Device, []Skip) {
	if mode == "members" {
		return sources, nil
	}
	diskOf := map[string]string{}
	for _, d := range all {
		diskOf[d.Name] = d.Disk()
	}
	var skipped []Skip
	memberDisk := map[string]bool{}
	for _, v := range vols {
		why := ""
		for _, m := range v.Members {
			switch {
			case diskOf[m] == targetDisk && targetDisk != "":
				why = "a member is on the target's disk " + targetDisk
			case boot[diskOf[m]]:
				why = "a member is on our boot medium"
			}
		}
		if why != "" {
			skipped = append(skipped, Skip{Device: v.Name, Reason: why})
			continue
		}
		for _, m := range v.Members {
			memberDisk[diskOf[m]] = true
		}
		sources = append(sources, v)
	}
	if mode == "volumes" {
		var kept []Device
		for _, d := range sources {
			if len(d.Members) == 0 && memberDisk[d.Disk()] {
				skipped = append(skipped, Skip{Device: d.Name, Reason: "RAID member: its volume is imaged (coldimage.raid=volumes)"})
				continue
			}
			kept = append(kept, d)
		}
		sources = kept
	}
	return sources, skipped
}
