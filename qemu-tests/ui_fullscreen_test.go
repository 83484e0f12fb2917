package qemutests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coldimage/coldimage/ui/uitest"
)

// TestConsoleUIFullScreenDriven drives the full-screen UI on the serial
// console as an examiner would, through a VT100 emulator reading the raw
// console: pick two sources and the target, give the clock reading, type the
// case details (non-ASCII text included), confirm, watch progress, read the
// summary, power off (asks first); then check images and records. The
// header's write-blocking word is checked before (every disk read-only) and
// after imaging (the target alone writable).
func TestConsoleUIFullScreenDriven(t *testing.T) {
	a := appliance(t)
	dir := t.TempDir()
	var srcs []string
	for i, n := range []string{"a.img", "b.img"} {
		p := filepath.Join(dir, n)
		if err := WritePattern(p, 8<<20, uint64(20+i)); err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, p)
	}
	target := filepath.Join(dir, "target.img")
	if err := MakeGPTExt4(target, 64, "EVIDENCE"); err != nil {
		t.Fatal(err)
	}
	h := []string{hashOf(t, srcs[0]), hashOf(t, srcs[1])}
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	v := boot(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Log: consoleLog(t, a, ""), Echo: pw,
		Drives: []Drive{{File: srcs[0], Serial: "FSA"}, {File: srcs[1], Serial: "FSB"}, {File: target, Serial: "TARGET"}},
		Append: baseAppend})
	term := uitest.New(pr, v, 80, 24)
	term.KeyDelay = 300 * time.Millisecond // a serial line under emulation
	// Every screen waited for is kept as a test artifact beside the console
	// log: build/qemu-logs/<test>-screens/NN.txt.
	dumps := strings.TrimSuffix(consoleLog(t, a, ""), ".log") + "-screens"
	os.RemoveAll(dumps)
	if err := os.MkdirAll(dumps, 0o755); err != nil {
		t.Fatal(err)
	}
	step := 0
	screen := func(text string) string {
		t.Helper()
		s, err := term.WaitScreen(text, 3*time.Minute)
		step++
		os.WriteFile(filepath.Join(dumps, fmt.Sprintf("%02d.txt", step)), []byte(fmt.Sprintf("waited for %q\n%s\n", text, term.Screen())), 0o644)
		if err != nil {
			t.Fatalf("%v; the screen shows:\n%s", err, term.Screen())
		}
		t.Logf("screen with %q:\n%s", text, s)
		return s
	}
	keys := func(k ...string) {
		for _, s := range k {
			if _, err := io.WriteString(v, s); err != nil {
				t.Fatal(err)
			}
			time.Sleep(term.KeyDelay)
		}
	}
	// header is the title row: its right side says what is writable.
	header := func() string { return strings.SplitN(term.Screen(), "\n", 2)[0] }
	screen("1/6 Sources")
	if h := header(); !strings.Contains(h, "every disk is read-only") {
		t.Errorf("Sources page header %q, want it to say every disk is read-only", h)
	}
	// Rows are chosen by what they show, not by position: the guest may
	// name the virtio disks in another order than QEMU's command line.
	var rows []string
	screen("FSB")
	for _, l := range strings.Split(screen("selected: 0 source(s)"), "\n") { // the last row: the list is drawn in full
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "[ ] ") || strings.HasPrefix(l, "[x] ") || strings.HasPrefix(l, "- ") {
			rows = append(rows, l)
		}
	}
	row := func(text string) int {
		for i, r := range rows {
			if strings.Contains(r, text) {
				return i
			}
		}
		t.Fatalf("no row with %q in the source list:\n%s", text, strings.Join(rows, "\n"))
		return -1
	}
	cur := 0
	moveTo := func(i int) {
		for ; cur < i; cur++ {
			keys(uitest.Down)
		}
		for ; cur > i; cur-- {
			keys(uitest.Up)
		}
	}
	// QEMU's empty DVD drive (sr0): Space on it must select nothing.
	moveTo(row(" sr0 "))
	keys(" ")
	time.Sleep(2 * time.Second)
	if !strings.Contains(term.Screen(), "selected: 0 source(s)") {
		t.Fatalf("the empty DVD drive was selectable:\n%s", term.Screen())
	}
	for _, serial := range []string{" FSA ", " FSB "} {
		moveTo(row(serial))
		keys(" ")
	}
	screen("selected: 2 source(s)")
	keys(uitest.Enter)
	screen("2/6 Target")
	screen("EVIDENCE")
	// The cursor starts on no row: Enter alone chooses nothing.
	keys(uitest.Enter)
	screen("no target chosen")
	keys("j", uitest.Enter)
	screen("3/6 Clock check")
	const reading = "2026-11-30 20:15 CET (watch)"
	keys(reading)
	screen("Real time: " + reading + "_")
	keys(uitest.Enter)
	screen("4/6 Case details")
	// Notes with non-ASCII text: the records must keep it byte for byte.
	const notes = "full screen over ttyS0, Müller"
	// Each typed field must show before the next: a lost or garbled key
	// fails here, naming the field, not minutes later.
	for _, f := range []struct{ label, text string }{
		{"Case number", "QEMU-FS"}, {"Examiner", "Serial Examiner"}, {"Evidence number", "EV-FS"}, {"Notes", notes},
	} {
		keys(f.text)
		screen(f.label + strings.Repeat(" ", 17-len(f.label)) + f.text)
		keys(uitest.Enter)
	}
	// Arrow keys past the last field stay there; Enter on it goes on.
	keys(uitest.Down, uitest.Down, uitest.Down, uitest.Down, uitest.Down, uitest.Down, uitest.Down)
	screen("> Verify")
	keys(uitest.Enter)
	screen("5/6 Confirm")
	keys("y")
	screen("2 ok, 0 failed")
	sum := screen("records and session.txt are written and synced") // the last row
	for _, want := range []string{`vd[a-z]_FSA  OK  verification: match`, `vd[a-z]_FSB  OK  verification: match`} {
		if !regexp.MustCompile(want).MatchString(sum) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
	// After imaging the header names the target, and it alone, as writable.
	if h := header(); !regexp.MustCompile(`target vd[a-z]1 writable`).MatchString(h) || !strings.Contains(h, "sources read-only") || strings.Contains(h, "WRITABLE!") {
		t.Errorf("Summary header %q, want \"sources read-only · target vdX1 writable\"", h)
	}
	keys("p") // power off (asks first): the records are already written and synced
	screen("Power off now?")
	keys("y")
	if err := v.Wait(3 * time.Minute); err != nil {
		t.Fatalf("power off: %v; the screen shows:\n%s", err, term.Screen())
	}
	for i, s := range srcs {
		if hashOf(t, s) != h[i] {
			t.Errorf("source %s changed", s)
		}
	}
	session := readTarget(t, target)
	for i, serial := range []string{"FSA", "FSB"} {
		folder := sourceFolder(t, session, "vd?_"+serial)
		if rec := checkImage(t, folder, h[i]); rec.Result != "ok" {
			t.Errorf("%s: result %q", folder, rec.Result)
		}
		checkNotes(t, filepath.Join(folder, "acquisition.json"), notes)
	}
	checkNotes(t, filepath.Join(session, "session.json"), notes)
	var sj sessionJSON
	readJSON(t, filepath.Join(session, "session.json"), &sj)
	checkSessionShape(t, sj, "console ui")
	if sj.OK != 2 || sj.Failed != 0 || sj.Case.Case != "QEMU-FS" || sj.Case.Examiner != "Serial Examiner" || sj.Case.Evidence != "EV-FS" {
		t.Errorf("session.json: ok %d failed %d case %+v", sj.OK, sj.Failed, sj.Case)
	}
	if !strings.Contains(sj.Clock.Check, "examiner says "+reading) {
		t.Errorf("session.json clock.check %q, want the typed reading %q", sj.Clock.Check, reading)
	}
	if !regexp.MustCompile(`^/dev/vd[a-z]1$`).MatchString(sj.Target.Device) || sj.Target.Label != "EVIDENCE" || sj.Target.Serial != "TARGET" || !strings.Contains(sj.Target.Policy, "EVIDENCE") {
		t.Errorf("session.json target %+v, want the EVIDENCE file system on the TARGET disk, offered by its label", sj.Target)
	}
}

// checkNotes checks that a record keeps the typed notes exactly: the
// decoded value, and the same UTF-8 bytes in the file (not re-encoded).
func checkNotes(t *testing.T, path, notes string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Case struct {
			Notes string `json:"notes"`
		} `json:"case"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if r.Case.Notes != notes {
		t.Errorf("%s: case.notes %q (% x), want %q (% x)", path, r.Case.Notes, r.Case.Notes, notes, notes)
	}
	if !bytes.Contains(b, []byte(`"notes": "`+notes+`"`)) && !bytes.Contains(b, []byte(`"notes":"`+notes+`"`)) {
		t.Errorf("%s does not hold the notes as typed, UTF-8 byte for byte (%q)", path, notes)
	}
}
