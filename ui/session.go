package ui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/acquire"
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

// recordSlack matches what acquire.Preflight keeps per image for records.
const recordSlack = 1 << 20

// Need is the space the chosen sources take on the target.
func (c *Choices) Need() int64 {
	var n int64
	for _, d := range c.Sources {
		n += d.Size + recordSlack
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

// Session is one imaging run: the record (imager.Session, written as
// session.json and session.txt) and the folder it is written to.
type Session struct {
	imager.Session
	Dir  string // the session folder on the mounted target
	mu   sync.Mutex
	recs []*imager.Record
}

// SourceResult is one source's outcome in the session record.
type SourceResult = imager.SessionSource

// Job is one source of a session, ready to run.
type Job struct {
	Dev   Device
	ID    string
	Req   *acquire.Request
	close func() // releases a RAID volume's members
}

// Close releases what the job holds open (a RAID volume's members).
func (j Job) Close() {
	if j.close != nil {
		j.close()
	}
}

// Plan checks the choices, prepares the target, lays out the session
// folder (<target>/coldimage/<case>/<UTC stamp>/<source-id>/) and checks
// every job with acquire.Preflight. Nothing is written to a source. Every
// check that can be made on the unmounted target (policy, not on a source's
// disk, room, file size limit) runs before write-blocking is lifted on it;
// a refusal after that releases the target again (unmount, read-only,
// BLKROGET=1 confirmed). Each lift and re-apply is logged in c.Log, which
// the session record takes over.
func Plan(ctx context.Context, cfg Config, c *Choices) (*Session, []Job, error) {
	if m := c.Missing(); m != "" {
		return nil, nil, errors.New(m)
	}
	if err := CheckTarget(c, cfg.TargetLabels, cfg.confirmed); err != nil {
		return nil, nil, fmt.Errorf("%w; nothing was unlocked", err)
	}
	t := c.Target
	if t.Prepare != nil && t.Dir == "" {
		d, err := t.Prepare(ctx)
		if err != nil {
			c.note(cfg.Now(), fmt.Sprintf("preparing target %s (lifting write-blocking on it and disk %s, mounting it) failed: %v", t.Name, orDash(t.Disk), err))
			return nil, nil, fmt.Errorf("target %s could not be prepared: %w; choose another target", t.Name, err)
		}
		c.note(cfg.Now(), fmt.Sprintf("write-blocking lifted on target %s (disk %s) and mounted read-write on %s", t.Name, orDash(t.Disk), d))
		t.Dir = d // prepared once: a second Plan must not mount again
	}
	s, jobs, err := plan(ctx, cfg, c)
	if err != nil {
		return nil, nil, c.release(cfg.Now(), err)
	}
	s.Events = append(c.Log, s.Events...)
	c.Log = nil
	return s, jobs, nil
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
	return fmt.Errorf("%w; %s was unmounted and is read-only again (BLKROGET=1)", why, t.Name)
}

// relock runs t.Release (unmount, BLKROSET, BLKROGET=1 confirmed) and logs
// the outcome, and why, for the next session record.
func (c *Choices) relock(now time.Time, t *Target, why string) error {
	if err := t.Release(); err != nil {
		c.note(now, fmt.Sprintf("target %s: re-applying write-blocking FAILED (after: %s): %v", t.Name, why, err))
		return err
	}
	c.note(now, fmt.Sprintf("target %s unmounted and write-blocked again (BLKROGET=1 on %s and disk %s) after: %s", t.Name, t.Name, orDash(t.Disk), why))
	return nil
}

// plan builds the session and its jobs on a prepared target.
func plan(ctx context.Context, cfg Config, c *Choices) (*Session, []Job, error) {
	t := c.Target
	dir := t.Dir
	if dir == "" {
		return nil, nil, fmt.Errorf("target %s has no folder to write to", t.Name)
	}
	now := cfg.Now().UTC()
	rel := filepath.Join("coldimage", imager.CaseFolder(c.Case.Case), now.Format("20060102T150405Z"))
	sdir := filepath.Join(dir, rel)
	clock := imager.NewClock(now)
	clock.Check = c.ClockCheck
	s := &Session{Session: imager.Session{
		Tool: imager.Tool{Name: "coldimage", Version: cfg.Version}, Mode: cfg.Mode, Kernel: cfg.Kernel, Cmdline: cfg.Cmdline, Settings: cfg.Settings,
		Started: imager.RFC3339(now), Clock: clock, Case: c.Case, Hash: strings.Join(c.Hashes, ","), Format: c.Format, Verify: c.Verify,
		Split: splitSize(c),
		Target: imager.SessionTarget{Device: t.Name, FSType: t.FSType, Label: t.Label, UUID: t.UUID, Folder: "/" + filepath.ToSlash(rel),
			Disk: t.Disk, Model: t.DiskModel, Serial: t.DiskSerial, DiskSize: t.DiskSize, Policy: t.PolicyLabel(cfg.TargetLabels)},
	}, Dir: sdir}
	if s.Target.Policy == "" {
		s.Target.Policy = "disk confirmed by the examiner (typed serial/size)"
	}
	var jobs []Job
	var reqs []*acquire.Request
	seen := map[string]string{}
	for _, d := range c.Sources {
		id := disk.ID(d.Info)
		if prev, dup := seen[id]; dup {
			closeJobs(jobs)
			return nil, nil, fmt.Errorf("sources %s and %s have the same id %q; deselect one", prev, d.Path, id)
		}
		seen[id] = d.Path
		r := &acquire.Request{
			Source: d.Path, OutDir: filepath.Join(sdir, id), Format: "raw", Hashes: c.Hashes,
			Case: c.Case, NoVerify: !c.Verify, Hashers: cfg.Hashers,
			Tool: imager.Tool{Name: "coldimage", Version: cfg.Version},
		}
		switch c.Format {
		case "split":
			r.Split = c.Split
		case "e01":
			r.Format = "e01"
		}
		j := Job{Dev: d, ID: id, Req: r}
		if d.Volume != nil {
			v, geo, closeFn, err := d.Volume()
			if err != nil {
				closeJobs(jobs)
				return nil, nil, fmt.Errorf("RAID volume %s could not be assembled: %w; image its members instead", d.Name, err)
			}
			r.Volume, r.RAID, j.close = v, geo, closeFn
		}
		reqs = append(reqs, r)
		jobs = append(jobs, j)
	}
	if err := acquire.Preflight(reqs); err != nil {
		closeJobs(jobs)
		return nil, nil, err
	}
	return s, jobs, nil
}

func closeJobs(jobs []Job) {
	for _, j := range jobs {
		j.Close()
	}
}

// Begin writes session.json before the first byte is read, saying
// in-progress and listing every source as not started; Execute rewrites it
// after each source and at the end, so a run cut off by power loss leaves
// a record of what it was doing. Execute calls it when the caller did not.
func (s *Session) Begin(jobs []Job) error {
	s.Sources = make([]SourceResult, len(jobs))
	s.recs = make([]*imager.Record, len(jobs))
	for i, j := range jobs {
		s.Sources[i] = SourceResult{Device: j.Req.Source, ID: j.ID, Size: j.Dev.Size, Model: j.Dev.Model, Serial: j.Dev.Serial,
			Outdir: j.ID, Result: "not started", Verified: "not run"}
	}
	s.Result = imager.SessionInProgress
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("create session folder %s: %w", s.Dir, err)
	}
	return s.Write()
}

// Execute runs the jobs concurrently, reporting through prog, then writes
// session.json and session.txt.
func (s *Session) Execute(ctx context.Context, jobs []Job, prog Progress) error {
	if s.Result == "" {
		if err := s.Begin(jobs); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	for i, j := range jobs {
		j.Req.Emit = prog.Event
		prog.JobStart(j.Req.Source, j.ID, j.Dev.Size)
		wg.Add(1)
		go func(i int, j Job) {
			defer wg.Done()
			t0 := time.Now()
			// The engine turns a panic while reading, hashing or writing
			// into the job's error; Safely catches one anywhere else in the
			// job (opening, records, verification), so a crash ends this
			// job with result "error" and the others go on.
			var rec *imager.Record
			err := imager.Safely("imaging of "+j.Req.Source, func() (err error) {
				rec, err = acquire.Run(ctx, j.Req)
				return err
			})
			if cerr := imager.Safely("releasing "+j.Req.Source, func() error { j.Close(); return nil }); cerr != nil {
				err = errors.Join(err, cerr)
			}
			res := result(j, rec, err)
			res.Started, res.Finished, res.Seconds = imager.RFC3339(t0), imager.RFC3339(time.Now()), time.Since(t0).Seconds()
			s.mu.Lock()
			s.Sources[i], s.recs[i] = res, rec
			s.mu.Unlock()
			s.Write() // best effort here; the final write reports its error
			// The result is recorded; a display that crashes on it must not
			// take the process (PID 1) down with it.
			imager.Safely("progress display", func() error {
				prog.JobDone(j.Req.Source, j.ID, j.Req.OutDir, res.Result, err)
				return nil
			})
		}(i, j)
	}
	wg.Wait()
	s.mu.Lock()
	s.Finish()
	s.Finished = imager.RFC3339(time.Now())
	s.mu.Unlock()
	return s.Write()
}

func result(j Job, rec *imager.Record, err error) SourceResult {
	r := SourceResult{
		Device: j.Req.Source, ID: j.ID, Size: j.Dev.Size, Model: j.Dev.Model, Serial: j.Dev.Serial,
		ReadOnly: j.Dev.ReadOnly || j.Dev.Kind == disk.KindFile || j.Dev.Volume != nil, Outdir: j.ID,
		PartTable: j.Dev.PartTable, Partitions: partitionLayout(j.Dev.Info),
	}
	r.Outcome(rec, err, j.Req.NoVerify)
	return r
}

// Abort stops the running session for the operator: the abort is logged in
// the session record, then stop (the session's cancel, when set) ends every
// source with ErrAborted. Imaging stops even when the log cannot be written.
func (s *Session) Abort(now time.Time, stop context.CancelCauseFunc) error {
	err := s.Log(now, "imaging aborted by the operator")
	if stop != nil {
		stop(ErrAborted)
	}
	if err != nil {
		return fmt.Errorf("could not log the abort in %s: %v; imaging stops anyway", s.Dir, err)
	}
	return nil
}

// Log records an examiner action in the session record and rewrites it.
func (s *Session) Log(now time.Time, what string) error {
	s.mu.Lock()
	s.Events = append(s.Events, imager.SessionEvent{Time: imager.RFC3339(now), What: what})
	s.mu.Unlock()
	return s.Write()
}

// Write writes session.json and session.txt into the session folder.
func (s *Session) Write() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return imager.WriteSession(s.Dir, &s.Session)
}

// partitionLayout is a source disk's partitions for the session record.
func partitionLayout(d disk.Info) []imager.SessionPartition {
	var l []imager.SessionPartition
	for _, p := range d.Partitions {
		l = append(l, imager.SessionPartition{Name: p.Name, Number: p.PartNumber, Start: p.Start, Size: p.Size,
			Type: p.PartType, FSType: p.FSType, Label: firstNonEmpty(p.FSLabel, p.PartLabel)})
	}
	return l
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// splitSize is the split file size a session records (0: not split).
func splitSize(c *Choices) int64 {
	if c.Format == "split" {
		return c.Split
	}
	return 0
}
