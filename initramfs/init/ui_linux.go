package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/ui"
	"golang.org/x/sys/unix"
)

// consoleUI runs the examiner's console UI (package ui) on the tty the
// examiner uses. It returns false when the UI could not run, and the
// numbered text menu takes over.
func (a *App) consoleUI(ctx context.Context) bool {
	dev := a.examinerTTY()
	tty := a.con.File(dev)
	if tty == nil {
		a.con.Printf("coldimage: console UI: %s is not open; using the text menu", dev)
		return false
	}
	term := a.consoleTerm()
	plain := a.cfg.UI == "plain" || ui.PlainTerm(term)
	// The UI reads the tty through the console's input router (the tty's
	// one reader), so the emergency shell it opens can take the input and
	// give it back; Out stays the tty itself.
	in := a.con.Input(dev)
	defer in.Close()
	hashes, err := imager.ParseHashes(a.cfg.Hash)
	if err != nil {
		a.con.Printf("coldimage: coldimage.hash=%s: %v; using the default hashes", a.cfg.Hash, err)
		hashes = nil
	}
	var mounted []string
	// A crash of the UI ends the UI, not PID 1: a panic in ui.Run is
	// recovered by runUI, one in a provider it calls (they read the disks)
	// by guardProvider, which also ends the UI through crash.
	uictx, crash := context.WithCancelCause(ctx)
	defer crash(nil)
	cfg := ui.Config{
		In: in, Out: tty, Term: term, Plain: plain, Width: 0, Height: 0, // 0: ask the terminal (cursor position report), else 80x24
		Version: a.version, Hashes: hashes, Mode: "console ui", Kernel: a.release, Cmdline: a.cmdline, Settings: a.settings,
		Case:         imager.Case{Case: a.cfg.Case, Examiner: a.cfg.Examiner, Evidence: a.cfg.Evidence},
		Actions:      []ui.Action{ui.ActionPowerOff, ui.ActionReboot, ui.ActionShell},
		Devices:      guardProvider("device listing", crash, a.listDevices),
		Targets:      guardProvider("target listing", crash, func() ([]ui.Target, error) { return a.uiTargets(&mounted) }),
		TargetLabels: a.cfg.TargetLabels, Writable: a.writable, RTC: readRTC, Jobs: a.cfg.Jobs, PieceSize: a.cfg.PieceSize, Rescue: a.cfg.Rescue, HPA: a.cfg.HPA,
		Shell:     a.emergencyShell,
		NetTarget: a.typedNetTarget(&mounted), NetForm: a.netForm(),
		HideInput: func() func() { return a.con.NoEcho(dev) },
	}
	a.con.Printf("COLDIMAGE READY version=%s", a.version)
	a.con.Printf("coldimage: console UI on %s (%s); other consoles show the log", dev, term)
	loud := quietKernel() // kernel lines would garble the screen
	a.con.Mute(tty, true)
	// Full screen: raw mode for the UI's lifetime (the UI sets it only on
	// an *os.File In). Plain mode stays in line mode: the kernel echoes.
	restoreMode := func() error { return nil }
	if !plain {
		if r, err := a.con.Raw(dev); err != nil {
			a.con.Printf("coldimage: console UI: %v", err)
		} else {
			restoreMode = r
		}
	}
	out, err := runUI(uictx, cfg, ui.Run)
	crashed := uiCrash(uictx, err)
	crash(nil) // the UI is over: a job it left running stops now
	in.Close() // ends the UI's input reader
	if rerr := restoreMode(); rerr != nil {
		a.con.Printf("coldimage: console UI: restore line mode on %s: %v", dev, rerr)
	}
	a.con.Mute(tty, false)
	loud()
	if crashed != nil {
		// Said where the examiner looks, once the UI let go of the tty.
		a.printCrash(crashed)
	}
	for _, s := range out.Sessions {
		if s != nil && s.Dir != "" {
			a.writeConsoleLog(s.Dir)
		}
	}
	if crashed != nil {
		a.lockDown()
		a.con.Printf("coldimage: console UI crashed: using the text menu (the appliance does not power off or reboot by itself)")
		return false
	}
	unix.Sync()
	for _, m := range mounted {
		if nt, err := ParseNetTarget(m); err == nil && IsNetTarget(m) {
			a.unmountNetTarget(nt) // says itself how it went
			continue
		}
		if err := unix.Unmount(m, 0); err != nil {
			a.con.Printf("COLDIMAGE ERROR unmount target %s: %v", m, err)
		} else {
			a.con.Printf("coldimage: target %s synced and unmounted", m)
		}
	}
	// The UI is over: nothing may stay writable (the menu or a shell may
	// follow), so the target and its disk are write-blocked again.
	for _, n := range a.writable() {
		a.guard.Protect(n, "console UI ended: target released,", true)
	}
	ok, failed := out.Counts()
	a.con.Printf("coldimage: console UI ended: %d session(s), ok=%d failed=%d, action %q", len(out.Sessions), ok, failed, out.Action)
	if err != nil {
		a.con.Printf("coldimage: console UI: %v; using the text menu", err)
		return false
	}
	switch out.Action {
	case ui.ActionPowerOff:
		powerOff(a.con)
	case ui.ActionReboot:
		reboot(a.con)
	case ui.ActionShell:
		// A UI that cannot run the shell in place (Config.Shell unset)
		// ends with this action; it recorded the shell in its sessions.
		if len(out.Sessions) > 0 {
			a.con.Printf("coldimage: emergency shell chosen in the console UI (recorded in the session record)")
		} else {
			a.con.Printf("coldimage: emergency shell chosen in the console UI (no session to record it in)")
		}
		if err := a.emergencyShell(ctx); err != nil {
			a.con.Printf("coldimage: emergency shell: %v", err)
		}
	}
	return false // after a shell, or if power-off failed: the text menu
}

