package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// terminal is the examiner's end of a console: the master of a pty pair
// whose slave stands in for /dev/ttyS0.
type terminal struct {
	m    *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	seen int
}

func (x *terminal) read() {
	b := make([]byte, 4096)
	for {
		n, err := x.m.Read(b)
		x.mu.Lock()
		x.out.Write(b[:n])
		x.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// expect waits for re in what the console showed after the last match.
func (x *terminal) expect(t *testing.T, re string, d time.Duration) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(d)
	for {
		x.mu.Lock()
		s := x.out.String()[x.seen:]
		if loc := rx.FindStringSubmatchIndex(s); loc != nil {
			m := rx.FindStringSubmatch(s)
			x.seen += loc[1]
			x.mu.Unlock()
			return m
		}
		x.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("console did not show %q within %v; it shows:\n%s", re, d, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The emergency shell on a tty: a real interactive shell with job control,
// sized 80×24 on a line that cannot tell its size, logged when it opens and
// closes; what the shell leaves running is ended; the consumer underneath
// (the console UI) gets the tty's input back, and got none meanwhile.
func TestEmergencyShellOnTTY(t *testing.T) {
	if _, err := exec.LookPath("busybox"); err != nil {
		t.Skip("busybox (busybox-static) not installed")
	}
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
	a := &App{con: c, cfg: DefaultConfig()}
	a.cfg.Console = strings.TrimPrefix(s.Name(), "/dev/")
	term := &terminal{m: m}
	go term.read()

	ui := c.Input(s.Name()) // the console UI, waiting underneath
	defer ui.Close()
	uiGot := blockedRead(ui)

	done := make(chan error, 1)
	go func() { done <- a.emergencyShell(context.Background()) }()
	term.expect(t, `COLDIMAGE SHELL opened by the operator on /dev/pts/\d+ at \S+\r\ncoldimage: busybox ash with job control`, 10*time.Second)
	term.expect(t, `sources remain read-only`, 5*time.Second)
	term.expect(t, `coldimage-shell:/# `, 10*time.Second)
	send := func(l string) { io.WriteString(m, l+"\r") } // Enter on a terminal is CR
	send(`stty size; echo TERM=$TERM; echo SHELL-OK-$((6*7))`)
	term.expect(t, "\r\n24 80\r\nTERM=linux\r\nSHELL-OK-42\r\n", 10*time.Second)
	send("sleep 100 &")
	send("echo PID=$!; jobs")
	pid, _ := strconv.Atoi(term.expect(t, `PID=(\d+)`, 10*time.Second)[1])
	term.expect(t, `\[1\]\+?\s+Running\s+sleep 100`, 10*time.Second)
	// Ctrl-Z stops the foreground job, fg brings it back, Ctrl-C ends it.
	send("sleep 50")
	time.Sleep(500 * time.Millisecond)
	io.WriteString(m, "\x1a")
	term.expect(t, `\[2\]\+?\s+Stopped\s+sleep 50`, 10*time.Second)
	send("fg %2")
	time.Sleep(500 * time.Millisecond)
	io.WriteString(m, "\x03")
	send("echo AFTER-FG")
	term.expect(t, "\r\nAFTER-FG\r\n", 10*time.Second)
	send("exit") // with sleep 100 still running in the background
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("emergencyShell: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("emergencyShell did not return after exit")
	}
	if st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && !strings.Contains(string(st), ") Z ") {
		t.Errorf("the background sleep (pid %d) outlived the shell: %s", pid, st)
	}
	log := string(c.Log())
	for _, want := range []string{"COLDIMAGE SHELL opened by the operator on " + s.Name(), "COLDIMAGE SHELL closed at ", "ended 1 process(es) the shell left running"} {
		if !strings.Contains(log, want) {
			t.Errorf("console log lacks %q:\n%s", want, log)
		}
	}
	select {
	case got := <-uiGot:
		t.Fatalf("the console UI underneath got %q while the shell ran", got)
	default:
	}
	io.WriteString(m, "back to the UI\r")
	select {
	case got := <-uiGot:
		if got != "back to the UI\n" {
			t.Fatalf("the console UI got %q after the shell", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the console UI got no input after the shell")
	}
	// The tty is back in line mode (the kernel echoes again).
	if lf, err := getTermios(s); err != nil || lf&icanonEcho != icanonEcho {
		t.Errorf("tty not back in line mode: lflag %#x, %v", lf, err)
	}
}
