package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/coldimage/coldimage/ui"
	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// The emergency shell: a real interactive shell, with job control, on the
// console the examiner typed the confirmation on. The shell runs on a pty
// whose master is relayed to and from that console tty (raw while the shell
// runs); the console's input reaches the relay through the console's input
// router, so the console UI that opened the shell, waiting underneath,
// takes the input again when the shell exits. Opening and closing are
// printed on every console and kept in the console log, with the time.

// Terminal size for a tty that cannot tell its own (serial lines): the
// console UI's.
const uiWidth, uiHeight = 80, 24

// shellCmd is the shell to run and how it is described on the console.
type shellCmd struct {
	path   string
	argv   []string
	desc   string
	origin string // where the build took it from ("" when not recorded)
}

// findShell prefers Debian's busybox-static (ash: job control, line
// editing), which the build puts in /bin with /bin/sh pointing at it; u-root's
// gosh, which has no job control, only when busybox is absent.
func findShell() (shellCmd, error) {
	if p, err := exec.LookPath("busybox"); err == nil {
		sh := shellCmd{path: p, argv: []string{"sh"}, desc: "busybox ash with job control (Ctrl-Z, jobs, fg, bg)"}
		// What the build recorded: "Debian busybox-static V (busybox sha256 …)".
		if b, err := os.ReadFile("/etc/coldimage/shell"); err == nil && strings.Contains(string(b), "busybox") {
			sh.origin, _, _ = strings.Cut(strings.TrimSpace(string(b)), " (")
		}
		return sh, nil
	}
	if p, err := exec.LookPath("gosh"); err == nil {
		return shellCmd{path: p, argv: []string{"gosh"}, desc: "u-root gosh (busybox is not in this build: no job control)"}, nil
	}
	p, err := exec.LookPath("sh")
	if err != nil {
		return shellCmd{}, fmt.Errorf("no shell: neither busybox, gosh nor sh in PATH %s", os.Getenv("PATH"))
	}
	return shellCmd{path: p, argv: []string{"sh"}, desc: p}, nil
}

// examinerTTY is the tty the console UI runs on: the last console= (or
// coldimage.console=), tty0 by default.
func (a *App) examinerTTY() string {
	if a.cfg.Console == "" {
		return "/dev/tty0"
	}
	return "/dev/" + a.cfg.Console
}

// consoleTerm is TERM for the examiner's console: coldimage.term=, else
// vt220 on a serial line and linux on a VT.
func (a *App) consoleTerm() string {
	if a.cfg.Term != "" {
		return a.cfg.Term
	}
	if strings.HasPrefix(a.cfg.Console, "ttyS") {
		return "vt220"
	}
	return "linux"
}

// shellTTY is the tty the examiner typed on last (where the shell was
// confirmed), else the examiner's console.
func (a *App) shellTTY() string {
	if d := a.con.LastInput(); d != "" && a.con.File(d) != nil {
		return d
	}
	return a.examinerTTY()
}

// emergencyShell runs the emergency shell on the examiner's console and
// returns when the examiner types exit (ui.Config.Shell; the text menu's
// "9"). Recording it in a session is the caller's business: only the
// console UI has a running session to record it in.
func (a *App) emergencyShell(ctx context.Context) error {
	return a.shellOn(ctx, a.shellTTY(), a.consoleTerm())
}

