package imager

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSessionSourceOutcome(t *testing.T) {
	verified := &Verification{Image: VerifyPart{Match: true}, Source: &VerifyPart{Match: true}}
	for _, c := range []struct {
		name     string
		rec      *Record
		err      error
		noVerify bool
		ok       bool
		result   string
		verified string
		record   string
	}{
		{"ok", &Record{Result: ResultOK, Complete: true, Verification: verified}, nil, false, true, "ok", "match", "sda_X/acquisition.json"},
		{"verify off", &Record{Result: ResultOK, Complete: true}, nil, true, true, "ok", "skipped", "sda_X/acquisition.json"},
		{"image differs", &Record{Result: ResultMismatch, Complete: true, Verification: &Verification{Image: VerifyPart{Match: false}}}, errors.New("mismatch"), false, false, "mismatch", "MISMATCH", "sda_X/acquisition.json"},
		{"source differs", &Record{Result: ResultMismatch, Complete: true, Verification: &Verification{Image: VerifyPart{Match: true}, Source: &VerifyPart{Match: false}}}, nil, false, false, "mismatch", "MISMATCH", "sda_X/acquisition.json"},
		{"unreadable", &Record{Result: ResultIncomplete, Complete: false, Verification: verified, Unreadable: []BadRange{{LBA: 8, Count: 1, Error: "EIO"}}}, nil, false, false, "incomplete", "match", "sda_X/acquisition.json"},
		{"no record", nil, errors.New("target full"), false, false, "error: target full", "not run", ""},
		{"no record, no error", nil, nil, false, false, "error: no acquisition record was written", "not run", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := SessionSource{ID: "sda_X", Outdir: "sda_X"}
			r.Outcome(c.rec, c.err, c.noVerify)
			if r.OK != c.ok || r.Result != c.result || r.Verified != c.verified || r.Record != c.record || r.Unreadable == nil {
				t.Errorf("got ok %v result %q verified %q record %q unreadable %v; want %v %q %q %q", r.OK, r.Result, r.Verified, r.Record, r.Unreadable, c.ok, c.result, c.verified, c.record)
			}
		})
	}
}

func TestWriteReadSession(t *testing.T) {
	dir := t.TempDir()
	s := &Session{Tool: Tool{Name: "coldimage", Version: "t"}, Mode: "unattended", Case: Case{Case: "C-1", Examiner: "E"},
		Target:  SessionTarget{Device: "/dev/sdc1", FSType: "ext4", Folder: "/coldimage/C-1/x"},
		Sources: []SessionSource{{ID: "a", OK: true, Result: "ok", Hashes: map[string]string{"sha256": "00"}}, {ID: "b", Result: "error: x", Error: "x"}}}
	s.Tally()
	if s.OK != 1 || s.Failed != 1 {
		t.Fatalf("Tally: ok %d failed %d", s.OK, s.Failed)
	}
	if err := WriteSession(dir, s); err != nil {
		t.Fatal(err)
	}
	// Rewritten as the session goes on: the second write replaces the first.
	s.Events = append(s.Events, SessionEvent{Time: "2026-11-22T00:00:00Z", What: "emergency shell opened by the operator"})
	if err := WriteSession(dir, s); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSession(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Schema != SessionSchema || got.Case.Case != "C-1" || len(got.Sources) != 2 || got.Sources[1].Unreadable == nil || got.Skipped == nil || len(got.Events) != 1 {
		t.Errorf("read back %+v", got)
	}
	txt, err := os.ReadFile(filepath.Join(dir, "session.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"case \"C-1\"", "OK     a", "FAILED b", "error: x", "emergency shell opened", "ok=1 failed=1"} {
		if !strings.Contains(string(txt), want) {
			t.Errorf("session.txt lacks %q:\n%s", want, txt)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "session.json.tmp")); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "session.json"), []byte(`{"schema":"other/1"}`), 0o644)
	if _, err := ReadSession(dir); err == nil || !strings.Contains(err.Error(), "not a coldimage session") {
		t.Errorf("foreign schema: %v", err)
	}
}

func TestSessionAndRecordState(t *testing.T) {
	src := func(result, verified string) SessionSource { return SessionSource{Result: result, Verified: verified} }
	for _, tc := range []struct {
		name string
		s    Session
		want string
	}{
		{"cut off", Session{Result: ResultInProgress, Started: "t"}, StateInProgress},
		{"never finished", Session{Result: "", Started: "t"}, StateInProgress},
		{"all ok", Session{Result: "ok", Finished: "t", OK: 2, Sources: []SessionSource{src("ok", "match"), src("ok", "match")}}, StateOK},
		{"one failed", Session{Result: "failed", Finished: "t", OK: 1, Failed: 1, Sources: []SessionSource{src("ok", "match"), src("incomplete", "not run")}}, StateIncomplete},
		{"mismatch", Session{Result: "failed", Finished: "t", OK: 1, Failed: 1, Sources: []SessionSource{src("ok", "match"), src("mismatch", "MISMATCH")}}, StateMismatch},
		{"no source", Session{Result: "ok", Finished: "t"}, StateIncomplete},
	} {
		if got := tc.s.State(); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	for result, want := range map[string]string{ResultInProgress: StateInProgress, ResultOK: StateOK, ResultMismatch: StateMismatch, ResultIncomplete: StateIncomplete, "error: x": StateIncomplete} {
		if got := (&Record{Result: result}).State(); got != want {
			t.Errorf("record %q: %s, want %s", result, got, want)
		}
	}
}
