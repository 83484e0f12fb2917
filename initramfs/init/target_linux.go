package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/ui"
	"github.com/coldimage/coldimage/ui/raidinfo"
	"golang.org/x/sys/unix"
)

// uiDevices lists disks for the UI: package disk's view (RO from BLKROGET),
// our boot medium marked, devices the write-blocker failed on annotated.
func (a *App) uiDevices() ([]ui.Device, error) {
	a.guard.Sweep()
	boot := BootDisks(a.guard.ListDevices())
	infos, err := disk.List()
	devs := make([]ui.Device, len(infos))
	for i, in := range infos {
		devs[i] = ui.Device{Info: in, Boot: boot[in.Name]}
		if _, ro, rerr := a.guard.Checked(in.Name); !in.ReadOnly || !ro {
			why := "not confirmed"
			if rerr != nil {
				why = rerr.Error()
			}
			devs[i].Note = "NOT READ-ONLY: " + why
		}
	}
	// Each member notes its array; assemblable volumes become sources.
	return raidinfo.Annotate(devs), err
}

// uiTargets offers every ext4, exFAT or vfat file system. Prepare clears RO
// on the chosen one (disk first) and mounts it under /run/coldimage.
func (a *App) uiTargets(mounted *[]string) ([]ui.Target, error) {
	devs := a.guard.ListDevices()
	boot := BootDisks(devs)
	var ts []ui.Target
	for _, d := range devs {
		if d.FS == nil || isVirtual(d.Name) {
			continue
		}
		d := d
		ts = append(ts, ui.Target{Name: d.Dev(), Disk: d.Disk, FSType: d.FS.Type, Label: d.FS.Label, UUID: d.FS.UUID, Free: -1, Boot: boot[d.Disk],
			Prepare: func(ctx context.Context) (string, error) {
				dir, err := a.mountTarget(d)
				if err == nil {
					*mounted = append(*mounted, dir)
				}
				return dir, err
			}})
	}
	return ts, nil
}

// mountTarget makes the chosen target writable (its disk first: a partition
// reads back RO while its disk is RO) and mounts it read-write.
func (a *App) mountTarget(d Device) (string, error) {
	for _, n := range uniq(d.Disk, d.Name) {
		if err := clearReadOnly("/dev/" + n); err != nil {
			return "", fmt.Errorf("make target /dev/%s writable: %w", n, err)
		}
		a.guard.Allow(n)
	}
	dir := filepath.Join("/run/coldimage", "target-"+d.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := unix.Mount(d.Dev(), dir, d.FS.Type, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return "", fmt.Errorf("mount target %s (%s) on %s: %w", d.Dev(), d.FS.Type, dir, err)
	}
	a.con.Printf("coldimage: target %s (%s %q) read-only cleared, mounted on %s at %s", d.Dev(), d.FS.Type, d.FS.Label, dir, rfc3339(time.Now()))
	return dir, nil
}
