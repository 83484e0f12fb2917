package qemutests

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coldimage/coldimage/ui/uitest"
)

// expectResumed follows the boot after a power cut: the appliance says it
// continues the session cut off in folder (a pattern), ends with COLDIMAGE
// DONE ok=1 failed=0 within done and powers off; the evidence file src
// still hashes to want.
func expectResumed(t *testing.T, v *VM, folder string, done time.Duration, src, want string) {
	t.Helper()
	expect(t, v, `continuing the session cut off in `+folder, 4*time.Minute)
	m := expect(t, v, `COLDIMAGE DONE ok=(\d+) failed=(\d+)`, done)
	if err := v.Wait(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	if m[1] != "1" || m[2] != "0" {
		t.Fatalf("DONE ok=%s failed=%s after the resume, want ok=1", m[1], m[2])
	}
	if hashOf(t, src) != want {
		t.Fatal("the evidence changed")
	}
}

// TestPowerCutResume cuts the power (the VM killed) while the unattended
// run images a disk, then boots the appliance again with the same disks:
// it finds the session cut off on the target, resumes the acquisition
// where the last checkpoint left it (no new session folder), finishes and
// verifies; the image equals the host's sha256 of the disk and the record
// lists both runs. The evidence never changed.
func TestPowerCutResume(t *testing.T) {
	a := appliance(t)
	dir := t.TempDir()
	src, target := filepath.Join(dir, "src.img"), filepath.Join(dir, "target.img")
	if err := WritePattern(src, 512<<20, 93); err != nil {
		t.Fatal(err)
	}
	if err := MakeGPTExt4(target, 704, "EVIDENCE"); err != nil {
		t.Fatal(err)
	}
	want := hashOf(t, src)
	cfg := func(log string) Config {
		return Config{Kernel: a.Kernel, Initrd: a.Initrd, Log: consoleLog(t, a, log),
			Drives: []Drive{{File: src, Serial: "CUT02"}, {File: target, Serial: "TARGET"}},
			Append: baseAppend + " coldimage.auto=1 coldimage.target=LABEL=EVIDENCE coldimage.case=RESUME coldimage.piece-size=32M"}
	}
	v := boot(t, cfg("cut"))
	// Past a time checkpoint (every 30 s) at TCG speeds, well before the end.
	powerCutAt(t, v, "CUT02", 60, src, want)

	v = boot(t, cfg("resume"))
	expectResumed(t, v, `/coldimage/RESUME/\d{8}T\d{6}Z`, 10*time.Minute, src, want)
	session := readTarget(t, target) // one session folder: continued, not a new one
	var rec struct {
		Result string
		Hashes map[string]string
		Runs   []struct {
			From      int64  `json:"from_byte"`
			To        int64  `json:"to_byte"`
			StoppedBy string `json:"stopped_by"`
		}
		Verification struct{ Image, Source struct{ Match bool } }
	}
	ents, _ := os.ReadDir(session)
	var id string
	for _, e := range ents {
		if e.IsDir() {
			id = e.Name()
		}
	}
	readJSON(t, filepath.Join(session, id, "acquisition.json"), &rec)
	if rec.Result != "ok" || rec.Hashes["sha256"] != want || !rec.Verification.Image.Match || !rec.Verification.Source.Match {
		t.Errorf("resumed record: result %s sha256 %s (want %s) verification %+v", rec.Result, rec.Hashes["sha256"], want, rec.Verification)
	}
	if len(rec.Runs) != 2 || rec.Runs[1].From > rec.Runs[0].To || rec.Runs[1].From == 0 || rec.Runs[1].To != 512<<20 {
		t.Errorf("runs: %+v", rec.Runs)
	}
	t.Logf("resumed from byte %d (%s)", rec.Runs[1].From, fmt.Sprint(rec.Runs[0].StoppedBy))
	if _, err := os.Stat(filepath.Join(session, "session-run1.json")); err != nil {
		t.Errorf("the cut-off run's session record was not kept: %v", err)
	}
	var sj struct {
		Result string
		OK     int
	}
	readJSON(t, filepath.Join(session, "session.json"), &sj)
	if sj.Result != "ok" || sj.OK != 1 {
		t.Errorf("session.json after the resume: %+v", sj)
	}
}

// TestPlainCutOffContinueE01 cuts the power while line mode images a disk
// to E01, boots again, and goes through the questions as an examiner
// would: before imaging, the console describes the session cut off on the
// target and asks; a wrong word is asked again; "continue" resumes the E01
// after its last durable chunk group, in the same folder. The finished set
// passes ewfverify and holds the evidence; the evidence never changed.
func TestPlainCutOffContinueE01(t *testing.T) {
	a := appliance(t)
	if _, err := Run("ewfverify", "-h"); err != nil && strings.Contains(err.Error(), "executable file not found") {
		t.Fatalf("ewfverify (ewf-tools) is not installed: %v", err)
	}
	dir := t.TempDir()
	src, target := filepath.Join(dir, "src.img"), filepath.Join(dir, "target.img")
	if err := WritePattern(src, 512<<20, 94); err != nil {
		t.Fatal(err)
	}
	// No room for a second whole image once the first run is cut: the
	// room is counted once the target is mounted (its journal replayed:
	// read unmounted after the cut, ext4's free count still says what it
	// said before), with the cut-off image.
	if err := MakeGPTExt4(target, 800, "EVIDENCE"); err != nil {
		t.Fatal(err)
	}
	want := hashOf(t, src)
	questions := func(term *uitest.Terminal) func(prompt, line string) {
		answer := plainAnswer(t, term)
		answer("sources: names", "CUTE01")
		answer("target name", evidenceTarget(t, term))
		plainE01Questions(answer, "CUT-E01")
		return answer
	}
	v, term := bootPlain(t, a, src, "CUTE01", target, "coldimage.piece-size=32M")
	questions(term)
	// Past the checkpoint at 256 MiB (a closed chunk group), before the end.
	powerCutAt(t, v, "CUTE01", 60, src, want)

	v, term = bootPlain(t, a, src, "CUTE01", target, "coldimage.piece-size=32M")
	answer := questions(term)
	answer("type continue, new", "keep going")
	answer("type continue, new", "continue")
	answer("type one of", "poweroff")
	answer("power off now?", "yes")
	if err := v.Wait(3 * time.Minute); err != nil {
		t.Fatal(err)
	}
	out := term.Output()
	for _, s := range []string{"A session of this case was cut off on this target", "type continue (the whole word)"} {
		if !strings.Contains(out, s) {
			t.Errorf("the console does not say %q", s)
		}
	}
	if hashOf(t, src) != want {
		t.Fatal("the evidence changed")
	}
	session := readTarget(t, target) // one session folder: continued
	folder := sourceFolder(t, session, "vd?_CUTE01")
	var rec struct {
		Result string
		Hashes map[string]string
		Runs   []struct {
			From int64 `json:"from_byte"`
			To   int64 `json:"to_byte"`
		}
	}
	readJSON(t, filepath.Join(folder, "acquisition.json"), &rec)
	if rec.Result != "ok" || rec.Hashes["sha256"] != want || len(rec.Runs) != 2 || rec.Runs[1].To != 512<<20 {
		t.Errorf("continued record: result %s sha256 %s (want %s) runs %+v", rec.Result, rec.Hashes["sha256"], want, rec.Runs)
	}
	if len(rec.Runs) == 2 && (rec.Runs[1].From < 256<<20 || rec.Runs[1].From > rec.Runs[0].To) {
		t.Errorf("resumed from byte %d, want the chunk group closed at the 256 MiB checkpoint (runs %+v)", rec.Runs[1].From, rec.Runs)
	}
	t.Logf("resumed from byte %d", rec.Runs[len(rec.Runs)-1].From)
	if _, err := os.Stat(filepath.Join(session, "session-run1.json")); err != nil {
		t.Errorf("the cut-off run's session record was not kept: %v", err)
	}
	if b, err := Run("ewfverify", "-q", filepath.Join(folder, "image.E01")); err != nil || !strings.Contains(b, "ewfverify: SUCCESS") {
		t.Errorf("ewfverify: %v\n%s", err, b)
	}
}

// powerCutAt cuts the power (kills QEMU) once the console shows the disk
// with this serial imaged to at least percent, and checks the evidence
// did not change.
func powerCutAt(t *testing.T, v *VM, serial string, percent int, src, want string) {
	t.Helper()
	for {
		m := expect(t, v, `vd[a-z]_`+serial+` acquire\s+(\d+)%`, 5*time.Minute)
		if p, _ := strconv.Atoi(m[1]); p >= percent {
			break
		}
	}
	v.Kill() // the power cut
	if hashOf(t, src) != want {
		t.Fatal("the evidence changed")
	}
}

// plainE01Questions answers line mode's questions after the target: the
// clock as shown, case caseID, examiner E, format e01, the rest as offered,
// and yes to start.
func plainE01Questions(answer func(prompt, line string), caseID string) {
	answer("real time", "")
	answer("case number", caseID)
	answer("examiner", "E")
	for _, q := range []string{"evidence number", "notes", "hashes"} {
		answer(q, "")
	}
	answer("format", "e01")
	answer("verify after imaging", "")
	answer("type yes to start imaging", "yes")
}
