package ui

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/ui/uitest"
)

// TestPlainTranscript answers the line-mode questions, mistakes included,
// and compares the whole transcript with its golden copy.
func TestPlainTranscript(t *testing.T) {
	in := strings.Join([]string{
		"9",                 // not in the list (numbers are not names)
		"sdc",               // boot medium: refused
		"sdd",               // no medium: refused
		"sda sda1 sdb",      // sda1 is inside sda: asks
		"no",                // ... and leaves it out
		"sdf1",              // EVIDENCE-SMALL: will not fit
		"sdg1",              // no target label: confirm first
		"o", "sdg1", "WD-W", // the first characters of the serial: not confirmed
		"o", "sdg1", "Z987", // confirmed
		"sde1",         // EVIDENCE
		"12:31 CET",    // clock check
		"C-1 Müller's", // case
		"",             // examiner: default kept
		"<",            // back from evidence to examiner
		"",             // examiner still kept
		"E-9",          // evidence
		"",             // notes
		"sha256,md5",
		"e01",
		"maybe", // verify: not yes/no
		"no",
		"y", // confirm wants the whole word
	}, "\n") + "\n"
	var out bytes.Buffer
	cfg := fixtureConfig()
	cfg.In, cfg.Out, cfg.Plain, cfg.Version = strings.NewReader(in), &out, true, "1.0.0"
	cfg.Now = func() time.Time { return time.Date(2026, 11, 22, 5, 30, 0, 0, time.UTC) }
	_, err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "console input ended") {
		t.Fatalf("Run ended with %v, want the end of input", err)
	}
	golden(t, "plain-transcript", out.String())
	if strings.Contains(out.String(), "\x1b") {
		t.Error("plain mode sent an escape sequence")
	}
	if strings.Contains(out.String(), "source(s) into") {
		t.Error("imaging started without yes")
	}
}

// The shell, power off and reboot are reached only through their own
// question; reboot warns first. Choices are words.
func TestPlainShellNeedsConfirmation(t *testing.T) {
	var out bytes.Buffer
	cfg := fixtureConfig()
	cfg.In = strings.NewReader("q\n4\npoweroff\nno\nreboot\nno\nshell\nno\nshell\nyes\n")
	cfg.Out, cfg.Plain = &out, true
	o, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if o.Action != ActionShell {
		t.Fatalf("action %q", o.Action)
	}
	for _, want := range []string{`"4" is not one of`, "power off now?", "start its own operating system", "reboot anyway?"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if n := strings.Count(out.String(), "open the emergency shell?"); n != 2 {
		t.Errorf("asked %d times, want 2 (a wrong answer asks again from the list)\n%s", n, out.String())
	}
}

// In plain mode, "abort" then "yes" typed while imaging stops the session;
// the abort is logged and the records say incomplete.
func TestPlainAbort(t *testing.T) {
	cfg := bigSourceConfig(t)
	term, inW, answer, done := runPlainTerm(t, cfg)
	answer("sources", "big.img")
	ts, _ := cfg.Targets()
	answer("target name", ts[0].Name)
	answer("real time", "")
	caseDefaults(answer)
	answer("type yes to start imaging", "yes")
	waitOutput := func(text string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(term.Output(), text); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%q not in the output:\n%s", text, term.Output())
			}
		}
	}
	waitOutput("type abort and Enter")
	io.WriteString(inW, "abort\n")
	waitOutput("abort imaging?")
	io.WriteString(inW, "yes\n")
	answer("type one of", "quit")
	var r plainResult
	select {
	case r = <-done:
	case <-time.After(time.Minute):
		t.Fatalf("Run did not end:\n%s", term.Output())
	}
	if r.err != nil || r.o.Action != ActionQuit || len(r.o.Sessions) != 1 {
		t.Fatalf("Run: %v, action %q, %d sessions\n%s", r.err, r.o.Action, len(r.o.Sessions), term.Output())
	}
	s, err := imager.ReadSession(r.o.Sessions[0].Dir)
	if err != nil {
		t.Fatal(err)
	}
	if src := s.Sources[0]; src.OK || src.Result != imager.ResultIncomplete || len(s.Events) != 1 || s.Events[0].What != "imaging aborted by the operator" {
		t.Errorf("after abort: source %+v events %+v\n%s", src, s.Events, term.Output())
	}
	for _, want := range []string{"abort imaging?", "aborted: every source is stopping", "INCOMPLETE"} {
		if !strings.Contains(term.Output(), want) {
			t.Errorf("output lacks %q:\n%s", want, term.Output())
		}
	}
}

// plainResult is how a line-mode Run ended.
type plainResult struct {
	o   Outcome
	err error
}

// caseQuestions are line mode's questions after the clock check, in order.
var caseQuestions = []string{"case number", "examiner", "evidence number", "notes", "hashes", "format", "verify after imaging"}

// caseDefaults answers every case question with its default (Enter).
func caseDefaults(answer func(prompt, line string)) {
	for _, q := range caseQuestions {
		answer(q, "")
	}
}

// runPlainTerm runs line mode on cfg behind a terminal: answer waits for a
// prompt and types a line; done gets the outcome.
func runPlainTerm(t *testing.T, cfg Config) (term *uitest.Terminal, in io.Writer, answer func(prompt, line string), done <-chan plainResult) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	cfg.In, cfg.Out, cfg.Plain, cfg.Actions = inR, outW, true, []Action{ActionQuit}
	term = uitest.New(outR, inW, 80, 24)
	ch := make(chan plainResult, 1)
	go func() {
		o, err := Run(context.Background(), cfg)
		outW.Close()
		ch <- plainResult{o, err}
	}()
	answer = func(prompt, line string) {
		t.Helper()
		if _, err := term.WaitPrompt(prompt, 30*time.Second); err != nil {
			t.Fatalf("%v\n%s", err, term.Output())
		}
		io.WriteString(inW, line+"\n")
	}
	return term, inW, answer, ch
}

// Names are what line mode takes: kernel names, paths, disk serials, and
// the beginning of a long name as the list shows it when it is unique.
func TestPick(t *testing.T) {
	rows := fixtureDevices()
	for _, c := range []struct{ word, want string }{
		{"sda", "sda"}, {"/dev/sdb", "sdb"}, {"Z4Y8ABCD", "sdb"}, {"serial=z4y8abcd", "sdb"},
		{"md-5f3c2a...", "md-5f3c2a1b:90e1d2c3:44556677:8899aabb"}, {"md-5f3c2a1b", "md-5f3c2a1b:90e1d2c3:44556677:8899aabb"},
		{"sd", ""}, {"1", ""}, {"WD-WCC2EKH12345", "sda"}, {"nope", ""},
	} {
		d, ok := pick(rows, c.word)
		if got := map[bool]string{true: d.Name}[ok]; got != c.want {
			t.Errorf("pick(%q) = %q, want %q", c.word, got, c.want)
		}
	}
}
