package main

import (
	"bytes"
	"io"
	"math/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// readWithin reads once from r, failing the test after d.
func readWithin(t *testing.T, r io.Reader, d time.Duration) string {
	t.Helper()
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		b := make([]byte, 256)
		n, err := r.Read(b)
		ch <- res{string(b[:n]), err}
	}()
	select {
	case x := <-ch:
		if x.err != nil {
			t.Fatalf("read: %v", x.err)
		}
		return x.s
	case <-time.After(d):
		t.Fatalf("no input within %v", d)
	}
	return ""
}

// blockedRead starts a Read and returns its result channel.
func blockedRead(r io.Reader) <-chan string {
	ch := make(chan string, 1)
	go func() {
		b := make([]byte, 256)
		n, err := r.Read(b)
		if err != nil {
			ch <- "error: " + err.Error()
			return
		}
		ch <- string(b[:n])
	}()
	return ch
}

func pipeRouter(t *testing.T) (*router, *os.File) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pw.Close(); pr.Close() })
	return newRouter("pipe", pr, nil), pw
}

// Only the consumer attached last receives input; the one underneath
// waits (receives nothing, is not ended) and takes the input again when
// the newer one is closed.
func TestRouterAttachDetach(t *testing.T) {
	r, w := pipeRouter(t)
	ui := r.attach()
	io.WriteString(w, "one\n")
	if got := readWithin(t, ui, 5*time.Second); got != "one\n" {
		t.Fatalf("ui read %q", got)
	}
	waiting := blockedRead(ui)
	shell := r.attach()
	io.WriteString(w, "two\n")
	if got := readWithin(t, shell, 5*time.Second); got != "two\n" {
		t.Fatalf("shell read %q", got)
	}
	io.WriteString(w, "three\n") // typed, not yet read by the shell when it closes
	time.Sleep(100 * time.Millisecond)
	select {
	case got := <-waiting:
		t.Fatalf("the consumer underneath got %q while the shell was attached", got)
	default:
	}
	shell.Close()
	select {
	case got := <-waiting:
		if got != "three\n" {
			t.Fatalf("the consumer underneath got %q after the shell closed, want what the shell left", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the consumer underneath got nothing after the shell closed")
	}
	if _, err := shell.Read(make([]byte, 8)); err != io.EOF {
		t.Fatalf("Read on a closed consumer: %v, want EOF", err)
	}
}

// A Read blocked in a consumer that is closed returns io.EOF, so a stale
// reader goroutine (the UI's input pump, plain mode's line reader) ends.
func TestRouterStaleReaderGetsEOF(t *testing.T) {
	r, w := pipeRouter(t)
	old := r.attach()
	waiting := blockedRead(old)
	time.Sleep(50 * time.Millisecond)
	old.Close()
	select {
	case got := <-waiting:
		if got != "error: EOF" {
			t.Fatalf("blocked Read on a closed consumer returned %q, want EOF", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocked Read did not return after Close")
	}
	// Its input was not taken: the next consumer gets it.
	next := r.attach()
	io.WriteString(w, "x")
	if got := readWithin(t, next, 5*time.Second); got != "x" {
		t.Fatalf("next consumer read %q", got)
	}
	// Closing one that is not on top leaves the top one attached.
	under := next
	top := r.attach()
	under.Close()
	io.WriteString(w, "y")
	if got := readWithin(t, top, 5*time.Second); got != "y" {
		t.Fatalf("top consumer read %q", got)
	}
}

// Across many switches of consumer, what they read together is exactly
// what was typed: no byte twice, none lost, in order.
func TestRouterNoByteLostOrDuplicated(t *testing.T) {
	r, w := pipeRouter(t)
	rng := rand.New(rand.NewSource(7))
	want := make([]byte, 200_000)
	for i := range want {
		want[i] = byte('a' + rng.Intn(26))
		if rng.Intn(40) == 0 {
			want[i] = '\n'
		}
	}
	go func() {
		wr := rand.New(rand.NewSource(8))
		for b := want; len(b) > 0; {
			n := min(len(b), 1+wr.Intn(3000))
			w.Write(b[:n])
			b = b[n:]
		}
	}()
	var got bytes.Buffer
	cur := r.attach()
	buf := make([]byte, 1024)
	for got.Len() < len(want) {
		// Read a little, then hand over to a new consumer; sometimes
		// the new one is attached before the old one is closed.
		for i := rng.Intn(4); i >= 0 && got.Len() < len(want); i-- {
			n, err := cur.Read(buf[:1+rng.Intn(len(buf)-1)])
			if err != nil {
				t.Fatal(err)
			}
			got.Write(buf[:n])
		}
		next := r.attach()
		cur.Close()
		cur = next
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("consumers read %d bytes that differ from the %d typed", got.Len(), len(want))
	}
}

// Read hands over at most one line, so a line reader leaves what follows
// its line to whoever is attached next.
func TestRouterLineAtATime(t *testing.T) {
	r, w := pipeRouter(t)
	menu := r.attach()
	io.WriteString(w, "SHELL\nls\npartial")
	time.Sleep(50 * time.Millisecond)
	l, err := menu.readLine()
	if err != nil || string(l) != "SHELL\n" {
		t.Fatalf("readLine: %q, %v", l, err)
	}
	shell := r.attach()
	if got := readWithin(t, shell, 5*time.Second); got != "ls\n" {
		t.Fatalf("shell read %q, want the next line only", got)
	}
	if got := readWithin(t, shell, 5*time.Second); got != "partial" {
		t.Fatalf("shell read %q", got)
	}
}

// The text menu's Lines are one more consumer: while another consumer (the
// shell) is attached they get nothing, then they go on.
func TestConsoleLinesConsumer(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	c := NewConsole(io.Discard, pr)
	lines := c.Lines()
	next := func() Line {
		t.Helper()
		select {
		case l := <-lines:
			return l
		case <-time.After(5 * time.Second):
			t.Fatal("no line")
		}
		return Line{}
	}
	io.WriteString(pw, "1\r\nSHELL\n")
	if l := next(); l != (Line{"stdin", "1"}) {
		t.Fatalf("got %+v", l)
	}
	if l := next(); l.Text != "SHELL" {
		t.Fatalf("got %+v", l)
	}
	if c.LastInput() != "stdin" {
		t.Fatalf("LastInput %q", c.LastInput())
	}
	shell := c.Input("stdin")
	io.WriteString(pw, "echo hi\n")
	if got := readWithin(t, shell, 5*time.Second); got != "echo hi\n" {
		t.Fatalf("shell read %q", got)
	}
	select {
	case l := <-lines:
		t.Fatalf("Lines got %+v while the shell was attached", l)
	case <-time.After(100 * time.Millisecond):
	}
	shell.Close()
	io.WriteString(pw, "2\n")
	if l := next(); l.Text != "2" {
		t.Fatalf("after the shell: %+v", l)
	}
	if c.Input("/dev/nothing") != nil {
		t.Fatal("Input of a device not open is not nil")
	}
}

// On a real tty in line mode, Ctrl-D makes read return 0 bytes: that is
// not the end of the console's input.
func TestRouterTTYCtrlDIsNotEOF(t *testing.T) {
	m, s, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer m.Close()
	defer s.Close()
	r := newRouter("pty", s, nil)
	in := r.attach()
	io.WriteString(m, "\x04")
	time.Sleep(200 * time.Millisecond)
	io.WriteString(m, "after\n")
	got := readWithin(t, in, 5*time.Second)
	if got != "after\n" {
		t.Fatalf("read %q after Ctrl-D", got)
	}
}

// Raw and Cooked switch a tty between the modes and restore what it had.
func TestConsoleRawCooked(t *testing.T) {
	m, s, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer m.Close()
	defer s.Close()
	c := NewConsole(io.Discard, nil)
	if err := c.OpenTTYs(s.Name()); err != nil {
		t.Fatal(err)
	}
	dev := s.Name()
	restore, err := c.Raw(dev)
	if err != nil {
		t.Fatal(err)
	}
	lflag := func() uint32 {
		st, err := getTermios(c.File(dev))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if lflag()&icanonEcho != 0 {
		t.Fatal("Raw left ICANON/ECHO on")
	}
	back, err := c.Cooked(dev)
	if err != nil {
		t.Fatal(err)
	}
	if lflag()&icanonEcho != icanonEcho {
		t.Fatal("Cooked did not set ICANON|ECHO")
	}
	if err := back(); err != nil {
		t.Fatal(err)
	}
	if lflag()&icanonEcho != 0 {
		t.Fatal("Cooked's restore did not go back to raw")
	}
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	if lflag()&icanonEcho != icanonEcho {
		t.Fatal("Raw's restore did not go back to line mode")
	}
	if _, err := c.Raw("/dev/nothing"); err == nil || !strings.Contains(err.Error(), "not open") {
		t.Fatalf("Raw on a device not open: %v", err)
	}
}

const icanonEcho = unix.ICANON | unix.ECHO

func getTermios(f *os.File) (uint32, error) {
	t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		return 0, err
	}
	return t.Lflag, nil
}
