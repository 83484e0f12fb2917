package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// Console writes every line to the serial console (ttyS0, 115200 8N1) and
// the VGA/framebuffer console (tty0), and reads operator input from both.
// It keeps a copy of everything written for the session's console.log.
//
// Input: each tty has exactly one reader for the whole boot (its router);
// whoever wants the tty's input attaches with Input (the console UI, the
// emergency shell's relay) or Lines (the text menu), and only the consumer
// attached last receives bytes, so no two readers race for what is typed.
type Console struct {
	mu      sync.Mutex
	outs    []io.Writer
	names   []string
	files   map[string]*os.File
	muted   map[io.Writer]bool
	cooked  map[string]*unix.Termios // each tty's line mode as opened (setSerial's for ttyS*)
	routers map[string]*router
	order   []string // router devices in the order they were added
	log     bytes.Buffer
	lines   chan Line
	reading bool         // Lines was called: every tty, also one added later, feeds lines
	lastIn  atomic.Value // string: the device whose input a consumer took last
}

// Line is one line of operator input and the tty it was typed on.
type Line struct {
	Dev, Text string
}

// NewConsole starts with the given writer (before /dev exists: stdout) and,
// when in is not nil, reads it as one more input ("stdin").
func NewConsole(w io.Writer, in io.Reader) *Console {
	c := &Console{outs: []io.Writer{w}, names: []string{"stdout"}, lines: make(chan Line, 16),
		files: map[string]*os.File{}, muted: map[io.Writer]bool{}, cooked: map[string]*unix.Termios{},
		routers: map[string]*router{}}
	if in != nil {
		c.addRouter("stdin", in)
	}
	return c
}

// Printf prints one line (a trailing newline is added).
func (c *Console) Printf(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	s = strings.TrimRight(s, "\n") + "\n"
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log.WriteString(time.Now().UTC().Format("15:04:05 ") + s)
	for _, w := range c.outs {
		if c.muted[w] {
			continue
		}
		io.WriteString(w, s) // the tty's ONLCR turns \n into \r\n
	}
}

// Log returns what was printed so far.
func (c *Console) Log() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.log.Bytes())
}

// Input returns a reader of dev's input (see router): it receives what is
// typed while it is the consumer attached last; a reader attached before
// it waits meanwhile and goes on when this one is closed. Read on a closed
// reader returns io.EOF, also one blocked in Read when Close is called. It
// returns nil when dev is not open.
func (c *Console) Input(dev string) io.ReadCloser {
	c.mu.Lock()
	r := c.routers[dev]
	c.mu.Unlock()
	if r == nil {
		return nil
	}
	return r.attach()
}

// LastInput is the device whose input a consumer took last ("" before any):
// the tty the examiner is typing on.
func (c *Console) LastInput() string {
	s, _ := c.lastIn.Load().(string)
	return s
}

// Lines delivers operator input lines, from every tty (the text menu). It
// is one more consumer of each tty's router: the first call attaches a
// line reader to each tty, and to ttys added later.
func (c *Console) Lines() <-chan Line {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.reading {
		c.reading = true
		for _, dev := range c.order {
			go c.readLines(c.routers[dev].attach())
		}
	}
	return c.lines
}

// ReadLine waits for the next operator line from any tty.
func (c *Console) ReadLine(ctx context.Context) (Line, bool) {
	select {
	case l := <-c.Lines():
		return l, true
	case <-ctx.Done():
		return Line{}, false
	}
}

func (c *Console) readLines(in *routedReader) {
	for {
		l, err := in.readLine()
		if len(l) > 0 {
			c.lines <- Line{Dev: in.r.dev, Text: strings.TrimRight(string(l), "\r\n")}
		}
		if err != nil {
			return
		}
	}
}

// File returns an opened tty by device path.
func (c *Console) File(dev string) *os.File {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.files[dev]
}

// UnmuteAll prints on every console again, whatever owns it: for the last
// words before a power-off.
func (c *Console) UnmuteAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.muted)
}

// Mute stops (or resumes) printing to one tty while a full-screen UI or the
// emergency shell owns it, and returns whether it was muted before.
func (c *Console) Mute(f *os.File, on bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	was := c.muted[f]
	c.muted[f] = on
	return was
}

