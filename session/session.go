// Package session is the one session core: it plans an imaging run (the
// sources, the target, one layout, one case-folder sanitiser, one
// concurrency policy), preflights it (room for every image and its records,
// no output on a source, the target not on our boot medium), runs the jobs,
// aborts them, and keeps session.json/session.txt on the target from before
// the first byte is read until the end, each write atomic with a directory
// fsync.
//
// Every mode calls it: `coldimage acquire` with several sources, `coldimage
// ui`, and on the appliance the console UI, the text menu and the
// unattended run. The callers choose (flags, screens, kernel command line);
// this package images. It never prints: progress and results go to an
// Observer.
package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/acquire"
)

// Observer is told what the jobs do. Its methods may be called from
// several jobs at once.
type Observer interface {
	JobStart(source, id string, size int64)
	Event(ev imager.Event)
	JobDone(source, id, outdir, result string, err error)
	Close()
}

// Source is one thing to image: a disk, partition or image file described
// by package disk, or a RAID volume assembled in user space (Volume set).
type Source struct {
	disk.Info
	// Volume opens a RAID volume's members read-only and assembles it;
	// close releases the members. New calls it after every other check.
	Volume func() (v *acquire.Volume, geometry json.RawMessage, close func(), err error)
	// Ready, when set, is asked just before the job reads a byte: the
	// appliance's write-blocker confirms the source (or every member of a
	// volume) read-only there. An error ends the job unread.
	Ready func() error
	// Resume continues the acquisition cut off in the source's folder
	// (acquire.Resume) instead of starting one in a new folder.
	Resume bool
	// Device is what the source's drive said when the examiner chose it
	// (the console UI asked it): recorded instead of asking again. Nil:
	// the acquisition asks.
	Device *imager.DeviceIdentity
}

// Layout says where a session's images and records go.
type Layout int

const (
	// CaseFolders is the target layout of every session on a target file
	// system: <dir>/coldimage/<case>/<UTC stamp>/<source-id>/, with
	// session.json and session.txt in the stamp folder.
	CaseFolders Layout = iota
	// OutDir is `coldimage acquire SOURCE... OUTDIR`: one source is imaged
	// into OUTDIR itself (no session record); several into
	// OUTDIR/<source-id>/, with session.json and session.txt in OUTDIR.
	OutDir
)

// Plan is everything a session needs to run.
type Plan struct {
	Mode     string // recorded: unattended | menu | console ui | ui-plain | host ui | host
	Version  string
	Kernel   string
	Cmdline  string
	Settings []string

	Sources []Source
	// Dir is where the session goes: the mounted target's root, or OUTDIR.
	Dir     string
	Layout  Layout
	Mirrors []string // OutDir layout: further complete copies
	// Target describes the target for the record; Folder is filled in.
	Target imager.SessionTarget
	// BootDisks are the kernel names of our boot medium's disks: a target
	// on one is refused.
	BootDisks []string

	Case        imager.Case
	Hashes      []string
	Format      string // raw | split | e01
	Split       int64  // split: bytes per piece of the raw image
	SegmentSize int64  // e01: bytes per segment file (0: default)
	PieceSize   int64  // piecewise hash window (0: default, < 0: none)
	Verify      bool
	// MaxFile is the largest file the target can hold; 0: asked of the
	// file system holding Dir (FAT: 4 GiB - 1). A raw image larger than it
	// is split automatically at FATSplit (recorded); a split or segment
	// size larger than it is refused.
	MaxFile int64
	Hashers imager.Hashers // zero: chosen for the number of jobs (Hashers)
	// Jobs is how many sources are imaged at the same time; 0 or less:
	// all of them.
	Jobs int
	// SyncEvery is the bytes between checkpoints of each in-progress
	// acquisition record (0: the engine's default, 256 MiB or 30 s).
	SyncEvery int64
	// Rescue bounds the rescue of unreadable areas (retries, time limit,
	// slow-read threshold).
	Rescue imager.RescueSettings
	// HPA is the hidden-area choice (imager.HPAReport when empty).
	HPA string
	// Stall and Grace bound a job that stops answering (DefaultStall,
	// DefaultGrace when 0): see watch.
	Stall, Grace time.Duration
	// TargetGone, when set and true, means the target went away: the
	// session record is no longer written there (a write to a file system
	// whose disk was unplugged can block for ever).
	TargetGone func() bool

	ClockCheck string                // the clock screen's note
	Events     []imager.SessionEvent // logged before the session began (write-block lifts, …)
	Skipped    []imager.SessionSkip  // devices not imaged, and why
	// AfterWrite is called after each write of the session record with its
	// folder (the appliance keeps console.log beside it).
	AfterWrite func(dir string)
	Now        func() time.Time

	// Host names this machine on a target other machines write to too (a
	// network share): the session folder is then <stamp>_<host>, and only
	// this machine's cut-off sessions are continued (CutOff). Empty: the
	// folder is <stamp>.
	Host string

	// Continue goes on with a session that was cut off (power loss, crash)
	// in the CaseFolders layout, in its own folder: sources it imaged are
	// not imaged again, acquisitions it left in progress are resumed
	// (acquire.Resume), the others start. Its session record is kept
	// beside the new one as session-run<N>.json.
	Continue *Continuation
}

