package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"

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
	cfg := ui.Config{
		In: in, Out: tty, Term: term, Plain: plain, Width: 0, Height: 0, // 0: ask the terminal (cursor position report), else 80x24
		Version: a.version, Hashes: hashes, Mode: "console ui", Kernel: a.release, Cmdline: a.cmdline, Settings: a.settings,
		Case:         imager.Case{Case: a.cfg.Case, Examiner: a.cfg.Examiner, Evidence: a.cfg.Evidence},
		Actions:      []ui.Action{ui.ActionPowerOff, ui.ActionReboot, ui.ActionShell},
		Devices:      a.uiDevices,
		Targets:      func() ([]ui.Target, error) { return a.uiTargets(&mounted) },
		TargetLabels: a.cfg.TargetLabels, Writable: a.writable, RTC: readRTC,
		Shell: a.emergencyShell,
	}
	a.con.Printf("COLDIMAGE READY version=%s", a.version)
	a.con.Printf("coldimage: console UI on %s (%s); other consoles show the log", dev, term)
	printk, _ := os.ReadFile("/proc/sys/kernel/printk")
	os.WriteFile("/proc/sys/kernel/printk", []byte("1"), 0o644) // kernel lines would garble the screen
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
	out, err := ui.Run(ctx, cfg)
	in.Close() // ends the UI's input reader
	if rerr := restoreMode(); rerr != nil {
		a.con.Printf("coldimage: console UI: restore line mode on %s: %v", dev, rerr)
	}
	a.con.Mute(tty, false)
	if len(printk) > 0 {
		os.WriteFile("/proc/sys/kernel/printk", []byte(strings.Fields(string(printk))[0]), 0o644)
	}
	for _, s := range out.Sessions {
		if s != nil && s.Dir != "" {
			if err := writeSynced(filepath.Join(s.Dir, "console.log"), a.con.Log()); err != nil {
				a.con.Printf("COLDIMAGE ERROR %v", err)
			}
		}
	}
	unix.Sync()
	for _, m := range mounted {
		if err := unix.Unmount(m, 0); err != nil {
			a.con.Printf("COLDIMAGE ERROR unmount target %s: %v", m, err)
		} else {
			a.con.Printf("coldimage: target %s synced and unmounted", m)
		}
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
