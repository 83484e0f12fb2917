package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Console writes every line to the serial console (ttyS0, 115200 8N1) and
// the VGA/framebuffer console (tty0), and reads operator lines from both.
// It keeps a copy of everything written for the session's console.log.
type Console struct {
	mu      sync.Mutex
	outs    []io.Writer
	names   []string
	files   map[string]*os.File
	muted   map[io.Writer]bool
	log     bytes.Buffer
	lines   chan string
	readers sync.Once
}

// NewConsole starts with the given writer (before /dev exists: stdout).
func NewConsole(w io.Writer, in io.Reader) *Console {
	c := &Console{outs: []io.Writer{w}, names: []string{"stdout"}, lines: make(chan string, 16),
		files: map[string]*os.File{}, muted: map[io.Writer]bool{}}
	if in != nil {
		go c.readFrom(in)
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

// Lines delivers operator input lines; the first call starts reading the
// ttys (the console UI, which reads a tty itself, runs before that).
func (c *Console) Lines() <-chan string {
	c.readers.Do(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, n := range c.names {
			if f := c.files[n]; f != nil {
				go c.readFrom(f)
			}
		}
	})
	return c.lines
}

// File returns an opened tty by device path.
func (c *Console) File(dev string) *os.File {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.files[dev]
}

// Mute stops (or resumes) printing to one tty while a full-screen UI owns it.
func (c *Console) Mute(f *os.File, on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.muted[f] = on
}

func (c *Console) readFrom(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		c.lines <- strings.TrimRight(sc.Text(), "\r")
	}
}

// OpenTTYs replaces the output with ttyS0 and tty0 (those that open) and
// reads input from them. ttyS0 is set to 115200 8N1.
func (c *Console) OpenTTYs(devs ...string) error {
	var outs []io.Writer
	var names []string
	var errs []string
	for _, d := range devs {
		f, err := os.OpenFile(d, os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if strings.HasPrefix(d, "/dev/ttyS") {
			if err := setSerial(int(f.Fd())); err != nil {
				errs = append(errs, err.Error())
			}
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
// to the outputs and, once input is read, the inputs. An already open tty is
// left as it is.
func (c *Console) AddTTY(dev string) error {
	c.mu.Lock()
	_, open := c.files[dev]
	c.mu.Unlock()
	if open {
		return nil
	}
	f, err := os.OpenFile(dev, os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open console %s: %w", dev, err)
	}
	if strings.HasPrefix(dev, "/dev/ttyS") {
		if err := setSerial(int(f.Fd())); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", dev, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.files[dev] = f
	c.outs = append(c.outs, f)
	c.names = append(c.names, dev)
	return nil
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
