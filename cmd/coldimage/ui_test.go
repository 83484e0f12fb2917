package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/hinshun/vt10x"

	"github.com/coldimage/coldimage/imager"
)

// examiner drives `coldimage ui` through a pty as a person at a serial
// console would: it reads the screen (a VT100 emulator fed by the pty)
// and types keys. Screens are kept in the test's artifact directory
// (go test -artifacts keeps them).
type examiner struct {
	t      *testing.T
	master *os.File
	mu     sync.Mutex
	vt     vt10x.Terminal
	raw    bytes.Buffer
	seen   map[string]string // first screen dump containing a watched text
	watch  []string
	step   int
}

func newExaminer(t *testing.T, master *os.File, watch ...string) *examiner {
	e := &examiner{t: t, master: master, vt: vt10x.New(vt10x.WithSize(80, 24)), seen: map[string]string{}, watch: watch}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			if n > 0 {
				e.mu.Lock()
				e.raw.Write(buf[:n])
				e.vt.Write(buf[:n])
				d := e.vt.String()
				for _, w := range e.watch {
					if _, ok := e.seen[w]; !ok && strings.Contains(d, w) {
						e.seen[w] = d
					}
				}
				e.mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}()
	return e
}

func (e *examiner) screen() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.vt.String()
}

func (e *examiner) output() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.raw.String()
}

// waitFor waits until get() contains s, then saves the screen as an artifact.
func (e *examiner) waitFor(get func() string, s, name string) string {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if d := get(); strings.Contains(d, s) {
			e.save(name, d)
			return d
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("%q did not appear within 60 s; the screen:\n%s", s, get())
	return ""
}

func (e *examiner) save(name, d string) {
	e.step++
	p := filepath.Join(e.t.ArtifactDir(), fmtStep(e.step)+"-"+name+".txt")
	if err := os.WriteFile(p, []byte(d), 0o644); err != nil {
		e.t.Error(err)
	}
}

func fmtStep(n int) string { return string(rune('0'+n/10)) + string(rune('0'+n%10)) }

func (e *examiner) typeKeys(ks ...string) {
	e.t.Helper()
	for _, k := range ks {
		if _, err := e.master.Write([]byte(k)); err != nil {
			e.t.Fatal(err)
		}
		// A lone Esc is told from an escape sequence by a pause.
		time.Sleep(60 * time.Millisecond)
	}
}

const (
	keyDown  = "\x1b[B"
	keyEnter = "\r"
)

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
	e := newExaminer(t, master, watch...)
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
func uiSources(t *testing.T) (string, string, string) {
	dir := t.TempDir()
	// Big enough that imaging outlasts the first one-second refresh.
	a := quickSource(t, dir, "disk-a.img", 320<<20, 11)
	b := quickSource(t, dir, "disk-b.img", 256<<20, 12)
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
	a, b, target := uiSources(t)
	e, done := uiRun(t, []string{"--term", "vt220", "--source", a, "--source", b, "--target", target}, " MB/s")
	e.waitFor(e.screen, "disk-b.img", "sources")
	e.typeKeys(" ", keyDown, " ")
	e.waitFor(e.screen, "selected: 2 source(s)", "sources-selected")
	e.typeKeys(keyEnter)
	e.waitFor(e.screen, "2/5 Target", "target")
	e.typeKeys(keyEnter)
	e.waitFor(e.screen, "3/5 Case details", "case")
	e.typeKeys("CASE-7", keyEnter, "Erika Examiner", keyEnter, "EV-1", keyEnter, "two test files", keyEnter)
	e.typeKeys(keyEnter, keyEnter) // hashes, format: defaults
	e.waitFor(e.screen, "re-read source and image", "case-filled")
	e.typeKeys(keyEnter) // on Verify: continue
	e.waitFor(e.screen, "4/5 Confirm", "confirm")
	if _, err := os.Stat(filepath.Join(target, "coldimage")); err == nil {
		t.Fatal("something was written before the confirmation")
	}
	e.typeKeys("y")
	sum := e.waitFor(e.screen, "2 ok, 0 failed", "summary")
	for _, want := range []string{"disk-a.img  OK  verification: match", "disk-b.img  OK  verification: match", "sha256", "blake3", "record disk-a.img/acquisition.json"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
	e.mu.Lock()
	prog, sawProgress := e.seen[" MB/s"]
	e.mu.Unlock()
	if !sawProgress {
		t.Error("the progress screen never showed a rate")
	} else {
		e.save("progress", prog)
		if !strings.Contains(prog, "5/5 Imaging") || !strings.Contains(prog, "acquire [") {
			t.Errorf("progress screen without an acquire line:\n%s", prog)
		}
	}
	e.typeKeys("q")
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
	a, b, target := uiSources(t)
	e, done := uiRun(t, []string{"--plain", "--source", a, "--source", b, "--target", target})
	step := func(prompt, answer, name string) {
		t.Helper()
		e.waitFor(func() string { return lastPrompt(e.output()) }, prompt, name)
		e.typeKeys(answer + "\n")
	}
	step("sources: numbers", "1 2", "sources")
	step("target number", "1", "target")
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
	step("choice", "2", "summary")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("coldimage ui --plain: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("coldimage ui --plain did not return")
	}
	out := e.output()
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

// lastPrompt is the text after the last newline: the open question.
func lastPrompt(s string) string {
	s = strings.ReplaceAll(s, "\r", "")
	if i := strings.LastIndexByte(strings.TrimRight(s, "\n"), '\n'); i >= 0 && !strings.HasSuffix(s, "\n") {
		return s[i+1:]
	}
	if strings.HasSuffix(s, "\n") {
		return ""
	}
	return s
}
