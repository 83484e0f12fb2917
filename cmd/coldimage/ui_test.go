package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/ui/uitest"
)

// examiner drives `coldimage ui` through a pty as a person at a serial
// console would (uitest.Terminal: a VT100 emulator and a keyboard) and keeps
// each screen it acted on in the test's artifact directory (go test
// -artifacts keeps them).
type examiner struct {
	*uitest.Terminal
	t    *testing.T
	step int
}

func (e *examiner) save(name, d string) {
	e.step++
	p := filepath.Join(e.t.ArtifactDir(), fmt.Sprintf("%02d-%s.txt", e.step, name))
	if err := os.WriteFile(p, []byte(d), 0o644); err != nil {
		e.t.Error(err)
	}
}

func (e *examiner) screen(text, name string) string {
	e.t.Helper()
	s, err := e.WaitScreen(text, 60*time.Second)
	if err != nil {
		e.t.Fatalf("%v; the screen:\n%s", err, s)
	}
	e.save(name, s)
	return s
}

func (e *examiner) keys(ks ...string) {
	e.t.Helper()
	if err := e.Type(ks...); err != nil {
		e.t.Fatal(err)
	}
}

// uiRun starts runUI on a pty of 80×24 and returns the examiner and a
// channel with runUI's result.
func uiRun(t *testing.T, args []string, watch ...string) (*examiner, chan error) {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	t.Cleanup(func() { master.Close(); slave.Close() })
	if err := pty.Setsize(master, &pty.Winsize{Rows: 24, Cols: 80}); err != nil {
		t.Fatal(err)
	}
	e := &examiner{Terminal: uitest.New(master, master, 80, 24), t: t}
	for _, w := range watch {
		e.Watch(w)
	}
	done := make(chan error, 1)
	var stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	go func() {
		err := runUI(ctx, args, slave, slave, &stderr)
		if err != nil && stderr.Len() > 0 {
			t.Logf("stderr: %s", stderr.String())
		}
		done <- err
	}()
	return e, done
}

// uiSources are two deterministic source files, large enough that the
// progress screen is seen.
func uiSources(t *testing.T, mib int) (string, string, string) {
	dir := t.TempDir()
	a := quickSource(t, dir, "disk-a.img", (mib+mib/4)<<20, 11)
	b := quickSource(t, dir, "disk-b.img", mib<<20, 12)
	target := filepath.Join(t.TempDir(), "target")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	return a, b, target
}

// quickSource writes size bytes from a seeded ChaCha8 stream.
func quickSource(t *testing.T, dir, name string, size int, seed byte) string {
	t.Helper()
	b := make([]byte, size)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o444); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkSession asserts images equal their sources and the records say ok.
