package qemutests

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coldimage/coldimage/ui/uitest"
)

// Target safety as a careless examiner meets it on the serial console: an
// evidence disk carrying ext4 is offered as a target only after its serial
// is typed; a target too small is refused before anything is unlocked; a
// target whose mount fails after the unlock is made read-only again; backing
// out of everything leaves every evidence file byte-identical and every disk
// BLKROGET=1 (checked in the guest with coldimage list from the emergency
// shell). The full-screen run uses a 132×43 terminal and a case text with
// "Müller".
func TestTargetSafety(t *testing.T) {
	a := appliance(t)
	t.Run("fullscreen", func(t *testing.T) { testTargetSafety(t, a, false) })
	t.Run("plain", func(t *testing.T) { testTargetSafety(t, a, true) })
}

// safetyDisks are the guest's disks: two evidence disks (one with a GPT
// ext4 labelled SUSPECT), an EVIDENCE target too small for them, and an
// EVIDENCE-BAD target whose ext4 the kernel refuses to mount (an unknown
// incompatible feature bit), so the refusal comes after the unlock.
type safetyDisks struct {
	suspect, random, small, bad string
}

func makeSafetyDisks(t *testing.T) safetyDisks {
	t.Helper()
	dir := t.TempDir()
	d := safetyDisks{
		suspect: filepath.Join(dir, "suspect.img"), random: filepath.Join(dir, "random.img"),
		small: filepath.Join(dir, "small.img"), bad: filepath.Join(dir, "bad.img"),
	}
	if err := MakeGPTExt4(d.suspect, 48, "SUSPECT"); err != nil {
		t.Fatal(err)
	}
	if err := WritePattern(d.random, 16<<20, 31); err != nil {
		t.Fatal(err)
	}
	if err := MakeGPTExt4(d.small, 12, "EVIDENCE"); err != nil {
		t.Fatal(err)
	}
	if err := MakeGPTExt4(d.bad, 64, "EVIDENCE-BAD"); err != nil {
		t.Fatal(err)
	}
	if err := breakExt4(d.bad); err != nil {
		t.Fatal(err)
	}
	return d
}

// breakExt4 sets an incompatible feature bit no kernel knows in the ext4
// superblock of the disk's first partition (s_feature_incompat at byte 0x60
// of the superblock, which starts 1024 bytes into the file system), and
// fixes the superblock checksum (crc32c of bytes 0..0x3FB, at 0x3FC) when
// metadata_csum is on: the file system probes and reads as ext4, and the
// kernel refuses to mount it.
func breakExt4(img string) error {
	parts, err := Partitions(img)
	if err != nil || len(parts) != 1 {
		return fmt.Errorf("partitions of %s: %v %v", img, parts, err)
	}
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	off := parts[0].Start*512 + 1024
	sb := make([]byte, 1024)
	if _, err := f.ReadAt(sb, off); err != nil {
		return err
	}
	incompat := binary.LittleEndian.Uint32(sb[0x60:])
	binary.LittleEndian.PutUint32(sb[0x60:], incompat|0x40000000)
	if ro := binary.LittleEndian.Uint32(sb[0x64:]); ro&0x400 != 0 { // metadata_csum
		binary.LittleEndian.PutUint32(sb[0x3FC:], ext4Crc32c(sb[:0x3FC]))
	}
	_, err = f.WriteAt(sb, off)
	return err
}