// Continuation is a cut-off session found on the target.
type Continuation struct {
	Folder string          // relative to Plan.Dir: coldimage/<case>/<stamp>
	Record *imager.Session // its session.json as the cut-off run left it
}

// Job is one source of a session.
type Job struct {
	Source Source
	ID     string
	Req    *acquire.Request
	Rec    *imager.Record // after Run: the acquisition record (nil: none written)
	Err    error          // after Run: why the job failed
	close  func()
}

// Session is one planned run: its record (session.json) and its jobs.
type Session struct {
	imager.Session
	// Dir is the folder session.json is written to ("" when the run keeps
	// no session record: one source into OUTDIR).
	Dir  string
	Jobs []*Job

	plan    Plan
	mu      sync.Mutex
	begun   bool
	carried []imager.SessionSource // outcomes a continued session keeps from its cut-off run
}

// continued decides, for a continued session, what becomes of a source the
// cut-off run had: imaged ok before the cut (kept, not imaged again: ok
// true), left in progress (resumed: src.Resume set), or left in a state
// that cannot be resumed (kept as failed, with why).
func (s *Session) continued(src *Source, id string) (imager.SessionSource, bool) {
	c := s.plan.Continue
	if c == nil || c.Record == nil {
		return imager.SessionSource{}, false
	}
	for _, old := range c.Record.Sources {
		if old.ID != id {
			continue
		}
		dir := filepath.Join(s.Dir, id)
		switch _, err := acquire.Resumable(dir); {
		case old.OK:
			return old, true
		case err == nil:
			src.Resume = true
			return imager.SessionSource{}, false
		case isEmptyOrMissing(dir):
			return imager.SessionSource{}, false // never started: starts now
		default:
			old.OK, old.Error = false, "cut off and not resumed: "+err.Error()
			old.Result = "error: " + old.Error
			return old, true
		}
	}
	return imager.SessionSource{}, false
}

func isEmptyOrMissing(dir string) bool {
	ents, err := os.ReadDir(dir)
	return err != nil || len(ents) == 0
}

// ErrRefused marks a plan refused before anything was written.
var ErrRefused = acquire.ErrRefused

// ErrAborted is why the jobs of a session the operator aborted stopped.
var ErrAborted = errors.New("aborted by the operator")

// Folder is the session folder of the case-folders layout, relative to the
// target's root: coldimage/<case>/<UTC yyyymmddThhmmssZ>. The case is
// named by imager.CaseFolder, the one sanitiser every mode uses.
func Folder(caseID string, started time.Time) string {
	return filepath.Join("coldimage", imager.CaseFolder(caseID), started.UTC().Format("20060102T150405Z"))
}

