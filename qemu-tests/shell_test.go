package qemutests

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coldimage/coldimage/ui/uitest"
)

// TestEmergencyShell opens the emergency shell from the console UI on the
// serial console, in full-screen and in plain mode, and checks that it is a
// real shell (commands run, job control: a background job is listed by
// jobs and killed by %1) and that exit returns to the same UI, which takes
// keys again — not to the text menu (no second COLDIMAGE READY). The text
// menu (coldimage.ui=menu) opens the same shell.
func TestEmergencyShell(t *testing.T) {
	a := appliance(t)
	t.Run("fullscreen", func(t *testing.T) { testShellFullScreen(t, a) })
	t.Run("plain", func(t *testing.T) { testShellPlain(t, a) })
	t.Run("menu", func(t *testing.T) { testShellMenu(t, a) })
}

// shellGuest boots the appliance with one small source disk, its serial
// console read by a VT100 emulator (80×24, as the UI assumes on ttyS0).
func shellGuest(t *testing.T, a *Appliance, serial, extra string) (*VM, *uitest.Terminal) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src.img")
	if err := WritePattern(src, 4<<20, 9); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	v := boot(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Log: consoleLog(t, a, ""), Echo: pw,
		Drives: []Drive{{File: src, Serial: serial}}, Append: baseAppend + extra})
	term := uitest.New(pr, v, 80, 24)
	term.KeyDelay = 300 * time.Millisecond // a serial line under emulation
	return v, term
}

// shellSession runs the commands of both subtests in the open shell and
// exits it: a command pipeline, a background job listed by jobs (job
// control) and killed by its job number.
// cleared (if set) is called after the shell cleared the screen.
func shellSession(t *testing.T, v *VM, term *uitest.Terminal, prompt func(string), cleared func()) {
	t.Helper()
	line := func(l string) {
		t.Helper()
		if err := term.Type(l + uitest.Enter); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, v, `^COLDIMAGE SHELL opened by the operator on /dev/ttyS0 at \S+$`, time.Minute)
	expect(t, v, `^coldimage: busybox ash with job control`, time.Minute)
	expect(t, v, `^coldimage: from Debian busybox-static `, time.Minute)
	expect(t, v, `sources remain read-only`, time.Minute)
	prompt("coldimage-shell:/# ")
	line(`ls /dev | head -3; echo SHELL-OK-$((6*7))`)
	expect(t, v, `SHELL-OK-42`, time.Minute)
	line("stty size") // full screen: the terminal's answer; plain, menu: 80×24
	expect(t, v, `^24 80$`, time.Minute)
	line("sleep 100 &")
	line("jobs")
	expect(t, v, `^\[1\]\+?\s+Running\s+sleep 100`, time.Minute)
	line("kill %1")
	line("jobs; echo JOBS-DONE")
	expect(t, v, `JOBS-DONE`, time.Minute)
	line("clear; echo CLEARED")
	expect(t, v, `CLEARED`, time.Minute)
	if cleared != nil {
		cleared()
	}
	line("exit")
	expect(t, v, `COLDIMAGE SHELL closed at \S+ \(exit status 0`, time.Minute)
}

// readyOnce fails unless COLDIMAGE READY was printed exactly once (a
// second one means the UI ended and the text menu took over), or when a
// line claims the shell was recorded in a session (none ran).
func readyOnce(t *testing.T, v *VM) {
	t.Helper()
	n := 0
	for _, l := range v.Lines() {
		if strings.Contains(stripANSI(l), "COLDIMAGE READY") {
			n++
		}
		// No session ran: nothing may claim the shell was recorded in one.
		if strings.Contains(l, "recorded in session") {
			t.Errorf("console claims a record without a session: %q", l)
		}
	}
	if n != 1 {
		t.Errorf("COLDIMAGE READY printed %d times, want once (the UI must not end with the shell)", n)
	}
}

