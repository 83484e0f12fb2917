package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/acquire"
	"github.com/coldimage/coldimage/session"
	"github.com/coldimage/coldimage/ui"
	"golang.org/x/sys/unix"
)

// TargetMount is where the chosen target is mounted read-write.
const TargetMount = "/run/coldimage/target"

// unattended runs coldimage.auto=1: find the target, image every selected
// source, record, and power off. PID 1 never returns from here.
func (a *App) unattended(ctx context.Context) error {
	a.con.Printf("COLDIMAGE READY version=%s", a.version)
	a.con.Printf("coldimage: unattended run starting (%.1fs after init start)", time.Since(a.booted).Seconds())
	s, gone := a.imageSession(ctx, a.cfg, "unattended", nil)
	// A target pulled while imaging: when it is plugged back in, the
	// session goes on where its records on the target say it stopped.
	// A network target whose server stopped answering: when it answers
	// again, the same session folder is continued (its sources resume from
	// their durable progress).
	for tries := 0; gone && a.cfg.Resume && a.cfg.ReplugWait > 0 && tries < 3; tries++ {
		if IsNetTarget(a.cfg.Target) {
			a.con.Printf("COLDIMAGE WAITING for the target server (%s) to answer again, up to %s: the session then resumes from its records there", a.cfg.Target, a.cfg.ReplugWait)
			if err := a.waitServer(ctx, a.cfg.ReplugWait); err != nil {
				a.con.Printf("coldimage: the target server did not come back (%v): ending", err)
				break
			}
			a.netContinue = s.Target.Folder
			a.con.Printf("coldimage: the target server answers again: resuming the session in %s", s.Target.Folder)
			s, gone = a.imageSession(ctx, a.cfg, "unattended", nil)
			continue
		}
		a.con.Printf("COLDIMAGE WAITING for the target (%s) to be plugged back in, up to %s: the session then resumes from its records there", a.cfg.Target, a.cfg.ReplugWait)
		if _, _, err := a.findTarget(a.cfg.Target, a.cfg.ReplugWait); err != nil {
			a.con.Printf("coldimage: the target did not come back (%v): ending", err)
			break
		}
		a.con.Printf("coldimage: the target is back: resuming the session")
		s, gone = a.imageSession(ctx, a.cfg, "unattended", nil)
	}
	// session-sha256: the sha256 of session.json as last written on the
	// target (coldimage verify --session-sha256 checks it later); the
	// short form when no session.json could be written.
	if h := s.WrittenSHA256(); h != "" {
		a.con.Printf("COLDIMAGE DONE ok=%d failed=%d session-sha256=%s", s.OK, s.Failed, h)
	} else {
		a.con.Printf("COLDIMAGE DONE ok=%d failed=%d", s.OK, s.Failed)
	}
	time.Sleep(200 * time.Millisecond) // let the UART drain
	powerOff(a.con)
	return nil
}

