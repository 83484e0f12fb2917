package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/s3"
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
		if _, ro, rerr := a.guard.Checked(in.Name); errors.Is(rerr, unix.ENOMEDIUM) {
			devs[i].Note = "no medium: write-blocked when one is inserted"
		} else if !in.ReadOnly || !ro {
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

// uiTargets lists every ext4, exFAT or vfat file system not on our boot
// medium, with its room and state read from the unmounted file system
// through a read-only descriptor (the device stays write-blocked). The UI
// applies the target policy; Prepare lifts write-blocking only on the one
// target chosen and confirmed, Release puts it back.
func (a *App) uiTargets(mounted *[]string) ([]ui.Target, error) {
	devs := a.guard.ListDevices()
	boot := BootDisks(devs)
	var ts []ui.Target
	for _, d := range devs {
		if d.FSType == "" || isVirtual(d.Name) {
			continue
		}
		d := d
		t := ui.Target{Name: d.Dev(), Disk: d.Disk(), FSType: d.FSType, Label: d.FSLabel, UUID: d.FSUUID, Free: -1, Boot: boot[d.Disk()]}
		if sp, err := readFSSpace(d); err == nil {
			t.Free, t.Total, t.MaxFile, t.State = usableFree(sp), sp.Total, sp.MaxFile, sp.State
		} else {
			t.State = "room unknown: " + err.Error()
		}
		for _, o := range devs {
			switch {
			case o.Name == d.Disk():
				t.DiskModel, t.DiskSerial, t.DiskSize = o.Model, o.Serial, o.Size
			case o.IsPart() && o.Disk() == d.Disk():
				t.DiskParts = append(t.DiskParts, partLine(o))
			}
		}
		t.Prepare = func(ctx context.Context) (string, error) {
			dir, err := a.mountTarget(d, targetDir(d))
			if err == nil {
				*mounted = append(*mounted, dir)
			}
			return dir, err
		}
		t.Release = func() error {
			err := a.releaseTarget(d, targetDir(d))
			*mounted = slices.DeleteFunc(*mounted, func(m string) bool { return m == targetDir(d) })
			return err
		}
		ts = append(ts, t)
	}
	if t, ok := a.uiNetTarget(mounted); ok {
		ts = append(ts, t)
	}
	return ts, nil
}

// uiNetTarget offers the network share named by coldimage.target (kernel
// command line or COLDIMAGE.CFG) as a target: choosing it joins the network
// and mounts the share (Prepare); nothing touches the network before.
func (a *App) uiNetTarget(mounted *[]string) (ui.Target, bool) {
	if !IsNetTarget(a.cfg.Target) {
		return ui.Target{}, false
	}
	nt, err := ParseNetTarget(a.cfg.Target)
	if err != nil {
		return ui.Target{Name: a.cfg.Target, Free: -1, State: "not usable: " + err.Error(), Boot: true}, true
	}
	return a.netUITarget(a.cfg, nt, mounted, "named by coldimage.target (kernel command line or settings file), chosen in the console UI"), true
}

// netForm is the console UI's network target form as the boot settings
// fill it: never a secret, only whether one is set.
func (a *App) netForm() ui.NetForm {
	c := a.cfg
	f := ui.NetForm{Net: c.Net.String(), Port: c.Net.If, Endpoint: c.S3.Endpoint, Region: c.S3.Region, AccessKey: c.S3.AccessKey,
		Pin: c.S3.Pin, PlainHTTP: c.S3.Insecure, Unsealed: c.SMBUnsealed}
	if IsNetTarget(c.Target) {
		f.URL = c.Target
	}
	if nt, err := ParseNetTarget(c.Target); err == nil {
		f.SecretSet = nt.Scheme == "s3" && c.S3.SecretKey != "" || nt.Scheme == "smb" && c.SMBPassword != ""
	}
	return f
}

// typedNetTarget makes a target of the network target typed in the
// console UI: the boot settings with what was typed in their place. It
// checks what needs no network; Prepare joins the network and checks the
// store or share, as for coldimage.target.
func (a *App) typedNetTarget(mounted *[]string) func(f ui.NetForm) (ui.Target, error) {
	return func(f ui.NetForm) (ui.Target, error) {
		spec := strings.TrimSpace(f.URL)
		if !IsNetTarget(spec) {
			return ui.Target{}, fmt.Errorf("target URL %q: type s3://BUCKET/PREFIX, smb://USER@HOST/SHARE/PATH or nfs://HOST/EXPORT/PATH", spec)
		}
		nt, err := ParseNetTarget(spec)
		if err != nil {
			return ui.Target{}, err
		}
		cfg := a.cfg
		cfg.Target = spec
		n, err := ParseNet(strings.TrimSpace(f.Net))
		if err != nil {
			return ui.Target{}, fmt.Errorf("network %q: %w", f.Net, err)
		}
		n.If = strings.TrimSpace(f.Port)
		cfg.Net = n
		if joined := a.joined(); joined != nil && (joined.Method != n.String() || n.If != "" && n.If != joined.Interface && !strings.EqualFold(n.If, joined.MAC)) {
			return ui.Target{}, fmt.Errorf("the network was joined already (%s, port %s): it stays so until the appliance restarts; type Network %s and port %s", joined.Method, joined.Interface, joined.Method, joined.Interface)
		}
		// The secret typed; none typed keeps COLDIMAGE.CFG's only when the
		// form said it holds one.
		secret := func(fromCfg string) string {
			if f.Secret == "" && f.SecretSet {
				return fromCfg
			}
			return f.Secret
		}
		switch nt.Scheme {
		case "s3":
			cfg.S3.Endpoint, cfg.S3.Region, cfg.S3.AccessKey = strings.TrimSpace(f.Endpoint), strings.TrimSpace(f.Region), strings.TrimSpace(f.AccessKey)
			cfg.S3.Pin, cfg.S3.Insecure, cfg.S3.SecretKey = strings.TrimSpace(f.Pin), f.PlainHTTP, secret(cfg.S3.SecretKey)
			switch {
			case cfg.S3.Endpoint == "":
				return ui.Target{}, fmt.Errorf("target %s: no S3 endpoint: type https://HOST[:PORT]", nt)
			case cfg.S3.AccessKey == "" || cfg.S3.SecretKey == "":
				return ui.Target{}, fmt.Errorf("target %s: type the access key and the secret key", nt)
			}
			if err := (s3.Config{Endpoint: cfg.S3.Endpoint, Region: cfg.S3.Region, Pin: cfg.S3.Pin, Insecure: cfg.S3.Insecure}).Validate(); err != nil {
				return ui.Target{}, fmt.Errorf("target %s: %w", nt, err)
			}
		case "smb":
			cfg.SMBPassword, cfg.SMBUnsealed = secret(cfg.SMBPassword), f.Unsealed
			if cfg.SMBPassword == "" {
				return ui.Target{}, fmt.Errorf("target %s: type the password of user %s", nt, nt.User)
			}
		}
		return a.netUITarget(cfg, nt, mounted, "typed in the console UI by the examiner (URL, network, store or share settings)"), nil
	}
}

// netUITarget is the console UI's target for the network target nt,
// reached with cfg's settings.
func (a *App) netUITarget(cfg Config, nt NetTarget, mounted *[]string, policy string) ui.Target {
	var rec *imager.SessionTarget
	state := "network share: the network is joined and the share mounted once imaging is confirmed"
	if nt.Scheme == "s3" {
		trust := "certificate checked against the CA bundle"
		switch u, _ := url.Parse(cfg.S3.Endpoint); {
		case u != nil && u.Scheme == "http":
			trust = "PLAIN HTTP, NOT ENCRYPTED"
		case cfg.S3.Pin != "":
			trust = "certificate pinned"
		}
		state = fmt.Sprintf("object store at %s (%s): the network is joined and the bucket checked once imaging is confirmed", cfg.S3.Endpoint, trust)
	}
	return ui.Target{Name: nt.String(), FSType: nt.FSType(), Free: -1, Given: true,
		State: state,
		Prepare: func(ctx context.Context) (string, error) {
			t, err := a.mountNetTarget(ctx, cfg, nt)
			if err != nil {
				return "", err
			}
			t.Policy = policy
			rec = &t
			*mounted = append(*mounted, nt.String()) // the UI's end unmounts it (an s3:// target: closes it)
			return a.netTargetDir(nt), nil
		},
		Release: func() error {
			a.unmountNetTarget(nt)
			*mounted = slices.DeleteFunc(*mounted, func(m string) bool { return m == nt.String() })
			return nil
		},
		Network: func() *imager.SessionTarget { return rec },
	}
}

// readFSSpace reads a file system's room and state through a read-only
// descriptor, before anything is unlocked.
func readFSSpace(d Device) (disk.FSSpace, error) {
	f, err := os.OpenFile(d.Dev(), os.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return disk.FSSpace{}, err
	}
	defer f.Close()
	return disk.ReadFSSpace(f, d.Size, d.FSType)
}

// usableFree is the room a writer gets once the file system is mounted:
// Linux's ext4 keeps back min(2 %, 4096 clusters) beyond the reserved
// blocks the metadata states (set at mount, stored nowhere), so the free
// space read from the unmounted file system is cut by that much.
func usableFree(sp disk.FSSpace) int64 {
	free := sp.Free
	if strings.HasPrefix(sp.Type, "ext") {
		free -= min(sp.Total/50, 4096*sp.Unit)
	}
	return max(0, free)
}

// partLine describes one partition for the confirm-by-serial screen.
func partLine(d Device) string {
	s := fmt.Sprintf("%-10s %9s", d.Name, imager.HumanBytes(d.Size))
	if d.FSType != "" {
		s += " " + d.FSType
		if d.FSLabel != "" {
			s += " " + d.FSLabel
		}
	}
	if d.PartLabel != "" {
		s += fmt.Sprintf(" (GPT name %q)", d.PartLabel)
	}
	return s
}

func targetDir(d Device) string { return filepath.Join("/run/coldimage", "target-"+d.Name) }

// mountTarget makes the chosen target writable (its disk first: a partition
// reads back RO while its disk is RO) and mounts it read-write. On any
// failure it puts write-blocking back before returning.
func (a *App) mountTarget(d Device, dir string) (string, error) {
	if BootDisks(a.guard.ListDevices())[d.Disk()] {
		return "", fmt.Errorf("%s is on our boot medium: never made writable", d.Dev())
	}
	fail := func(err error) (string, error) {
		if rerr := a.releaseTarget(d, dir); rerr != nil {
			return "", fmt.Errorf("%w; re-applying write-blocking FAILED: %v", err, rerr)
		}
		return "", fmt.Errorf("%w; %s and /dev/%s are read-only again (BLKROGET=1)", err, d.Dev(), d.Disk())
	}
	for _, n := range uniq(d.Disk(), d.Name) {
		a.guard.Allow(n)
		if err := clearReadOnly("/dev/" + n); err != nil {
			return fail(fmt.Errorf("make target /dev/%s writable: %w", n, err))
		}
		a.con.Printf("coldimage: write-blocking lifted on /dev/%s for the target %s at %s", n, d.Dev(), rfc3339(time.Now()))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	if err := unix.Mount(d.Dev(), dir, d.FSType, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fail(fmt.Errorf("mount target %s (%s) on %s: %w", d.Dev(), d.FSType, dir, err))
	}
	a.con.Printf("coldimage: target %s (%s %q) mounted read-write on %s at %s", d.Dev(), d.FSType, d.FSLabel, dir, rfc3339(time.Now()))
	return dir, nil
}

// releaseTarget unmounts a target (if mounted) and write-blocks it and its
// disk again, confirming BLKROGET=1 on both.
func (a *App) releaseTarget(d Device, dir string) error {
	var errs []error
	unix.Sync()
	if err := unix.Unmount(dir, 0); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("unmount %s: %w", dir, err))
	}
	for _, n := range uniq(d.Name, d.Disk()) {
		if err := a.guard.Protect(n, "target released", true); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		a.con.Printf("COLDIMAGE WARNING target %s: %v", d.Dev(), err)
		return err
	}
	a.con.Printf("coldimage: target %s unmounted; /dev/%s and /dev/%s read-only again (BLKROGET=1) at %s", d.Dev(), d.Name, d.Disk(), rfc3339(time.Now()))
	return nil
}

// writable lists the block devices that are writable now (BLKROGET=0),
// for the console UI's header.
func (a *App) writable() []string {
	var out []string
	for _, n := range sysBlockNames() {
		if isVirtual(n) {
			continue
		}
		if v, err := blkROGet("/dev/" + n); err == nil && v == 0 {
			out = append(out, n)
		}
	}
	return out
}

// readRTC reads the hardware clock (UTC by convention).
func readRTC() (time.Time, error) {
	b, err := os.ReadFile("/sys/class/rtc/rtc0/since_epoch")
	if err != nil {
		return time.Time{}, fmt.Errorf("read the hardware clock: %w", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("hardware clock: %w", err)
	}
	return time.Unix(n, 0).UTC(), nil
}
