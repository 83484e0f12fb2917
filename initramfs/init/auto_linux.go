package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/coldimage/coldimage/imager"
	"golang.org/x/sys/unix"
)

// TargetMount is where the chosen target is mounted read-write.
const TargetMount = "/run/coldimage/target"

// unattended runs coldimage.auto=1: find the target, image every selected
// source, record, and power off. PID 1 never returns from here.
func (a *App) unattended(ctx context.Context) error {
	a.con.Printf("COLDIMAGE READY version=%s", a.version)
	a.con.Printf("coldimage: unattended run starting (%.1fs after init start)", time.Since(a.booted).Seconds())
	s := a.imageSession(ctx, a.cfg, "unattended", nil)
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

// imageSession is one acquisition session: target, sources, images,
// session record. consent names unprotected devices the operator accepted.
//
// The steps: find the target, select the sources, mount the target, write
// the session record (in-progress), check the room, run the sources, finish.
func (a *App) imageSession(ctx context.Context, cfg Config, mode string, consent map[string]bool) *Session {
	started := time.Now()
	s := a.newSession(cfg, mode, started)
	target, devs, boot, err := a.openTarget(s, cfg)
	if err != nil {
		return a.failSession(s, "%v", err)
	}
	sources, err := a.selectSessionSources(s, cfg, devs, &target, boot, consent)
	if err != nil {
		return a.failSession(s, "%v", err)
	}
	if target.FS == nil {
		return a.failSession(s, "target %s has no ext4, exFAT or vfat file system", target.Dev())
	}

	// Make the target (and only it, with its disk) writable, then mount it;
	// a failure on the way puts write-blocking back.
	if _, err := a.mountTarget(target, TargetMount); err != nil {
		return a.failSession(s, "%v", err)
	}
	defer a.unmountTarget(target)

	dir, err := makeSessionFolder(s, cfg, started)
	if err != nil {
		return a.failSession(s, "%v", err)
	}
	// The record exists before any source is read, saying in-progress.
	s.Result = imager.SessionInProgress
	a.writeSession(dir, s)

	if a.targetTooSmall(s, target, dir, sources) {
		return s
	}
	bin, err := exec.LookPath("coldimage")
	if err != nil {
		return a.failSession(s, "coldimage not found in PATH: %v (PATH=%s)", err, os.Getenv("PATH"))
	}
	o := AcquireOpts{Bin: bin, Hash: cfg.Hash, Case: cfg.Case, Examiner: cfg.Examiner, Evid: cfg.Evidence}
	a.runSources(ctx, s, cfg, o, sources, dir, consent)
	a.finishSession(s, target, dir)
	return s
}

// newSession starts the session record.
func (a *App) newSession(cfg Config, mode string, started time.Time) *Session {
	return &Session{Tool: imager.Tool{Name: "coldimage", Version: a.version}, Kernel: a.release, Cmdline: a.cmdline, Settings: a.settings, Mode: mode,
		Started: imager.RFC3339(started), Clock: imager.NewClock(started),
		Case: imager.Case{Case: cfg.Case, Examiner: cfg.Examiner, Evidence: cfg.Evidence}, Hash: cfg.Hash, Format: "raw", Verify: true}
}

// failSession reports a session-wide failure on the console and in the
// record; a session that imaged nothing counts every source (at least one)
// as failed.
func (a *App) failSession(s *Session, format string, args ...any) *Session {
	msg := fmt.Sprintf(format, args...)
	a.con.Printf("COLDIMAGE ERROR %s", msg)
	s.Errors = append(s.Errors, msg)
	if s.Failed == 0 && s.OK == 0 {
		s.Failed = max(1, len(s.Sources))
	}
	return s
}

// openTarget finds the target (waiting cfg.Wait seconds), records it, and
// refuses one on our boot medium. It returns the devices seen and the boot
// disks too.
func (a *App) openTarget(s *Session, cfg Config) (Device, []Device, map[string]bool, error) {
	target, devs, err := a.findTarget(cfg.Target, time.Duration(cfg.Wait)*time.Second)
	if err != nil {
		return target, devs, nil, err
	}
	s.Target = imager.SessionTarget{Device: target.Dev()}
	if target.FS != nil {
		s.Target.FSType, s.Target.Label, s.Target.UUID = target.FS.Type, target.FS.Label, target.FS.UUID
	}
	boot := BootDisks(devs)
	if boot[target.Disk] {
		return target, devs, boot, fmt.Errorf("target %s is on our boot medium: refused", target.Dev())
	}
	return target, devs, boot, nil
}

// selectSessionSources chooses the sources (RAID volumes added when all
// are imaged), names those skipped on the console and in the record, and
// lists the chosen ones in the record as not started.
func (a *App) selectSessionSources(s *Session, cfg Config, devs []Device, target *Device, boot, consent map[string]bool) ([]Device, error) {
	// RAID metadata is read once, and only when needed.
	volumes := sync.OnceValue(func() []Device { return raidVolumes(devs) })
	sources, skipped, err := SelectSources(devs, cfg, target, boot, consent, volumes)
	if err == nil && cfg.AllSources() {
		var more []Skip
		sources, more = addVolumes(sources, volumes(), devs, cfg.RAID, target.Disk, boot)
		skipped = append(skipped, more...)
	}
	s.Skipped = skipped
	for _, k := range skipped {
		a.con.Printf("coldimage: not imaging /dev/%s: %s", k.Device, k.Reason)
	}
	if err != nil {
		return nil, err
	}
	if len(sources) == 0 {
		return nil, fmt.Errorf("no source to image")
	}
	for _, d := range sources {
		s.Sources = append(s.Sources, SourceResult{Device: d.Dev(), ID: d.ID(), Size: d.Size, Serial: d.Serial, Model: d.Model, ReadOnly: d.RO, Outdir: d.ID(), Result: "not started", Verified: "not run"})
	}
	return sources, nil
}

// unmountTarget syncs and unmounts the target at the end of the session.
func (a *App) unmountTarget(target Device) {
	unix.Sync()
	if err := unix.Unmount(TargetMount, 0); err != nil {
		a.con.Printf("COLDIMAGE ERROR unmount target %s: %v", TargetMount, err)
	} else {
		a.con.Printf("coldimage: target %s synced and unmounted", target.Dev())
	}
}

// makeSessionFolder creates /coldimage/<case>/<UTC time>/ on the mounted
// target, records it, and returns its path.
func makeSessionFolder(s *Session, cfg Config, started time.Time) (string, error) {
	rel := filepath.Join("coldimage", imager.CaseFolder(cfg.Case), started.UTC().Format("20060102T150405Z"))
	dir := filepath.Join(TargetMount, rel)
	s.Target.Folder = "/" + rel
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create session folder %s on target: %v", s.Target.Folder, err)
	}
	return dir, nil
}

