package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/acquire"
)

// source writes a file of n seeded random bytes and describes it.
func source(t *testing.T, dir, name string, n int, seed int64) Source {
	t.Helper()
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := disk.Inspect(p)
	if err != nil {
		t.Fatal(err)
	}
	return Source{Info: info}
}

func fileSum(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// observer counts what a run reports and how many jobs ran at once.
type observer struct {
	mu              sync.Mutex
	running, most   int
	started, done   []string
	results         map[string]string
	onStart, onDone func()
}

func (o *observer) JobStart(source, id string, size int64) {
	o.mu.Lock()
	o.running++
	o.most = max(o.most, o.running)
	o.started = append(o.started, id)
	f := o.onStart
	o.mu.Unlock()
	if f != nil {
		f()
	}
}
func (o *observer) Event(imager.Event) {}
func (o *observer) JobDone(source, id, outdir, result string, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.running--
	o.done = append(o.done, id)
	if o.results == nil {
		o.results = map[string]string{}
	}
	o.results[id] = result
}
func (o *observer) Close() {}

// TestCaseFolderEveryMode: a case string lands in the same folder whatever
// mode runs the session — every mode that writes to a target goes through
// New with the CaseFolders layout — and the record names that folder.
func TestCaseFolderEveryMode(t *testing.T) {
	modes := []string{"unattended", "menu", "console ui", "ui-plain", "host ui"}
	at := time.Date(2026, 11, 30, 21, 0, 5, 0, time.UTC)
	for _, c := range []struct{ in, want string }{
		{"Case 42/A", "Case_42_A"},
		{"", "nocase"},
		{"  ../..  ", "_"},
		{"Fall Müller", "Fall_M_ller"},
		{"2026-001.b", "2026-001.b"},
	} {
		var dirs []string
		for _, mode := range modes {
			srcDir, target := t.TempDir(), t.TempDir()
			s, err := New(Plan{Mode: mode, Sources: []Source{source(t, srcDir, "a.bin", 4096, 1)}, Dir: target,
				Layout: CaseFolders, Case: imager.Case{Case: c.in}, Hashes: []string{"sha256"}, Format: "raw",
				Now: func() time.Time { return at }})
			if err != nil {
				t.Fatalf("%s %q: %v", mode, c.in, err)
			}
			rel, _ := filepath.Rel(target, s.Dir)
			want := filepath.Join("coldimage", c.want, "20261130T210005Z")
			if rel != want || s.Target.Folder != "/"+want || s.Jobs[0].Req.OutDir != filepath.Join(s.Dir, s.Jobs[0].ID) {
				t.Errorf("%s: case %q → %s (record %s, job %s), want %s", mode, c.in, rel, s.Target.Folder, s.Jobs[0].Req.OutDir, want)
			}
			dirs = append(dirs, rel)
			s.Close()
		}
		for _, d := range dirs[1:] {
			if d != dirs[0] {
				t.Errorf("case %q: folders differ between modes: %v", c.in, dirs)
			}
		}
	}
}

// TestRunRecords runs two file sources, one at a time, into an OUTDIR:
// session.json says in-progress before any job starts and ok at the end,
// each image matches its source, and sources stay unchanged.
func TestRunRecords(t *testing.T) {
	srcDir, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	a, b := source(t, srcDir, "a.bin", 64<<10, 1), source(t, srcDir, "b.bin", 96<<10, 2)
	before := []([32]byte){fileSum(t, a.Path), fileSum(t, b.Path)}
	s, err := New(Plan{Mode: "host", Sources: []Source{a, b}, Dir: out, Layout: OutDir, Hashes: []string{"sha256", "blake3"},
		Format: "raw", Verify: true, Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	obs := &observer{}
	obs.onStart = func() {
		r, err := imager.ReadSession(out)
		if err != nil {
			t.Errorf("session.json while running: %v", err)
			return
		}
		seen = append(seen, r.Result)
		if _, err := os.Stat(filepath.Join(out, sessionReserve)); err != nil {
			t.Errorf("no room held for the final session record while running: %v", err)
		}
	}
	if err := s.Run(context.Background(), obs); err != nil {
		t.Fatal(err)
	}
	if obs.most != 1 {
		t.Errorf("Jobs 1: %d jobs ran at once", obs.most)
	}
	if len(seen) != 2 || seen[0] != imager.SessionInProgress || seen[1] != imager.SessionInProgress {
		t.Errorf("record while running: %v, want in-progress twice", seen)
	}
	r, err := imager.ReadSession(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Result != imager.SessionOK || r.OK != 2 || r.Failed != 0 || len(r.Sources) != 2 || r.Mode != "host" {
		t.Fatalf("final record: result %s ok=%d failed=%d sources %d mode %q", r.Result, r.OK, r.Failed, len(r.Sources), r.Mode)
	}
	for i, src := range []Source{a, b} {
		id := disk.ID(src.Info)
		if r.Sources[i].ID != id || r.Sources[i].Verified != "match" || !r.Sources[i].OK {
			t.Errorf("source %d: %+v", i, r.Sources[i])
		}
		if fileSum(t, filepath.Join(out, id, "image.raw")) != before[i] {
			t.Errorf("%s: image differs from the source", id)
		}
		if fileSum(t, src.Path) != before[i] {
			t.Errorf("%s: the source changed", src.Path)
		}
	}
	if _, err := os.Stat(filepath.Join(out, sessionReserve)); !os.IsNotExist(err) {
		t.Errorf("the session reserve is still there at the end (%v)", err)
	}
	if s.WrittenSHA256() == "" || s.WrittenSHA256() != sha256Hex(t, filepath.Join(out, "session.json")) {
		t.Errorf("WrittenSHA256 %q is not the sha256 of session.json", s.WrittenSHA256())
	}
}

func sha256Hex(t *testing.T, p string) string {
	sum := fileSum(t, p)
	return hex.EncodeToString(sum[:])
}

// TestOneSourceNoRecord: one source goes into OUTDIR itself, which then
// holds no session record (the CLI's layout).
func TestOneSourceNoRecord(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	s, err := New(Plan{Sources: []Source{source(t, t.TempDir(), "a.bin", 8192, 3)}, Dir: out, Layout: OutDir, Hashes: []string{"sha256"}, Format: "raw"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background(), &observer{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "image.raw")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(out, "session.json")); !os.IsNotExist(err) {
		t.Errorf("one source: session.json in OUTDIR (%v)", err)
	}
}

// TestNewRefuses: each bad plan is refused before anything is written.
func TestNewRefuses(t *testing.T) {
	srcDir := t.TempDir()
	a := source(t, srcDir, "a.bin", 4096, 1)
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	for _, c := range []struct {
		name string
		p    func(dir string) Plan
		want string
	}{
		{"no source", func(dir string) Plan { return Plan{Dir: dir} }, "no source"},
		{"same id twice", func(dir string) Plan { return Plan{Dir: dir, Sources: []Source{a, a}} }, "same id"},
		{"target on the boot medium", func(dir string) Plan {
			return Plan{Dir: dir, Sources: []Source{a}, Target: imager.SessionTarget{Device: "/dev/sdz1", Disk: "sdz"}, BootDisks: []string{"sdz"}}
		}, "boot medium"},
		{"several into a full OUTDIR", func(string) Plan {
			return Plan{Dir: full, Layout: OutDir, Sources: []Source{a, source(t, srcDir, "b.bin", 4096, 2)}}
		}, "not empty"},
		{"output on the source", func(string) Plan {
			return Plan{Dir: filepath.Join(a.Path, "x"), Layout: OutDir, Sources: []Source{a}}
		}, "refused"},
		{"volume that does not assemble", func(dir string) Plan {
			v := Source{Info: disk.Info{Path: "md-x", Name: "md-x", Kind: "raid", Size: 4096}, Volume: func() (*acquire.Volume, json.RawMessage, func(), error) {
				return nil, nil, nil, errors.New("two members missing")
			}}
			return Plan{Dir: dir, Sources: []Source{v}}
		}, "two members missing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "t")
			_, err := New(c.p(dir))
			if err == nil || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want a refusal saying %q", err, c.want)
			}
			if _, serr := os.Stat(dir); !os.IsNotExist(serr) {
				t.Errorf("%s created by a refused plan", dir)
			}
		})
	}
}

// TestReadyRefusesUnread: a source the write-blocker does not confirm is
// not read; the record says why, the other source is imaged.
func TestReadyRefusesUnread(t *testing.T) {
	srcDir, target := t.TempDir(), t.TempDir()
	a, b := source(t, srcDir, "a.bin", 4096, 1), source(t, srcDir, "b.bin", 4096, 2)
	a.Ready = func() error { return errors.New("/dev/sda not confirmed read-only") }
	s, err := New(Plan{Sources: []Source{a, b}, Dir: target, Layout: CaseFolders, Hashes: []string{"sha256"}, Format: "raw", Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background(), &observer{}); err != nil {
		t.Fatal(err)
	}
	r, err := imager.ReadSession(s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK != 1 || r.Failed != 1 || r.Result != imager.SessionFailed || !strings.Contains(r.Sources[0].Error, "not confirmed read-only") {
		t.Fatalf("record: ok=%d failed=%d result %s, first source %+v", r.OK, r.Failed, r.Result, r.Sources[0])
	}
	if _, err := os.Stat(s.Jobs[0].Req.OutDir); !os.IsNotExist(err) {
		t.Errorf("the refused source got an output folder (%v)", err)
	}
}

// TestAbortRecorded: an abort before the jobs run is logged in the record
// and every job ends with ErrAborted, unread.
func TestAbortRecorded(t *testing.T) {
	srcDir, target := t.TempDir(), t.TempDir()
	s, err := New(Plan{Sources: []Source{source(t, srcDir, "a.bin", 4096, 1)}, Dir: target, Layout: CaseFolders, Hashes: []string{"sha256"}, Format: "raw"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Begin(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	if err := s.Abort(time.Now(), cancel); err != nil {
		t.Fatal(err)
	}
	s.Run(ctx, &observer{})
	r, err := imager.ReadSession(s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(s.Jobs[0].Err, ErrAborted) || r.Failed != 1 || len(r.Events) != 1 || !strings.Contains(r.Events[0].What, "aborted") {
		t.Fatalf("job err %v, record failed=%d events %+v", s.Jobs[0].Err, r.Failed, r.Events)
	}
}

// TestFitFiles: on a target with a file-size limit (FAT) a raw image too
// large for one file is split automatically and the record says so; pieces
// or segments larger than the limit are refused.
func TestFitFiles(t *testing.T) {
	src := source(t, t.TempDir(), "big.bin", 64<<10, 4)
	for _, c := range []struct {
		name      string
		format    string
		split     int64
		seg       int64
		max       int64
		wantSplit int64
		refused   string
	}{
		{"fits", "raw", 0, 0, 1 << 20, 0, ""},
		{"too large: split", "raw", 0, 0, 32 << 10, FATSplit, ""},
		{"split given, fits", "raw", 16 << 10, 0, 32 << 10, 16 << 10, ""},
		{"pieces too large", "raw", 48 << 10, 0, 32 << 10, 0, "pieces of"},
		{"segments too large", "e01", 0, 48 << 10, 32 << 10, 0, "E01 segments"},
		{"no limit", "raw", 0, 0, -1, 0, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := New(Plan{Sources: []Source{src}, Dir: t.TempDir(), Hashes: []string{"sha256"}, Format: c.format,
				Split: c.split, SegmentSize: c.seg, MaxFile: c.max})
			if c.refused != "" {
				if err == nil || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), c.refused) {
					t.Fatalf("err %v, want a refusal about %q", err, c.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := s.Jobs[0].Req.Split; got != c.wantSplit {
				t.Errorf("split %d, want %d", got, c.wantSplit)
			}
			auto := c.wantSplit == FATSplit
			if auto != (s.Format == "split" && len(s.Events) == 1 && strings.Contains(s.Events[0].What, "split into pieces")) {
				t.Errorf("format %s, events %+v (automatic split %v)", s.Format, s.Events, auto)
			}
		})
	}
	if n := maxFileOf(t.TempDir()); n != 0 {
		t.Errorf("maxFileOf a temp folder = %d, want 0 (no FAT here)", n)
	}
}

// blockedObserver holds every event until released: a console that does
// not read.
type blockedObserver struct {
	observer
	release chan struct{}
	once    sync.Once
	mu2     sync.Mutex
	bad     []imager.BadRange
	events  int
}

func (b *blockedObserver) Event(ev imager.Event) {
	<-b.release
	b.mu2.Lock()
	defer b.mu2.Unlock()
	b.events++
	if ev.Kind == imager.EventUnreadable {
		b.bad = append(b.bad, *ev.Bad)
	}
}

// TestDisplayNeverPaces: with a display that reads nothing, the job still
// images, verifies and writes its record; once the display reads again it
// gets the start and the done, progress superseded, and one line per
// range of unreadable sectors rather than per sector.
func TestDisplayNeverPaces(t *testing.T) {
	srcDir, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	a := source(t, srcDir, "a.bin", 4<<20, 5)
	s, err := New(Plan{Sources: []Source{a}, Dir: out, Layout: OutDir, Hashes: []string{"sha256"}, Format: "raw", Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	obs := &blockedObserver{release: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background(), obs) }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		rec, err := imager.ReadRecord(out)
		if err == nil && rec.Result == imager.ResultOK {
			break // acquired and verified while the display read nothing
		}
		if time.Now().After(deadline) {
			close(obs.release)
			t.Fatalf("no complete record while the display was blocked (last: %v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(obs.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(obs.started) != 1 || len(obs.done) != 1 || obs.results[s.Jobs[0].ID] != "ok" {
		t.Errorf("display got starts %v, dones %v, results %v", obs.started, obs.done, obs.results)
	}
	if obs.events == 0 {
		t.Error("display got no events")
	}

	// Merging: a run of unreadable sectors waiting for the display is one event.
	bo := &blockedObserver{release: make(chan struct{})}
	d := decouple(bo)
	for lba := int64(100); lba < 200; lba++ {
		d.Event(imager.Event{Kind: imager.EventUnreadable, Phase: imager.PhaseAcquire, Source: "/dev/x", Bad: &imager.BadRange{LBA: lba, Count: 1, Error: "EIO"}})
	}
	d.Event(imager.Event{Kind: imager.EventUnreadable, Phase: imager.PhaseAcquire, Source: "/dev/x", Bad: &imager.BadRange{LBA: 500, Count: 1, Error: "EIO"}})
	close(bo.release)
	d.flush()
	if len(bo.bad) < 2 || len(bo.bad) > 3 || bo.bad[len(bo.bad)-1] != (imager.BadRange{LBA: 500, Count: 1, Error: "EIO"}) {
		t.Errorf("unreadable events delivered: %+v, want the run of 100 merged (the first may go alone) and LBA 500", bo.bad)
	}
	var n int64
	for _, r := range bo.bad[:len(bo.bad)-1] {
		n += r.Count
	}
	if n != 100 {
		t.Errorf("merged ranges cover %d sectors, want 100", n)
	}
}

// TestReadyPanics: a write-block check that crashes ends its job with the
// panic as its error, unread; the session goes on.
func TestReadyPanics(t *testing.T) {
	srcDir, target := t.TempDir(), t.TempDir()
	a, b := source(t, srcDir, "a.bin", 4096, 1), source(t, srcDir, "b.bin", 4096, 2)
	a.Ready = func() error { panic("guard bug") }
	s, err := New(Plan{Sources: []Source{a, b}, Dir: target, Hashes: []string{"sha256"}, Format: "raw"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background(), &observer{}); err != nil {
		t.Fatal(err)
	}
	if s.OK != 1 || s.Failed != 1 || !strings.Contains(s.Sources[0].Error, "panic: guard bug") {
		t.Fatalf("ok=%d failed=%d first %+v", s.OK, s.Failed, s.Sources[0])
	}
	if _, err := os.Stat(s.Jobs[0].Req.OutDir); !os.IsNotExist(err) {
		t.Errorf("the job whose check crashed wrote an output folder (%v)", err)
	}
}

// stalling serves data and, past byte at, blocks until its context ends:
// a run cut off there.
type stalling struct {
	data []byte
	at   int64
	ctx  context.Context
}

func (s *stalling) ReadAt(p []byte, off int64) (int, error) {
	if s.ctx != nil && off+int64(len(p)) > s.at {
		<-s.ctx.Done()
		return 0, context.Cause(s.ctx)
	}
	if off >= int64(len(s.data)) {
		return 0, io.EOF
	}
	return copy(p, s.data[off:]), nil
}

// TestContinueSession: a session cut off with one source imaged, one
// half-way and one not started is continued in its own folder: the first
// is not imaged again, the second is resumed (its image equal to an
// uninterrupted one, two runs recorded), the third is imaged; the cut-off
// run's record is kept as session-run1.json.
func TestContinueSession(t *testing.T) {
	srcDir, target := t.TempDir(), t.TempDir()
	a, c := source(t, srcDir, "a.bin", 1<<20, 1), source(t, srcDir, "c.bin", 1<<20, 3)
	data := make([]byte, 6<<20)
	rand.New(rand.NewSource(2)).Read(data)
	member := filepath.Join(srcDir, "member")
	os.WriteFile(member, make([]byte, 512), 0o444)
	vol := func(r io.ReaderAt) Source {
		return Source{Info: disk.Info{Path: "md-cont", Name: "md-cont", Kind: "raid", Size: int64(len(data)), LogicalSector: 512},
			Volume: func() (*acquire.Volume, json.RawMessage, func(), error) {
				return &acquire.Volume{R: r, Info: disk.Info{Path: "md-cont", Name: "md-cont", Kind: "raid", Size: int64(len(data)), LogicalSector: 512}, Members: []string{member}}, nil, nil, nil
			}}
	}
	at := time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC)
	plan := func(srcs ...Source) Plan {
		return Plan{Mode: "unattended", Sources: srcs, Dir: target, Layout: CaseFolders, Case: imager.Case{Case: "CONT"},
			Hashes: []string{"sha256"}, Format: "raw", Verify: true, Jobs: 1, SyncEvery: 1 << 20, Now: func() time.Time { return at }}
	}
	ctx, cut := context.WithCancelCause(context.Background())
	s1, err := New(plan(a, vol(&stalling{data: data, at: 4 << 20, ctx: ctx}), c))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s1.Run(ctx, &observer{}) }()
	volDir := filepath.Join(s1.Dir, "md-cont")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		if rec, err := imager.ReadRecord(volDir); err == nil && rec.Image.Size >= 3<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the volume never got to 3 MiB durable")
		}
	}
	cut(errors.New("power cut"))
	<-done
	aRec, _ := os.ReadFile(filepath.Join(s1.Dir, s1.Jobs[0].ID, "acquisition.json"))
	old, err := imager.ReadSession(s1.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if !old.Sources[0].OK || old.Sources[1].OK {
		t.Fatalf("cut-off run: %+v", old.Sources)
	}

	rel, _ := filepath.Rel(target, s1.Dir)
	p := plan(a, vol(&stalling{data: data}), c)
	p.Continue = &Continuation{Folder: rel, Record: old}
	s2, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(s2.Jobs) != 2 || !s2.Jobs[0].Source.Resume || s2.Jobs[1].Source.Resume {
		t.Fatalf("continued jobs: %d (resume %v)", len(s2.Jobs), s2.Jobs)
	}
	if err := s2.Run(context.Background(), &observer{}); err != nil {
		t.Fatal(err)
	}
	got, err := imager.ReadSession(s1.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Result != imager.SessionOK || got.OK != 3 || len(got.Sources) != 3 {
		t.Fatalf("continued session: result %s ok %d sources %+v", got.Result, got.OK, got.Sources)
	}
	if b, _ := os.ReadFile(filepath.Join(s1.Dir, s1.Jobs[0].ID, "acquisition.json")); string(b) != string(aRec) {
		t.Error("the source imaged before the cut was imaged again")
	}
	rec, err := imager.ReadRecord(volDir)
	sum := sha256.Sum256(data)
	if err != nil || rec.Result != imager.ResultOK || len(rec.Runs) != 2 || rec.Hashes["sha256"] != hex.EncodeToString(sum[:]) {
		t.Fatalf("resumed volume: %v result %s runs %d", err, rec.Result, len(rec.Runs))
	}
	if _, err := imager.ReadSession(s1.Dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s1.Dir, "session-run1.json")); err != nil {
		t.Errorf("the cut-off run's record was not kept: %v", err)
	}
}

// stuck blocks every read for ever, deaf to cancellation: a device (or a
// target write) stuck in the kernel.
type stuck struct{ release chan struct{} }

func (s stuck) ReadAt(p []byte, off int64) (int, error) { <-s.release; return 0, io.EOF }

// TestWatchdogGivesUp: a job that reports nothing for Stall is stopped,
// and one that does not end within Grace after that is given up; the
// session still ends, the other job is imaged, and the record says why.
func TestWatchdogGivesUp(t *testing.T) {
	srcDir, target := t.TempDir(), t.TempDir()
	release := make(chan struct{}) // never closed: the given-up job stays stuck, as in the kernel
	member := filepath.Join(srcDir, "member")
	os.WriteFile(member, make([]byte, 512), 0o444)
	hung := Source{Info: disk.Info{Path: "md-hung", Name: "md-hung", Kind: "raid", Size: 1 << 20, LogicalSector: 512},
		Volume: func() (*acquire.Volume, json.RawMessage, func(), error) {
			return &acquire.Volume{R: stuck{release}, Info: disk.Info{Path: "md-hung", Name: "md-hung", Kind: "raid", Size: 1 << 20}, Members: []string{member}}, nil, nil, nil
		}}
	s, err := New(Plan{Sources: []Source{hung, source(t, srcDir, "b.bin", 1<<20, 2)}, Dir: target, Hashes: []string{"sha256"}, Format: "raw",
		Stall: 300 * time.Millisecond, Grace: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background(), &observer{}) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the session never ended: a stuck job held it")
	}
	if !errors.Is(s.Jobs[0].Err, ErrStalled) || !strings.Contains(s.Jobs[0].Err.Error(), "given up") {
		t.Errorf("stuck job: %v", s.Jobs[0].Err)
	}
	if s.OK != 1 || s.Failed != 1 || !strings.Contains(s.Sources[0].Error, "stalled") {
		t.Errorf("ok=%d failed=%d first %+v", s.OK, s.Failed, s.Sources[0])
	}
}

// TestSharedTargetHosts: two machines writing the same case to one shared
// target the same second get their own folders (<stamp>_<host>); a run
// without a host name that would land in a folder already holding a
// session is refused before anything is written; CutOff continues only
// this machine's cut-off sessions.
func TestSharedTargetHosts(t *testing.T) {
	srcDir, target := t.TempDir(), t.TempDir()
	a := source(t, srcDir, "a.bin", 64<<10, 7)
	at := time.Date(2026, 12, 1, 14, 0, 0, 0, time.UTC)
	plan := func(host string) Plan {
		return Plan{Mode: "unattended", Sources: []Source{a}, Dir: target, Layout: CaseFolders, Case: imager.Case{Case: "FLEET"}, Host: host,
			Hashes: []string{"sha256"}, Format: "raw", Verify: true, Jobs: 1, Now: func() time.Time { return at }}
	}
	var dirs []string
	for _, host := range []string{"SRV-1", "SRV-2", ""} {
		s, err := New(plan(host))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Run(context.Background(), &observer{}); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, s.Dir)
	}
	want := []string{"20261201T140000Z_SRV-1", "20261201T140000Z_SRV-2", "20261201T140000Z"}
	for i, d := range dirs {
		if filepath.Base(d) != want[i] {
			t.Errorf("session folder %s; want %s", d, want[i])
		}
	}
	// The same second again without a host, for another source: the
	// session folder holds a session, which is never written over (the
	// preflight refuses the folder; Begin checks again, for a run that
	// raced the first to it).
	before, _ := os.ReadFile(filepath.Join(dirs[2], "session.json"))
	p := plan("")
	p.Sources = []Source{source(t, srcDir, "b.bin", 64<<10, 8)}
	s, err := New(p)
	if err == nil {
		err = s.Run(context.Background(), &observer{})
	}
	if !errors.Is(err, ErrRefused) {
		t.Errorf("a second session in %s: %v; want a refusal", dirs[2], err)
	}
	if after, _ := os.ReadFile(filepath.Join(dirs[2], "session.json")); string(after) != string(before) {
		t.Error("the first session's record was written over")
	}
	if raced := newRecord(p); raced.Dir != dirs[2] {
		t.Errorf("the raced run's folder %s; want %s", raced.Dir, dirs[2])
	} else if err := raced.Begin(); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "already holds a session") {
		t.Errorf("Begin in a folder holding a session: %v; want a refusal", err)
	}
	// A cut-off session of SRV-2 (its record says in-progress).
	rec, err := imager.ReadSession(dirs[1])
	if err != nil {
		t.Fatal(err)
	}
	rec.Result = imager.SessionInProgress
	if err := imager.WriteSession(dirs[1], rec); err != nil {
		t.Fatal(err)
	}
	if c := CutOff(target, "FLEET", []Source{a}, "SRV-1"); c != nil {
		t.Errorf("SRV-1 would continue %s, another machine's session", c.Folder)
	}
	if c := CutOff(target, "FLEET", []Source{a}, "SRV-2"); c == nil || filepath.Base(c.Folder) != want[1] {
		t.Errorf("SRV-2 continues %v; want its own cut-off session", c)
	}
}

// TestShare: what each of n concurrent jobs gets. The engine buffers of all
// jobs together stay at 64 MiB until they are down to 1 MiB each; a job
// keeps at least 3 (reading, hashing, writing); the jobs' E01 compressors
// together are no more than the CPUs (at least one each).
func TestShare(t *testing.T) {
	cpus := runtime.GOMAXPROCS(0)
	for _, tc := range []struct {
		jobs             int
		buffers, sizeMiB int
	}{
		{1, 12, 4},
		{2, 12, 2},
		{4, 6, 2},
		{8, 3, 2},
		{16, 3, 1},
		{32, 3, 1},
	} {
		b, size, w := share(tc.jobs)
		if b != tc.buffers || size != tc.sizeMiB<<20 {
			t.Errorf("share(%d) = %d buffers of %d MiB, want %d of %d MiB", tc.jobs, b, size>>20, tc.buffers, tc.sizeMiB)
		}
		if total := tc.jobs * b * size; total > 64<<20 && size > 1<<20 {
			t.Errorf("share(%d): %d MiB of engine buffers in all", tc.jobs, total>>20)
		}
		if want := max(1, cpus/tc.jobs); w != want {
			t.Errorf("share(%d): %d E01 workers, want %d (%d CPUs)", tc.jobs, w, want, cpus)
		}
	}
}
