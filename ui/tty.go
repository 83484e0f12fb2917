package ui

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// streamTty lets tcell drive any reader/writer pair: a serial console
// (/dev/ttyS0 at 9600 or 115200 baud), a pty, or a test's virtual terminal.
// When In is a terminal it is put in raw mode for the UI's lifetime.
//
// Its size is fixed when both w and h are given; otherwise it is asked for
// (see termsize.go): a terminal file descriptor's own size (TIOCGWINSZ),
// else the terminal's answer to a cursor position report at Start, else
// 80×24 (or the one of w, h that was given).
type streamTty struct {
	in      io.Reader
	out     io.Writer
	w, h    int
	mu      sync.Mutex
	wmu     sync.Mutex // one Write at a time: a size query never lands inside a frame
	data    chan []byte
	stop    chan struct{}
	pumping bool
	raw     *term.State
	fd      int
	pending []byte // input read but not yet handed to tcell
	// escWait is how long a chunk ending in an unfinished escape sequence
	// waits for the rest (see Read).
	escWait  time.Duration
	escSince time.Time // when pending began to end in an unfinished escape

	size sizeQuery // the terminal's answers (termsize.go)
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
	return &streamTty{in: in, out: out, w: w, h: h, data: make(chan []byte, 16), fd: -1, escWait: defaultEscWait,
		size: sizeQuery{replyWait: defaultReplyWait, lateWait: defaultLateWait}}
}

func (t *streamTty) Start() error {
	t.mu.Lock()
	t.stop = make(chan struct{})
	stop := t.stop
	if f, ok := t.in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		st, err := term.MakeRaw(int(f.Fd()))
		if err != nil {
			t.mu.Unlock()
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
	t.mu.Unlock()
	// tcell calls Start before it draws anything, and reads (Read) only
	// after it returns: the answer is awaited here, keys around it kept.
	if t.asks() {
		if _, _, ok := t.fdSize(); !ok {
			t.query()
			t.awaitReply(stop)
		}
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

// Read hands tcell the input, less the terminal's answers to size queries
// (termsize.go). Input that ends in an unfinished escape sequence waits up
// to escWait for the rest, so tcell sees a whole key at once; the start of
// an answer that is still awaited waits until the answer is due.
func (t *streamTty) Read(b []byte) (int, error) {
	t.mu.Lock()
	stop := t.stop
	t.mu.Unlock()
	if stop == nil {
		return 0, errTtyStopped
	}
	for {
		t.pending = t.takeReplies(t.pending)
		var until time.Time
		if len(t.pending) > 0 {
			until = t.holdUntil(t.pending)
			if until.IsZero() || !time.Now().Before(until) {
				break
			}
		}
		var timer *time.Timer
		var expired <-chan time.Time
		if !until.IsZero() {
			timer = time.NewTimer(time.Until(until))
			expired = timer.C
		}
		handOver := false
		select {
		case d, ok := <-t.data:
			if !ok {
				if len(t.pending) == 0 {
					return 0, io.EOF
				}
				handOver = true
			}
			t.pending = append(t.pending, d...)
		case <-expired:
		case <-stop:
			if len(t.pending) == 0 {
				return 0, errTtyStopped
			}
			handOver = true
		}
		if timer != nil {
			timer.Stop()
		}
		if handOver {
			break
		}
	}
	n := copy(b, t.pending)
	t.pending = t.pending[n:]
	if len(t.pending) == 0 {
		t.escSince = time.Time{}
	}
	return n, nil
}

// holdUntil is when pending, which ends in an unfinished escape sequence or
// in the start of an awaited size answer, is handed over as it is; zero
// when it need not wait.
func (t *streamTty) holdUntil(p []byte) time.Time {
	var until time.Time
	if unfinishedEscape(p) {
		if t.escSince.IsZero() {
			t.escSince = time.Now()
		}
		until = t.escSince.Add(t.escWait)
	} else {
		t.escSince = time.Time{}
	}
	if r := t.size.holdReply(p); r.After(until) {
		until = r
	}
	return until
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

func (t *streamTty) Write(b []byte) (int, error) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	return t.out.Write(b)
}

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

// NotifyResize: cb (tcell's) is called when an answer to a size query
// arrives; tcell then asks WindowSize and posts an EventResize if the size
// changed.
func (t *streamTty) NotifyResize(cb func()) {
	t.size.mu.Lock()
	t.size.notify = cb
	t.size.mu.Unlock()
}
