package ui

import (
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"github.com/gdamore/tcell/v2"
	"golang.org/x/term"
)

// streamTty lets tcell drive any reader/writer pair: a serial console
// (/dev/ttyS0 at 9600 or 115200 baud), a pty, or a test's virtual terminal.
// When In is a terminal it is put in raw mode for the UI's lifetime.
type streamTty struct {
	in      io.Reader
	out     io.Writer
	w, h    int
	mu      sync.Mutex
	data    chan []byte
	stop    chan struct{}
	pumping bool
	raw     *term.State
	fd      int
}

var errTtyStopped = errors.New("ui: terminal stopped")

func newStreamTty(in io.Reader, out io.Writer, w, h int) *streamTty {
	return &streamTty{in: in, out: out, w: w, h: h, data: make(chan []byte, 16), fd: -1}
}

func (t *streamTty) Start() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stop = make(chan struct{})
	if f, ok := t.in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		st, err := term.MakeRaw(int(f.Fd()))
		if err != nil {
			return err
		}
		t.raw, t.fd = st, int(f.Fd())
		// Deadlines let Drain wake the reader; not every file supports them.
		_ = f.SetReadDeadline(time.Time{})
	}
	if !t.pumping {
		t.pumping = true
		go t.read()
	}
	return nil
}

// read copies input into data until In fails. It is started once: a
// blocked Read cannot be abandoned, so a restart reuses it.
func (t *streamTty) read() {
	for {
		buf := make([]byte, 128)
		n, err := t.in.Read(buf)
		if n > 0 {
			t.data <- buf[:n]
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.mu.Lock()
				stopped := t.stop == nil
				if stopped {
					// Drained: leave In to the caller; Start restarts us.
					t.pumping = false
				}
				t.mu.Unlock()
				if stopped {
					return
				}
				continue
			}
			close(t.data)
			return
		}
	}
}

func (t *streamTty) Read(b []byte) (int, error) {
	t.mu.Lock()
	stop := t.stop
	t.mu.Unlock()
	if stop == nil {
		return 0, errTtyStopped
	}
	select {
	case d, ok := <-t.data:
		if !ok {
			return 0, io.EOF
		}
		return copy(b, d), nil
	case <-stop:
		return 0, errTtyStopped
	}
}

func (t *streamTty) Write(b []byte) (int, error) { return t.out.Write(b) }

func (t *streamTty) Drain() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stop != nil {
		close(t.stop)
		t.stop = nil
	}
	if f, ok := t.in.(*os.File); ok {
		_ = f.SetReadDeadline(time.Now())
	}
	return nil
}

func (t *streamTty) Stop() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.raw != nil {
		err := term.Restore(t.fd, t.raw)
		t.raw = nil
		return err
	}
	return nil
}

func (t *streamTty) Close() error { return nil }

func (t *streamTty) NotifyResize(func()) {}

// WindowSize: the configured size wins (serial lines cannot report one),
// then the terminal's own, then 80×24.
func (t *streamTty) WindowSize() (tcell.WindowSize, error) {
	if t.w > 0 && t.h > 0 {
		return tcell.WindowSize{Width: t.w, Height: t.h}, nil
	}
	if f, ok := t.out.(*os.File); ok {
		if w, h, err := term.GetSize(int(f.Fd())); err == nil && w > 0 && h > 0 {
			return tcell.WindowSize{Width: w, Height: h}, nil
		}
	}
	return tcell.WindowSize{Width: 80, Height: 24}, nil
}
