package ui

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/acquire"
	"github.com/coldimage/coldimage/session"
)

// Choices are the examiner's answers. Screens edit them in place; going
// back never clears them.
type Choices struct {
	Sources []Device
	Target  *Target
	Case    imager.Case
	Hashes  []string
	Format  string // "raw", "split" or "e01"
	Split   int64  // bytes per file when Format is "split"
	Verify  bool
	// ClockCheck is the clock screen's note: the hardware clock, the
	// appliance's clock and the real time as the examiner read it.
	ClockCheck string
	// Log holds write-block events (a target unlocked, then refused and
	// locked again) not yet in a session record: the next session's
	// record starts with them.
	Log []imager.SessionEvent
	// CutOff is the examiner's answer to Plan's CutOffFound: continue the
	// session cut off in Folder, or start a new one. It applies to that
	// folder only.
	CutOff *CutOffAnswer
	// Drive is what a source's drive said when the lists and the confirm
	// screen asked it (nil when not asked): the acquisition records it
	// instead of sending the same commands again.
	Drive func(Device) *imager.DeviceIdentity
}

// CutOffAnswer says what to do with the cut-off session in Folder.
type CutOffAnswer struct {
	Folder   string
	Continue bool
}

// CutOffFound is Plan's answer when the prepared target holds a session of
// the case that was cut off (power loss, crash) while imaging a chosen
// source: the examiner decides first (Choices.CutOff) whether it goes on
// — sources imaged then are kept, the one in progress resumes from its
// last checkpoint — or a new session starts. The target stays prepared.
type CutOffFound struct{ *session.Continuation }

func (e *CutOffFound) Error() string {
	return fmt.Sprintf("the target holds a session of this case that was cut off (power loss or crash): /%s, started %s, %s",
		filepath.ToSlash(e.Folder), e.Record.Started, cutOffState(e.Record))
}

// cutOffState says what a cut-off session had done.
func cutOffState(r *imager.Session) string {
	var ok, other []string
	for _, s := range r.Sources {
		if s.OK {
			ok = append(ok, s.ID)
		} else {
			other = append(other, s.ID)
		}
	}
	return fmt.Sprintf("%d source(s) imaged ok before the cut (%s), %d not finished (%s)",
		len(ok), orDash(strings.Join(ok, ", ")), len(other), orDash(strings.Join(other, ", ")))
}

// GoBack is the examiner going back from the cut-off question: the target
// Plan prepared is released again (unmounted, write-blocked).
func (c *Choices) GoBack(cfg Config) error {
	if c.Target == nil || c.Target.Dir == "" || c.Target.Prepare == nil {
		return nil
	}
	err := c.release(cfg.Now(), errors.New("the examiner went back instead of answering whether to continue the cut-off session"))
	if c.Target.Dir == "" {
		return nil // released
	}
	return err
}

// Bytes is the size of the chosen sources.
func (c *Choices) Bytes() int64 {
	var n int64
	for _, d := range c.Sources {
		n += d.Size
	}
	return n
}

// DefaultSplit is the piece size offered for split raw images.
const DefaultSplit = 2 << 30

// Need is the space the chosen sources take on the target.
func (c *Choices) Need() int64 {
	var n int64
	for _, d := range c.Sources {
		n += d.Size + acquire.RecordRoom(d.Size, 0)
	}
	return n
}

// Missing names the first answer still needed, or "".
func (c *Choices) Missing() string {
	switch {
	case len(c.Sources) == 0:
		return "no source chosen: select at least one device on the Sources screen"
	case c.Target == nil:
		return "no target chosen: pick one on the Target screen"
	case strings.TrimSpace(c.Case.Case) == "":
		return "the case number is empty: fill it in on the Case screen"
	case strings.TrimSpace(c.Case.Examiner) == "":
		return "the examiner is empty: fill it in on the Case screen"
	case len(c.Hashes) == 0:
		return "no hash chosen: pick at least one on the Case screen"
	}
	return ""
}

// Session is one imaging run (package session): its record and jobs.
type Session = session.Session

// SourceResult is one source's outcome in the session record.
type SourceResult = imager.SessionSource