func testShellFullScreen(t *testing.T, a *Appliance) {
	v, term := shellGuest(t, a, "SRCSHF", "")
	dumps := strings.TrimSuffix(consoleLog(t, a, ""), ".log") + "-screens"
	os.RemoveAll(dumps)
	os.MkdirAll(dumps, 0o755)
	step := 0
	screen := func(text string) string {
		t.Helper()
		s, err := term.WaitScreen(text, 3*time.Minute)
		step++
		os.WriteFile(filepath.Join(dumps, fmt.Sprintf("%02d.txt", step)), []byte(fmt.Sprintf("waited for %q\n%s\n", text, term.Screen())), 0o644)
		if err != nil {
			t.Fatalf("%v; the screen shows:\n%s", err, term.Screen())
		}
		return s
	}
	keys := func(k ...string) {
		t.Helper()
		if err := term.Type(k...); err != nil {
			t.Fatal(err)
		}
	}
	screen(" Sources ") // the title: "coldimage V - 1/N Sources"
	screen("SRCSHF")
	keys("q")
	screen("Summary")
	keys("s")
	screen("Open the emergency shell?")
	keys("y")
	shellSession(t, v, term, func(p string) { screen(p) }, func() {
		// What shows Summary after exit is the UI's redraw, not what the
		// shell left of the screen before.
		for deadline := time.Now().Add(time.Minute); strings.Contains(term.Screen(), "Summary"); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("clear in the shell left the screen:\n%s", term.Screen())
			}
		}
	})
	// The same UI, redrawn, on the same page; and it reads keys again.
	s := screen("Summary")
	if !strings.Contains(s, "coldimage") {
		t.Errorf("no coldimage title after the shell:\n%s", s)
	}
	keys("s")
	screen("Open the emergency shell?")
	keys("n")
	screen("Summary")
	readyOnce(t, v)
}

func testShellPlain(t *testing.T, a *Appliance) {
	v, term := shellGuest(t, a, "SRCSHP", " coldimage.ui=plain")
	prompt := func(text string) {
		t.Helper()
		if _, err := term.WaitPrompt(text, 3*time.Minute); err != nil {
			t.Fatalf("%v; the console's last lines:\n%s", err, tail(term.Output(), 1500))
		}
	}
	answer := func(l string) {
		t.Helper()
		if err := term.Type(l + uitest.Enter); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, v, `COLDIMAGE READY version=`, 3*time.Minute)
	expect(t, v, `plain mode`, time.Minute)
	expect(t, v, `SRCSHP`, time.Minute)
	prompt("sources:")
	answer("q")
	expect(t, v, `^Next:`, time.Minute)
	prompt("type one of:")
	answer("shell")
	prompt("open the emergency shell?")
	answer("yes")
	shellSession(t, v, term, prompt, nil)
	// Back at the same question of plain mode, which answers again.
	expect(t, v, `^Next:`, time.Minute)
	prompt("type one of:")
	answer("nonsense")
	expect(t, v, `"nonsense" is not one of`, time.Minute)
	prompt("type one of:")
	readyOnce(t, v)
}

func testShellMenu(t *testing.T, a *Appliance) {
	v, term := shellGuest(t, a, "SRCSHM", " coldimage.ui=menu")
	prompt := func(text string) {
		t.Helper()
		if _, err := term.WaitPrompt(text, 3*time.Minute); err != nil {
			t.Fatalf("%v; the console's last lines:\n%s", err, tail(term.Output(), 1500))
		}
	}
	answer := func(l string) {
		t.Helper()
		if err := term.Type(l + uitest.Enter); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, v, `COLDIMAGE READY version=`, 3*time.Minute)
	expect(t, v, `^choice\?`, time.Minute)
	answer("9")
	expect(t, v, `type SHELL to open the emergency shell`, time.Minute)
	answer("SHELL")
	shellSession(t, v, term, prompt, nil)
	expect(t, v, `^choice\?`, time.Minute)
	answer("1")
	expect(t, v, `COLDIMAGE DISK name=vd[a-z] ro=1 .*serial=SRCSHM`, time.Minute)
	readyOnce(t, v)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
