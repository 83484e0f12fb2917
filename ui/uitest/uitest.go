// Package uitest is the examiner's side of a console for end-to-end tests of
// the UI: a VT100 emulator fed by whatever the UI sends (a pty, a QEMU serial
// socket), and a keyboard. Tests wait for text on the screen (full-screen
// mode) or in the output (plain mode), then type.
package uitest

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hinshun/vt10x"
)

// Keys as a VT100-compatible terminal sends them (cursor keys in normal mode;
// the UI accepts the application-mode forms too).
const (
	Up    = "\x1b[A"
	Down  = "\x1b[B"
	Right = "\x1b[C"
	Left  = "\x1b[D"
	Enter = "\r"
	Esc   = "\x1b"
	CtrlU = "\x15"
	CtrlL = "\x0c"
)

// Terminal reads the UI's output into an emulated screen of cols×rows.
// Like a real terminal it answers a cursor position report request
// (ESC [ 6 n) with ESC [ row ; col R on the keyboard side, so a UI that asks
// for the terminal size (a cursor move to 999;999 clamps to the screen, then
// the report) learns cols×rows; SetReports(false) makes it a terminal that
// does not answer.
type Terminal struct {
	w       io.Writer
	wmu     sync.Mutex // keys and answers, one write at a time
	mu      sync.Mutex
	vt      vt10x.Terminal
	raw     bytes.Buffer
	partial []byte            // the start of a UTF-8 character split across reads
	watch   map[string]string // text → first screen that showed it
	done    chan struct{}
	err     error

	noReports bool     // under mu
	answers   [][]byte // under mu: reports not yet typed
	answer    chan struct{}
	// KeyDelay separates typed keys, so a lone Esc is not taken for the
	// start of an escape sequence (default 60 ms).
	KeyDelay time.Duration
}

// New starts reading r (until it fails) and types into w.
// The screen is cols×rows (80×24, or 132×43 like a VT100 in 132-column
// mode with a tall window, …).
func New(r io.Reader, w io.Writer, cols, rows int) *Terminal {
	t := &Terminal{w: w, watch: map[string]string{}, done: make(chan struct{}), answer: make(chan struct{}, 1), KeyDelay: 60 * time.Millisecond}
	t.vt = vt10x.New(vt10x.WithSize(cols, rows), vt10x.WithWriter(reportWriter{t}))
	go t.read(r)
	go t.typeAnswers()
	return t
}

// SetReports turns answering cursor position report requests on (the
// default) or off.
func (t *Terminal) SetReports(on bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.noReports = !on
}

// reportWriter receives what the emulator answers (it writes while the
// output is parsed, under t.mu); typeAnswers types it, so the output is
// never held up by a UI that does not read its input.
type reportWriter struct{ t *Terminal }

func (r reportWriter) Write(b []byte) (int, error) {
	if !r.t.noReports {
		r.t.answers = append(r.t.answers, append([]byte(nil), b...))
		select {
		case r.t.answer <- struct{}{}:
		default:
		}
	}
	return len(b), nil
}

func (t *Terminal) typeAnswers() {
	for {
		select {
		case <-t.answer:
		case <-t.done:
			return
		}
		t.mu.Lock()
		a := t.answers
		t.answers = nil
		t.mu.Unlock()
		for _, b := range a {
			t.wmu.Lock()
			_, err := t.w.Write(b)
			t.wmu.Unlock()
			if err != nil {
				return
			}
		}
	}
}

func (t *Terminal) read(r io.Reader) {
	defer close(t.done)
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			t.mu.Lock()
			t.raw.Write(buf[:n])
			// The emulator drops a character split across two writes.
			b := append(t.partial, buf[:n]...)
			k := completeUTF8(b)
			t.vt.Write(b[:k])
			t.partial = append([]byte(nil), b[k:]...)
			if len(t.watch) > 0 {
				s := t.vt.String()
				for k, v := range t.watch {
					if v == "" && strings.Contains(s, k) {
						t.watch[k] = s
					}
				}
			}
			t.mu.Unlock()
		}
		if err != nil {
			t.mu.Lock()
			t.err = err
			t.mu.Unlock()
			return
		}
	}
}

// completeUTF8 is the length of b without an unfinished UTF-8 character at
// its end.
func completeUTF8(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return i
			}
			break
		}
	}
	return len(b)
}

// Watch remembers the first screen that shows text; Seen returns it. Use it
// for screens that may pass quickly (the progress screen).
func (t *Terminal) Watch(text string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.watch[text]; !ok {
		t.watch[text] = ""
	}
}

// Seen returns the first screen that showed a watched text.
func (t *Terminal) Seen(text string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.watch[text]
	return s, s != ""
}

// Screen is the current screen, one line per row.
func (t *Terminal) Screen() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.vt.String()
}

// Output is everything received so far (plain mode reads it as a log).
func (t *Terminal) Output() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.raw.String()
}

// Prompt is the text after the last line break: the open question in plain mode.
func (t *Terminal) Prompt() string {
	s := strings.ReplaceAll(t.Output(), "\r", "")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// WaitScreen waits until the screen shows text and returns that screen.
func (t *Terminal) WaitScreen(text string, timeout time.Duration) (string, error) {
	return t.wait(t.Screen, text, timeout)
}

// WaitPrompt waits until the open question contains text.
func (t *Terminal) WaitPrompt(text string, timeout time.Duration) (string, error) {
	return t.wait(t.Prompt, text, timeout)
}

func (t *Terminal) wait(get func() string, text string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		s := get()
		if strings.Contains(s, text) {
			return s, nil
		}
		select {
		case <-t.done:
			if s := get(); strings.Contains(s, text) {
				return s, nil
			}
			return s, fmt.Errorf("console closed (%v) before %q appeared", t.err, text)
		default:
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("%q did not appear within %v", text, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Type sends each string as one keystroke (or one burst of text), pausing
// KeyDelay after each.
func (t *Terminal) Type(keys ...string) error {
	for _, k := range keys {
		t.wmu.Lock()
		_, err := io.WriteString(t.w, k)
		t.wmu.Unlock()
		if err != nil {
			return err
		}
		time.Sleep(t.KeyDelay)
	}
	return nil
}