func checkSession(t *testing.T, target, caseID string, sources ...string) {
	t.Helper()
	stamps, err := filepath.Glob(filepath.Join(target, "coldimage", caseID, "*"))
	if err != nil || len(stamps) != 1 {
		t.Fatalf("session folders under %s: %v %v", target, stamps, err)
	}
	sdir := stamps[0]
	var s struct {
		OK, Failed int
		Sources    []struct {
			ID, Result, Verified string
			OK                   bool
		}
	}
	b, err := os.ReadFile(filepath.Join(sdir, "session.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.OK != len(sources) || s.Failed != 0 {
		t.Fatalf("session.json: ok %d failed %d\n%s", s.OK, s.Failed, b)
	}
	if _, err := os.Stat(filepath.Join(sdir, "session.txt")); err != nil {
		t.Error(err)
	}
	for i, src := range sources {
		out := filepath.Join(sdir, s.Sources[i].ID)
		if got, want := coreutils(t, "sha256sum", filepath.Join(out, "image.raw")), coreutils(t, "sha256sum", src); got != want {
			t.Errorf("%s: image sha256 %s, source %s", out, got, want)
		}
		rec, err := imager.ReadRecord(out)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Result != imager.ResultOK || !rec.Complete || rec.Case.Case != caseID || rec.Verification == nil || !rec.Verification.Image.Match {
			t.Errorf("%s: record result %q complete %v case %q verification %+v", out, rec.Result, rec.Complete, rec.Case.Case, rec.Verification)
		}
		if s.Sources[i].Verified != "match" {
			t.Errorf("%s: session says verification %q", s.Sources[i].ID, s.Sources[i].Verified)
		}
	}
}

func TestUIFullScreenThroughPty(t *testing.T) {
	// Big enough that imaging outlasts the first one-second refresh.
	a, b, target := uiSources(t, 160)
	e, done := uiRun(t, []string{"--term", "vt220", "--source", a, "--source", b, "--target", target}, "[#")
	e.screen("disk-b.img", "sources")
	e.keys(" ", uitest.Down, " ")
	e.screen("selected: 2 source(s)", "sources-selected")
	e.keys(uitest.Enter)
	e.screen("2/6 Target", "target")
	e.keys(uitest.Down, uitest.Enter) // the cursor starts on no row
	e.screen("3/6 Clock check", "clock")
	e.keys("10:41 CET", uitest.Enter)
	e.screen("4/6 Case details", "case")
	e.keys("CASE-7", uitest.Enter, "Erika Examiner", uitest.Enter, "EV-1", uitest.Enter, "two test files", uitest.Enter)
	e.keys(uitest.Enter, uitest.Enter) // hashes, format: defaults
	e.screen("re-read source and image", "case-filled")
	// A lone Esc (told from an escape sequence by the pause) goes back; the
	// case details are still there on the way forward again.
	e.keys(uitest.Esc)
	e.screen("3/6 Clock check", "back-to-clock")
	e.keys(uitest.Enter)
	if s := e.screen("4/6 Case details", "case-again"); !strings.Contains(s, "Erika Examiner") || !strings.Contains(s, "two test files") {
		t.Fatalf("Esc lost the case details:\n%s", s)
	}
	e.keys(uitest.Down, uitest.Down, uitest.Down, uitest.Down, uitest.Down, uitest.Down, uitest.Down)
	e.keys(uitest.Enter) // on Verify: continue
	e.screen("5/6 Confirm", "confirm")
	if _, err := os.Stat(filepath.Join(target, "coldimage")); err == nil {
		t.Fatal("something was written before the confirmation")
	}
	started := time.Now()
	e.keys("y")
	sum := e.screen("2 ok, 0 failed", "summary")
	took := time.Since(started)
	for _, want := range []string{"disk-a.img  OK  verification: match", "disk-b.img  OK  verification: match", "sha256", "blake3", "record disk-a.img/acquisition.json"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
	if prog, ok := e.Seen("[#"); !ok {
		// The screen refreshes once a second: a run shorter than that may
		// go from the first progress screen straight to the summary.
		if took > 1500*time.Millisecond {
			t.Errorf("imaging took %v but the progress screen never showed a bar", took)
		}
	} else {
		e.save("progress", prog)
		if !strings.Contains(prog, "6/6 Imaging") || !strings.Contains(prog, " MB/s") {
			t.Errorf("progress screen without an acquire bar:\n%s", prog)
		}
	}
	e.keys("q")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("coldimage ui: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("coldimage ui did not return after q")
	}
	checkSession(t, target, "CASE-7", a, b)
}

func TestUIPlainThroughPty(t *testing.T) {
	a, b, target := uiSources(t, 16)
	e, done := uiRun(t, []string{"--plain", "--source", a, "--source", b, "--target", target})
	step := func(prompt, answer, name string) {
		t.Helper()
		if _, err := e.WaitPrompt(prompt, 60*time.Second); err != nil {
			t.Fatalf("%v; the output ends:\n%s", err, tail(e.Output()))
		}
		e.save(name, e.Screen())
		e.keys(answer + "\n")
	}
	step("sources: names", "disk-a.img disk-b.img", "sources")
	step("target name", target, "target")
	step("real time", "10:41 CET", "clock")
	step("case number", "CASE-8", "case")
	step("examiner", "Erika Examiner", "examiner")
	step("evidence number", "<", "evidence-back") // back keeps the examiner
	step("examiner [Erika Examiner]", "", "examiner-kept")
	step("evidence number", "EV-2", "evidence")
	step("notes", "", "notes")
	step("hashes", "", "hashes")
	step("format", "", "format")
	step("verify after imaging", "", "verify")
	step("type yes to start", "yes", "confirm")
	step("type one of", "quit", "summary")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("coldimage ui --plain: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("coldimage ui --plain did not return")
	}
	out := e.Output()
	e.save("transcript", out)
	for _, want := range []string{"started on", "done: result ok", "2 ok, 0 failed", "verification: match"} {
		if !strings.Contains(out, want) {
			t.Errorf("plain transcript lacks %q", want)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("plain mode sent escape sequences")
	}
	checkSession(t, target, "CASE-8", a, b)
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}
