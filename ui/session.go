package ui

import (
	"context"
	"encoding/json"
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
	Split   int64  // bytes per piece when Format is "split"
	Verify  bool
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

// Session is one imaging run: session.json, beside the per-source folders.
type Session struct {
	Schema   int            `json:"schema"`
	Tool     imager.Tool    `json:"tool"`
	Mode     string         `json:"mode"`
	Started  string         `json:"started"`
	Finished string         `json:"finished"`
	Case     imager.Case    `json:"case"`
	Hash     string         `json:"hash"`
	Format   string         `json:"format"`
	Verify   bool           `json:"verify"`
	Target   SessionTarget  `json:"target"`
	Sources  []SourceResult `json:"sources"`
	Events   []SessionEvent `json:"events,omitempty"`
	OK       int            `json:"ok"`
	Failed   int            `json:"failed"`
	Dir      string         `json:"-"`
	mu       sync.Mutex     `json:"-"`
	recs     []*imager.Record
}

// SessionTarget describes where the images went.
type SessionTarget struct {
	Device string `json:"device"`
	FSType string `json:"fstype,omitempty"`
	Label  string `json:"label,omitempty"`
	Folder string `json:"folder"`
}

// SourceResult is one source's outcome.
type SourceResult struct {
	Device     string            `json:"device"`
	ID         string            `json:"id"`
	Size       int64             `json:"size"`
	Model      string            `json:"model,omitempty"`
	Serial     string            `json:"serial,omitempty"`
	ReadOnly   bool              `json:"read_only"`
	Outdir     string            `json:"outdir"` // relative to the session folder
	OK         bool              `json:"ok"`
	Result     string            `json:"result"`
	Complete   bool              `json:"complete"`
	Verified   string            `json:"verified"` // "match", "MISMATCH", "skipped", "not run"
	Hashes     map[string]string `json:"hashes,omitempty"`
	Unreadable []imager.BadRange `json:"unreadable"`
	Error      string            `json:"error,omitempty"`
	Record     string            `json:"record"` // path of acquisition.json
}

// SessionEvent is something the examiner did that the record must show.
type SessionEvent struct {
	Time string `json:"time"`
	What string `json:"what"`
}

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

// Plan prepares the target, lays out the session folder
// (<target>/coldimage/<case>/<UTC stamp>/<source-id>/) and checks every job
// with acquire.Preflight. Nothing is written to a source; on the target only
// the mount (Prepare) has happened when it returns an error.
func Plan(ctx context.Context, cfg Config, c *Choices) (*Session, []Job, error) {
	if m := c.Missing(); m != "" {
		return nil, nil, errors.New(m)
	}
	t := c.Target
	dir := t.Dir
	if t.Prepare != nil {
		d, err := t.Prepare(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("target %s could not be prepared: %w; choose another target", t.Name, err)
		}
		dir = d
		t.Dir, t.Prepare = d, nil // prepared once: a second Plan must not mount again
	}
	if dir == "" {
		return nil, nil, fmt.Errorf("target %s has no folder to write to", t.Name)
	}
	now := cfg.Now().UTC()
	sdir := filepath.Join(dir, "coldimage", pathPart(c.Case.Case), now.Format("20060102T150405Z"))
	s := &Session{
		Schema: 1, Tool: imager.Tool{Name: "coldimage", Version: cfg.Version}, Mode: cfg.Mode,
		Started: imager.RFC3339(now), Case: c.Case, Hash: strings.Join(c.Hashes, ","), Format: c.Format, Verify: c.Verify,
		Target: SessionTarget{Device: t.Name, FSType: t.FSType, Label: t.Label, Folder: sdir}, Dir: sdir,
	}
	var jobs []Job
	var reqs []*acquire.Request
	seen := map[string]string{}
	for _, d := range c.Sources {
		id := disk.ID(d.Info)
		if prev, dup := seen[id]; dup {
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

// Execute runs the jobs concurrently, reporting through prog, then writes
// session.json and session.txt.
func (s *Session) Execute(ctx context.Context, jobs []Job, prog Progress) error {
	s.Sources = make([]SourceResult, len(jobs))
	s.recs = make([]*imager.Record, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		j.Req.Emit = prog.Event
		prog.JobStart(j.Req.Source, j.ID, j.Dev.Size)
		wg.Add(1)
		go func(i int, j Job) {
			defer wg.Done()
			rec, err := acquire.Run(ctx, j.Req)
			j.Close()
			res := result(s.Dir, j, rec, err)
			s.mu.Lock()
			s.Sources[i], s.recs[i] = res, rec
			s.mu.Unlock()
			prog.JobDone(j.Req.Source, j.ID, j.Req.OutDir, res.Result, err)
		}(i, j)
	}
	wg.Wait()
	s.OK, s.Failed = 0, 0
	for _, r := range s.Sources {
		if r.OK {
			s.OK++
		} else {
			s.Failed++
		}
	}
	s.Finished = imager.RFC3339(time.Now())
	return s.Write()
}

func result(sdir string, j Job, rec *imager.Record, err error) SourceResult {
	r := SourceResult{
		Device: j.Req.Source, ID: j.ID, Size: j.Dev.Size, Model: j.Dev.Model, Serial: j.Dev.Serial,
		ReadOnly: j.Dev.ReadOnly || j.Dev.Kind == disk.KindFile || j.Dev.Volume != nil, Outdir: j.ID, Verified: "not run",
		Record: filepath.Join(j.Req.OutDir, "acquisition.json"), Unreadable: []imager.BadRange{},
	}
	if err != nil {
		r.Error = err.Error()
	}
	if rec == nil {
		r.Result = "error: " + r.Error
		r.Record = ""
		return r
	}
	r.Result, r.Complete, r.Hashes = rec.Result, rec.Complete, rec.Hashes
	if rec.Unreadable != nil {
		r.Unreadable = rec.Unreadable
	}
	switch v := rec.Verification; {
	case j.Req.NoVerify:
		r.Verified = "skipped"
	case v == nil:
	case v.Image.Match && (v.Source == nil || v.Source.Match):
		r.Verified = "match"
	default:
		r.Verified = "MISMATCH"
	}
	r.OK = err == nil && rec.Result == imager.ResultOK && rec.Complete
	return r
}

// Log records an examiner action in the session record and rewrites it.
func (s *Session) Log(now time.Time, what string) error {
	s.mu.Lock()
	s.Events = append(s.Events, SessionEvent{Time: imager.RFC3339(now), What: what})
	s.mu.Unlock()
	return s.Write()
}

// Write writes session.json and session.txt into the session folder.
func (s *Session) Write() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := writeSynced(filepath.Join(s.Dir, "session.json"), append(b, '\n')); err != nil {
		return err
	}
	return writeSynced(filepath.Join(s.Dir, "session.txt"), []byte(s.text()))
}

func (s *Session) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "coldimage %s session (%s)\n", s.Tool.Version, s.Mode)
	fmt.Fprintf(&b, "case %s, examiner %s, evidence %s\n", s.Case.Case, s.Case.Examiner, s.Case.Evidence)
	if s.Case.Notes != "" {
		fmt.Fprintf(&b, "notes: %s\n", s.Case.Notes)
	}
	fmt.Fprintf(&b, "started %s, finished %s\n", s.Started, s.Finished)
	fmt.Fprintf(&b, "target %s (%s) folder %s\n", s.Target.Device, s.Target.FSType, s.Target.Folder)
	fmt.Fprintf(&b, "format %s, hashes %s, verify %v\n\n", s.Format, s.Hash, s.Verify)
	for _, r := range s.Sources {
		fmt.Fprintf(&b, "%s (%s, %s): %s, verification %s\n", r.ID, r.Device, imager.HumanBytes(r.Size), r.Result, r.Verified)
		for _, alg := range imager.SortAlgs(mapKeys(r.Hashes)) {
			fmt.Fprintf(&b, "  %-7s %s\n", alg, r.Hashes[alg])
		}
		for _, u := range r.Unreadable {
			fmt.Fprintf(&b, "  unreadable LBA %d+%d: %s\n", u.LBA, u.Count, u.Error)
		}
		if r.Error != "" {
			fmt.Fprintf(&b, "  error: %s\n", r.Error)
		}
	}
	for _, e := range s.Events {
		fmt.Fprintf(&b, "%s %s\n", e.Time, e.What)
	}
	fmt.Fprintf(&b, "\nok %d, failed %d\n", s.OK, s.Failed)
	return b.String()
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// pathPart makes a case number safe as one folder name.
func pathPart(s string) string {
	var b strings.Builder
	for _, r := range strings.TrimSpace(s) {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	out := strings.Trim(b.String(), ".")
	if out == "" {
		return "case"
	}
	return out
}

func mapKeys(m map[string]string) []string {
	var k []string
	for a := range m {
		k = append(k, a)
	}
	return k
}