func testTargetSafety(t *testing.T, a *Appliance, plain bool) {
	d := makeSafetyDisks(t)
	files := []string{d.suspect, d.random, d.small, d.bad}
	before := map[string]string{}
	for _, f := range files {
		before[f] = hashOf(t, f)
	}
	extra := ""
	w, h := 132, 43
	if plain {
		extra, w, h = " coldimage.ui=plain", 80, 24
	}
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	v := boot(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Log: consoleLog(t, a, ""), Echo: pw,
		Drives: []Drive{{File: d.suspect, Serial: "SUSPECT01"}, {File: d.random, Serial: "RAND02"}, {File: d.small, Serial: "TGTSMALL"}, {File: d.bad, Serial: "TGTBAD"}},
		Append: baseAppend + extra, Monitor: plain})
	term := uitest.New(pr, v, w, h)
	term.KeyDelay = 300 * time.Millisecond
	if plain {
		plainSafety(t, v, term)
	} else {
		screenSafety(t, v, term, w, h)
	}
	if err := v.Wait(3 * time.Minute); err != nil {
		t.Fatalf("power off: %v", err)
	}
	for _, f := range files {
		if got := hashOf(t, f); got != before[f] {
			t.Errorf("%s changed: sha256 %s before, %s after", filepath.Base(f), before[f], got)
		}
	}
	// The unlock and the re-lock happened, and were said on the console
	// (in line mode; the full-screen UI owns the serial console and shows
	// the re-lock on its screen).
	if plain {
		for _, re := range []string{`preparing target /dev/vd[a-z]1 \(lifting write-blocking on it and disk vd[a-z], mounting it\) failed: mount target /dev/vd[a-z]1 \(ext4\) on \S+: invalid argument; /dev/vd[a-z]1 and /dev/vd[a-z] are read-only again \(BLKROGET=1\)`} {
			if !regexp.MustCompile(re).MatchString(term.Output()) {
				t.Errorf("the console does not say %q", re)
			}
		}
	}
}

// roCheck runs coldimage list in the emergency shell and fails the test when
// any disk or partition (empty optical drives aside) is not read-only.
func roCheck(t *testing.T, v *VM, term *uitest.Terminal) {
	t.Helper()
	line := func(l string) {
		t.Helper()
		if err := term.Type(l + uitest.Enter); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, v, `^COLDIMAGE SHELL opened by the operator`, time.Minute)
	time.Sleep(2 * time.Second)
	// The markers are split in the command so its echo cannot match them.
	// coldimage list's columns are 2+ spaces apart (a size holds one);
	// partitions are indented.
	line(`coldimage list | busybox awk 'NR>1 {sub(/^ +/, ""); split($0, f, /  +/); if (f[1] ~ /^sr/) next; n++; if (f[5] != "yes") print "RO" "-CHECK WRITABLE " f[1]} END {print "RO" "-CHECK devices=" n}'`)
	m := expect(t, v, `RO-CHECK (WRITABLE \S+|devices=(\d+))`, 2*time.Minute)
	if m[2] == "" {
		t.Fatalf("coldimage list in the guest: %s", m[0])
	}
	if m[2] != "7" { // four disks, three partitions
		t.Errorf("coldimage list listed %s devices, want 7", m[2])
	}
	line("exit")
	expect(t, v, `COLDIMAGE SHELL closed`, time.Minute)
}