// Plan checks the choices, prepares the target, lays out the session
// folder (<target>/coldimage/<case>/<UTC stamp>/<source-id>/) and checks
// every job with acquire.Preflight. Nothing is written to a source. Every
// check that can be made on the unmounted target (policy, not on a source's
// disk, room, file size limit) runs before write-blocking is lifted on it;
// a refusal after that releases the target again (unmount, read-only,
// BLKROGET=1 confirmed). Each lift and re-apply is logged in c.Log, which
// the session record takes over.
func Plan(ctx context.Context, cfg Config, c *Choices) (*Session, error) {
	if m := c.Missing(); m != "" {
		return nil, errors.New(m)
	}
	if err := CheckTarget(c, cfg.TargetLabels, cfg.confirmed); err != nil {
		return nil, fmt.Errorf("%w; nothing was unlocked", err)
	}
	t := c.Target
	if t.Prepare != nil && t.Dir == "" {
		d, err := t.Prepare(ctx)
		if err != nil {
			c.note(cfg.Now(), fmt.Sprintf("preparing target %s (lifting write-blocking on it and disk %s, mounting it) failed: %v", t.Name, orDash(t.Disk), err))
			return nil, fmt.Errorf("target %s could not be prepared: %w; choose another target", t.Name, err)
		}
		if t.Network != nil {
			c.note(cfg.Now(), fmt.Sprintf("network target %s reached and prepared (no disk of this machine is made writable); its session folders go under %s", t.Name, d))
		} else {
			c.note(cfg.Now(), fmt.Sprintf("write-blocking lifted on target %s (disk %s) and mounted read-write on %s", t.Name, orDash(t.Disk), d))
		}
		t.Dir = d // prepared once: a second Plan must not mount again
	}
	p := plan(cfg, c)
	if cont := session.CutOff(t.Dir, c.Case.Case, p.Sources, p.Host); cont != nil {
		switch a := c.CutOff; {
		case a == nil || a.Folder != cont.Folder:
			return nil, &CutOffFound{cont} // asked first
		case a.Continue:
			p.Continue = cont
		}
	}
	s, err := session.New(p)
	if err != nil {
		return nil, c.release(cfg.Now(), err)
	}
	c.Log = nil // in the session record now
	return s, nil
}

// note adds a write-block event to the log the next session record takes.
func (c *Choices) note(now time.Time, what string) {
	c.Log = append(c.Log, imager.SessionEvent{Time: imager.RFC3339(now), What: what})
}

// release undoes Prepare after a refusal: the target is unmounted and
// made read-only again. The returned error says both why and what state
// the target is in now.
func (c *Choices) release(now time.Time, why error) error {
	t := c.Target
	if t == nil || t.Release == nil {
		return why
	}
	if err := c.relock(now, t, why.Error()); err != nil {
		return fmt.Errorf("%w; re-applying write-blocking on %s FAILED: %v", why, t.Name, err)
	}
	if t.Prepare != nil {
		t.Dir = "" // mounted no more: the next Plan prepares it again
	}
	if t.Network != nil {
		return fmt.Errorf("%w; %s was released (share unmounted, store closed)", why, t.Name)
	}
	return fmt.Errorf("%w; %s was unmounted and is read-only again (BLKROGET=1)", why, t.Name)
}

// relock runs t.Release (unmount, BLKROSET, BLKROGET=1 confirmed) and logs
// the outcome, and why, for the next session record.
func (c *Choices) relock(now time.Time, t *Target, why string) error {
	err := t.Release()
	switch {
	case t.Network != nil && err != nil:
		// A share or store: nothing of this machine was unlocked for it.
		c.note(now, fmt.Sprintf("network target %s: releasing it FAILED (after: %s): %v", t.Name, why, err))
		return err
	case t.Network != nil:
		c.note(now, fmt.Sprintf("network target %s released (share unmounted, store closed) after: %s", t.Name, why))
		return nil
	case err != nil:
		c.note(now, fmt.Sprintf("target %s: re-applying write-blocking FAILED (after: %s): %v", t.Name, why, err))
		return err
	}
	c.note(now, fmt.Sprintf("target %s unmounted and write-blocked again (BLKROGET=1 on %s and disk %s) after: %s", t.Name, t.Name, orDash(t.Disk), why))
	return nil
}

// plan is the session plan of the choices, on a prepared target.
func plan(cfg Config, c *Choices) session.Plan {
	t := c.Target
	p := session.Plan{
		Mode: cfg.Mode, Version: cfg.Version, Kernel: cfg.Kernel, Cmdline: cfg.Cmdline, Settings: cfg.Settings,
		Dir: t.Dir, Layout: session.CaseFolders,
		Target: imager.SessionTarget{Device: t.Name, FSType: t.FSType, Label: t.Label, UUID: t.UUID,
			Disk: t.Disk, Model: t.DiskModel, Serial: t.DiskSerial, DiskSize: t.DiskSize, Policy: t.PolicyLabel(cfg.TargetLabels)},
		Case: c.Case, Hashes: c.Hashes, Format: c.Format, Verify: c.Verify, Hashers: cfg.Hashers, Jobs: cfg.Jobs, PieceSize: cfg.PieceSize, Rescue: cfg.Rescue, HPA: cfg.HPA,
		ClockCheck: c.ClockCheck, Events: c.Log, Now: cfg.Now,
	}
	if c.Format == "split" {
		p.Split = c.Split
	}
	if p.Target.Policy == "" {
		p.Target.Policy = "disk confirmed by the examiner (typed serial/size)"
	}
	if t.Network != nil {
		if nt := t.Network(); nt != nil {
			p.Target, p.Host = *nt, nt.Host
		}
	}
	for _, d := range c.Sources {
		s := session.Source{Info: d.Info, Volume: d.Volume}
		if c.Drive != nil {
			s.Device = c.Drive(d)
		}
		p.Sources = append(p.Sources, s)
	}
	return p
}
