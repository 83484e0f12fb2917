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
type Terminal struct {
	w     io.Writer
	mu    sync.Mutex
	vt    vt10x.Terminal
	raw   bytes.Buffer
	watch map[string]string // text → first screen that showed it
	done  chan struct{}
	err   error
	// KeyDelay separates typed keys, so a lone Esc is not taken for the
	// start of an escape sequence (default 60 ms).
	KeyDelay time.Duration
}

// New starts reading r (until it fails) and types into w.
func New(r io.Reader, w io.Writer, cols, rows int) *Terminal {
	t := &Terminal{w: w, vt: vt10x.New(vt10x.WithSize(cols, rows)), watch: map[string]string{}, done: make(chan struct{}), KeyDelay: 60 * time.Millisecond}
	go t.read(r)
	return t
}

func (t *Terminal) read(r io.Reader) {
	defer close(t.done)
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			t.mu.Lock()
			t.raw.Write(buf[:n])
			t.vt.Write(buf[:n])
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
		if _, err := io.WriteString(t.w, k); err != nil {
			return err
		}
		time.Sleep(t.KeyDelay)
	}
	return nil
}