// listDevices is the console UI's device listing: uiDevices, with the
// test build's fault hook (a no-op in shipped builds) standing for a
// parser that crashes on one disk's metadata.
func (a *App) listDevices() ([]ui.Device, error) {
	devs, err := a.uiDevices()
	for _, d := range devs {
		imager.FaultHook(imager.FaultListing, d.Path, d.Serial)
	}
	return devs, err
}

// runUI runs the console UI behind recover: a panic becomes a
// *imager.PanicError ("console UI crashed: …").
func runUI(ctx context.Context, cfg ui.Config, run func(context.Context, ui.Config) (ui.Outcome, error)) (out ui.Outcome, err error) {
	defer imager.Recover(&err, "console UI")
	return run(ctx, cfg)
}

// guardProvider wraps a listing the UI calls (they read disks: partition
// tables, file systems, RAID metadata). A panic there becomes the
// listing's error and ends the UI through crash, whose cause (a
// *imager.PanicError) consoleUI reports as the UI's crash: a listing that
// crashes once would crash again, and the text menu lists disks without
// parsing them.
func guardProvider[T any](what string, crash context.CancelCauseFunc, list func() ([]T, error)) func() ([]T, error) {
	return func() (out []T, err error) {
		err = imager.Safely(what, func() (err error) {
			out, err = list()
			return err
		})
		if pe := imager.AsPanic(err); pe != nil {
			crash(pe)
			return nil, pe
		}
		return out, err
	}
}

// uiCrash is the UI's crash, if it crashed: a panic out of ui.Run, or one
// a provider caught (the cause of ctx).
func uiCrash(ctx context.Context, err error) *imager.PanicError {
	if pe := imager.AsPanic(err); pe != nil {
		return pe
	}
	return imager.AsPanic(context.Cause(ctx))
}

