package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/ui"
)

// menuItems is the numbered text menu (the console UI has its own issue).
var menuItems = []struct {
	Key, Text string
	Run       func(a *App, ctx context.Context) bool // false: leave the menu
}{
	{"1", "list disks", (*App).menuList},
	{"2", "image disks (choose sources and target)", (*App).menuImage},
	{"3", "power off", func(a *App, _ context.Context) bool { powerOff(a.con); return false }},
	{"4", "reboot", func(a *App, _ context.Context) bool { reboot(a.con); return false }},
	{"9", "emergency shell (logged; sources stay read-only)", (*App).menuShell},
}

func (a *App) menu(ctx context.Context) error {
	if a.cfg.UI != "menu" && a.consoleUI(ctx) {
		return nil
	}
	a.con.Printf("COLDIMAGE READY version=%s", a.version)
	a.con.Printf("coldimage: ready %.1fs after init start", time.Since(a.booted).Seconds())
	for {
		a.con.Printf("")
		a.con.Printf("coldimage %s — every disk is read-only", a.version)
		for _, m := range menuItems {
			a.con.Printf(" %s) %s", m.Key, m.Text)
		}
		a.con.Printf("choice?")
		line, ok := a.readLine(ctx)
		if !ok {
			return ctx.Err()
		}
		choice := strings.TrimSpace(line)
		found := false
		for _, m := range menuItems {
			if m.Key == choice {
				found = true
				if !m.Run(a, ctx) {
					return nil
				}
			}
		}
		if !found && choice != "" {
			a.con.Printf("coldimage: %q is not a menu choice", choice)
		}
	}
}

func (a *App) readLine(ctx context.Context) (string, bool) {
	l, ok := a.con.ReadLine(ctx)
	return l.Text, ok
}

func (a *App) ask(ctx context.Context, q, def string) string {
	a.con.Printf("%s [%s]?", q, def)
	l, _ := a.readLine(ctx)
	if l = strings.TrimSpace(l); l == "" {
		return def
	}
	return l
}

func (a *App) menuList(ctx context.Context) bool {
	a.guard.Sweep()
	a.con.Printf("%-10s %-4s %10s %-3s %-20s %-20s %s", "DEVICE", "TYPE", "SIZE", "RO", "MODEL", "SERIAL", "FILESYSTEM")
	for _, d := range a.guard.ListDevices() {
		typ := "disk"
		if d.IsPart() {
			typ = "part"
		}
		ro := "?"
		if v, err := blkROGet(d.Dev()); err == nil {
			ro = fmt.Sprint(v)
		}
		fs := ""
		if d.FSType != "" {
			fs = fmt.Sprintf("%s %q %s", d.FSType, d.FSLabel, d.FSUUID)
		}
		line := fmt.Sprintf("%-10s %-4s %10s %-3s %-20s %-20s %s", d.Name, typ, imager.HumanBytes(d.Size), ro, d.Model, d.Serial, fs)
		if d.ROErr != "" {
			line += "  NOT READ-ONLY: " + d.ROErr
		}
		a.con.Printf("%s", strings.TrimRight(line, " "))
		a.con.Printf("COLDIMAGE DISK name=%s ro=%s size=%d serial=%s", d.Name, ro, d.Size, d.Serial)
	}
	return true
}

