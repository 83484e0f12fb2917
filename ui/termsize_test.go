package ui

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/coldimage/coldimage/ui/uitest"
)

func TestParseCPR(t *testing.T) {
	for _, c := range []struct {
		in         string
		n          int
		rows, cols int
		st         cprState
	}{
		{"\x1b[43;132R", 9, 43, 132, cprDone},
		{"\x1b[24;80Rxyz", 8, 24, 80, cprDone},
		{"\x1b[;R", 4, 1, 1, cprDone},
		{"\x1b[99999999999;5R", 16, 1_000_000, 5, cprDone},
		{"\x1b", 0, 0, 0, cprPartial},
		{"\x1b[", 0, 0, 0, cprPartial},
		{"\x1b[43", 0, 0, 0, cprPartial},
		{"\x1b[43;", 0, 0, 0, cprPartial},
		{"\x1b[43;13", 0, 0, 0, cprPartial},
		{"", 0, 0, 0, cprNone},
		{"x\x1b[43;132R", 0, 0, 0, cprNone},
		{"\x1b[A", 0, 0, 0, cprNone},
		{"\x1b[43R", 0, 0, 0, cprNone},
		{"\x1b[43;132;1R", 0, 0, 0, cprNone},
		{"\x1b[43;132~", 0, 0, 0, cprNone},
		{"\x1bOR", 0, 0, 0, cprNone},
		{"\x1b\x1b[43;132R", 0, 0, 0, cprNone},
	} {
		n, rows, cols, st := parseCPR([]byte(c.in))
		if n != c.n || rows != c.rows || cols != c.cols || st != c.st {
			t.Errorf("parseCPR(%q) = %d, %d, %d, %v; want %d, %d, %d, %v", c.in, n, rows, cols, st, c.n, c.rows, c.cols, c.st)
		}
	}
}

// terminalSide is the far end of a streamTty: what the UI sends, and the
// keyboard.
type terminalSide struct {
	mu   sync.Mutex
	sent bytes.Buffer
}

func (s *terminalSide) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent.Write(b)
}

func (s *terminalSide) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent.String()
}

// askingTty is a streamTty that asks for its size (Width, Height 0), with
// short waits, and the pipe that is its keyboard.
func askingTty(t *testing.T, w, h int, replyWait time.Duration) (*streamTty, *io.PipeWriter, *terminalSide) {
	t.Helper()
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	side := &terminalSide{}
	tty := newStreamTty(pr, side, w, h)
	tty.escWait = 20 * time.Millisecond
	tty.size.replyWait = replyWait
	tty.size.lateWait = 2 * replyWait
	return tty, pw, side
}

// readInput reads what tcell would get until want's length arrived or the
// input went quiet.
func readInput(t *testing.T, tty *streamTty, want int) string {
	t.Helper()
	type chunk struct {
		b   []byte
		err error
	}
	got := ""
	for len(got) < want {
		c := make(chan chunk, 1)
		go func() {
			b := make([]byte, 64)
			n, err := tty.Read(b)
			c <- chunk{b[:n], err}
		}()
		select {
		case r := <-c:
			if r.err != nil {
				t.Fatalf("Read after %q: %v", got, r.err)
			}
			got += string(r.b)
		case <-time.After(5 * time.Second):
			t.Fatalf("input stopped after %q", got)
		}
	}
	return got
}

