package ui

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/acquire"
)

// crashReader stands for a RAID volume whose metadata makes the reader
// index past its geometry: it panics on the first read.
type crashReader struct{}

func (crashReader) ReadAt(p []byte, off int64) (int, error) {
	var stripes []int64
	return int(stripes[off/512]), nil
}

// crashProgress panics on the start event of one source: a display bug.
// The session hands events to the display on a goroutine of its own, so
// the job goes on.
type crashProgress struct {
	Progress
	source string
}

func (c crashProgress) Event(ev imager.Event) {
	if ev.Source == c.source && ev.Kind == imager.EventStart {
		panic("progress renderer bug on " + c.source)
	}
	c.Progress.Event(ev)
}

// TestExecuteJobPanics: a job whose source panics while it is read ends
// with result "error" and the panic in its record's errors[] and in
// session.json; a display that panics on a job's events does not end the
// job; the other jobs are imaged ok and the session record is written as
// for any other failure.
func TestExecuteJobPanics(t *testing.T) {
	dir := t.TempDir()
	var infos []disk.Info
	for _, name := range []string{"good.img", "start.img", "member.img"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Repeat("evidence", 512<<10/8)), 0o444); err != nil {
			t.Fatal(err)
		}
		info, err := disk.Inspect(p)
		if err != nil {
			t.Skipf("inspect: %v", err)
		}
		infos = append(infos, info)
	}
	var closed sync.WaitGroup
	closed.Add(1)
	vol := Device{Info: disk.Info{Path: "md-crash", Name: "md-crash", Kind: "raid", Size: 1 << 20, LogicalSector: 512},
		Volume: func() (*acquire.Volume, json.RawMessage, func(), error) {
			return &acquire.Volume{R: crashReader{}, Info: disk.Info{Name: "md-crash", Size: 1 << 20, Kind: "raid"}, Members: []string{infos[2].Path}}, nil, closed.Done, nil
		}}
	target := t.TempDir()
	ch := &Choices{Sources: []Device{{Info: infos[0]}, vol, {Info: infos[1]}}, Target: &Target{Name: target, Dir: target, Free: -1, Given: true},
		Case: imager.Case{Case: "CRASH", Examiner: "E"}, Hashes: []string{"sha256"}, Format: "raw", Verify: true}
	s, err := Plan(context.Background(), Config{Version: "t", Now: time.Now}, ch)
	if err != nil {
		t.Fatal(err)
	}
	prog := crashProgress{NewText(io.Discard, false, time.Hour), infos[1].Path}
	if err := s.Run(context.Background(), prog); err != nil {
		t.Fatal(err)
	}
	closed.Wait() // the crashed job released its members

	got, err := imager.ReadSession(s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.OK != 2 || got.Failed != 1 || len(got.Sources) != 3 {
		t.Fatalf("session.json ok %d failed %d sources %d, want 2/1/3", got.OK, got.Failed, len(got.Sources))
	}
	good, crashed, shown := got.Sources[0], got.Sources[1], got.Sources[2]
	if !good.OK || good.Result != "ok" || good.Verified != "match" {
		t.Errorf("the other job: ok %v result %q verified %q", good.OK, good.Result, good.Verified)
	}
	const panicText = "reader of md-crash crashed: panic: runtime error: index out of range"
	if crashed.OK || crashed.Result != imager.ResultError || !strings.Contains(crashed.Error, panicText) || crashed.Record != "md-crash/acquisition.json" {
		t.Errorf("crashed job in session.json: ok %v result %q error %q record %q", crashed.OK, crashed.Result, crashed.Error, crashed.Record)
	}
	var rec imager.Record
	b, err := os.ReadFile(filepath.Join(s.Dir, "md-crash", "acquisition.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Result != imager.ResultError || rec.Complete || len(rec.Errors) == 0 || !strings.Contains(rec.Errors[0], panicText) {
		t.Errorf("crashed job's acquisition.json: result %q complete %v errors %q", rec.Result, rec.Complete, rec.Errors)
	}
	if !shown.OK || shown.Result != "ok" {
		t.Errorf("job whose display panicked: ok %v result %q, want imaged ok", shown.OK, shown.Result)
	}
	txt, err := os.ReadFile(filepath.Join(s.Dir, "session.txt"))
	if err != nil || !strings.Contains(string(txt), "panic: runtime error: index out of range") {
		t.Errorf("session.txt does not show the crash (%v):\n%s", err, txt)
	}
}
