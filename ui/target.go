package ui

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/session"
)

// DefaultTargetLabels is coldimage.target.labels when it is not set: file
// systems labelled EVIDENCE… are offered as targets without a typed serial.
var DefaultTargetLabels = []string{"EVIDENCE*"}

// The target policy: a seized machine's own disks carry ext4, exFAT and FAT
// file systems too, and choosing one as the target would change evidence.
// A file system is offered as a target only when its label matches one of
// the lab's patterns, when the examiner named it outside the UI (Given), or
// after the examiner confirmed its disk by typing the last characters of
// the disk's serial number (or its size when it has none) on a screen that
// shows what that disk is.

// PolicyLabel reports whether t passes the target policy by itself, and
// why ("" when it does not).
func (t Target) PolicyLabel(patterns []string) string {
	if t.Given {
		return "named by the examiner"
	}
	if len(patterns) == 0 {
		patterns = DefaultTargetLabels
	}
	for _, p := range patterns {
		if ok, err := path.Match(p, t.Label); err == nil && ok && t.Label != "" {
			return "label " + t.Label + " matches " + p
		}
	}
	return ""
}

// ConfirmCode is what the examiner types to accept t without a policy
// label: the last 4 characters of its disk's serial number, or, for a disk
// without one, its size in GiB as the screen shows it. what says which.
func (t Target) ConfirmCode() (code, what string) {
	if s := strings.TrimSpace(t.DiskSerial); s != "" {
		r := []rune(s)
		return string(r[max(0, len(r)-4):]), "the last 4 characters of its serial number"
	}
	return SizeGiB(t.DiskSize), "its size in GiB, as shown above"
}

// SizeGiB renders a size in GiB the way the confirm screen asks for it:
// one decimal below 10 GiB, none above.
func SizeGiB(n int64) string {
	g := float64(n) / (1 << 30)
	if g < 10 {
		return fmt.Sprintf("%.1f", g)
	}
	return fmt.Sprintf("%.0f", g)
}

// confirmKey identifies a confirmed target: the same device name on
// another disk (re-plugged, renumbered) needs a new confirmation.
func (t Target) confirmKey() string {
	return fmt.Sprintf("%s|%s|%s|%d", t.Name, t.Disk, t.DiskSerial, t.DiskSize)
}

// busyNames are the device names a selection occupies: each source, its
// parent disk, its partitions and RAID members. A target on any of them
// would be written onto evidence.
func busyNames(sources []Device) map[string]bool {
	busy := map[string]bool{}
	for _, s := range sources {
		busy[s.Name] = true
		busy[s.Path] = true
		if s.Parent != "" {
			busy[s.Parent] = true
		}
		for _, p := range s.Partitions {
			busy[p.Name] = true
		}
		for _, m := range s.Members {
			busy[m] = true
			busy[filepath.Base(m)] = true
		}
	}
	return busy
}

// onBusy reports whether t lies on a device the selection occupies.
func (t Target) onBusy(busy map[string]bool) bool {
	return busy[t.Name] || busy[strings.TrimPrefix(t.Name, "/dev/")] || (t.Disk != "" && busy[t.Disk])
}

// Room says whether need bytes fit on the target as its unmounted file
// system's metadata tells.
type Room int

const (
	RoomFits Room = iota // enough free, or not known (checked once mounted)
	// RoomIfCutOff: not enough free, but the file system is large enough:
	// a session cut off while imaging these sources may hold the difference
	// (its image is continued, not written again). Only the mounted target
	// tells: the room is checked there, after the cut-off question, and a
	// refusal then releases the target again.
	RoomIfCutOff
	RoomNone // too small whatever it holds: refused before anything is unlocked
)

// Room is how need bytes fit on t.
func (t Target) Room(need int64) Room {
	switch {
	case t.Free < 0 || t.Free >= need:
		return RoomFits
	case t.Total >= need:
		return RoomIfCutOff
	}
	return RoomNone
}

// ErrNotFit is why a target too small for the chosen sources is refused.
var ErrNotFit = errors.New("not enough space")

// CheckTarget makes every check that can be made before write-blocking is
// lifted on the target: the target policy, the target not on our boot
// medium nor on a disk that holds a selected source, and room and file
// size limits as the unmounted file system's metadata states them. It
// returns nil only when Prepare may run. confirmed holds the targets the
// examiner accepted by typed serial.
func CheckTarget(c *Choices, labels []string, confirmed map[string]bool) error {
	t := c.Target
	if t == nil {
		return errors.New("no target chosen")
	}
	switch {
	case t.Boot:
		return fmt.Errorf("target %s is on our boot medium: never written", t.Name)
	case t.onBusy(busyNames(c.Sources)):
		return fmt.Errorf("target %s is on a disk that holds a selected source: choose a target on another disk", t.Name)
	case t.PolicyLabel(labels) == "" && !confirmed[t.confirmKey()]:
		return fmt.Errorf("target %s has no %s label and its disk was not confirmed by serial: confirm it on the Target screen (o)", t.Name, strings.Join(orDefault(labels), " or "))
	}
	need := c.Need()
	if t.Room(need) == RoomNone {
		return fmt.Errorf("%w on %s: %s free, %s needed; choose another target or fewer sources", ErrNotFit, t.Name, imager.HumanBytes(t.Free), imager.HumanBytes(need))
	}
	if f := c.LargestFile(); t.MaxFile > 0 && f > t.MaxFile {
		return fmt.Errorf("%w: %s (%s) holds files of at most %s and an image file would be %s: choose split raw with files of at most %s, or E01", errNeedSplit, t.Name, t.FSType, imager.HumanBytes(t.MaxFile), imager.HumanBytes(f), imager.HumanBytes(session.FATSplit))
	}
	return nil
}

// errNeedSplit: the target cannot hold an image file that large.
var errNeedSplit = errors.New("file too large for the target")

// LargestFile is the largest single image file the choices produce.
func (c *Choices) LargestFile() int64 {
	var n int64
	for _, d := range c.Sources {
		f := d.Size
		switch c.Format {
		case "split":
			f = min(f, c.Split)
		case "e01":
			f = min(f, e01Segment)
		}
		n = max(n, f)
	}
	return n
}

func orDefault(labels []string) []string {
	if len(labels) == 0 {
		return DefaultTargetLabels
	}
	return labels
}

// e01Segment is the E01 segment file size the UI's sessions use (the ewf
// writer's default).
const e01Segment = 2 << 30
