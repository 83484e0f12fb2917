package ui

import (
	"bytes"
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
	pending []byte // input read but not yet handed to tcell
	// escWait is how long a chunk ending in an unfinished escape sequence
	// waits for the rest (see Read).
	escWait time.Duration
}

// defaultEscWait: iDRAC and iLO serial-over-LAN send keystrokes in packets
// (iDRAC's character accumulate interval defaults to 50 ms), and a loaded
// emulated UART may hand the bytes of one cursor key to two reads. tcell
// takes an ESC that is not completed within 50 ms for the Escape key, so an
// arrow key split that way would go "back" and type "[B". Holding an
// unfinished sequence this long before tcell sees it keeps arrows arrows;
// a real Escape key costs this much latency.
const defaultEscWait = 200 * time.Millisecond

var errTtyStopped = errors.New("ui: terminal stopped")

func newStreamTty(in io.Reader, out io.Writer, w, h int) *streamTty {
	return &streamTty{in: in, out: out, w: w, h: h, data: make(chan []byte, 16), fd: -1, escWait: defaultEscWait}
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
	if len(t.pending) == 0 {
		select {
		case d, ok := <-t.data:
			if !ok {
				return 0, io.EOF
			}
			t.pending = d
		case <-stop:
			return 0, errTtyStopped
		}
		// An unfinished escape sequence at the end waits briefly for
		// the rest, so tcell sees the whole key at once.
		var timer <-chan time.Time
	join:
		for unfinishedEscape(t.pending) {
			if timer == nil {
				timer = time.After(t.escWait)
			}
			select {
			case d, ok := <-t.data:
				if !ok {
					break join
				}
				t.pending = append(t.pending, d...)
			case <-timer:
				break join
			case <-stop:
				break join
			}
		}
	}
	n := copy(b, t.pending)
	t.pending = t.pending[n:]
	return n, nil
}

// unfinishedEscape reports whether b ends inside an escape sequence: a lone
// ESC, ESC O (SS3) without its final byte, or a CSI (ESC [) whose parameter
// and intermediate bytes are not yet followed by a final byte (0x40–0x7E).
func unfinishedEscape(b []byte) bool {
	i := bytes.LastIndexByte(b, 0x1b)
	if i < 0 {
		return false
	}
	tail := b[i+1:]
	if len(tail) == 0 {
		return true
	}
	switch tail[0] {
	case 'O':
		return len(tail) == 1
	case '[':
		for _, c := range tail[1:] {
			if c >= 0x40 && c <= 0x7e {
				return false
			}
			if c < 0x20 || c > 0x3f {
				return false // not a CSI byte: malformed, pass it on
			}
		}
		return true
	}
	return false
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