// HostFolder is Folder with the machine's name appended (<stamp>_<host>)
// when host is not empty.
func HostFolder(caseID string, started time.Time, host string) string {
	f := Folder(caseID, started)
	if host != "" {
		f += "_" + host
	}
	return f
}

// New plans a session: it lays out the folders, names each source's
// folder by its source-id (refusing two sources with the same id),
// assembles RAID volumes and checks every job together (acquire.Preflight:
// formats, outputs new or empty and not on a source, room for every image
// plus its records). Nothing is written anywhere; on an error everything
// opened is closed again.
func New(p Plan) (*Session, error) {
	if p.Now == nil {
		p.Now = time.Now
	}
	if len(p.Sources) == 0 && p.Continue == nil {
		return nil, fmt.Errorf("%w: no source to image", ErrRefused)
	}
	if p.Dir == "" {
		return nil, fmt.Errorf("%w: no target folder", ErrRefused)
	}
	if err := fitFiles(&p); err != nil {
		return nil, err
	}
	if p.Format == "raw" && p.Split > 0 {
		p.Format = "split"
	}
	for _, b := range p.BootDisks {
		if b != "" && p.Target.Disk == b {
			return nil, fmt.Errorf("%w: target %s is on our boot medium", ErrRefused, p.Target.Device)
		}
	}
	s := newRecord(p)
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	seen := map[string]string{}
	for _, src := range p.Sources {
		id := disk.ID(src.Info)
		if prev, dup := seen[id]; dup {
			return nil, fmt.Errorf("%w: sources %s and %s have the same id %q; image one of them", ErrRefused, prev, src.Path, id)
		}
		seen[id] = src.Path
		if carried, ok := s.continued(&src, id); ok {
			s.carried = append(s.carried, carried)
			continue
		}
		j, err := s.job(src, id)
		if err != nil {
			return nil, err
		}
		s.Jobs = append(s.Jobs, j)
	}
	if err := s.preflight(); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// FATSplit is the piece size a raw image is split into on a FAT target: a
// 4 GiB file does not fit FAT's 32-bit size field.
const FATSplit = 4<<30 - 1<<20

// fitFiles applies the target's file-size limit: a raw image that would
// be one file larger than it is split at FATSplit (an event in the
// record says so); pieces or segments larger than it are refused.
func fitFiles(p *Plan) error {
	if p.MaxFile == 0 {
		p.MaxFile = maxFileOf(p.Dir)
	}
	if p.MaxFile <= 0 {
		return nil
	}
	var largest int64
	for _, s := range p.Sources {
		largest = max(largest, s.Size)
	}
	limit := imager.HumanBytes(p.MaxFile + 1)
	switch {
	case p.Format == "e01":
		if seg := p.SegmentSize; seg > p.MaxFile {
			return fmt.Errorf("%w: E01 segments of %s do not fit the target, which holds files smaller than %s", ErrRefused, imager.HumanBytes(seg), limit)
		}
	case p.Split > p.MaxFile:
		return fmt.Errorf("%w: pieces of %s do not fit the target, which holds files smaller than %s; split at %s or less", ErrRefused, imager.HumanBytes(p.Split), limit, imager.HumanBytes(FATSplit))
	case p.Split == 0 && largest > p.MaxFile:
		p.Split = FATSplit
		p.Events = append(append([]imager.SessionEvent(nil), p.Events...), imager.SessionEvent{Time: imager.RFC3339(p.Now()),
			What: fmt.Sprintf("the target holds files smaller than %s: raw images are split into pieces of %s (%d bytes)", limit, imager.HumanBytes(FATSplit), int64(FATSplit))})
	}
	return nil
}

// newRecord starts the session record and picks the session folder.
func newRecord(p Plan) *Session {
	now := p.Now().UTC()
	clock := imager.NewClock(now)
	clock.Check = p.ClockCheck
	s := &Session{plan: p, Session: imager.Session{
		Tool: imager.Tool{Name: "coldimage", Version: p.Version}, Mode: p.Mode, Kernel: p.Kernel, Cmdline: p.Cmdline, Settings: p.Settings,
		Started: imager.RFC3339(now), Clock: clock, Case: p.Case, Hash: strings.Join(imager.HashesFor(acquireFormat(p.Format), p.Hashes), ","),
		Format: p.Format, Verify: p.Verify, Target: p.Target,
		Events: append([]imager.SessionEvent(nil), p.Events...), Skipped: p.Skipped,
	}}
	if p.Format == "split" {
		s.Split = p.Split
	}
	switch {
	case p.Layout == CaseFolders && p.Continue != nil:
		s.Dir = filepath.Join(p.Dir, p.Continue.Folder)
		s.Target.Folder = "/" + filepath.ToSlash(p.Continue.Folder)
		if old := p.Continue.Record; old != nil {
			s.Events = append(s.Events, imager.SessionEvent{Time: imager.RFC3339(now),
				What: fmt.Sprintf("continues the session started %s and cut off (power loss or crash; its record is kept as %s)", old.Started, filepath.Base(runRecordName(s.Dir, ".json")))})
		}
	case p.Layout == CaseFolders:
		rel := HostFolder(p.Case.Case, now, p.Host)
		s.Dir = filepath.Join(p.Dir, rel)
		s.Target.Folder = "/" + filepath.ToSlash(rel)
	case len(p.Sources) > 1:
		s.Dir = p.Dir
		s.Target.Folder = p.Dir
	}
	return s
}

func acquireFormat(f string) string {
	if f == "e01" {
		return "e01"
	}
	return "raw"
}

// job makes a source's request, assembling a RAID volume.
func (s *Session) job(src Source, id string) (*Job, error) {
	p := s.plan
	out := filepath.Join(s.Dir, id)
	if s.Dir == "" {
		out = p.Dir
	}
	r := &acquire.Request{
		Source: src.Path, OutDir: out, Format: acquireFormat(p.Format), Hashes: p.Hashes,
		SegmentSize: p.SegmentSize, PieceSize: p.PieceSize, Case: p.Case, NoVerify: !p.Verify,
		Tool: imager.Tool{Name: "coldimage", Version: p.Version}, Hashers: p.Hashers,
		SyncEvery: p.SyncEvery, Rescue: p.Rescue, HPA: p.HPA, Device: src.Device,
	}
	r.Buffers, r.BufferSize, r.Workers = share(s.concurrency(len(p.Sources)))
	if p.Format == "split" { // New made a raw image with pieces "split"
		r.Split = p.Split
	}
	for _, m := range p.Mirrors {
		if s.Dir != "" {
			m = filepath.Join(m, id)
		}
		r.Mirrors = append(r.Mirrors, m)
	}
	j := &Job{Source: src, ID: id, Req: r}
	if src.Volume != nil {
		v, geo, closeFn, err := src.Volume()
		if err != nil {
			return nil, fmt.Errorf("%w: RAID volume %s could not be assembled: %v", ErrRefused, src.Name, err)
		}
		r.Volume, r.RAID, j.close = v, geo, closeFn
	}
	return j, nil
}

// concurrency is how many of n jobs run at once.
func (s *Session) concurrency(n int) int {
	if s.plan.Jobs > 0 && s.plan.Jobs < n {
		return s.plan.Jobs
	}
	return max(1, n)
}

// share is what each of concurrent jobs gets of the machine: the engine's
// buffer pool (how many, how large) and an E01 set's compressing
// goroutines. Deeper pools keep hashers and writer busy; concurrent jobs
// share the memory, so peak RSS stays bounded — 64 MiB of engine buffers
// in all, down to buffers of 1 MiB (verification doubles it) — and the
// CPUs, so eight E01 sets on two cores do not each keep two
// compressors and their batches.
func share(concurrent int) (buffers, size, workers int) {
	buffers = min(max(24/concurrent, 3), 12)
	size = 4 << 20
	for size > 1<<20 && concurrent*buffers*size > 64<<20 {
		size /= 2
	}
	return buffers, size, max(1, runtime.GOMAXPROCS(0)/concurrent)
}

// preflight checks every job together, and that several sources' images
// do not land in a folder that holds anything.
func (s *Session) preflight() error {
	if s.Dir != "" && s.plan.Continue == nil {
		for _, d := range append([]string{s.Dir}, s.mirrorRoots()...) {
			if err := refuseNonEmpty(d); err != nil {
				return err
			}
		}
	}
	var reqs []*acquire.Request
	for _, j := range s.Jobs {
		if j.Source.Resume {
			if err := acquire.PreflightResume(j.Req); err != nil {
				return err
			}
			continue
		}
		reqs = append(reqs, j.Req)
	}
	if err := acquire.Preflight(reqs); err != nil {
		return err
	}
	if s.plan.Hashers == (imager.Hashers{}) {
		hs, err := Hashers(countSHA256(s.plan.Hashes, s.concurrency(len(s.Jobs))))
		if err != nil {
			return fmt.Errorf("%w: %v", ErrRefused, err)
		}
		for _, j := range s.Jobs {
			j.Req.Hashers = hs
		}
	}
	return nil
}

func (s *Session) mirrorRoots() []string {
	if s.plan.Layout == CaseFolders {
		return nil
	}
	return s.plan.Mirrors
}

func refuseNonEmpty(dir string) error {
	ents, err := os.ReadDir(dir)
	if err == nil && len(ents) > 0 {
		return fmt.Errorf("%w: output directory %s is not empty (holds %s); coldimage never overwrites", ErrRefused, dir, ents[0].Name())
	}
	return nil
}

// Hashers picks the SHA-256 implementation for n concurrent streams;
// COLDIMAGE_SHA256_IMPL=simd|avx512 overrides it (benchmarks, diagnosis).
func Hashers(n int) (imager.Hashers, error) {
	switch v := os.Getenv("COLDIMAGE_SHA256_IMPL"); v {
	case "":
		return imager.Hashers{SHA256: imager.ChooseSHA256(n)}, nil
	case "simd":
		return imager.Hashers{SHA256: imager.SHA256Simd}, nil
	case "avx512":
		if !imager.CanMultiBuffer() {
			return imager.Hashers{}, fmt.Errorf("COLDIMAGE_SHA256_IMPL=avx512: this CPU has no AVX-512")
		}
		return imager.Hashers{SHA256: imager.SHA256Avx512MB}, nil
	default:
		return imager.Hashers{}, fmt.Errorf("COLDIMAGE_SHA256_IMPL=%q: want simd or avx512", v)
	}
}

func countSHA256(algs []string, streams int) int {
	for _, a := range algs {
		if a == "sha256" {
			return streams
		}
	}
	return 0
}

// Close releases what the jobs hold open (RAID volumes' members). Run
// closes each job when it ends; Close is for a session that never runs.
func (s *Session) Close() {
	for _, j := range s.Jobs {
		j.Close()
	}
}

// Close releases what the job holds open (a RAID volume's members).
func (j *Job) Close() {
	if j.close != nil {
		j.close()
		j.close = nil
	}
}

// Begin writes session.json before the first byte is read, saying
// in-progress and listing every source as not started; Run rewrites it
// after each job and at the end, so a run cut off by power loss leaves a
// record of what it was doing. Run calls it when the caller did not.
func (s *Session) Begin() error {
	s.mu.Lock()
	s.begun = true
	s.Sources = append([]imager.SessionSource(nil), s.carried...)
	for _, j := range s.Jobs {
		s.Sources = append(s.Sources, j.pending())
	}
	s.Result = imager.SessionInProgress
	s.mu.Unlock()
	if s.Dir == "" {
		return nil
	}
	if s.plan.Continue == nil && s.plan.Layout == CaseFolders {
		// A new session's folder is new: another run that started the
		// same second (another machine writing the same case to a shared
		// target) is never written over.
		if _, err := os.Stat(filepath.Join(s.Dir, "session.json")); err == nil {
			return fmt.Errorf("%w: the session folder %s already holds a session (another run of case %q started the same second on a target shared with another machine?)", ErrRefused, s.Dir, s.plan.Case.Case)
		}
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("create session folder %s: %w", s.Dir, err)
	}
	if s.plan.Continue != nil {
		// The cut-off run's record stays, beside the new one.
		base := strings.TrimSuffix(runRecordName(s.Dir, ".json"), ".json")
		for _, ext := range []string{".json", ".txt"} {
			if err := os.Rename(filepath.Join(s.Dir, "session"+ext), base+ext); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("keep the cut-off session record in %s: %w", s.Dir, err)
			}
		}
	}
	// Room for the last session record is held until it is written: a
	// target that fills up during the run still takes it.
	if err := os.WriteFile(filepath.Join(s.Dir, sessionReserve), make([]byte, sessionRoom), 0o600); err != nil {
		return fmt.Errorf("reserve room for the session record in %s: %w", s.Dir, err)
	}
	return s.Write()
}

