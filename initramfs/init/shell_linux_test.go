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
// sized as the terminal answers on a line that cannot tell its size, keys
// typed meanwhile kept, logged when it opens and
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
	// The terminal answers the shell's size query (cursor position report)
	// with 40;132, and "ec" and "ho" are typed around its answer: they reach
	// the shell, the answer does not.
	go func() {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			term.mu.Lock()
			asked := strings.Contains(term.out.String(), sizeQuery)
			term.mu.Unlock()
			if asked {
				io.WriteString(m, "ec\x1b[40;132Rho EARLY\r")
				return
			}
		}
	}()

	ui := c.Input(s.Name()) // the console UI, waiting underneath
	defer ui.Close()
	uiGot := blockedRead(ui)

	done := make(chan error, 1)
	go func() { done <- a.emergencyShell(context.Background()) }()
	term.expect(t, `COLDIMAGE SHELL opened by the operator on /dev/pts/\d+ at \S+\r\ncoldimage: busybox ash with job control`, 10*time.Second)
	term.expect(t, `sources remain read-only`, 5*time.Second)
	term.expect(t, `coldimage-shell:/# `, 10*time.Second)
	send := func(l string) { io.WriteString(m, l+"\r") } // Enter on a terminal is CR
	term.expect(t, "\r\nEARLY\r\n", 10*time.Second)
	send(`stty size; echo TERM=$TERM; echo SHELL-OK-$((6*7))`)
	term.expect(t, "\r\n40 132\r\nTERM=linux\r\nSHELL-OK-42\r\n", 10*time.Second)
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

// askSize takes the terminal's answer out of what is typed around it, and
// refuses answers out of bounds (a terminal that ignored the cursor move).
func TestAskSize(t *testing.T) {
	for _, c := range []struct {
		name   string
		chunks []string
		w, h   int
		ok     bool
		rest   string
	}{
		{"split answer, keys around", []string{"ab", "\x1b[40;", "132Rcd"}, 132, 40, true, "abcd"},
		{"ignored the move", []string{"\x1b[1;1R"}, 0, 0, false, ""},
		{"no answer", []string{"ls"}, 0, 0, false, "ls"},
	} {
		t.Run(c.name, func(t *testing.T) {
			keys := make(chan []byte, len(c.chunks))
			for _, k := range c.chunks {
				keys <- []byte(k)
			}
			var out bytes.Buffer
			w, h, rest, ok := askSize(&out, keys, 200*time.Millisecond)
			if w != c.w || h != c.h || ok != c.ok || string(rest) != c.rest {
				t.Errorf("askSize = %d×%d %v rest %q, want %d×%d %v rest %q", w, h, ok, rest, c.w, c.h, c.ok, c.rest)
			}
			if out.String() != sizeQuery {
				t.Errorf("sent %q", out.String())
			}
		})
	}
}