// The terminal's answer to the size query is taken out of the input
// wherever the reads split it, and the keys typed before and after it
// reach tcell in order.
func TestStreamTtyAsksForSize(t *testing.T) {
	const reply = "\x1b[43;132R"
	for _, c := range []struct {
		name          string
		before, after string // typed around the answer
		reply         string // the terminal's answer ("" none)
		wantW, wantH  int
	}{
		{"answer", "", "", reply, 132, 43},
		{"keys before", "ab\x1b[A", "", reply, 132, 43},
		{"keys after", "", "\x1b[Bq", reply, 132, 43},
		{"keys around", "x\x1bOB", "\r\x1b[1;5A ", reply, 132, 43},
		{"lone Esc before", "\x1b", "", reply, 132, 43},
		{"digits after", "7", "1;2R", reply, 132, 43},
		{"vt100 size", "j", "k", "\x1b[24;80R", 80, 24},
		{"smallest", "", "", "\x1b[10;20R", 20, 10},
		{"largest", "", "", "\x1b[300;500R", 500, 300},
		{"too few rows", "a", "b", "\x1b[9;80R", 80, 24},
		{"too many columns", "", "", "\x1b[24;501R", 80, 24},
		{"cursor did not move", "", "", "\x1b[1;1R", 80, 24},
		{"no numbers", "", "", "\x1b[;R", 80, 24},
		{"huge", "", "", "\x1b[43;99999999999999999999R", 80, 24},
	} {
		stream := c.before + c.reply + c.after
		keys := c.before + c.after
		// Every split of the input into two reads, and one byte a read.
		splits := [][]string{}
		for i := 0; i <= len(stream); i++ {
			splits = append(splits, []string{stream[:i], stream[i:]})
		}
		splits = append(splits, strings.Split(stream, ""))
		for _, chunks := range splits {
			name := fmt.Sprintf("%s/%q", c.name, chunks)
			tty, kbd, side := askingTty(t, 0, 0, 3*time.Second)
			go func() {
				for _, ch := range chunks {
					if ch != "" {
						kbd.Write([]byte(ch))
					}
				}
			}()
			start := time.Now()
			if err := tty.Start(); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("%s: Start waited %v with the answer there", name, d)
			}
			if got := side.String(); got != sizeQueryText {
				t.Errorf("%s: sent %q, want the size query %q", name, got, sizeQueryText)
			}
			if ws, _ := tty.WindowSize(); ws.Width != c.wantW || ws.Height != c.wantH {
				t.Errorf("%s: size %d×%d, want %d×%d", name, ws.Width, ws.Height, c.wantW, c.wantH)
			}
			if got := readInput(t, tty, len(keys)); got != keys {
				t.Errorf("%s: tcell got %q, want %q", name, got, keys)
			}
			tty.Drain()
		}
	}
}

// Without an answer within replyWait the size is 80×24, or what Config
// gave of it; whatever came in (a half answer included) goes on to tcell.
func TestStreamTtyNoAnswer(t *testing.T) {
	for _, c := range []struct {
		name         string
		w, h         int
		typed        []string
		wantW, wantH int
	}{
		{"silent", 0, 0, nil, 80, 24},
		{"keys", 0, 0, []string{"ab", "\x1b[B"}, 80, 24},
		{"not an answer", 0, 0, []string{"\x1b[43;132~"}, 80, 24},
		{"half an answer", 0, 0, []string{"\x1b[43;1"}, 80, 24},
		{"garbage", 0, 0, []string{"\x1b[43", "x;132R"}, 80, 24},
		{"width given", 100, 0, nil, 100, 24},
		{"height given", 0, 30, []string{"q"}, 80, 30},
	} {
		const wait = 100 * time.Millisecond
		tty, kbd, side := askingTty(t, c.w, c.h, wait)
		go func() {
			for _, s := range c.typed {
				kbd.Write([]byte(s))
			}
		}()
		start := time.Now()
		if err := tty.Start(); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < wait {
			t.Errorf("%s: Start returned after %v, before replyWait", c.name, d)
		}
		if side.String() != sizeQueryText {
			t.Errorf("%s: sent %q", c.name, side.String())
		}
		if ws, _ := tty.WindowSize(); ws.Width != c.wantW || ws.Height != c.wantH {
			t.Errorf("%s: size %d×%d, want %d×%d", c.name, ws.Width, ws.Height, c.wantW, c.wantH)
		}
		want := strings.Join(c.typed, "")
		if got := readInput(t, tty, len(want)); got != want {
			t.Errorf("%s: tcell got %q, want %q", c.name, got, want)
		}
		tty.Drain()
	}
}

