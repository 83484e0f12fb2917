package ui

import (
	"bytes"
	"os"
	"sync"
	"time"

	"github.com/gdamore/tcell/v2"
	"golang.org/x/term"
)

// Terminal size. A serial line cannot tell the kernel how big the terminal
// at its other end is (TIOCGWINSZ says 0×0), so the terminal is asked, as
// xterm's resize(1) does: save the cursor, reset the scroll region, move the
// cursor as far right and down as it goes, ask where it ended up (DSR 6,
// "cursor position report"), restore the cursor. The answer, ESC [ rows ;
// cols R, comes back with the keyboard input; it is taken out of it there
// (takeReplies) and the keys typed around it go on to tcell in order.
//
// resize(1) sends ESC [ 9999;9999 H and ESC 8 only after reading the
// answer; 999 is enough for any screen accepted here (and is what BusyBox's
// resize sends), and a terminal answers the report before it reads the
// ESC 8 behind it, so the query goes out in one write.
const sizeQueryText = "\x1b7\x1b[r\x1b[999;999H\x1b[6n\x1b8"

// Answers outside these bounds are taken for garbage (a terminal that
// ignored the cursor move answers 1;1) and the fallback size is used.
const (
	minCols, maxCols = 20, 500
	minRows, maxRows = 10, 300
)

// fallbackCols×fallbackRows is the size when nothing tells (no answer in
// time) and Config gave no Width or Height.
const fallbackCols, fallbackRows = 80, 24

// defaultReplyWait: how long Start waits for the answer. A terminal answers
// at once; 9600 baud carries query and answer in ~30 ms, and serial-over-LAN
// holds input up to 50 ms (iDRAC's accumulate interval). A terminal that
// does not answer (a serial logger, a dumb terminal) costs this once.
const defaultReplyWait = time.Second

// defaultLateWait: an answer that comes after replyWait but within this time
// of the query is still taken out of the input (tcell would read it as F3
// with modifiers) and still applied: the screen is redrawn at that size.
const defaultLateWait = 10 * time.Second

var _ tcell.Tty = (*streamTty)(nil)

// sizeQuery is what the terminal answered and which answers are awaited.
type sizeQuery struct {
	replyWait time.Duration // Start waits this long; see defaultReplyWait
	lateWait  time.Duration // see defaultLateWait

	mu        sync.Mutex
	asked     int       // queries sent and not answered
	holdUntil time.Time // the start of an answer waits for its rest until then
	lateUntil time.Time // answers are taken out of the input until then
	cols      int       // the last answer in bounds; 0: none, or out of bounds
	rows      int
	notify    func() // tcell's resize callback (NotifyResize)
}

// asks reports whether the size is asked for rather than fixed by Config.
func (t *streamTty) asks() bool { return t.w <= 0 || t.h <= 0 }

// fdSize is the size a terminal file descriptor (a pty, the Linux console)
// reports, if it reports one; serial lines report 0×0.
func (t *streamTty) fdSize() (w, h int, ok bool) {
	for _, rw := range []any{t.out, t.in} {
		if f, isFile := rw.(*os.File); isFile {
			if w, h, err := term.GetSize(int(f.Fd())); err == nil && w > 0 && h > 0 {
				return w, h, true
			}
		}
	}
	return 0, 0, false
}

// WindowSize: a size fixed by Config wins, then the terminal file
// descriptor's own, then the terminal's last answer to a size query, then
// 80×24 (or what Config gave of it).
func (t *streamTty) WindowSize() (tcell.WindowSize, error) {
	if !t.asks() {
		return tcell.WindowSize{Width: t.w, Height: t.h}, nil
	}
	if w, h, ok := t.fdSize(); ok {
		return tcell.WindowSize{Width: w, Height: h}, nil
	}
	t.size.mu.Lock()
	w, h := t.size.cols, t.size.rows
	t.size.mu.Unlock()
	if w > 0 && h > 0 {
		return tcell.WindowSize{Width: w, Height: h}, nil
	}
	w, h = fallbackCols, fallbackRows
	if t.w > 0 {
		w = t.w
	}
	if t.h > 0 {
		h = t.h
	}
	return tcell.WindowSize{Width: w, Height: h}, nil
}

// Resize asks the terminal for its size again, for a terminal that changed
// size or was swapped on the serial line since the UI started; meant for
// Ctrl-L (the screen code reaches it through tcell.Screen.Tty). It returns
// at once: the answer arrives with the input, and if it changes the size
// tcell posts an EventResize (the UI redraws on it). With a size fixed by Config it does
// nothing; with a terminal file descriptor that reports its size it only
// has tcell read that again (a pty resized without SIGWINCH reaching us).
func (t *streamTty) Resize() {
	if !t.asks() {
		return
	}
	t.mu.Lock()
	started := t.stop != nil
	t.mu.Unlock()
	if !started {
		return
	}
	if _, _, ok := t.fdSize(); ok {
		t.size.mu.Lock()
		cb := t.size.notify
		t.size.mu.Unlock()
		if cb != nil {
			cb()
		}
		return
	}
	t.query()
}