// sessionReserve holds room for the final session.json, session.txt (and
// the appliance's console.log) while the jobs run.
const (
	sessionReserve = ".coldimage-session-reserve"
	sessionRoom    = 1 << 20
)

// pending is the job's line in the record before it ends.
func (j *Job) pending() imager.SessionSource {
	in := j.Source.Info
	return imager.SessionSource{Device: j.Req.Source, ID: j.ID, Size: in.Size, Model: in.Model, Serial: in.Serial,
		ReadOnly: in.ReadOnly || in.Kind == disk.KindFile || j.Source.Volume != nil, Outdir: j.ID,
		PartTable: in.PartTable, Partitions: partitionLayout(in), Result: "not started", Verified: "not run"}
}

// Run runs the jobs, Plan.Jobs at a time, reporting to obs, rewriting the
// session record after each job, and writes the final record. A panic in a
// job ends that job with result "error"; the others go on. The error is
// the final record's write error; each job's own is in Job.Err.
func (s *Session) Run(ctx context.Context, obs Observer) error {
	if !s.begun {
		if err := s.Begin(); err != nil {
			s.Close()
			return err
		}
	}
	// The display gets what the jobs report on its own goroutine: a slow
	// console never paces the engine.
	d := decouple(obs)
	sem := make(chan struct{}, s.concurrency(len(s.Jobs)))
	var wg sync.WaitGroup
	for i, j := range s.Jobs {
		j.Req.Emit = d.Event
		wg.Add(1)
		sem <- struct{}{} // jobs start in order, each when a running one has ended
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d.JobStart(j.Req.Source, j.ID, j.size())
			s.runJob(ctx, i, j, d)
		}()
	}
	wg.Wait()
	if n := d.flush(); n > 0 {
		s.Log(time.Now(), fmt.Sprintf("%d progress event(s) were not shown: the display could not keep up (each acquisition record lists every unreadable range)", n))
	}
	s.mu.Lock()
	s.Finish()
	s.Finished = imager.RFC3339(time.Now())
	s.mu.Unlock()
	if s.Dir != "" {
		os.Remove(filepath.Join(s.Dir, sessionReserve)) // the room is the final record's now
	}
	return s.Write()
}