// Raw puts dev in raw mode (the full-screen UI draws and reads keys itself;
// the emergency shell's pty does the line editing) and returns a function
// that restores the mode it had.
func (c *Console) Raw(dev string) (restore func() error, err error) {
	f := c.File(dev)
	if f == nil {
		return nil, fmt.Errorf("raw mode: %s is not open", dev)
	}
	fd := int(f.Fd())
	old, err := term.MakeRaw(fd)
	if err != nil {
		return nil, fmt.Errorf("raw mode on %s: %w", dev, err)
	}
	return func() error { return term.Restore(fd, old) }, nil
}

// Cooked puts dev back in the line mode it was opened with (ICANON, ECHO,
// ONLCR: the text menu, plain mode and our log lines need it) and returns
// a function that restores the mode it had.
func (c *Console) Cooked(dev string) (restore func() error, err error) {
	c.mu.Lock()
	f, t := c.files[dev], c.cooked[dev]
	c.mu.Unlock()
	if f == nil || t == nil {
		return nil, fmt.Errorf("line mode: %s is not an open tty", dev)
	}
	fd := int(f.Fd())
	old, err := term.GetState(fd)
	if err != nil {
		return nil, fmt.Errorf("line mode on %s: %w", dev, err)
	}
	cooked := *t
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &cooked); err != nil {
		return nil, fmt.Errorf("line mode on %s: %w", dev, err)
	}
	return func() error { return term.Restore(fd, old) }, nil
}

// NoEcho turns dev's echo off (line mode stays) while a secret is typed,
// and returns what turns it back on. It does nothing on a tty not open.
func (c *Console) NoEcho(dev string) (restore func()) {
	f := c.File(dev)
	if f == nil {
		return func() {}
	}
	fd := int(f.Fd())
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return func() {}
	}
	old := *t
	t.Lflag &^= unix.ECHO | unix.ECHOE | unix.ECHOK | unix.ECHONL
	if unix.IoctlSetTermios(fd, unix.TCSETS, t) != nil {
		return func() {}
	}
	return func() { unix.IoctlSetTermios(fd, unix.TCSETS, &old) }
}

func (c *Console) openTTY(d string) (*os.File, error) {
	f, err := os.OpenFile(d, os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(d, "/dev/ttyS") {
		if err := setSerial(int(f.Fd())); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", d, err)
		}
	}
	if t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
		c.mu.Lock()
		c.cooked[d] = t
		c.mu.Unlock()
	}
	c.addRouter(d, f)
	return f, nil
}

// OpenTTYs replaces the output with ttyS0 and tty0 (those that open) and
// reads input from them. ttyS0 is set to 115200 8N1.
func (c *Console) OpenTTYs(devs ...string) error {
	var outs []io.Writer
	var names []string
	var errs []string
	for _, d := range devs {
		f, err := c.openTTY(d)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		outs = append(outs, f)
		names = append(names, d)
		c.mu.Lock()
		c.files[d] = f
		c.mu.Unlock()
	}
	if len(outs) == 0 {
		return fmt.Errorf("no console opened: %s", strings.Join(errs, "; "))
	}
	c.mu.Lock()
	c.outs, c.names = outs, names
	c.mu.Unlock()
	if len(errs) > 0 {
		return fmt.Errorf("console: %s", strings.Join(errs, "; "))
	}
	return nil
}

// AddTTY opens one more console (e.g. ttyS1 named by console=) and adds it
// to the outputs and the inputs. An already open tty is left as it is.
func (c *Console) AddTTY(dev string) error {
	c.mu.Lock()
	_, open := c.files[dev]
	c.mu.Unlock()
	if open {
		return nil
	}
	f, err := c.openTTY(dev)
	if err != nil {
		return fmt.Errorf("open console %s: %w", dev, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.files[dev] = f
	c.outs = append(c.outs, f)
	c.names = append(c.names, dev)
	return nil
}

// addRouter makes src dev's one reader; a line reader is attached at once
// when Lines was called before.
func (c *Console) addRouter(dev string, src io.Reader) {
	r := newRouter(dev, src, func() { c.lastIn.Store(dev) })
	c.mu.Lock()
	defer c.mu.Unlock()
	c.routers[dev] = r
	c.order = append(c.order, dev)
	if c.reading {
		go c.readLines(r.attach())
	}
}

func setSerial(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("TCGETS ttyS0: %w", err)
	}
	t.Cflag &^= unix.CBAUD | unix.CSIZE | unix.PARENB | unix.CSTOPB | unix.CRTSCTS
	t.Cflag |= unix.B115200 | unix.CS8 | unix.CREAD | unix.CLOCAL
	t.Ispeed, t.Ospeed = unix.B115200, unix.B115200
	t.Iflag |= unix.ICRNL
	t.Lflag |= unix.ICANON | unix.ECHO | unix.ECHOE
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("TCSETS ttyS0: %w", err)
	}
	return nil
}