// query sends a size query; takeReplies will take the answer out of the
// input.
func (t *streamTty) query() {
	now := time.Now()
	q := &t.size
	q.mu.Lock()
	if !now.Before(q.lateUntil) {
		q.asked = 0 // earlier queries went unanswered
	}
	q.asked++
	q.holdUntil = now.Add(q.replyWait)
	q.lateUntil = now.Add(max(q.lateWait, q.replyWait))
	q.mu.Unlock()
	// A failed write means no answer: the fallback size applies.
	_, _ = t.Write([]byte(sizeQueryText))
}

// awaitReply collects input into pending (for Read) until the answer to
// the query Start sent is in, replyWait passed, the input ended or the
// terminal was stopped.
func (t *streamTty) awaitReply(stop chan struct{}) {
	timer := time.NewTimer(t.size.replyWait)
	defer timer.Stop()
	for t.size.awaiting() {
		select {
		case d, ok := <-t.data:
			if !ok {
				return // Read reports the end of the input
			}
			t.pending = t.takeReplies(append(t.pending, d...))
		case <-timer.C:
			return
		case <-stop:
			return
		}
	}
}

func (q *sizeQuery) awaiting() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.asked > 0 && time.Now().Before(q.lateUntil)
}

// takeReplies removes from p the answers to size queries sent (at most one
// per query, and only until lateWait after the last one), records the size
// and tells tcell. Everything else in p stays, in order.
func (t *streamTty) takeReplies(p []byte) []byte {
	q := &t.size
	if !q.awaiting() {
		return p
	}
	answered := false
	for i := 0; i < len(p) && q.awaiting(); {
		j := bytes.IndexByte(p[i:], 0x1b)
		if j < 0 {
			break
		}
		j += i
		n, rows, cols, st := parseCPR(p[j:])
		if st != cprDone {
			i = j + 1
			continue
		}
		p = append(p[:j], p[j+n:]...)
		q.answer(rows, cols)
		answered = true
		i = j
	}
	if answered {
		q.mu.Lock()
		cb := q.notify
		q.mu.Unlock()
		if cb != nil {
			cb()
		}
	}
	return p
}

// answer records one answer: in bounds it is the size, else the fallback
// applies.
func (q *sizeQuery) answer(rows, cols int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.asked--
	if cols, rows, ok := sizeInBounds(cols, rows); ok {
		q.cols, q.rows = cols, rows
	} else {
		q.cols, q.rows = 0, 0
	}
}

// holdReply is when p, which may end in the start of an awaited answer,
// goes to tcell all the same; zero when it need not wait for that.
func (q *sizeQuery) holdReply(p []byte) time.Time {
	i := bytes.LastIndexByte(p, 0x1b)
	if i < 0 {
		return time.Time{}
	}
	if _, _, _, st := parseCPR(p[i:]); st != cprPartial {
		return time.Time{}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.asked == 0 {
		return time.Time{}
	}
	return q.holdUntil
}

func sizeInBounds(cols, rows int) (int, int, bool) {
	if cols < minCols || cols > maxCols || rows < minRows || rows > maxRows {
		return 0, 0, false
	}
	return cols, rows, true
}

type cprState int

const (
	cprNone    cprState = iota // b does not start with a cursor position report
	cprPartial                 // b is the start of one
	cprDone                    // b starts with one, n bytes long
)

// parseCPR reads a cursor position report, ESC [ rows ; cols R, at the
// start of b (a missing number counts as 1; numbers are capped, not
// wrapped, so a huge one stays out of bounds).
func parseCPR(b []byte) (n, rows, cols int, st cprState) {
	if len(b) == 0 || b[0] != 0x1b {
		return 0, 0, 0, cprNone
	}
	if len(b) == 1 {
		return 0, 0, 0, cprPartial
	}
	if b[1] != '[' {
		return 0, 0, 0, cprNone
	}
	i := 2
	number := func() (v int, digits int) {
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			v = min(v*10+int(b[i]-'0'), 1_000_000)
			digits++
		}
		if digits == 0 {
			v = 1
		}
		return v, digits
	}
	rows, _ = number()
	if i == len(b) {
		return 0, 0, 0, cprPartial
	}
	if b[i] != ';' {
		return 0, 0, 0, cprNone
	}
	i++
	cols, _ = number()
	if i == len(b) {
		return 0, 0, 0, cprPartial
	}
	if b[i] != 'R' {
		return 0, 0, 0, cprNone
	}
	return i + 1, rows, cols, cprDone
}