func (j *Job) size() int64 {
	if j.Req.Volume != nil {
		return j.Req.Volume.Info.Size
	}
	return j.Source.Size
}

// runJob runs one job behind recover and records its outcome.
func (s *Session) runJob(ctx context.Context, i int, j *Job, obs *decoupled) {
	t0 := time.Now()
	var rec *imager.Record
	err := ctx.Err()
	if err != nil {
		err = fmt.Errorf("not started: %w", context.Cause(ctx))
	} else if j.Source.Ready != nil {
		err = imager.Safely("write-block check of "+j.Req.Source, j.Source.Ready)
	}
	if err == nil {
		rec, err = s.watch(ctx, j, obs)
	}
	if cerr := imager.Safely("releasing "+j.Req.Source, func() error { j.Close(); return nil }); cerr != nil {
		err = errors.Join(err, cerr)
	}
	j.Rec, j.Err = rec, err
	res := j.pending()
	res.Outcome(rec, err, j.Req.NoVerify)
	res.Started, res.Finished, res.Seconds = imager.RFC3339(t0), imager.RFC3339(time.Now()), time.Since(t0).Seconds()
	s.mu.Lock()
	s.Sources[len(s.carried)+i] = res
	s.mu.Unlock()
	s.Write() // best effort here; the final write reports its error
	obs.JobDone(j.Req.Source, j.ID, imager.Where(j.Req.OutDir), res.Result, err)
}

