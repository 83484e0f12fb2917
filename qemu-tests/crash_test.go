package qemutests

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coldimage/coldimage/ui/uitest"
)

var (
	faultOnce sync.Once
	faultApp  *Appliance
	faultErr  error
)

// faultAppliance is the test appliance with the fault hook compiled in
// (FaultHookTag), built into its own folder beside the shipped one
// (COLDIMAGE_BUILD_DIR or build/, then test-coldimage_faulthook) and
// rebuilt only when the sources changed.
func faultAppliance(t *testing.T) *Appliance {
	t.Helper()
	if _, err := exec.LookPath(QEMU); err != nil {
		t.Skipf("%s not installed", QEMU)
	}
	faultOnce.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			faultErr = err
			return
		}
		dir := os.Getenv("COLDIMAGE_BUILD_DIR")
		if dir == "" {
			dir = filepath.Join(root, "build")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		t0 := time.Now()
		faultApp, faultErr = TestAppliance(ctx, root, dir, []string{FaultHookTag}, os.Stderr)
		if faultErr == nil {
			t.Logf("test appliance (%s) in %s, ready after %.0fs", FaultHookTag, faultApp.Dir, time.Since(t0).Seconds())
		}
	})
	if faultErr != nil {
		t.Fatal(faultErr)
	}
	return faultApp
}

// crashSession is what the test reads of session.json.
type crashSession struct {
	OK, Failed int
	Sources    []struct {
		ID, Serial, Outdir, Result, Error, Verified string
		OK                                          bool
	}
}

// TestSessionCrash: a parser crash while imaging (the test build's fault
// hook panics at the first piece of a disk whose serial holds PANIC-HOOK)
// ends that source's job with result "error" and the panic text, in both
// console UI modes; the other source is imaged and verified, the UI goes
// on taking keys (the appliance neither reboots nor halts), session.json
// lists the crash, and no evidence file changes. A crash in the UI itself
// (the hook fires in the device listing for a PANIC-LIST serial) is said
// on the console and the text menu comes back.
func TestSessionCrash(t *testing.T) {
	a := faultAppliance(t)
	t.Run("fullscreen", func(t *testing.T) { testSessionCrash(t, a, false) })
	t.Run("plain", func(t *testing.T) { testSessionCrash(t, a, true) })
	t.Run("ui-crash", func(t *testing.T) { testUICrash(t, a) })
}

// crashDisks makes the evidence disks (names → files, by serial) and the
// EVIDENCE target; it returns the sources' sha256 before the boot.
func crashDisks(t *testing.T, serials ...string) (map[string]string, string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{}
	for i, s := range serials {
		p := filepath.Join(dir, strings.ToLower(s)+".img")
		if err := WritePattern(p, 8<<20, uint64(60+i)); err != nil {
			t.Fatal(err)
		}
		files[s] = p
	}
	target := filepath.Join(dir, "target.img")
	if err := MakeGPTExt4(target, 64, "EVIDENCE"); err != nil {
		t.Fatal(err)
	}
	before := map[string]string{}
	for s, p := range files {
		before[s] = hashOf(t, p)
	}
	return files, target, before
}

func drivesOf(files map[string]string, serials []string, target string) []Drive {
	var d []Drive
	for _, s := range serials {
		d = append(d, Drive{File: files[s], Serial: s})
	}
	return append(d, Drive{File: target, Serial: "TARGET"})
}

// flat joins a screen or output into one line with single spaces, so
// text wrapped over lines still matches.
func flat(s string) string { return strings.Join(strings.Fields(s), " ") }

const (
	hookSerial = "PANIC-HOOK-1"
	okSerial   = "CRASHOK"
	listSerial = "PANIC-LIST-1"
	// The engine's words for the hook's panic, as session.json, the
	// record and the summary give them.
	crashText = `reader of /dev/vd[a-z] crashed: panic: coldimage fault hook: PANIC-HOOK at the first piece of /dev/vd[a-z]`
)