func screenSafety(t *testing.T, v *VM, term *uitest.Terminal, w, h int) {
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
	s := screen("selected: 0 source(s)") // the last row: the whole screen is drawn
	// The whole 132×43 terminal is used: the title bar reaches the right
	// edge and the key help sits on the last row.
	lines := strings.Split(s, "\n")
	if len(lines) < h || !strings.Contains(lines[0], "every disk is read-only") || len([]rune(strings.TrimRight(lines[0], " "))) < w-2 {
		t.Fatalf("the UI does not use the %dx%d terminal:\n%s", w, h, s)
	}
	if !strings.Contains(lines[h-1], "selected:") {
		t.Errorf("the key help is not on row %d:\n%s", h, s)
	}
	// Select the random disk only (rows are found by what they show).
	var rows []string
	for _, l := range lines {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "[ ] ") || strings.HasPrefix(l, "- ") {
			rows = append(rows, l)
		}
	}
	cur := 0
	moveTo := func(text string) {
		t.Helper()
		i := -1
		for j, r := range rows {
			if strings.Contains(r, text) {
				i = j
				break
			}
		}
		if i < 0 {
			t.Fatalf("no row with %q:\n%s", text, strings.Join(rows, "\n"))
		}
		for ; cur < i; cur++ {
			keys(uitest.Down)
		}
		for ; cur > i; cur-- {
			keys(uitest.Up)
		}
	}
	moveTo("RAND02")
	keys(" ")
	screen("selected: 1 source(s), 16.0 MiB")
	keys(uitest.Enter)
	screen("2/6 Target")
	screen("TGTBAD")
	s = screen("nothing is unlocked before you confirm") // the last row: drawn in full
	if strings.Contains(s, "SUSPECT") {
		t.Fatalf("the evidence disk's file system is offered as a target before its serial was typed:\n%s", s)
	}
	// The SUSPECT file system is among the others; a wrong code confirms nothing.
	keys("o")
	s = screen("other file systems")
	screen("SUSPECT")
	keys(uitest.Down, uitest.Enter)
	screen("confirm the disk")
	screen("SUSPECT01")
	keys("SUSP", uitest.Enter)
	screen("stays unconfirmed")
	keys(uitest.Esc)
	screen("other file systems")
	keys(uitest.Esc)
	s = screen("Enter choose") // the Target page's key help, not the others page
	if strings.Contains(s, "SUSPECT") {
		t.Fatalf("a wrong code made the evidence disk a target:\n%s", s)
	}
	// The small target: refused before anything is unlocked.
	keys(uitest.Down)
	for i := 0; i < 3 && !strings.Contains(term.Screen(), "WILL NOT FIT: "); i++ {
		time.Sleep(time.Second)
		keys(uitest.Down)
	}
	screen("WILL NOT FIT: ")
	keys(uitest.Enter)
	screen("nothing was unlocked")
	if !strings.Contains(term.Screen(), "every disk is read-only") {
		t.Errorf("header after the refusal:\n%s", term.Screen())
	}
	// The target whose mount fails: unlocked after the confirmation, then
	// locked again and said so.
	// The guest may name the disks in either order: from the top row down.
	keys(uitest.Up, uitest.Up, uitest.Up)
	time.Sleep(time.Second)
	for i := 0; i < 4 && !strings.Contains(term.Screen(), "serial TGTBAD"); i++ {
		keys(uitest.Down)
		time.Sleep(time.Second)
	}
	screen("serial TGTBAD") // the details of the row under the cursor
	keys(uitest.Enter)
	screen("3/6 Clock check")
	keys("10:41 CET", uitest.Enter)
	screen("4/6 Case details")
	keys("Müller's case")
	screen("Müller's case")
	keys(uitest.Enter, "Examiner Zoë", uitest.Enter)
	keys(uitest.Down, uitest.Down, uitest.Down, uitest.Down, uitest.Down, uitest.Down, uitest.Enter)
	screen("5/6 Confirm")
	s = screen("Esc or b back to change anything") // the last row: drawn in full
	for _, want := range []string{"Müller's case", "Examiner Zoë", "Hashes computed and recorded: sha256 + blake3", "serial TGTBAD", "examiner says 10:41 CET"} {
		if !strings.Contains(s, want) {
			t.Errorf("confirm screen lacks %q:\n%s", want, s)
		}
	}
	keys("y")
	screen("read-only again (BLKROGET=1)")
	screen("every disk is read-only")
	// Back out: Esc to the case, the clock, the target, the sources.
	keys(uitest.Esc)
	screen("4/6 Case details")
	keys(uitest.Esc)
	screen("3/6 Clock check")
	keys(uitest.Esc)
	screen("2/6 Target")
	keys(uitest.Esc)
	screen("1/6 Sources")
	keys("q")
	screen("Summary")
	keys("s")
	screen("Open the emergency shell?")
	keys("y")
	roCheck(t, v, term)
	screen("Summary")
	keys("r")
	screen("its own operating system")
	keys("n", "p")
	screen("Power off now?")
	keys("y")
}