// Watchdog limits (Plan.Stall, Plan.Grace when 0).
const (
	// DefaultStall: a job that reports nothing at all — no progress, no
	// retry, no unreadable sector — for this long is stopped. Above the
	// kernel's error handling of one failing command (30 s timeouts,
	// retried).
	DefaultStall = 10 * time.Minute
	// DefaultGrace: how long a stopped job may take to end by itself (its
	// records written) before it is given up.
	DefaultGrace = 30 * time.Second
)

// ErrStalled is why a job that reported nothing for Plan.Stall stopped.
var ErrStalled = errors.New("stalled")

type jobResult struct {
	rec *imager.Record
	err error
}

// watch runs the job's acquisition and makes sure the session gets past
// it whatever happens below: a job that reports nothing for Plan.Stall is
// stopped, and a job that does not end within Plan.Grace after being
// stopped (its writer stuck in the kernel on a target that is gone) is
// given up: its goroutine is left behind, the job ends in error.
func (s *Session) watch(ctx context.Context, j *Job, obs *decoupled) (*imager.Record, error) {
	stall, grace := s.plan.Stall, s.plan.Grace
	if stall <= 0 {
		stall = DefaultStall
	}
	if grace <= 0 {
		grace = DefaultGrace
	}
	jctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var active atomic.Int64
	active.Store(time.Now().UnixNano())
	emit := j.Req.Emit
	j.Req.Emit = func(ev imager.Event) {
		active.Store(time.Now().UnixNano())
		if emit != nil {
			emit(ev)
		}
	}
	done := make(chan jobResult, 1) // buffered: a job given up may still end later
	go func() {
		var r jobResult
		// The engine turns a panic while reading, hashing or writing into
		// the job's error; Safely catches one anywhere else in the job
		// (opening, records, verification).
		r.err = imager.Safely("imaging of "+j.Req.Source, func() (err error) {
			if j.Source.Resume {
				r.rec, err = acquire.Resume(jctx, j.Req)
			} else {
				r.rec, err = acquire.Run(jctx, j.Req)
			}
			return err
		})
		done <- r
	}()
	tick := time.NewTicker(min(time.Second, grace/4))
	defer tick.Stop()
	var stopped time.Time
	for {
		select {
		case r := <-done:
			return r.rec, r.err
		case <-tick.C:
		}
		now := time.Now()
		switch {
		case stopped.IsZero() && jctx.Err() != nil:
			stopped = now
		case stopped.IsZero() && now.Sub(time.Unix(0, active.Load())) > stall:
			stop(fmt.Errorf("%w: %s reported nothing for %s (source or target not answering)", ErrStalled, j.Req.Source, stall))
			stopped = now
		case !stopped.IsZero() && now.Sub(stopped) > grace:
			return nil, fmt.Errorf("%w; it did not end within %s of being stopped and was given up (its writes are stuck: is the target still there?)", context.Cause(jctx), grace)
		}
	}
}