// findTarget waits up to cfg.Wait seconds for the target to appear.
func (a *App) findTarget(spec string, wait time.Duration) (Device, []Device, error) {
	deadline := time.Now().Add(wait)
	for {
		a.guard.Sweep()
		devs := a.guard.ListDevices()
		t, err := MatchTarget(devs, spec)
		if err == nil || time.Now().After(deadline) || !strings.Contains(err.Error(), "not found") {
			return t, devs, err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// imageSession is one acquisition session of the unattended run or the
// text menu: the boot steps' part (find the target, select the sources,
// lift write-blocking on the target alone and mount it), then package
// session plans, preflights, runs and records it. consent names
// unprotected devices the operator accepted. gone says the target was
// removed while imaging.
func (a *App) imageSession(ctx context.Context, cfg Config, mode string, consent map[string]bool) (_ *imager.Session, gone bool) {
	started := time.Now()
	p := a.sessionPlan(cfg, mode, started)
	fail := func(err error) (*imager.Session, bool) {
		a.con.Printf("COLDIMAGE ERROR %v", err)
		return &session.RefusedRecord(p, err).Session, false
	}
	if IsNetTarget(cfg.Target) {
		return a.netSession(ctx, cfg, p, consent, fail)
	}
	target, devs, boot, err := a.openTarget(&p, cfg)
	if err != nil {
		return fail(err)
	}
	sources, err := a.selectSessionSources(&p, cfg, devs, &target, boot, consent)
	if err != nil {
		return fail(err)
	}
	if target.FSType == "" {
		return fail(fmt.Errorf("target %s has no ext4, exFAT or vfat file system", target.Dev()))
	}
	// Make the target (and only it, with its disk) writable, then mount it;
	// a failure on the way puts write-blocking back.
	if _, err := a.mountTarget(target, TargetMount); err != nil {
		return fail(err)
	}
	// A target unplugged while imaging stops every source: writes to its
	// file system would pile up in memory, then block for ever.
	var pulled atomic.Bool
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	a.watchTarget(target, func(name string) {
		if pulled.Swap(true) {
			return
		}
		a.con.Printf("COLDIMAGE ERROR target /dev/%s removed while imaging: every source stops; the records cannot be written there and are shown on the console", name)
		stop(fmt.Errorf("the target %s was removed", target.Dev()))
	})
	defer a.watchTarget(Device{}, nil)
	p.TargetGone = pulled.Load
	defer func() { a.unmountTarget(target, pulled.Load()) }()
	return a.runSession(ctx, cfg, p, sources, consent, target.Dev(), pulled.Load)
}

// netSession is imageSession for a network target (smb://, nfs://): the
// sources are chosen, then the appliance joins the network and mounts the
// share with the kernel's client. A server that stops answering fails the
// writes (soft mounts); no disk of this machine is made writable.
func (a *App) netSession(ctx context.Context, cfg Config, p session.Plan, consent map[string]bool, fail func(error) (*imager.Session, bool)) (*imager.Session, bool) {
	nt, err := ParseNetTarget(cfg.Target)
	if err != nil {
		return fail(err)
	}
	a.guard.Sweep()
	devs := a.guard.ListDevices()
	boot := BootDisks(devs)
	for n := range boot {
		p.BootDisks = append(p.BootDisks, n)
	}
	sort.Strings(p.BootDisks)
	sources, err := a.selectSessionSources(&p, cfg, devs, &Device{}, boot, consent)
	if err != nil {
		return fail(err)
	}
	t, err := a.mountNetTarget(ctx, cfg, nt)
	p.Target = t
	if err != nil {
		// Nothing was imaged: each selected source is named as failed.
		a.con.Printf("COLDIMAGE ERROR %v — nothing imaged", err)
		for _, d := range sources {
			p.Sources = append(p.Sources, a.sessionSource(d, consent))
		}
		return &session.RefusedRecord(p, err).Session, false
	}
	defer a.unmountNetTarget(nt)
	p.Dir = a.netTargetDir(nt)
	p.Host = t.Host
	if folder := strings.TrimPrefix(a.netContinue, "/"); folder != "" {
		a.netContinue = ""
		if rec, err := imager.ReadSession(filepath.Join(p.Dir, folder)); err == nil {
			p.Continue = &session.Continuation{Folder: folder, Record: rec}
		} else {
			a.con.Printf("COLDIMAGE ERROR the session record in %s cannot be read (%v): a new session starts", folder, err)
		}
	}
	// A server that stops answering is seen by probing its port while the
	// session runs; the writes then fail (soft mounts) and the session is
	// continued when it answers again.
	lost := a.watchServer(t.Server, nt)
	s, _ := a.runSession(ctx, cfg, p, sources, consent, nt.String(), func() bool { return false })
	// An object store's requests were retried for coldimage.s3.retry-for
	// before a source failed; as for a share, the session is continued
	// when the server answers again, from the records the store holds
	// (those not stored meanwhile are said on the console).
	return s, lost() && s.Failed > 0
}

// runSession plans, preflights, runs and records a session on the mounted
// target (p.Dir). gone says the target was removed while imaging.
func (a *App) runSession(ctx context.Context, cfg Config, p session.Plan, sources []Device, consent map[string]bool, targetName string, gone func() bool) (*imager.Session, bool) {
	for _, d := range sources {
		p.Sources = append(p.Sources, a.sessionSource(d, consent))
	}
	if cfg.Resume && p.Mode == "unattended" {
		// A run of this case cut off on this target (power loss, crash)
		// goes on where it stopped, in its own folder.
		if c := session.CutOff(p.Dir, cfg.Case, p.Sources, p.Host); c != nil {
			a.con.Printf("coldimage: continuing the session cut off in %s (started %s): imaged sources are kept, the one in progress resumes (coldimage.resume=0 starts anew)", "/"+c.Folder, c.Record.Started)
			p.Continue = c
		}
	}
	s, err := session.New(p)
	if err != nil {
		// Refused before a byte was written (e.g. the target is too small):
		// the refusal is recorded on the target.
		err = fmt.Errorf("target %s: %w — nothing imaged", targetName, err)
		a.con.Printf("COLDIMAGE ERROR %v", err)
		r := session.RefusedRecord(p, err)
		r.Dir = filepath.Join(p.Dir, session.HostFolder(cfg.Case, p.Now(), p.Host))
		if err := a.writeRecord(r); err != nil {
			a.con.Printf("COLDIMAGE ERROR %v", err)
		}
		return &r.Session, false
	}
	prog := ui.NewText(consoleWriter{a.con}, false, 3*time.Second)
	loud := quietKernel() // "I/O error" lines would split ours mid-line
	if err := s.Run(ctx, prog); err != nil {
		a.con.Printf("COLDIMAGE ERROR %v", err)
	}
	loud()
	prog.Close()
	for _, r := range s.Sources {
		a.con.Printf("coldimage: %s → %s: %s (ok=%v, %.0fs)", r.Device, r.Outdir, r.Result, r.OK, r.Seconds)
	}
	if gone() {
		// The record exists only here now: shown in full.
		a.con.Printf("COLDIMAGE ERROR the target is gone: the session record below was not written to it")
		for _, l := range strings.Split(strings.TrimRight(s.Text(), "\n"), "\n") {
			a.con.Printf("  %s", l)
		}
		return &s.Session, true
	}
	a.con.Printf("coldimage: session written to %s on %s", s.Target.Folder, targetName)
	return &s.Session, false
}

// sessionPlan is what the configuration asks of a session; openTarget and
// selectSessionSources fill in the target and the sources.
func (a *App) sessionPlan(cfg Config, mode string, started time.Time) session.Plan {
	hashes, err := imager.ParseHashes(cfg.Hash)
	if err != nil {
		a.con.Printf("coldimage: coldimage.hash=%s: %v; using the default hashes", cfg.Hash, err)
		hashes = nil
	}
	return session.Plan{
		Mode: mode, Version: a.version, Kernel: a.release, Cmdline: a.cmdline, Settings: a.settings,
		Dir: TargetMount, Layout: session.CaseFolders,
		Case:   imager.Case{Case: cfg.Case, Examiner: cfg.Examiner, Evidence: cfg.Evidence},
		Hashes: hashes, Format: "raw", Verify: true, Jobs: cfg.Jobs, PieceSize: cfg.PieceSize, Rescue: cfg.Rescue, HPA: cfg.HPA,
		AfterWrite: a.writeConsoleLog,
		Now:        func() time.Time { return started },
	}
}

// writeRecord writes a session record that never ran (a refusal).
func (a *App) writeRecord(s *session.Session) error {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("create session folder %s on target: %w", s.Dir, err)
	}
	return s.Write()
}

// writeConsoleLog keeps the console log beside the session record.
func (a *App) writeConsoleLog(dir string) {
	if err := imager.WriteFileAtomic(filepath.Join(dir, "console.log"), a.con.Log()); err != nil {
		a.con.Printf("COLDIMAGE ERROR %v", err)
	}
}

// printkFile sets which kernel messages reach the consoles.
const printkFile = "/proc/sys/kernel/printk"

// quietKernel keeps kernel messages (I/O errors of a failing source, a
// target's journal) off the consoles while we print there: they go to the
// kernel log only, and no longer split our lines. The returned function
// restores the console log level.
func quietKernel() (restore func()) {
	old, err := os.ReadFile(printkFile)
	if err != nil || len(strings.Fields(string(old))) == 0 {
		return func() {}
	}
	os.WriteFile(printkFile, []byte("1"), 0o644)
	return func() { os.WriteFile(printkFile, []byte(strings.Fields(string(old))[0]), 0o644) }
}

// consoleWriter prints what a progress renderer writes as console lines.
type consoleWriter struct{ con *Console }

func (w consoleWriter) Write(b []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if l != "" {
			w.con.Printf("%s", l)
		}
	}
	return len(b), nil
}

// openTarget finds the target (waiting cfg.Wait seconds), records it, and
// refuses one on our boot medium. It returns the devices seen and the boot
// disks too.
func (a *App) openTarget(p *session.Plan, cfg Config) (Device, []Device, map[string]bool, error) {
	target, devs, err := a.findTarget(cfg.Target, time.Duration(cfg.Wait)*time.Second)
	if err != nil {
		return target, devs, nil, err
	}
	p.Target = imager.SessionTarget{Device: target.Dev(), Disk: target.Disk(), Policy: "named on the kernel command line or typed in the text menu: " + cfg.Target}
	if target.FSType != "" {
		p.Target.FSType, p.Target.Label, p.Target.UUID = target.FSType, target.FSLabel, target.FSUUID
	}
	for _, d := range devs {
		if d.Name == target.Disk() {
			p.Target.Model, p.Target.Serial, p.Target.DiskSize = d.Model, d.Serial, d.Size
		}
	}
	boot := BootDisks(devs)
	for n := range boot {
		p.BootDisks = append(p.BootDisks, n)
	}
	sort.Strings(p.BootDisks)
	if boot[target.Disk()] {
		return target, devs, boot, fmt.Errorf("target %s is on our boot medium: refused", target.Dev())
	}
	return target, devs, boot, nil
}

// selectSessionSources chooses the sources (RAID volumes added when all
// are imaged) and names those skipped on the console and in the record.
func (a *App) selectSessionSources(p *session.Plan, cfg Config, devs []Device, target *Device, boot, consent map[string]bool) ([]Device, error) {
	// RAID metadata is read once, and only when needed.
	volumes := sync.OnceValue(func() []Device { return raidVolumes(devs) })
	sources, skipped, err := SelectSources(devs, cfg, target, boot, consent, volumes)
	if err == nil && cfg.AllSources() {
		var more []Skip
		sources, more = addVolumes(sources, volumes(), devs, cfg.RAID, target.Disk(), boot)
		skipped = append(skipped, more...)
	}
	p.Skipped = skipped
	for _, k := range skipped {
		a.con.Printf("coldimage: not imaging /dev/%s: %s", k.Device, k.Reason)
	}
	if err != nil {
		return nil, err
	}
	if len(sources) == 0 {
		return nil, fmt.Errorf("no source to image")
	}
	return sources, nil
}

// sessionSource describes a selected device for the session. Just before
// its job reads a byte, the write-blocker must have confirmed it (or each
// member of a volume) read-only, or the operator consented.
func (a *App) sessionSource(d Device, consent map[string]bool) session.Source {
	check := []string{d.Name}
	if len(d.Members) > 0 {
		check = d.Members // a volume: its members are what the write-blocker checked
	}
	src := session.Source{Ready: func() error {
		for _, n := range check {
			if checked, ro, _ := a.guard.Checked(n); !checked || (!ro && !consent[n]) {
				a.con.Printf("COLDIMAGE ERROR /dev/%s is not confirmed read-only: %s not imaged", n, d.Dev())
				return fmt.Errorf("/dev/%s not confirmed read-only: refused", n)
			}
		}
		return nil
	}}
	if len(d.Members) > 0 {
		paths := make([]string, len(d.Members))
		for i, m := range d.Members {
			paths[i] = "/dev/" + m
		}
		src.Info = d.Info
		src.Volume = func() (*acquire.Volume, json.RawMessage, func(), error) { return acquire.OpenVolume(d.Name, paths) }
		return src
	}
	info, err := disk.Inspect(d.Dev()) // its partition layout, for the record
	if err != nil {
		info = d.Info // sysfs alone; the job says why it cannot read it
	}
	info.ReadOnly = d.RO
	src.Info = info
	return src
}

// unmountTarget syncs and unmounts the target at the end of the session;
// a target that is gone is detached (lazily), not synced.
func (a *App) unmountTarget(target Device, gone bool) {
	if gone {
		if err := unix.Unmount(TargetMount, unix.MNT_DETACH); err != nil {
			a.con.Printf("COLDIMAGE ERROR detach the removed target %s: %v", TargetMount, err)
		}
		return
	}
	boundedSync(a.con)
	if err := unix.Unmount(TargetMount, 0); err != nil {
		a.con.Printf("COLDIMAGE ERROR unmount target %s: %v", TargetMount, err)
	} else {
		a.con.Printf("coldimage: target %s synced and unmounted", target.Dev())
	}
}

func uniq(s ...string) []string {
	var out []string
	for _, x := range s {
		if x != "" && (len(out) == 0 || out[len(out)-1] != x) {
			out = append(out, x)
		}
	}
	return out
}