func (a *App) shellOn(ctx context.Context, dev, termName string) error {
	f := a.con.File(dev)
	if f == nil {
		return fmt.Errorf("emergency shell: %s is not open", dev)
	}
	// Take the tty's input first: from here on nothing typed reaches the
	// UI waiting underneath until the shell is closed.
	in := a.con.Input(dev)
	if in == nil {
		return fmt.Errorf("emergency shell: no input from %s", dev)
	}
	defer in.Close()
	sh, err := findShell()
	if err != nil {
		return err
	}
	if err := ensureDevpts(); err != nil {
		return fmt.Errorf("emergency shell: %w", err)
	}
	// The opening and closing lines are printed in line mode, on this tty too.
	wasMuted := a.con.Mute(f, false)
	defer a.con.Mute(f, wasMuted)
	restoreMode, err := a.con.Cooked(dev)
	if err != nil {
		return fmt.Errorf("emergency shell: %w", err)
	}
	defer restoreMode()
	opened := time.Now()
	a.con.Printf("")
	a.con.Printf("COLDIMAGE SHELL opened by the operator on %s at %s", dev, rfc3339(opened))
	a.con.Printf("coldimage: %s", sh.desc)
	if sh.origin != "" {
		a.con.Printf("coldimage: from %s", sh.origin)
	}
	a.con.Printf("coldimage: sources remain read-only (every disk is write-blocked, BLKROSET)")
	a.con.Printf("coldimage: type exit to return")

	// Ask the terminal its size as the full-screen UI does; not in line
	// mode, which is for terminals that may not understand the question.
	ask := a.cfg.UI != "plain" && a.cfg.UI != "menu" && !ui.PlainTerm(termName)
	status, leftovers, err := a.relayShell(ctx, dev, f, in, sh, termName, ask)
	switch {
	case err != nil:
		a.con.Printf("coldimage: emergency shell: %v", err)
	case leftovers > 0:
		a.con.Printf("coldimage: emergency shell: ended %d process(es) the shell left running", leftovers)
	}
	a.con.Printf("COLDIMAGE SHELL closed at %s (%s, open %s)", rfc3339(time.Now()), status, time.Since(opened).Round(time.Second))
	return err
}

// relayShell starts the shell on a new pty and relays between the pty's
// master and the console tty (raw meanwhile) until the shell exits; then it
// ends what the shell left running in its session. status describes how
// the shell ended. The pty has the tty's size; when the tty cannot tell
// (a serial line) and ask is set, the terminal's answer to a cursor
// position report, else 80×24.
func (a *App) relayShell(ctx context.Context, dev string, tty *os.File, in io.ReadCloser, sh shellCmd, termName string, ask bool) (status string, leftovers int, err error) {
	restoreRaw, err := a.con.Raw(dev)
	if err != nil {
		return "not started", 0, err
	}
	defer restoreRaw()
	a.con.Mute(tty, true) // only the shell writes to this tty meanwhile
	defer a.con.Mute(tty, false)
	keys := readChunks(in) // until in is closed
	var typed []byte       // keys typed while the terminal was asked its size
	w, h := uiWidth, uiHeight
	if cw, ch, err := term.GetSize(int(tty.Fd())); err == nil && cw > 0 && ch > 0 {
		w, h = cw, ch
	} else if ask {
		cw, ch, rest, ok := askSize(tty, keys, sizeReplyWait)
		if ok {
			w, h = cw, ch
		}
		typed = rest
	}

	cmd := exec.CommandContext(ctx, sh.path)
	cmd.Args = sh.argv
	cmd.Dir = "/"
	cmd.Env = shellEnv(os.Environ(), termName)
	// The pty's slave is the shell's stdin, stdout, stderr and controlling
	// terminal (StartWithSize: Setsid and Setctty): job control works.
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(w), Rows: uint16(h)})
	if err != nil {
		go func() {
			for range keys { // until in is closed
			}
		}()
		return "not started", 0, fmt.Errorf("start %s on a pty: %w", sh.path, err)
	}
	defer ptmx.Close()
	out := make(chan struct{})
	go func() {
		defer close(out)
		io.Copy(tty, ptmx) // until the pty's slave is closed by all (EIO) or ptmx is
	}()
	go func() {
		ptmx.Write(typed)
		for b := range keys {
			ptmx.Write(b) // fails once ptmx is closed; keys ends when in is
		}
	}()

	werr := cmd.Wait()
	leftovers = endSession(cmd.Process.Pid)
	select {
	case <-out: // the shell's last output has reached the console
	case <-time.After(2 * time.Second):
	}
	ptmx.Close()
	<-out
	in.Close()
	status = "exit status 0"
	var ee *exec.ExitError
	switch {
	case errors.As(werr, &ee):
		status = ee.ProcessState.String()
	case werr != nil:
		status = werr.Error()
	}
	if ctx.Err() != nil {
		return status, leftovers, ctx.Err()
	}
	return status, leftovers, nil
}