func plainSafety(t *testing.T, v *VM, term *uitest.Terminal) {
	answer := func(prompt, line string) string {
		t.Helper()
		s, err := term.WaitPrompt(prompt, 3*time.Minute)
		if err != nil {
			t.Fatalf("%v\n%s", err, term.Output())
		}
		if err := term.Type(line + uitest.Enter); err != nil {
			t.Fatal(err)
		}
		return s
	}
	waitOut := func(text string) {
		t.Helper()
		for deadline := time.Now().Add(3 * time.Minute); !strings.Contains(term.Output(), text); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%q not in the output:\n%s", text, term.Output())
			}
		}
	}
	answer("sources: names", "RAND02")
	answer("target name", "o")
	answer("name of the one to confirm", "SUSPECT") // not a name: nothing happens
	waitOut(`"SUSPECT" is not a name from that list`)
	// The rows of the other file systems name the SUSPECT partition.
	m := regexp.MustCompile(`(?m)^(vd[a-z]1)\s+ext4\s+SUSPECT`).FindStringSubmatch(term.Output())
	if m == nil {
		t.Fatalf("the SUSPECT file system is not among the others:\n%s", term.Output())
	}
	suspect := m[1]
	answer("target name", "o")
	answer("name of the one to confirm", suspect)
	answer("to confirm, type the last 4 characters", "SUSP")
	waitOut("not confirmed: /dev/" + suspect + " stays unoffered")
	answer("target name", suspect)
	waitOut(suspect + " has no target label")
	// The small EVIDENCE target: refused, nothing unlocked.
	small := regexp.MustCompile(`(?m)^(vd[a-z]1)\s+ext4\s+EVIDENCE\s+`).FindStringSubmatch(term.Output())
	bad := regexp.MustCompile(`(?m)^(vd[a-z]1)\s+ext4\s+EVIDENCE-BAD`).FindStringSubmatch(term.Output())
	if small == nil || bad == nil {
		t.Fatalf("targets not listed:\n%s", term.Output())
	}
	answer("target name", small[1])
	waitOut("nothing was unlocked")
	answer("target name", bad[1])
	answer("real time", "10:41 CET")
	answer("case number", "Müller's case")
	answer("examiner", "Zoë")
	for _, q := range []string{"evidence number", "notes", "hashes", "format", "verify after imaging"} {
		answer(q, "")
	}
	answer("type yes to start imaging", "yes")
	waitOut("read-only again (BLKROGET=1)")
	// Refused: back at the case details; back out to the sources and quit.
	answer("case number", "<")
	answer("real time", "<")
	answer("target name", "<")
	answer("sources: names", "q")
	answer("type one of", "shell")
	answer("open the emergency shell?", "yes")
	roCheck(t, v, term)
	answer("type one of", "reboot")
	answer("reboot anyway?", "no")
	answer("type one of", "poweroff")
	answer("power off now?", "no")
	// The ACPI power button ends the appliance in order at any prompt.
	term.WaitPrompt("type one of", time.Minute)
	if _, err := v.Monitor("system_powerdown"); err != nil {
		t.Fatal(err)
	}
	expect(t, v, `COLDIMAGE POWER BUTTON pressed \(/dev/input/event\d+\) at \S+: syncing, unmounting the target, powering off$`, time.Minute)
}

// ext4Crc32c is ext4's checksum: crc32c from ~0 without the final
// inversion (the kernel's crc32c_le), i.e. the inverse of the standard CRC.
func ext4Crc32c(b []byte) uint32 {
	return ^crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))
}

// TestAbortDuringVerify aborts a plain-mode session while it verifies: the
// image is complete (its sha256 equals the evidence's), and nothing
// anywhere — console, session.json/.txt, acquisition.json/.txt — says
// mismatch; the records say the verification was not completed (aborted).
func TestAbortDuringVerify(t *testing.T) {
	a := appliance(t)
	dir := t.TempDir()
	src, target := filepath.Join(dir, "src.img"), filepath.Join(dir, "target.img")
	if err := WritePattern(src, 160<<20, 77); err != nil {
		t.Fatal(err)
	}
	if err := MakeGPTExt4(target, 256, "EVIDENCE"); err != nil {
		t.Fatal(err)
	}
	want := hashOf(t, src)
	v, term := bootPlain(t, a, src, "ABRT01", target)
	answer := plainAnswer(t, term)
	answer("sources: names", "ABRT01")
	answer("target name", evidenceTarget(t, term))
	answer("real time", "")
	answer("case number", "ABORT-V")
	answer("examiner", "E")
	for _, q := range []string{"evidence number", "notes", "hashes", "format", "verify after imaging"} {
		answer(q, "")
	}
	answer("type yes to start imaging", "yes")
	expect(t, v, `verify started: re-reading source and image`, 10*time.Minute)
	term.Type("abort" + uitest.Enter)
	expect(t, v, `abort imaging\?`, time.Minute)
	term.Type("yes" + uitest.Enter)
	answer("type one of", "poweroff")
	answer("power off now?", "yes")
	if err := v.Wait(3 * time.Minute); err != nil {
		t.Fatal(err)
	}
	if hashOf(t, src) != want {
		t.Fatal("the evidence changed")
	}
	session := readTarget(t, target)
	folder := sourceFolder(t, session, "vd?_ABRT01")
	if got := hashOf(t, filepath.Join(folder, "image.raw")); got != want {
		t.Errorf("image.raw sha256 %s, evidence %s: the image is not complete", got, want)
	}
	log, _ := os.ReadFile(consoleLog(t, a, ""))
	texts := map[string][]byte{"console": log}
	for _, f := range []string{filepath.Join(session, "session.json"), filepath.Join(session, "session.txt"), filepath.Join(folder, "acquisition.json"), filepath.Join(folder, "acquisition.txt")} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		texts[filepath.Base(f)] = b
	}
	for name, b := range texts {
		if regexp.MustCompile(`(?i)mismatch`).Match(b) {
			t.Errorf("%s says mismatch:\n%s", name, b)
		}
	}
	var sj struct {
		Sources []struct{ Result, Verified string }
	}
	readJSON(t, filepath.Join(session, "session.json"), &sj)
	if len(sj.Sources) != 1 || sj.Sources[0].Verified != "not completed (aborted)" || sj.Sources[0].Result != "incomplete" {
		t.Errorf("session.json sources %+v", sj.Sources)
	}
	if !strings.Contains(string(texts["acquisition.txt"]), "not completed (aborted)") {
		t.Errorf("acquisition.txt:\n%s", texts["acquisition.txt"])
	}
}

