package ui

import (
	"io"
	"testing"
	"time"
)

func TestUnfinishedEscape(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"", false},
		{"abc", false},
		{"\x1b", true},
		{"x\x1b", true},
		{"\x1b[", true},
		{"\x1b[1;5", true},
		{"\x1b[B", false},
		{"\x1b[1;5A", false},
		{"\x1bO", true},
		{"\x1bOB", false},
		{"\x1bx", false},       // Alt-x: complete
		{"\x1b[B\x1b[", true},  // a second key half-way
		{"\x1b[\x01", false},   // malformed: pass on
		{"\x1b[A\x1b", true},   // a lone ESC after a key
		{"q\x1b[24~", false},   // F12
		{"\x1b[\x1b[B", false}, // the last sequence is complete
	} {
		if got := unfinishedEscape([]byte(c.in)); got != c.want {
			t.Errorf("unfinishedEscape(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

// A cursor key whose bytes arrive in two reads, as over serial-over-LAN,
// reaches tcell as one chunk; a lone ESC is passed on after escWait.
func TestStreamTtyJoinsSplitEscape(t *testing.T) {
	pr, pw := io.Pipe()
	tty := newStreamTty(pr, io.Discard, 80, 24)
	tty.escWait = 2 * time.Second
	if err := tty.Start(); err != nil {
		t.Fatal(err)
	}
	defer tty.Drain()
	go func() {
		pw.Write([]byte("\x1b"))
		time.Sleep(100 * time.Millisecond) // beyond tcell's 50 ms
		pw.Write([]byte("[B"))
	}()
	buf := make([]byte, 64)
	n, err := tty.Read(buf)
	if err != nil || string(buf[:n]) != "\x1b[B" {
		t.Fatalf("Read = %q, %v; want the whole cursor key", buf[:n], err)
	}

	tty.escWait = 50 * time.Millisecond
	go pw.Write([]byte("\x1b"))
	start := time.Now()
	n, err = tty.Read(buf)
	if err != nil || string(buf[:n]) != "\x1b" {
		t.Fatalf("Read = %q, %v; want the lone ESC", buf[:n], err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("lone ESC passed on after %v, before escWait", d)
	}

	// More than the caller's buffer holds is returned over several reads.
	go pw.Write([]byte("abcdef"))
	small := make([]byte, 4)
	var got string
	for len(got) < 6 {
		n, err := tty.Read(small)
		if err != nil {
			t.Fatal(err)
		}
		got += string(small[:n])
	}
	if got != "abcdef" {
		t.Errorf("read %q, want abcdef", got)
	}
}
