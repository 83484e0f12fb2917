package ui

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/acquire"
)

// Device is a source candidate as the examiner sees it: what package disk
// found, plus what only the caller knows (our boot medium, notes).
type Device struct {
	disk.Info
	Boot bool   // our own boot medium: listed, never selectable
	Note string // anything else to show, e.g. "NOT READ-ONLY: …"
	// Volume is set for a RAID volume assembled in user space (Kind
	// "raid"): Plan calls it after the confirmation to open the members
	// read-only and assemble the volume; close releases the members.
	Volume func() (v *acquire.Volume, geometry json.RawMessage, close func(), err error)
	// Members are a RAID volume's member paths: never offered as targets.
	Members []string
	// RAID membership is Info.RAID (disks) and Info.Partitions[i].RAID; see ui/raidinfo.
}

// Target is a place the images can go. Dir is where they are written once
// Prepare (if any) has run; Prepare mounts a device read-write and is called
// only after the examiner confirmed.
type Target struct {
	Name    string // what the examiner sees: /dev/sdc1, or a directory
	Disk    string // kernel name of the disk holding it ("" for a host directory)
	FSType  string
	Label   string
	UUID    string // file system UUID, recorded in session.json
	Free    int64  // bytes free, -1 when unknown until mounted
	Boot    bool   // on our boot medium: never offered
	Dir     string
	Prepare func(ctx context.Context) (dir string, err error)
}

// Action is what the examiner chose on the summary screen.
type Action string

const (
	ActionPowerOff Action = "poweroff"
	ActionReboot   Action = "reboot"
	ActionShell    Action = "shell" // confirmed and logged in the session record
	ActionQuit     Action = "quit"  // host: leave the UI
)

// Config is everything Run needs. Devices and Targets are called each time
// the lists are shown (r rescans), so hotplugged disks appear.
type Config struct {
	In      io.Reader
	Out     io.Writer
	Term    string // TERM: vt100, vt220, linux, xterm…; "dumb" or "" with Plain means line mode
	Plain   bool   // numbered line-mode prompts (coldimage.ui=plain)
	Width   int    // terminal size when the terminal cannot tell (serial lines); 0: ask, else 80×24
	Height  int
	Version string

	Devices func() ([]Device, error)
	Targets func() ([]Target, error)

	Case    imager.Case // defaults for the form (coldimage.case= …)
	Hashes  []string    // default hash set; imager.DefaultHashes when empty
	Hashers imager.Hashers

	Actions  []Action // offered on the summary besides "image more"; default poweroff, reboot, shell
	Mode     string   // recorded in session.json ("ui" when empty)
	Kernel   string   // the running kernel and its command line, recorded in session.json
	Cmdline  string
	Settings []string // lines of the boot medium's settings file that applied
	Now      func() time.Time
	LogEvery time.Duration // plain mode: progress line interval per source (default 10s)
}

// Outcome is what happened: every session run, and the final action.
type Outcome struct {
	Action   Action
	Sessions []*Session
}

// Counts adds up the sources that ended ok and those that did not, over all sessions.
func (o Outcome) Counts() (ok, failed int) {
	for _, s := range o.Sessions {
		ok += s.OK
		failed += s.Failed
	}
	return
}

// Run shows the console UI until the examiner chooses an action. It never
// writes to a device before the examiner confirmed the summary of choices.
func Run(ctx context.Context, cfg Config) (Outcome, error) {
	if cfg.In == nil || cfg.Out == nil {
		return Outcome{}, errors.New("ui: In and Out are required")
	}
	if cfg.Devices == nil || cfg.Targets == nil {
		return Outcome{}, errors.New("ui: Devices and Targets providers are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(cfg.Hashes) == 0 {
		cfg.Hashes = imager.DefaultHashes
	}
	if cfg.Actions == nil {
		cfg.Actions = []Action{ActionPowerOff, ActionReboot, ActionShell}
	}
	if cfg.Mode == "" {
		cfg.Mode = "ui"
	}
	if cfg.LogEvery == 0 {
		cfg.LogEvery = 10 * time.Second
	}
	if PlainTerm(cfg.Term) || cfg.Plain {
		return runPlain(ctx, cfg)
	}
	return runScreen(ctx, cfg)
}

// PlainTerm reports whether a TERM value lacks cursor addressing.
func PlainTerm(term string) bool {
	switch strings.ToLower(term) {
	case "", "dumb", "unknown":
		return true
	}
	return false
}

// actionKey is the key (full screen) and word (plain) of each action.
func actionText(a Action) (key, text string) {
	switch a {
	case ActionPowerOff:
		return "p", "power off"
	case ActionReboot:
		return "r", "reboot"
	case ActionShell:
		return "s", "emergency shell (asks first, logged)"
	case ActionQuit:
		return "q", "quit"
	}
	return string(a[:1]), string(a)
}