// router is the one reader of a tty for the whole boot: its pump copies
// what the tty delivers into buf, and the consumer on top of the stack (the
// one attached last and not yet closed) takes it. A byte leaves buf only
// into that consumer's Read, so none is delivered twice, and none is lost
// when consumers change: what nobody took waits for the next one.
type router struct {
	dev     string
	src     io.Reader
	onInput func() // a consumer took input
	mu      sync.Mutex
	cond    *sync.Cond
	buf     []byte
	err     error // src failed for good: consumers get buf, then err
	stack   []*routedReader
	pumping bool
}

// routerBuf is how much input the router holds for its consumer; the pump
// stops reading (and the kernel's tty buffer holds the rest) until the
// consumer takes some.
const routerBuf = 4096

func newRouter(dev string, src io.Reader, onInput func()) *router {
	r := &router{dev: dev, src: src, onInput: onInput}
	r.cond = sync.NewCond(&r.mu)
	return r
}

// attach makes a new consumer, on top of the stack. The pump starts with
// the first consumer: until then the tty's own buffer holds what is typed.
func (r *router) attach() *routedReader {
	r.mu.Lock()
	defer r.mu.Unlock()
	in := &routedReader{r: r}
	r.stack = append(r.stack, in)
	if !r.pumping {
		r.pumping = true
		go r.pump()
	}
	r.cond.Broadcast()
	return in
}

func (r *router) top() *routedReader {
	if len(r.stack) == 0 {
		return nil
	}
	return r.stack[len(r.stack)-1]
}

func (r *router) pump() {
	tty := false
	if f, ok := r.src.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	b := make([]byte, routerBuf)
	for {
		r.mu.Lock()
		for len(r.buf) >= routerBuf {
			r.cond.Wait()
		}
		room := routerBuf - len(r.buf)
		r.mu.Unlock()
		n, err := r.src.Read(b[:room])
		if err == io.EOF && tty {
			// A tty in line mode reads 0 bytes for Ctrl-D at the start of
			// a line: not the end of the console. (A hung-up line reads 0
			// too: do not spin.)
			time.Sleep(50 * time.Millisecond)
			err = nil
		}
		r.mu.Lock()
		r.buf = append(r.buf, b[:n]...)
		if err != nil {
			r.err = err
		}
		r.cond.Broadcast()
		r.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// take removes up to len(p) bytes, and at most one line, from buf for in,
// waiting while in is not on top or buf is empty. whole: only a complete
// line (or one filling the buffer), which line readers want.
func (r *router) take(in *routedReader, p []byte, whole bool) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if in.closed {
			return 0, io.EOF
		}
		if r.top() == in {
			nl := bytes.IndexByte(r.buf, '\n')
			if len(r.buf) > 0 && (!whole || nl >= 0 || len(r.buf) >= routerBuf || r.err != nil) {
				n := len(r.buf)
				if nl >= 0 {
					n = nl + 1
				}
				n = copy(p, r.buf[:n])
				r.buf = append(r.buf[:0], r.buf[n:]...)
				r.cond.Broadcast()
				if r.onInput != nil {
					r.onInput() // with r.mu held: it must take no lock
				}
				return n, nil
			}
			if r.err != nil {
				return 0, r.err
			}
		}
		r.cond.Wait()
	}
}

// routedReader is one consumer of a router.
type routedReader struct {
	r      *router
	closed bool // under r.mu
}

// Read returns what the tty delivered, at most one line at a time (as a tty
// in line mode does), so a line reader takes no more than its line and the
// rest stays for whoever is attached next.
func (in *routedReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return in.r.take(in, p, false)
}

// readLine returns the next complete line, newline included.
func (in *routedReader) readLine() ([]byte, error) {
	b := make([]byte, routerBuf)
	n, err := in.r.take(in, b, true)
	return b[:n], err
}

// Close detaches the consumer: a Read blocked in it, and every later one,
// returns io.EOF, and the consumer attached before it takes the input again.
func (in *routedReader) Close() error {
	r := in.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if in.closed {
		return nil
	}
	in.closed = true
	for i, x := range r.stack {
		if x == in {
			r.stack = append(r.stack[:i], r.stack[i+1:]...)
			break
		}
	}
	r.cond.Broadcast()
	return nil
}

var _ io.ReadCloser = (*routedReader)(nil)