// Abort stops the running session for the operator: the abort is logged in
// the session record, then stop (the session's cancel, when set) ends every
// job with ErrAborted. Imaging stops even when the log cannot be written.
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

// Log records an action in the session record and rewrites it.
func (s *Session) Log(now time.Time, what string) error {
	s.mu.Lock()
	s.Events = append(s.Events, imager.SessionEvent{Time: imager.RFC3339(now), What: what})
	s.mu.Unlock()
	return s.Write()
}

// Fail records a session-wide error (the record's errors[]).
func (s *Session) Fail(msg string) {
	s.mu.Lock()
	s.Errors = append(s.Errors, msg)
	s.mu.Unlock()
}

// Write writes session.json and session.txt into the session folder
// (atomically, folder synced); a session without a folder writes nothing.
func (s *Session) Write() error {
	if s.Dir == "" {
		return nil
	}
	if g := s.plan.TargetGone; g != nil && g() {
		s.mu.Lock()
		s.NotWritten()
		s.mu.Unlock()
		return fmt.Errorf("session record not written to %s: the target is gone", s.Dir)
	}
	s.mu.Lock()
	if s.Result != imager.SessionInProgress && s.Finished == "" {
		s.Finished = imager.RFC3339(time.Now())
	}
	err := imager.WriteSession(s.Dir, &s.Session)
	s.mu.Unlock()
	if s.plan.AfterWrite != nil {
		s.plan.AfterWrite(s.Dir)
	}
	return err
}

