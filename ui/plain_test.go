package ui

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestPlainTranscript answers the line-mode questions, mistakes included,
// and compares the whole transcript with its golden copy.
func TestPlainTranscript(t *testing.T) {
	in := strings.Join([]string{
		"9",   // not in the list
		"5",   // boot medium: refused
		"6",   // no medium: refused
		"1 4", // sda and sdb
		"2",   // SMALL: will not fit
		"1",   // EVIDENCE
		"C-1", // case
		"",    // examiner: default kept
		"<",   // back from evidence to examiner
		"",    // examiner still kept
		"E-9", // evidence
		"",    // notes
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

// The shell is reached only through its own question; anything but SHELL
// goes back to the choices.
func TestPlainShellNeedsConfirmation(t *testing.T) {
	var out bytes.Buffer
	cfg := fixtureConfig()
	cfg.In = strings.NewReader("q\n4\nyes\n4\nSHELL\n")
	cfg.Out, cfg.Plain = &out, true
	o, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if o.Action != ActionShell {
		t.Fatalf("action %q", o.Action)
	}
	if n := strings.Count(out.String(), "type SHELL to open the emergency shell"); n != 2 {
		t.Errorf("asked %d times, want 2 (a wrong answer asks again from the list)\n%s", n, out.String())
	}
}