// crashLine is the console line for a crash: "<what> crashed: panic: …
// [at …]"; a listing the UI called is the UI's crash: "console UI
// crashed: in the device listing: panic: …".
func crashLine(pe *imager.PanicError) string {
	if !strings.HasSuffix(pe.What, " listing") {
		return pe.Error()
	}
	s := fmt.Sprintf("console UI crashed: in the %s: panic: %v", pe.What, pe.Value)
	if pe.Where != "" {
		s += " [at " + pe.Where + "]"
	}
	return s
}

// printCrash says on every console that something crashed, with the
// stack (also in the console log a session keeps).
func (a *App) printCrash(pe *imager.PanicError) {
	a.con.Printf("COLDIMAGE ERROR %s", crashLine(pe))
	for _, l := range strings.Split(pe.Stack, "\n") {
		a.con.Printf("  %s", l)
	}
}

// lockDown puts the appliance back in its safe state after a crash: every
// target mount (under /run/coldimage) synced and unmounted, every disk and
// partition write-blocked again (BLKROSET, BLKROGET=1 confirmed), then
// checked and said. A target that stays busy is left mounted and writable
// (write-blocking a mounted file system would fail its writes and damage
// it), and said so: power off from the menu syncs and unmounts it.
func (a *App) lockDown() {
	err := imager.Safely("lock-down after a crash", func() error {
		unix.Sync()
		busy := map[string]bool{} // devices of targets still mounted
		for _, m := range mountedTargets(mountsFile) {
			var err error
			for try := 0; try < 60; try++ { // a job the crash left running may hold it for a while
				if err = unix.Unmount(m.dir, 0); err != unix.EBUSY {
					break
				}
				time.Sleep(500 * time.Millisecond)
			}
			if err != nil {
				busy[filepath.Base(m.dev)] = true
				a.con.Printf("COLDIMAGE ERROR after a crash: target %s on %s stays mounted and writable: %v (power off from the menu syncs and unmounts it)", m.dev, m.dir, err)
				continue
			}
			a.con.Printf("coldimage: target %s on %s synced and unmounted after a crash", m.dev, m.dir)
		}
		a.guard.Sweep()
		// By sysfs names only: nothing on a disk is parsed here.
		names := sysBlockNames()
		for _, n := range names {
			if busy[n] {
				if p, err := filepath.EvalSymlinks(filepath.Join(disk.SysRoot, "class", "block", n)); err == nil {
					if _, err := os.Stat(filepath.Join(p, "partition")); err == nil {
						busy[filepath.Base(filepath.Dir(p))] = true // a read-only disk fails its partitions' writes too
					}
				}
			}
		}
		for _, n := range names {
			if busy[n] || isVirtual(n) {
				continue
			}
			if v, err := blkROGet("/dev/" + n); err == nil && v == 0 {
				a.guard.Protect(n, "after a crash", true)
			}
		}
		if w := a.writable(); len(w) > 0 {
			a.con.Printf("COLDIMAGE WARNING after a crash these devices are WRITABLE: %s", strings.Join(w, ", "))
		} else {
			a.con.Printf("coldimage: after the crash every disk is read-only (BLKROGET=1)")
		}
		return nil
	})
	if err != nil {
		a.con.Printf("COLDIMAGE ERROR %v", err)
	}
}

// mountsFile is the mount table lockDown reads (tests give their own).
var mountsFile = "/proc/self/mounts"

type targetMount struct{ dev, dir string }

// mountedTargets lists our target mounts (under /run/coldimage) with
// their devices, deepest first.
func mountedTargets(mounts string) []targetMount {
	b, err := os.ReadFile(mounts)
	if err != nil {
		return nil
	}
	var out []targetMount
	for _, l := range strings.Split(string(b), "\n") {
		if fs := strings.Fields(l); len(fs) > 1 && strings.HasPrefix(fs[1], "/run/coldimage/") {
			out = append([]targetMount{{fs[0], fs[1]}}, out...)
		}
	}
	return out
}