// TestUTF8CaseE01 types case details outside ASCII in plain mode and
// images to E01: session.json and acquisition.json keep them byte for
// byte, and libewf's ewfinfo reads them back from the E01's header2.
func TestUTF8CaseE01(t *testing.T) {
	a := appliance(t)
	if _, err := Run("ewfinfo", "-h"); err != nil && strings.Contains(err.Error(), "executable file not found") {
		t.Fatalf("ewfinfo (ewf-tools) is not installed: %v", err)
	}
	dir := t.TempDir()
	src, target := filepath.Join(dir, "src.img"), filepath.Join(dir, "target.img")
	if err := WritePattern(src, 8<<20, 5); err != nil {
		t.Fatal(err)
	}
	if err := MakeGPTExt4(target, 64, "EVIDENCE"); err != nil {
		t.Fatal(err)
	}
	v, term := bootPlain(t, a, src, "UTF01", target)
	answer := plainAnswer(t, term)
	const caseText, examiner, notes = "Müller's Fall 7/ß", "Zoë Ñúñez", "Gerät „Büro“ — 東京"
	answer("sources: names", "UTF01")
	answer("target name", evidenceTarget(t, term))
	answer("real time", "")
	answer("case number", caseText)
	answer("examiner", examiner)
	answer("evidence number", "")
	answer("notes", notes)
	answer("hashes", "")
	answer("format", "e01")
	answer("verify after imaging", "")
	answer("type yes to start imaging", "yes")
	answer("type one of", "poweroff")
	answer("power off now?", "yes")
	if err := v.Wait(3 * time.Minute); err != nil {
		t.Fatal(err)
	}
	session := readTarget(t, target)
	var sj struct {
		Case struct{ Case, Examiner, Notes string }
	}
	readJSON(t, filepath.Join(session, "session.json"), &sj)
	if sj.Case.Case != caseText || sj.Case.Examiner != examiner || sj.Case.Notes != notes {
		t.Errorf("session.json case %+v", sj.Case)
	}
	folder := sourceFolder(t, session, "vd?_UTF01")
	var aj struct {
		Result string
		Case   struct{ Case, Examiner, Notes string }
	}
	readJSON(t, filepath.Join(folder, "acquisition.json"), &aj)
	if aj.Result != "ok" || aj.Case.Case != caseText || aj.Case.Examiner != examiner || aj.Case.Notes != notes {
		t.Errorf("acquisition.json result %q case %+v", aj.Result, aj.Case)
	}
	out, err := Run("ewfinfo", filepath.Join(folder, "image.E01"))
	if err != nil {
		t.Fatalf("ewfinfo: %v\n%s", err, out)
	}
	for _, want := range []string{caseText, examiner} {
		if !strings.Contains(out, want) {
			t.Errorf("ewfinfo does not show %q:\n%s", want, out)
		}
	}
}

