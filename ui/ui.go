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
// Prepare (if any) has run. Prepare lifts write-blocking on this one file
// system (and its disk, which the kernel requires) and mounts it read-write;
// it is called only after every check that can be made on the unmounted,
// still read-only file system passed and the examiner confirmed. Release
// undoes it (unmount, BLKROSET, BLKROGET=1 confirmed) when anything refuses
// after Prepare.
type Target struct {
	Name    string // what the examiner sees: /dev/sdc1, or a directory
	Disk    string // kernel name of the disk holding it ("" for a host directory)
	FSType  string
	Label   string
	UUID    string // file system UUID, recorded in session.json
	Free    int64  // bytes free, read from the unmounted file system (-1: unknown)
	Total   int64  // bytes the file system holds (0: unknown)
	MaxFile int64  // largest file the file system can hold (FAT: 4 GiB - 1); 0: no limit
	State   string // file-system state as its metadata says ("clean", "not cleanly unmounted", …)
	Boot    bool   // on our boot medium: never offered

	// The disk holding it, shown on the confirm-by-serial screen and recorded.
	DiskModel  string
	DiskSerial string
	DiskSize   int64
	DiskParts  []string // the disk's partition layout, one line per partition

	// Given: the examiner named it outside the UI (coldimage ui --target
	// DIR), so it passes the target policy without a label.
	Given bool

	Dir     string
	Prepare func(ctx context.Context) (dir string, err error)
	Release func() error
	// Network, for a network share (smb://, nfs://), returns after Prepare
	// what the session records of it: URL, server, mount options, security
	// and the appliance's network port.
	Network func() *imager.SessionTarget
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
	// TargetLabels are the file-system label patterns (path.Match, case
	// sensitive) offered as targets without a typed serial confirmation
	// (coldimage.target.labels; default EVIDENCE*).
	TargetLabels []string
	// Writable lists the kernel names of block devices that are writable
	// now (BLKROGET=0), for the header; nil on a host, where sources are
	// write-blocked when a job opens them.
	Writable func() []string
	// Shell runs the emergency shell on the examiner's console and returns
	// when the examiner leaves it; nil: the shell is an Action ending Run.
	Shell func(ctx context.Context) error
	// RTC reads the hardware clock (nil: none) for the clock check screen.
	RTC func() (time.Time, error)

	Case    imager.Case // defaults for the form (coldimage.case= …)
	Hashes  []string    // default hash set; imager.DefaultHashes when empty
	Hashers imager.Hashers
	// Jobs is how many sources are imaged at the same time (coldimage.jobs
	// on the appliance); 0: all of them.
	Jobs int
	// Rescue bounds the rescue of unreadable areas (the boot settings').
	Rescue imager.RescueSettings
	// HPA is the hidden-area choice (coldimage.hpa=): imager.HPAReport or
	// imager.HPAImage.
	HPA string
	// Identify asks a source's drive who it is (read-only passthrough;
	// passthru.Identify when nil), for the confirm screen's warnings about
	// hidden areas and locked drives. Asked once per disk.
	Identify func(dev string) *imager.DeviceIdentity
	// NetTarget makes a target of the network target the examiner typed
	// on the Target screen (n): it checks what can be checked without the
	// network and touches nothing; its Prepare joins the network and
	// checks the store or share. nil: no network target can be typed.
	NetTarget func(f NetForm) (Target, error)
	// NetForm pre-fills the network target form (the boot settings; never
	// a secret, only whether one is set).
	NetForm NetForm
	// HideInput turns the terminal's echo off while plain mode asks for a
	// secret, and returns what turns it back on.
	HideInput func() (restore func())
	// PieceSize is the piecewise hash window, which is also how far back a
	// resume after a power cut goes (coldimage.piece-size; 0: the default,
	// <0: none).
	PieceSize int64

	Actions  []Action // offered on the summary besides "image more"; default poweroff, reboot, shell
	Mode     string   // recorded in session.json ("ui" when empty)
	Kernel   string   // the running kernel and its command line, recorded in session.json
	Cmdline  string
	Settings []string // lines of the boot medium's settings file that applied
	Now      func() time.Time
	LogEvery time.Duration // plain mode: progress line interval per source (default 10s)

	// confirmed holds the targets the examiner accepted by typed serial
	// (Target.confirmKey); Run fills it.
	confirmed map[string]bool
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
