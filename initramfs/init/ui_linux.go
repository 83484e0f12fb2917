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
	dev := "/dev/" + a.cfg.Console
	if a.cfg.Console == "" {
		dev = "/dev/tty0"
	}
	tty := a.con.File(dev)
	if tty == nil {
		a.con.Printf("coldimage: console UI: %s is not open; using the text menu", dev)
		return false
	}
	term := a.cfg.Term
	if term == "" {
		term = "linux"
		if strings.HasPrefix(a.cfg.Console, "ttyS") {
			term = "vt220"
		}
	}
	hashes, err := imager.ParseHashes(a.cfg.Hash)
	if err != nil {
		a.con.Printf("coldimage: coldimage.hash=%s: %v; using the default hashes", a.cfg.Hash, err)
		hashes = nil
	}
	var mounted []string
	cfg := ui.Config{
		In: tty, Out: tty, Term: term, Plain: a.cfg.UI == "plain", Width: 80, Height: 24,
		Version: a.version, Hashes: hashes, Mode: "console ui", Kernel: a.release, Cmdline: a.cmdline, Settings: a.settings,
		Case:    imager.Case{Case: a.cfg.Case, Examiner: a.cfg.Examiner, Evidence: a.cfg.Evidence},
		Actions: []ui.Action{ui.ActionPowerOff, ui.ActionReboot, ui.ActionShell},
		Devices: a.uiDevices,
		Targets: func() ([]ui.Target, error) { return a.uiTargets(&mounted) },
	}
	a.con.Printf("COLDIMAGE READY version=%s", a.version)
	a.con.Printf("coldimage: console UI on %s (%s); other consoles show the log", dev, term)
	printk, _ := os.ReadFile("/proc/sys/kernel/printk")
	os.WriteFile("/proc/sys/kernel/printk", []byte("1"), 0o644) // kernel lines would garble the screen
	a.con.Mute(tty, true)
	out, err := ui.Run(ctx, cfg)
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
		a.con.Printf("coldimage: emergency shell chosen in the console UI (recorded in session.json)")
		a.runShell(ctx)
	}
	return false // after a shell, or if power-off failed: the text menu
}