func (a *App) menuImage(ctx context.Context) bool {
	a.menuList(ctx)
	cfg := a.cfg
	cfg.Sources = strings.Split(a.ask(ctx, "sources (all, or names/SERIAL=X separated by commas)", "all"), ",")
	for i := range cfg.Sources {
		cfg.Sources[i] = strings.TrimPrefix(strings.TrimSpace(cfg.Sources[i]), "/dev/")
	}
	cfg.Target = a.ask(ctx, "target (LABEL=X, UUID=X, SERIAL=X, /dev/NAME, smb://USER@HOST/SHARE/PATH or nfs://HOST/EXPORT/PATH)", cfg.Target)
	if !a.targetAllowed(ctx, cfg.Target) {
		return true
	}
	cfg.Case = a.ask(ctx, "case", cfg.Case)
	cfg.Examiner = a.ask(ctx, "examiner", cfg.Examiner)
	cfg.Evidence = a.ask(ctx, "evidence", cfg.Evidence)
	cfg.Hash = a.ask(ctx, "hashes", cfg.Hash)
	cfg.Wait = 0
	consent := map[string]bool{}
	for _, d := range a.guard.ListDevices() {
		if !d.RO && !isVirtual(d.Name) && (cfg.AllSources() && !d.IsPart() || contains(cfg.Sources, d.Name)) {
			a.con.Printf("COLDIMAGE WARNING /dev/%s is NOT read-only (%s).", d.Name, d.ROErr)
			if a.ask(ctx, "type IMAGE-WRITABLE to image it anyway, anything else skips it", "skip") == "IMAGE-WRITABLE" {
				consent[d.Name] = true
				a.con.Printf("coldimage: operator consented to image writable /dev/%s", d.Name)
			}
		}
	}
	s, _ := a.imageSession(ctx, cfg, "menu", consent)
	a.con.Printf("coldimage: session finished ok=%d failed=%d", s.OK, s.Failed)
	return true
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// menuShell opens the emergency shell (shell_linux.go) on the tty the
// confirmation was typed on, after confirmation. The text menu's sessions
// are already recorded when it can be chosen, so it is logged on the
// console (and in the next session's console.log), not in a session record.
func (a *App) menuShell(ctx context.Context) bool {
	if a.ask(ctx, "type SHELL to open the emergency shell (logged on the console)", "no") != "SHELL" {
		return true
	}
	if err := a.emergencyShell(ctx); err != nil {
		a.con.Printf("coldimage: emergency shell: %v", err)
	}
	return ctx.Err() == nil
}

// targetAllowed applies the console UI's target policy to a typed target:
// a file system whose label matches coldimage.target.labels passes; any
// other needs the last 4 characters of its disk's serial (or its size in
// GiB) typed after its details are shown. Nothing is unlocked here.
func (a *App) targetAllowed(ctx context.Context, spec string) bool {
	if IsNetTarget(spec) {
		// A share on the network is no disk of this machine: its URL
		// must parse; the mount says the rest.
		if _, err := ParseNetTarget(spec); err != nil {
			a.con.Printf("coldimage: %v", err)
			return false
		}
		return true
	}
	devs := a.guard.ListDevices()
	d, err := MatchTarget(devs, spec)
	if err != nil {
		a.con.Printf("coldimage: target %s: %v", spec, err)
		return false
	}
	t := ui.Target{Name: d.Dev(), Disk: d.Disk()}
	if d.FSType != "" {
		t.FSType, t.Label = d.FSType, d.FSLabel
	}
	for _, o := range devs {
		if o.Name == d.Disk() {
			t.DiskModel, t.DiskSerial, t.DiskSize = o.Model, o.Serial, o.Size
		}
	}
	if why := t.PolicyLabel(a.cfg.TargetLabels); why != "" {
		a.con.Printf("coldimage: target %s allowed: %s", t.Name, why)
		return true
	}
	code, what := t.ConfirmCode()
	a.con.Printf("COLDIMAGE WARNING %s (%s %q) has no target label: it may belong to the seized machine.", t.Name, orDash(t.FSType), t.Label)
	a.con.Printf("  disk %s: model %q, serial %q, %s (%s GiB)", t.Disk, t.DiskModel, t.DiskSerial, imager.HumanBytes(t.DiskSize), ui.SizeGiB(t.DiskSize))
	if !strings.EqualFold(strings.TrimSpace(a.ask(ctx, "to use it as the target, type "+what, "")), code) {
		a.con.Printf("coldimage: %s not confirmed: nothing imaged, nothing unlocked", t.Name)
		return false
	}
	a.con.Printf("coldimage: target %s confirmed by the operator (%s)", t.Name, what)
	return true
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
