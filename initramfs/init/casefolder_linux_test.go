package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/session"
	"github.com/coldimage/coldimage/ui"
)

// TestCaseFolderOverModes: the same case string lands in the same folder
// in every mode that writes to a target — the unattended run and the text
// menu (init's sessionPlan), the console UI and its plain mode, and
// `coldimage ui` (ui.Plan) — through each mode's own planning step.
func TestCaseFolderOverModes(t *testing.T) {
	src := filepath.Join(t.TempDir(), "evidence.img")
	if err := os.WriteFile(src, make([]byte, 1<<20), 0o444); err != nil {
		t.Fatal(err)
	}
	info, err := disk.Inspect(src)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 30, 22, 0, 0, 0, time.UTC)
	a := NewApp(io.Discard, nil)
	for _, c := range []struct{ caseID, want string }{
		{"Case 42/A", "Case_42_A"},
		{"", "nocase"},
		{"CASE-7.b", "CASE-7.b"},
		{"Åsa / 3", "_sa___3"},
	} {
		folders := map[string]string{}
		for _, mode := range []string{"unattended", "menu"} {
			target := t.TempDir()
			cfg := DefaultConfig()
			cfg.Case = c.caseID
			p := a.sessionPlan(cfg, mode, at)
			p.Dir = target
			p.Sources = []session.Source{{Info: info}}
			s, err := session.New(p)
			if err != nil {
				t.Fatalf("%s: %v", mode, err)
			}
			folders[mode], _ = filepath.Rel(target, s.Dir)
			s.Close()
		}
		for _, mode := range []string{"console ui", "ui-plain", "host ui"} {
			target := t.TempDir()
			ch := &ui.Choices{Sources: []ui.Device{{Info: info}}, Target: &ui.Target{Name: target, Dir: target, Free: -1, Given: true},
				Case: imager.Case{Case: c.caseID, Examiner: "E"}, Hashes: []string{"sha256"}, Format: "raw"}
			if c.caseID == "" {
				ch.Case.Case = " " // the UI asks for a case; the sanitiser trims it away
			}
			s, err := ui.Plan(context.Background(), ui.Config{Mode: mode, Now: func() time.Time { return at }}, ch)
			if err != nil {
				if c.caseID == "" {
					continue // the UI refuses an empty case: nothing to compare
				}
				t.Fatalf("%s: %v", mode, err)
			}
			folders[mode], _ = filepath.Rel(target, s.Dir)
			s.Close()
		}
		want := filepath.Join("coldimage", c.want, "20261130T220000Z")
		for mode, got := range folders {
			if got != want {
				t.Errorf("case %q in %s → %s, want %s", c.caseID, mode, got, want)
			}
		}
	}
}