// runRecordName is the name the record of a cut-off run of the session in
// dir is kept under: session-run1.json, session-run2.json, …
func runRecordName(dir, ext string) string {
	for n := 1; ; n++ {
		p := filepath.Join(dir, fmt.Sprintf("session-run%d.json", n))
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			return filepath.Join(dir, fmt.Sprintf("session-run%d%s", n, ext))
		}
	}
}

// Refused reports whether every job was refused before it wrote anything
// (acquire.ErrRefused): the run imaged nothing.
func (s *Session) Refused() bool {
	for _, j := range s.Jobs {
		if !errors.Is(j.Err, ErrRefused) {
			return false
		}
	}
	return len(s.Jobs) > 0
}

// Discard removes the session record of a run that imaged nothing
// (Refused), for the CLI's promise that a refusal leaves no output behind.
func (s *Session) Discard() error {
	if s.Dir == "" || !s.Refused() {
		return nil
	}
	var errs []error
	for _, f := range []string{"session.json", "session.txt"} {
		if err := os.Remove(filepath.Join(s.Dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RefusedRecord is the record of a session that was refused before any job ran
// (the target too small, no source, …): every source failed, the error in
// the record. It is written only when Dir is set (the appliance writes it
// on the target it had mounted; the UI shows the refusal instead).
func RefusedRecord(p Plan, why error) *Session {
	if p.Now == nil {
		p.Now = time.Now
	}
	s := newRecord(p)
	for _, src := range p.Sources {
		r := imager.SessionSource{Device: src.Path, ID: disk.ID(src.Info), Size: src.Size, Model: src.Model, Serial: src.Serial,
			ReadOnly: src.ReadOnly, Outdir: disk.ID(src.Info), Verified: "not run"}
		r.Outcome(nil, why, !p.Verify)
		s.Sources = append(s.Sources, r)
	}
	s.Errors = append(s.Errors, why.Error())
	s.Finish()
	if len(s.Sources) == 0 {
		s.Failed = 1
	}
	s.Finished = imager.RFC3339(p.Now())
	return s
}

// partitionLayout is a source disk's partitions for the session record.
func partitionLayout(d disk.Info) []imager.SessionPartition {
	var l []imager.SessionPartition
	for _, p := range d.Partitions {
		label := p.FSLabel
		if label == "" {
			label = p.PartLabel
		}
		l = append(l, imager.SessionPartition{Name: p.Name, Number: p.PartNumber, Start: p.Start, Size: p.Size,
			Type: p.PartType, FSType: p.FSType, Label: label})
	}
	return l
}
