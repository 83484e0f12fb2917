package ui

import (
	"context"

	"github.com/coldimage/coldimage/disk"
)

// TargetFS are the file systems a target may carry (CONVENTIONS §3).
var TargetFS = map[string]bool{"ext4": true, "ext3": true, "ext2": true, "exfat": true, "vfat": true, "ntfs": true}

// Candidates turns what disk.List reports into the UI's two lists, for the
// appliance: every disk (with its partitions) is a source candidate, our
// boot disks marked; every disk or partition with a target file system,
// not on a boot disk, is a target, mounted by mount only once chosen and
// confirmed (Target.Prepare).
func Candidates(infos []disk.Info, boot map[string]bool, mount func(ctx context.Context, target disk.Info) (dir string, err error)) ([]Device, []Target) {
	var devs []Device
	var targets []Target
	add := func(i disk.Info, diskName string) {
		if !TargetFS[i.FSType] || boot[diskName] {
			return
		}
		targets = append(targets, Target{
			Name: i.Path, Disk: diskName, FSType: i.FSType, Label: i.FSLabel, Free: -1,
			Prepare: func(ctx context.Context) (string, error) { return mount(ctx, i) },
		})
	}
	for _, i := range infos {
		d := Device{Info: i, Boot: boot[i.Name]}
		if i.Kind != disk.KindFile && !i.ReadOnly && !d.Boot {
			d.Note = "NOT READ-ONLY: the write-blocker could not set it read-only"
		}
		devs = append(devs, d)
		add(i, i.Name)
		for _, p := range i.Partitions {
			if p.Path == "" {
				p.Path = "/dev/" + p.Name
			}
			add(p, i.Name)
		}
	}
	return devs, targets
}