// TestSessionRecordFromTheStart cuts the power (kills QEMU) while an
// unattended run images: session.json is already on the target, saying
// in-progress and naming the source, and the evidence is unchanged.
func TestSessionRecordFromTheStart(t *testing.T) {
	a := appliance(t)
	dir := t.TempDir()
	src, target := filepath.Join(dir, "src.img"), filepath.Join(dir, "target.img")
	if err := WritePattern(src, 256<<20, 91); err != nil {
		t.Fatal(err)
	}
	if err := MakeGPTExt4(target, 384, "EVIDENCE"); err != nil {
		t.Fatal(err)
	}
	want := hashOf(t, src)
	v := boot(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Log: consoleLog(t, a, ""),
		Drives: []Drive{{File: src, Serial: "CUT01"}, {File: target, Serial: "TARGET"}},
		Append: baseAppend + " coldimage.auto=1 coldimage.target=LABEL=EVIDENCE coldimage.case=CUT"})
	expect(t, v, `vd[a-z]_CUT01 acquire\s+\d+%`, 5*time.Minute)
	v.Kill() // the power cut
	if hashOf(t, src) != want {
		t.Fatal("the evidence changed")
	}
	// The journal holds what was synced last: replay it (e2fsck) on a
	// copy, as a mount would, before reading the files.
	cp := filepath.Join(dir, "target-copy.img")
	if err := CopyFile(target, cp); err != nil {
		t.Fatal(err)
	}
	parts, err := Partitions(cp)
	if err != nil || len(parts) != 1 {
		t.Fatalf("partitions: %v %v", parts, err)
	}
	part := filepath.Join(dir, "part.img")
	if err := Extract(cp, parts[0], part); err != nil {
		t.Fatal(err)
	}
	out, _ := Run("e2fsck", "-fy", part) // exit 1: the journal was replayed
	t.Logf("e2fsck: %s", out)
	if err := Splice(cp, part, parts[0].Start*512); err != nil {
		t.Fatal(err)
	}
	session := readTarget(t, cp)
	var sj struct {
		Result  string
		Sources []struct{ ID, Result string }
	}
	readJSON(t, filepath.Join(session, "session.json"), &sj)
	if sj.Result != "in-progress" || len(sj.Sources) != 1 || !strings.HasSuffix(sj.Sources[0].ID, "_CUT01") || sj.Sources[0].Result != "not started" {
		t.Errorf("session.json after the power cut: %+v", sj)
	}
}

// plainAnswer returns a function that waits for a line-mode prompt and
// types the answer.
func plainAnswer(t *testing.T, term *uitest.Terminal) func(prompt, line string) {
	return func(prompt, line string) {
		t.Helper()
		if _, err := term.WaitPrompt(prompt, 3*time.Minute); err != nil {
			t.Fatalf("%v; the console's last lines:\n%s", err, lastOutput(term, 4000))
		}
		if err := term.Type(line + uitest.Enter); err != nil {
			t.Fatal(err)
		}
	}
}

// bootPlain boots the appliance in line mode with one source disk and one
// target disk, its serial console read by an 80×24 terminal.
func bootPlain(t *testing.T, a *Appliance, src, serial, target string, extra ...string) (*VM, *uitest.Terminal) {
	t.Helper()
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	v := boot(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Log: consoleLog(t, a, ""), Echo: pw,
		Drives: []Drive{{File: src, Serial: serial}, {File: target, Serial: "TARGET"}}, Append: baseAppend + " coldimage.ui=plain" + strings.Join(append([]string{""}, extra...), " ")})
	term := uitest.New(pr, v, 80, 24)
	term.KeyDelay = 20 * time.Millisecond
	return v, term
}

// evidenceTarget waits for line mode's target question and returns the
// name of the partition labelled EVIDENCE that the list shows.
func evidenceTarget(t *testing.T, term *uitest.Terminal) string {
	t.Helper()
	if _, err := term.WaitPrompt("target name", 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^(vd[a-z]1)\s+ext4\s+EVIDENCE`).FindStringSubmatch(term.Output())
	if m == nil {
		t.Fatalf("no EVIDENCE target listed:\n%s", term.Output())
	}
	return m[1]
}