// A size fixed by Config is not asked for.
func TestStreamTtyFixedSize(t *testing.T) {
	tty, _, side := askingTty(t, 132, 43, time.Minute)
	notified := 0
	tty.NotifyResize(func() { notified++ })
	if err := tty.Start(); err != nil {
		t.Fatal(err)
	}
	defer tty.Drain()
	tty.Resize()
	if side.String() != "" || notified != 0 {
		t.Errorf("sent %q, notified %d times; want nothing", side.String(), notified)
	}
	if ws, _ := tty.WindowSize(); ws.Width != 132 || ws.Height != 43 {
		t.Errorf("size %d×%d, want 132×43", ws.Width, ws.Height)
	}
}

// An answer after replyWait (but within lateWait) still sets the size and
// tells tcell; it never reaches tcell as keys. Resize asks again, and its
// answer, split across reads, is taken out of the input the same way.
func TestStreamTtyLateAnswerAndResize(t *testing.T) {
	tty, kbd, side := askingTty(t, 0, 0, 100*time.Millisecond)
	tty.size.lateWait = 5 * time.Second
	notified := make(chan struct{}, 4)
	tty.NotifyResize(func() { notified <- struct{}{} })
	if err := tty.Start(); err != nil {
		t.Fatal(err)
	}
	defer tty.Drain()
	if ws, _ := tty.WindowSize(); ws.Width != 80 || ws.Height != 24 {
		t.Fatalf("size %d×%d before the answer, want 80×24", ws.Width, ws.Height)
	}
	go kbd.Write([]byte("a\x1b[43;132Rb"))
	if got := readInput(t, tty, 2); got != "ab" {
		t.Errorf("tcell got %q, want ab", got)
	}
	select {
	case <-notified:
	case <-time.After(5 * time.Second):
		t.Fatal("tcell was not told of the late answer")
	}
	if ws, _ := tty.WindowSize(); ws.Width != 132 || ws.Height != 43 {
		t.Errorf("size %d×%d after the late answer, want 132×43", ws.Width, ws.Height)
	}

	// Resize (Ctrl-L): the terminal is now 100×30; its answer comes in three
	// pieces, slower than escWait, with a key before it.
	tty.size.replyWait = 5 * time.Second
	tty.Resize()
	if got := side.String(); got != sizeQueryText+sizeQueryText {
		t.Fatalf("sent %q, want the size query twice", got)
	}
	go func() {
		for _, s := range []string{"x\x1b[", "30;1", "00R\x1b[A"} {
			kbd.Write([]byte(s))
			time.Sleep(3 * tty.escWait)
		}
	}()
	if got := readInput(t, tty, 4); got != "x\x1b[A" {
		t.Errorf("tcell got %q, want x and the Up key", got)
	}
	select {
	case <-notified:
	case <-time.After(5 * time.Second):
		t.Fatal("tcell was not told of the new size")
	}
	if ws, _ := tty.WindowSize(); ws.Width != 100 || ws.Height != 30 {
		t.Errorf("size %d×%d after Resize, want 100×30", ws.Width, ws.Height)
	}

	// With nothing asked, a report-like key (xterm's Shift-F3) is a key.
	tty.size.lateWait, tty.size.replyWait = 0, 0
	go kbd.Write([]byte("\x1b[1;2R"))
	if got := readInput(t, tty, 6); got != "\x1b[1;2R" {
		t.Errorf("tcell got %q, want Shift-F3", got)
	}
}