// readChunks reads r into a channel until it fails (a routed console input:
// until it is closed).
func readChunks(r io.Reader) <-chan []byte {
	ch := make(chan []byte, 16)
	go func() {
		defer close(ch)
		for {
			b := make([]byte, 1024)
			n, err := r.Read(b)
			if n > 0 {
				ch <- b[:n]
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// sizeQuery asks where the cursor ends up after moving as far right and
// down as it goes (as resize(1) and the console UI do, ui/termsize.go).
const sizeQuery = "\x1b7\x1b[r\x1b[999;999H\x1b[6n\x1b8"

// sizeReplyWait is how long the terminal has to answer (as the UI's).
var sizeReplyWait = time.Second

var sizeReply = regexp.MustCompile(`\x1b\[(\d+);(\d+)R`)

// askSize sends the size query to tty and waits up to wait for the answer
// on keys. rest is what else was typed meanwhile, without the answer.
func askSize(tty io.Writer, keys <-chan []byte, wait time.Duration) (w, h int, rest []byte, ok bool) {
	if _, err := io.WriteString(tty, sizeQuery); err != nil {
		return 0, 0, nil, false
	}
	timeout := time.After(wait)
	for {
		if m := sizeReply.FindSubmatchIndex(rest); m != nil {
			rows, _ := strconv.Atoi(string(rest[m[2]:m[3]]))
			cols, _ := strconv.Atoi(string(rest[m[4]:m[5]]))
			rest = append(rest[:m[0]:m[0]], rest[m[1]:]...)
			// Bounds as the UI's: a terminal that ignored the move says 1;1.
			if cols < 20 || cols > 500 || rows < 10 || rows > 300 {
				return 0, 0, rest, false
			}
			return cols, rows, rest, true
		}
		select {
		case b, open := <-keys:
			if !open {
				return 0, 0, rest, false
			}
			rest = append(rest, b...)
		case <-timeout:
			return 0, 0, rest, false
		}
	}
}

// shellEnv is PID 1's environment with TERM for the console and a prompt
// that says where one is.
func shellEnv(env []string, termName string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, "TERM=") && !strings.HasPrefix(e, "PS1=") && !strings.HasPrefix(e, "ENV=") {
			out = append(out, e)
		}
	}
	return append(out, "TERM="+termName, `PS1=coldimage-shell:\w# `)
}

// ensureDevpts mounts devpts on /dev/pts (pty.Open needs it) when PID 1
// has not yet.
func ensureDevpts() error {
	var st unix.Statfs_t
	if unix.Statfs("/dev/pts", &st) == nil && st.Type == unix.DEVPTS_SUPER_MAGIC {
		return nil
	}
	if os.Getpid() != 1 {
		return nil // a test on a host: its /dev/pts is what it is
	}
	if err := os.MkdirAll("/dev/pts", 0o755); err != nil {
		return fmt.Errorf("mkdir /dev/pts: %w", err)
	}
	if err := unix.Mount("devpts", "/dev/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0620,ptmxmode=0666"); err != nil {
		return fmt.Errorf("mount devpts on /dev/pts: %w", err)
	}
	return nil
}

// endSession ends every process still in session sid (background jobs the
// shell left behind when it exited): SIGHUP and SIGCONT first, SIGKILL
// after a second. It returns how many there were. Exited ones re-parented
// to PID 1 are reaped.
func endSession(sid int) int {
	left := sessionProcs(sid)
	n := len(left)
	for _, p := range left {
		unix.Kill(p, unix.SIGHUP)
		unix.Kill(p, unix.SIGCONT)
	}
	deadline := time.Now().Add(time.Second)
	for len(left) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		reapOrphans()
		left = sessionProcs(sid)
	}
	for _, p := range left {
		unix.Kill(p, unix.SIGKILL)
	}
	for i := 0; i < 20 && len(left) > 0; i++ {
		time.Sleep(50 * time.Millisecond)
		reapOrphans()
		left = sessionProcs(sid)
	}
	return n
}

// sessionProcs lists the live (not zombie) processes of session sid.
func sessionProcs(sid int) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp session …; comm may hold anything.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 4 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if id, err := strconv.Atoi(f[3]); err == nil && id == sid {
			pids = append(pids, pid)
		}
	}
	return pids
}

// reapOrphans collects exited processes re-parented to PID 1 (what the
// shell left behind). Called only when nothing of ours runs as a child
// concurrently (the console UI and the text menu wait for the shell), so it
// steals no exit status.
func reapOrphans() {
	if os.Getpid() != 1 {
		return
	}
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