func testSessionCrash(t *testing.T, a *Appliance, plain bool) {
	serials := []string{hookSerial, okSerial}
	files, target, before := crashDisks(t, serials...)
	extra := ""
	if plain {
		extra = " coldimage.ui=plain"
	}
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	v := boot(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Log: consoleLog(t, a, ""), Echo: pw, Drives: drivesOf(files, serials, target),
		Append: baseAppend + extra + " coldimage.case=CRASH-1 coldimage.examiner=qemu"})
	w, h := 132, 43 // the whole summary fits: nothing to scroll to
	if plain {
		w, h = 80, 24
	}
	term := uitest.New(pr, v, w, h)
	term.KeyDelay = 300 * time.Millisecond
	expect(t, v, `COLDIMAGE WARNING test build: a fault hook is compiled in`, 3*time.Minute)
	expect(t, v, `COLDIMAGE READY version=\S+\+coldimage_faulthook`, 3*time.Minute)
	var said string // what the console showed about the crashed source
	if plain {
		said = plainCrash(t, v, term)
	} else {
		said = screenCrash(t, term)
	}
	if !regexp.MustCompile(`vd[a-z]_PANIC-HOOK-1 ERROR verification: not run`).MatchString(said) || !regexp.MustCompile(crashText).MatchString(said) {
		t.Errorf("the console does not say the PANIC-HOOK source failed with the panic:\n%s", said)
	}
	if !regexp.MustCompile(`vd[a-z]_CRASHOK OK verification: match`).MatchString(said) {
		t.Errorf("the console does not say the other source is ok:\n%s", said)
	}
	if err := v.Wait(3 * time.Minute); err != nil {
		t.Fatalf("power off: %v", err)
	}
	ready := 0
	for _, l := range v.Lines() {
		if strings.Contains(l, "COLDIMAGE READY") {
			ready++
		}
		if strings.Contains(l, "Kernel panic") || strings.Contains(l, "console UI crashed") {
			t.Errorf("console: %s", l)
		}
	}
	if ready != 1 {
		t.Errorf("COLDIMAGE READY printed %d times, want once (no restart)", ready)
	}
	for s, p := range files {
		if got := hashOf(t, p); got != before[s] {
			t.Errorf("evidence %s changed: sha256 %s, was %s", s, got, before[s])
		}
	}
	session := readTarget(t, target)
	var sj crashSession
	readJSON(t, filepath.Join(session, "session.json"), &sj)
	if sj.OK != 1 || sj.Failed != 1 || len(sj.Sources) != 2 {
		t.Fatalf("session.json ok %d failed %d sources %d, want 1/1/2", sj.OK, sj.Failed, len(sj.Sources))
	}
	for _, r := range sj.Sources {
		switch r.Serial {
		case hookSerial:
			if r.OK || r.Result != "error" || !regexp.MustCompile(crashText).MatchString(r.Error) {
				t.Errorf("session.json crashed source: ok %v result %q error %q", r.OK, r.Result, r.Error)
			}
			var rec struct {
				Result   string
				Complete bool
				Errors   []string
			}
			readJSON(t, filepath.Join(session, r.Outdir, "acquisition.json"), &rec)
			if rec.Result != "error" || rec.Complete || len(rec.Errors) == 0 || !regexp.MustCompile(crashText).MatchString(rec.Errors[0]) {
				t.Errorf("crashed source's acquisition.json: result %q complete %v errors %q", rec.Result, rec.Complete, rec.Errors)
			}
		case okSerial:
			if !r.OK || r.Result != "ok" || r.Verified != "match" {
				t.Errorf("session.json other source: ok %v result %q verified %q", r.OK, r.Result, r.Verified)
			}
			if rec := checkImage(t, filepath.Join(session, r.Outdir), before[okSerial]); rec.Result != "ok" {
				t.Errorf("other source's record: result %q", rec.Result)
			}
		default:
			t.Errorf("session.json lists %s (%s)", r.ID, r.Serial)
		}
	}
}