// A terminal file descriptor that knows its size (a pty) is not asked; one
// that reports 0×0 (a serial line) is.
func TestStreamTtyPty(t *testing.T) {
	for _, c := range []struct {
		name         string
		cols, rows   uint16
		wantW, wantH int
		asked        bool
	}{
		{"sized pty", 100, 30, 100, 30, false},
		{"unsized pty", 0, 0, 132, 43, true},
	} {
		master, slave, err := pty.Open()
		if err != nil {
			t.Skipf("no pty: %v", err)
		}
		if err := pty.Setsize(master, &pty.Winsize{Cols: c.cols, Rows: c.rows}); err != nil {
			t.Fatal(err)
		}
		term := uitest.New(master, master, 132, 43)
		tty := newStreamTty(slave, slave, 0, 0)
		tty.size.replyWait = 5 * time.Second
		if err := tty.Start(); err != nil {
			t.Fatal(err)
		}
		if ws, _ := tty.WindowSize(); ws.Width != c.wantW || ws.Height != c.wantH {
			t.Errorf("%s: size %d×%d, want %d×%d", c.name, ws.Width, ws.Height, c.wantW, c.wantH)
		}
		tty.Write([]byte("done"))
		if _, err := term.WaitScreen("done", 5*time.Second); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if asked := strings.Contains(term.Output(), "\x1b[6n"); asked != c.asked {
			t.Errorf("%s: asked %v, want %v (output %q)", c.name, asked, c.asked, term.Output())
		}
		tty.Drain()
		tty.Stop()
		slave.Close()
		master.Close()
	}
}

// The emulator answers the size query with the size it was made with.
func TestUitestAnswersSizeQuery(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {132, 43}} {
		outR, outW := io.Pipe()
		inR, inW := io.Pipe()
		uitest.New(outR, inW, size[0], size[1])
		go outW.Write([]byte("hello" + sizeQueryText))
		b := make([]byte, 32)
		n, err := inR.Read(b)
		want := fmt.Sprintf("\x1b[%d;%dR", size[1], size[0])
		if err != nil || string(b[:n]) != want {
			t.Errorf("%d×%d: answered %q, %v; want %q", size[0], size[1], b[:n], err, want)
		}
		outW.Close()
		inW.Close()
	}
}

// screenRun runs the full-screen UI (Width, Height 0: ask) on an emulated
// terminal of cols×rows until ctx ends.
func screenRun(t *testing.T, ctx context.Context, cols, rows int, reports bool) (*uitest.Terminal, chan error) {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	t.Cleanup(func() { inW.Close() })
	term := uitest.New(outR, inW, cols, rows)
	term.SetReports(reports)
	cfg := fixtureConfig()
	cfg.In, cfg.Out, cfg.Term, cfg.Width, cfg.Height = inR, outW, "vt220", 0, 0
	cfg.Version = "1.0.0"
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, cfg)
		outW.Close()
		done <- err
	}()
	return term, done
}

// rowsOf is the screen as rows, trailing blanks removed.
func rowsOf(screen string) []string {
	var rows []string
	for _, l := range strings.Split(strings.TrimRight(screen, "\n"), "\n") {
		rows = append(rows, strings.TrimRight(l, " "))
	}
	return rows
}

// On a 132×43 terminal that answers the size query the UI uses all of it:
// the title bar reaches column 132 and the key help is on row 43.
func TestScreenUsesWholeTerminal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	term, done := screenRun(t, ctx, 132, 43, true)
	screen, err := term.WaitScreen("Sources", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// The first frame may be drawn before tcell took the answer in.
	var rows []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		rows = rowsOf(screen)
		if len(rows) == 43 && len(rows[0]) > 120 && rows[42] != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the UI does not fill 132×43:\n%s", screen)
		}
		screen = term.Screen()
	}
	if !strings.Contains(term.Output(), sizeQueryText) {
		t.Errorf("the size query was not sent")
	}
	t.Logf("132×43:\n%s", screen)
	cancel()
	<-done
}

// A terminal that does not answer gets 80×24 (after replyWait, 1 s).
func TestScreenFallsBackTo80x24(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	term, done := screenRun(t, ctx, 132, 43, false)
	screen, err := term.WaitScreen("Sources", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // no later frame changes the size
	screen = term.Screen()
	rows := rowsOf(screen)
	if len(rows) != 43 || len(rows[0]) > 80 || len(rows[0]) < 70 || rows[23] == "" || strings.Join(rows[24:], "") != "" {
		t.Errorf("want the UI in the top-left 80×24:\n%s", screen)
	}
	cancel()
	<-done
}