// writeSession writes session.json/.txt and console.log into the session
// folder; errors go to the console.
func (a *App) writeSession(dir string, s *Session) {
	s.Finished = imager.RFC3339(time.Now())
	if err := imager.WriteSession(dir, s); err != nil {
		a.con.Printf("COLDIMAGE ERROR %v", err)
	}
	if err := writeSynced(filepath.Join(dir, "console.log"), a.con.Log()); err != nil {
		a.con.Printf("COLDIMAGE ERROR %v", err)
	}
}

// targetTooSmall is the preflight: room for every image (the engine checks
// again per source). When there is not, every source fails, the record says
// so, and it returns true.
func (a *App) targetTooSmall(s *Session, target Device, dir string, sources []Device) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	free := int64(st.Bavail) * st.Bsize
	var need int64
	for _, d := range sources {
		need += d.Size
	}
	if need <= free {
		return false
	}
	a.failSession(s, "target %s too small: the images need %s (%d bytes), %s (%d bytes) free — nothing imaged",
		target.Dev(), imager.HumanBytes(need), need, imager.HumanBytes(free), free)
	s.Failed = len(sources)
	for i := range s.Sources {
		s.Sources[i].Result = "error: target too small"
		s.Sources[i].Error = "target too small"
	}
	s.Result = imager.SessionFailed
	a.writeSession(dir, s)
	return true
}

// runSources images the sources, cfg.Jobs at a time, each only once the
// write-blocker has confirmed it read-only (or the operator consented); the
// session record is rewritten after each source.
func (a *App) runSources(ctx context.Context, s *Session, cfg Config, o AcquireOpts, sources []Device, dir string, consent map[string]bool) {
	var wg sync.WaitGroup
	var smu sync.Mutex // guards s.Sources and the session writes
	sem := make(chan struct{}, max(1, cfg.Jobs))
	for i, d := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			// The write-blocker must have confirmed RO (or the operator consented).
			checkRO := []string{d.Name}
			if len(d.Members) > 0 {
				checkRO = d.Members // a volume: its members are what the write-blocker checked
			}
			for _, n := range checkRO {
				if checked, ro, _ := a.guard.Checked(n); !checked || (!ro && !consent[n]) {
					smu.Lock()
					s.Sources[i].Error = "not confirmed read-only: refused"
					s.Sources[i].Result = "error: not read-only"
					smu.Unlock()
					a.con.Printf("COLDIMAGE ERROR /dev/%s is not confirmed read-only: %s not imaged", n, d.Dev())
					return
				}
			}
			r := Acquire(ctx, o, d, dir, a.con.Printf)
			smu.Lock()
			s.Sources[i] = r
			a.writeSession(dir, s) // after each source: what is done is on the target
			smu.Unlock()
		}()
	}
	wg.Wait()
}

// finishSession settles the session's result, prints each source's line,
// and writes the final record.
func (a *App) finishSession(s *Session, target Device, dir string) {
	s.Finish()
	for _, r := range s.Sources {
		a.con.Printf("coldimage: %s → %s: %s (ok=%v, %.0fs)", r.Device, r.Outdir, r.Result, r.OK, r.Seconds)
	}
	a.writeSession(dir, s)
	a.con.Printf("coldimage: session written to %s on %s", s.Target.Folder, target.Dev())
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
