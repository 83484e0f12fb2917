package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SourceResult is one source's outcome in session.json.
type SourceResult struct {
	Device     string            `json:"device"`
	ID         string            `json:"id"`
	Size       int64             `json:"size"`
	Model      string            `json:"model,omitempty"`
	Serial     string            `json:"serial,omitempty"`
	ReadOnly   bool              `json:"read_only"`
	Outdir     string            `json:"outdir"` // relative to the session folder
	Exit       int               `json:"exit"`
	OK         bool              `json:"ok"`
	Result     string            `json:"result"`
	Complete   bool              `json:"complete"`
	Hashes     map[string]string `json:"hashes,omitempty"`
	Unreadable int               `json:"unreadable_ranges"`
	Error      string            `json:"error,omitempty"`
	Started    string            `json:"started"`
	Finished   string            `json:"finished"`
	Seconds    float64           `json:"seconds"`
	MBps       float64           `json:"acquire_mb_s,omitempty"` // last acquire-phase rate reported
}

// Session is session.json, beside the per-source folders.
type Session struct {
	Schema int `json:"schema"`
	Tool   struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"tool"`
	Kernel   string         `json:"kernel"`
	Cmdline  string         `json:"cmdline"`
	Mode     string         `json:"mode"` // unattended | menu
	Started  string         `json:"started"`
	Finished string         `json:"finished"`
	Clock    string         `json:"clock"`
	Case     string         `json:"case"`
	Examiner string         `json:"examiner"`
	Evidence string         `json:"evidence"`
	Hash     string         `json:"hash"`
	Target   TargetInfo     `json:"target"`
	Sources  []SourceResult `json:"sources"`
	Skipped  []Skip         `json:"skipped"`
	Errors   []string       `json:"errors,omitempty"`
	OK       int            `json:"ok"`
	Failed   int            `json:"failed"`
}

// TargetInfo describes where the images went.
type TargetInfo struct {
	Device string `json:"device"`
	FSType string `json:"fstype"`
	Label  string `json:"label,omitempty"`
	UUID   string `json:"uuid,omitempty"`
	Folder string `json:"folder"` // /coldimage/<case>/<timestamp>
}

const clockNote = "timestamps from the system clock, set by the kernel from the RTC at boot (no network time); compare the RTC with a reference clock and note the offset"

// Write writes session.json and session.txt into dir.
func (s *Session) Write(dir string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := writeSynced(filepath.Join(dir, "session.json"), append(b, '\n')); err != nil {
		return err
	}
	return writeSynced(filepath.Join(dir, "session.txt"), []byte(s.Text()))
}

// Text is the human-readable session summary.
func (s *Session) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "coldimage %s session (%s)\n", s.Tool.Version, s.Mode)
	fmt.Fprintf(&b, "case %q  examiner %q  evidence %q\n", s.Case, s.Examiner, s.Evidence)
	fmt.Fprintf(&b, "started %s  finished %s\n", s.Started, s.Finished)
	fmt.Fprintf(&b, "clock: %s\n", s.Clock)
	fmt.Fprintf(&b, "kernel %s\ncmdline %s\n", s.Kernel, s.Cmdline)
	fmt.Fprintf(&b, "target %s (%s, label %q, uuid %s) folder %s\n", s.Target.Device, s.Target.FSType, s.Target.Label, s.Target.UUID, s.Target.Folder)
	fmt.Fprintf(&b, "hashes %s\n\n", s.Hash)
	for _, r := range s.Sources {
		status := "OK"
		if !r.OK {
			status = "FAILED"
		}
		fmt.Fprintf(&b, "%-6s %s (%s, %s, serial %q, read-only %v) → %s: result %s, complete %v, exit %d\n",
			status, r.Device, r.ID, humanSize(r.Size), r.Serial, r.ReadOnly, r.Outdir, r.Result, r.Complete, r.Exit)
		for _, alg := range sortedKeys(r.Hashes) {
			fmt.Fprintf(&b, "       %s %s\n", alg, r.Hashes[alg])
		}
		if r.Unreadable > 0 {
			fmt.Fprintf(&b, "       %d unreadable range(s), zero-filled: see %s/acquisition.txt\n", r.Unreadable, r.Outdir)
		}
		if r.Error != "" {
			fmt.Fprintf(&b, "       error: %s\n", r.Error)
		}
	}
	for _, k := range s.Skipped {
		fmt.Fprintf(&b, "SKIP   %s: %s\n", k.Device, k.Reason)
	}
	for _, e := range s.Errors {
		fmt.Fprintf(&b, "ERROR  %s\n", e)
	}
	fmt.Fprintf(&b, "\nok=%d failed=%d\n", s.OK, s.Failed)
	return b.String()
}

func sortedKeys(m map[string]string) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	for i := range k {
		for j := i + 1; j < len(k); j++ {
			if k[j] < k[i] {
				k[i], k[j] = k[j], k[i]
			}
		}
	}
	return k
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return f.Close()
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// caseDir makes a case ID safe as one path element.
func caseDir(c string) string {
	if c == "" {
		return "nocase"
	}
	s := sanitizeID(strings.ReplaceAll(c, " ", "_"))
	if s == "" {
		return "nocase"
	}
	return s
}