// screenCrash images both sources in the full-screen UI and returns the
// summary; then it shows the UI still takes keys (image more, back to the
// summary) and powers off from it.
func screenCrash(t *testing.T, term *uitest.Terminal) string {
	screen := func(text string) string {
		t.Helper()
		s, err := term.WaitScreen(text, 3*time.Minute)
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
	screen("1/6 Sources")
	var rows []string
	for _, l := range strings.Split(screen(okSerial), "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "[ ] ") || strings.HasPrefix(l, "- ") {
			rows = append(rows, l)
		}
	}
	cur := 0
	for _, serial := range []string{" " + hookSerial + " ", " " + okSerial + " "} {
		i := -1
		for j, r := range rows {
			if strings.Contains(r+" ", serial) {
				i = j
			}
		}
		if i < 0 {
			t.Fatalf("no row with %q:\n%s", serial, strings.Join(rows, "\n"))
		}
		for ; cur < i; cur++ {
			keys(uitest.Down)
		}
		for ; cur > i; cur-- {
			keys(uitest.Up)
		}
		keys(" ")
	}
	screen("selected: 2 source(s)")
	keys(uitest.Enter)
	screen("2/6 Target")
	screen("EVIDENCE")
	keys(uitest.Down, uitest.Enter) // the cursor starts on no row
	screen("3/6 Clock check")
	keys(uitest.Enter)
	screen("4/6 Case details")
	screen("CRASH-1")
	keys(uitest.Down, uitest.Down, uitest.Down, uitest.Down, uitest.Down, uitest.Down, uitest.Down)
	screen("> Verify")
	keys(uitest.Enter)
	screen("5/6 Confirm")
	keys("y")
	screen("1 ok, 1 failed")
	// The key help is drawn last: the whole summary is on the screen.
	sum := flat(screen("records and session.txt are written and synced"))
	// Not halted, not rebooted: the UI takes keys — image more, back to
	// the summary, power off (asks first).
	keys("m")
	screen("1/6 Sources")
	keys("q")
	screen("Summary")
	keys("p")
	screen("Power off now?")
	keys("y")
	return sum
}

// plainCrash does the same in line mode, choosing by serial and name.
func plainCrash(t *testing.T, v *VM, term *uitest.Terminal) string {
	answer := plainAnswer(t, term)
	answer("sources: names", hookSerial+" "+okSerial)
	m := expect(t, v, `^(vd[a-z]1) +ext4 +EVIDENCE `, time.Minute)[1]
	answer("target name", "/dev/"+m)
	answer("real time", "")
	for _, q := range []string{"case number", "examiner", "evidence number", "notes", "hashes", "format", "verify after imaging"} {
		answer(q, "")
	}
	answer("type yes to start imaging", "yes")
	expect(t, v, `^Summary:`, 5*time.Minute)
	answer("type one of", "more") // not halted, not rebooted: it takes the next answer
	answer("sources: names", "q")
	answer("type one of", "poweroff")
	answer("power off now?", "yes")
	out := term.Output()
	if i := strings.LastIndex(out, "Summary:"); i >= 0 {
		out = out[i:]
	}
	return flat(out)
}

// testUICrash: the device listing of the console UI panics (a PANIC-LIST
// serial): the console says the UI crashed, every disk is read-only, the
// text menu comes back and works (list disks, power off), and nothing of
// the evidence changed.
func testUICrash(t *testing.T, a *Appliance) {
	serials := []string{listSerial, okSerial}
	files, target, before := crashDisks(t, serials...)
	hTarget := hashOf(t, target)
	v := boot(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Log: consoleLog(t, a, ""), Drives: drivesOf(files, serials, target), Append: baseAppend})
	expect(t, v, `COLDIMAGE READY version=`, 3*time.Minute)
	expect(t, v, `COLDIMAGE ERROR console UI crashed: in the device listing: panic: coldimage fault hook: PANIC-LIST at the listing of /dev/vd[a-z]`, 2*time.Minute)
	expect(t, v, `after the crash every disk is read-only \(BLKROGET=1\)`, time.Minute)
	expect(t, v, `console UI crashed: using the text menu`, time.Minute)
	expect(t, v, `^choice\?`, time.Minute)
	v.Send("1")
	seen := map[string]bool{}
	for range 3 { // vda, vdb, vdc in name order: the two sources and the target
		m := expect(t, v, `COLDIMAGE DISK name=vd[a-z] ro=(\d) size=\d+ serial=(\S+)`, time.Minute)
		if m[1] != "1" {
			t.Errorf("disk %s is not read-only after the crash: %s", m[2], m[0])
		}
		seen[m[2]] = true
	}
	if !seen[listSerial] || !seen[okSerial] || !seen["TARGET"] {
		t.Errorf("the text menu's list misses a disk: %v", seen)
	}
	expect(t, v, `^choice\?`, time.Minute)
	v.Send("3")
	if err := v.Wait(2 * time.Minute); err != nil {
		t.Fatalf("power off from the text menu: %v", err)
	}
	for _, l := range v.Lines() {
		if strings.Contains(l, "Kernel panic") {
			t.Errorf("console: %s", l)
		}
	}
	for s, p := range files {
		if got := hashOf(t, p); got != before[s] {
			t.Errorf("evidence %s changed: sha256 %s, was %s", s, got, before[s])
		}
	}
	if hashOf(t, target) != hTarget {
		t.Error("the target changed though nothing was imaged")
	}
}
