package qemutests

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// rescueRecord is what the rescue tests read of acquisition.json.
type rescueRecord struct {
	Result     string            `json:"result"`
	Hashes     map[string]string `json:"hashes"`
	Image      struct{ Files []string }
	Unreadable []struct {
		LBA   int64  `json:"lba"`
		Count int64  `json:"count"`
		State string `json:"state"`
	} `json:"unreadable"`
	Rescue *struct {
		Passes []struct {
			Pass    string  `json:"pass"`
			Seconds float64 `json:"seconds"`
			Failed  int64   `json:"failed_reads"`
		} `json:"passes"`
		Stopped bool `json:"stopped_by_time_limit"`
	} `json:"rescue"`
	DurationSec    float64 `json:"duration_seconds"`
	DeviceSettings []struct {
		File, Was, Set string
		Restored       bool
	} `json:"device_settings"`
}

func needNBD(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("nbdkit"); err != nil {
		t.Fatal("nbdkit is not installed (scripts/install-deps.sh installs nbdkit and nbdkit-plugin-python)")
	}
}

// TestSlowBadSectors serves a 256 MiB source to the guest over NBD from a
// test server whose bad sectors take 1 s to fail — a contiguous 8 MiB bad
// region and 50 scattered bad sectors — and images it unattended with
// coldimage.rescue-time=300s. The copy pass skips past the trouble, the
// rescue trims every scattered sector down to itself and works on the
// region until its time is up: the record's map holds exactly the bad
// sectors and the region (its unread part marked so), every byte outside
// the map is the source's, the hash is that of the image, the rescue
// passes end within the time limit, and the console has few error lines.
func TestSlowBadSectors(t *testing.T) {
	needNBD(t)
	a := appliance(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "failing.img")
	const size, ss = 256 << 20, 512
	if err := WritePattern(src, size, 41); err != nil {
		t.Fatal(err)
	}
	disk := NewSlowDisk(size, ss)
	regionLo, regionHi, scattered := disk.RegionLo, disk.RegionHi, disk.Scattered
	nbd, err := StartNBD(dir, src, NBDOptions{Bad: disk.Bad(ss), BadDelay: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nbd.Kill)
	target := filepath.Join(dir, "target.img")
	if err := MakeGPTExt4(target, 400, "EVIDENCE"); err != nil {
		t.Fatal(err)
	}
	h0 := hashOf(t, src)
	v := boot(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Log: consoleLog(t, a, ""),
		Drives: []Drive{{NBD: nbd.Socket, Serial: "FAILING"}, {File: target, Serial: "TARGET"}},
		Append: baseAppend + " coldimage.auto=1 coldimage.target=LABEL=EVIDENCE coldimage.case=RESCUE coldimage.hash=sha256 coldimage.rescue-time=300s"})
	expect(t, v, `COLDIMAGE READY version=`, 3*time.Minute)
	m := expect(t, v, `COLDIMAGE DONE ok=(\d+) failed=(\d+)`, 20*time.Minute)
	if err := v.Wait(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	if m[1] != "0" || m[2] != "1" {
		t.Errorf("DONE ok=%s failed=%s: an image with unreadable sectors is not ok", m[1], m[2])
	}
	if hashOf(t, src) != h0 {
		t.Fatal("source changed")
	}
	// Lines about errors on the console: merged, a few per minute.
	errLines := 0
	for _, l := range v.Lines() {
		if strings.Contains(l, "UNREADABLE") || strings.Contains(l, "read errors:") || strings.Contains(l, "I/O error") {
			errLines++
		}
	}
	t.Logf("%d console lines about errors", errLines)
	if errLines > 30 {
		t.Errorf("%d console lines about errors, want at most 30", errLines)
	}

	session := readTarget(t, target)
	folder := sourceFolder(t, session, "vd?_FAILING")
	var rec rescueRecord
	readJSON(t, filepath.Join(folder, "acquisition.json"), &rec)
	if rec.Result == "ok" || rec.Result == "mismatch" {
		t.Errorf("result %q", rec.Result)
	}
	inMap := make([]string, size/ss) // LBA → "" (read), "bad" or the unread state
	for _, u := range rec.Unreadable {
		st := u.State
		if st == "" {
			st = "bad"
		}
		for l := u.LBA; l < u.LBA+u.Count; l++ {
			if l >= int64(len(inMap)) || inMap[l] != "" {
				t.Fatalf("map range %+v overlaps another or runs past the end", u)
			}
			inMap[l] = st
		}
	}
	// Exact: every scattered sector is bad and alone; the region is all
	// in the map; nothing else is.
	for l, st := range inMap {
		l := int64(l)
		switch {
		case scattered[l] && st != "bad":
			t.Errorf("scattered bad LBA %d is %q in the map, want bad", l, st)
		case l >= regionLo && l < regionHi && st == "":
			t.Errorf("LBA %d of the bad region is not in the map", l)
		case !scattered[l] && (l < regionLo || l >= regionHi) && st != "":
			t.Errorf("readable LBA %d is %q in the map", l, st)
		}
	}
	if inMap[regionLo] != "bad" || inMap[regionHi-1] != "bad" {
		t.Errorf("the region's edges are %q and %q, want trimmed to bad sectors", inMap[regionLo], inMap[regionHi-1])
	}
	// The image: the source outside the map, zeros inside.
	img, err := os.ReadFile(filepath.Join(folder, "image.raw"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	zero := make([]byte, ss)
	for l, st := range inMap {
		got := img[l*ss : (l+1)*ss]
		if st == "" && !bytes.Equal(got, data[l*ss:(l+1)*ss]) {
			t.Fatalf("readable LBA %d differs from the source in the image", l)
		}
		if st != "" && !bytes.Equal(got, zero) {
			t.Fatalf("LBA %d (%s) is not zero-filled in the image", l, st)
		}
	}
	sum := sha256.Sum256(img)
	if rec.Hashes["sha256"] != hex.EncodeToString(sum[:]) {
		t.Errorf("recorded sha256 %s is not the image's %x", rec.Hashes["sha256"], sum)
	}
	if rec.Rescue == nil || !rec.Rescue.Stopped {
		t.Fatalf("rescue %+v: want stopped by its time limit (the region's interior takes hours sector by sector)", rec.Rescue)
	}
	var rescueSec float64
	var passes []string
	for _, p := range rec.Rescue.Passes {
		passes = append(passes, p.Pass)
		if p.Pass != "rehash" && p.Pass != "copy" {
			rescueSec += p.Seconds
		}
	}
	t.Logf("passes %v: %.0f s of rescue, %.0f s imaging in all", passes, rescueSec, rec.DurationSec)
	if rescueSec > 300+10 {
		t.Errorf("the rescue passes took %.0f s, past the 300 s limit", rescueSec)
	}
	var notRead int
	for _, st := range inMap {
		if st != "" && st != "bad" {
			notRead++
		}
	}
	if notRead == 0 {
		t.Error("nothing of the region is marked not read, although the time limit stopped the rescue")
	}
	txt, _ := os.ReadFile(filepath.Join(folder, "acquisition.txt"))
	if !strings.Contains(string(txt), "STOPPED BY THE TIME LIMIT") || !strings.Contains(string(txt), "NOT READ") {
		t.Errorf("acquisition.txt does not say the rescue stopped and what it did not read:\n%s", txt)
	}
}

// TestDeadSource: one of two sources dies mid-run while staying attached
// (its NBD server is killed: every read fails from then on). Its job
// skips ahead rather than failing a read per buffer, ends at its rescue
// time limit with the rest of the disk in the map as not read, and the
// other source is imaged and verified meanwhile.
func TestDeadSource(t *testing.T) {
	needNBD(t)
	a := appliance(t)
	dir := t.TempDir()
	dead, keep := filepath.Join(dir, "dead.img"), filepath.Join(dir, "keep.img")
	if err := WritePattern(dead, 256<<20, 51); err != nil {
		t.Fatal(err)
	}
	if err := WritePattern(keep, 96<<20, 52); err != nil {
		t.Fatal(err)
	}
	nbd, err := StartNBD(dir, dead, NBDOptions{ReadDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nbd.Kill)
	target := filepath.Join(dir, "target.img")
	if err := MakeGPTExt4(target, 500, "EVIDENCE"); err != nil {
		t.Fatal(err)
	}
	hDead, hKeep := hashOf(t, dead), hashOf(t, keep)
	v := boot(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Log: consoleLog(t, a, ""),
		Drives: []Drive{{NBD: nbd.Socket, Serial: "DEAD"}, {File: keep, Serial: "KEEP", Bus: "scsi"}, {File: target, Serial: "TARGET"}},
		Append: baseAppend + " coldimage.auto=1 coldimage.target=LABEL=EVIDENCE coldimage.case=DEAD coldimage.hash=sha256 coldimage.rescue-time=30s"})
	expect(t, v, `vd[a-z]_DEAD acquire\s+([2-9]\d)%`, 8*time.Minute)
	nbd.Kill()
	killed := time.Now()
	m := expect(t, v, `COLDIMAGE DONE ok=(\d+) failed=(\d+)`, 10*time.Minute)
	t.Logf("the session ended %.0f s after the source died", time.Since(killed).Seconds())
	if err := v.Wait(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	if m[1] != "1" || m[2] != "1" {
		t.Errorf("DONE ok=%s failed=%s, want the live source ok and the dead one failed", m[1], m[2])
	}
	if hashOf(t, dead) != hDead || hashOf(t, keep) != hKeep {
		t.Fatal("a source changed")
	}
	session := readTarget(t, target)
	folder := sourceFolder(t, session, "vd?_DEAD")
	var rec rescueRecord
	readJSON(t, filepath.Join(folder, "acquisition.json"), &rec)
	if rec.Rescue == nil {
		t.Fatalf("no rescue in the dead source's record (result %q)", rec.Result)
	}
	var passes []string
	var rescueSec float64
	for _, p := range rec.Rescue.Passes {
		passes = append(passes, p.Pass)
		if p.Pass != "copy" {
			rescueSec += p.Seconds
		}
	}
	t.Logf("dead source: result %q, passes %v, %.0f s of rescue, %.0f s imaging", rec.Result, passes, rescueSec, rec.DurationSec)
	if rescueSec > 30+10 {
		t.Errorf("the rescue took %.0f s, past its 30 s limit", rescueSec)
	}
	if len(rec.Unreadable) == 0 {
		t.Fatal("the dead part of the source is not in the map")
	}
	last := rec.Unreadable[len(rec.Unreadable)-1]
	if last.LBA+last.Count != 256<<20/512 {
		t.Errorf("the map ends at LBA %d, not at the end of the disk", last.LBA+last.Count)
	}
	if rec.Result == "ok" {
		t.Error("a source that died mid-run is recorded ok")
	}
	// The console names the dead disk's trouble in a few lines, not one per buffer.
	var lines []string
	re := regexp.MustCompile(`_DEAD (UNREADABLE|read errors:|rescue)`)
	for _, l := range v.Lines() {
		if re.MatchString(l) {
			lines = append(lines, l)
		}
	}
	sort.Strings(lines)
	if len(lines) > 40 {
		t.Errorf("%d console lines about the dead disk", len(lines))
	}
	var keepRec rescueRecord
	keepFolder := sourceFolder(t, session, "sd?_KEEP")
	readJSON(t, filepath.Join(keepFolder, "acquisition.json"), &keepRec)
	if keepRec.Result != "ok" || keepRec.Hashes["sha256"] != hKeep {
		t.Errorf("live source: result %q sha256 %s, want ok and %s", keepRec.Result, keepRec.Hashes["sha256"], hKeep)
	}
	// The SCSI disk's command timeout was lowered for the imaging and put back.
	if ds := keepRec.DeviceSettings; len(ds) != 1 || !strings.HasSuffix(ds[0].File, "/device/timeout") || ds[0].Was != "30" || ds[0].Set != "10" || !ds[0].Restored {
		t.Errorf("device settings %+v, want the command timeout 30 -> 10, put back", ds)
	}
}

// TestConsoleAt115200: the console does not pace the engine. The same
// disk — an 8 MiB bad region and 7 bad sectors in 256 MiB, served over
// NBD, failing at once — is imaged unattended twice: once with the console
// read as fast as QEMU writes it, once read at a real 115200-baud UART's
// rate (11520 bytes/s, so QEMU's serial port waits for the reader). Both
// records agree, and each run's whole console stays under 32 KiB: at most
// about 3 s of a real UART's time, however slowly it drains (the console
// once carried a line per bad sector, 5.4 MB for this disk). How long each
// run took is logged; timing targets live in make bench, not in tests.
func TestConsoleAt115200(t *testing.T) {
	needNBD(t)
	a := appliance(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "bad.img")
	const size, ss = 256 << 20, 512
	if err := WritePattern(src, size, 61); err != nil {
		t.Fatal(err)
	}
	bad := [][2]int64{{60 << 20, 68 << 20}}
	for _, l := range []int64{1000, 50000, 90001, 200000, 300007, 400000, 500009} {
		bad = append(bad, [2]int64{l * ss, (l + 1) * ss})
	}
	h0 := hashOf(t, src)
	run := func(rate int) rescueRecord {
		sub := filepath.Join(dir, fmt.Sprint("rate", rate))
		os.Mkdir(sub, 0o755)
		nbd, err := StartNBD(sub, src, NBDOptions{Bad: bad})
		if err != nil {
			t.Fatal(err)
		}
		defer nbd.Kill()
		target := filepath.Join(sub, "target.img")
		if err := MakeGPTExt4(target, 400, "EVIDENCE"); err != nil {
			t.Fatal(err)
		}
		v := boot(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Log: consoleLog(t, a, fmt.Sprint("-rate", rate)), ConsoleRate: rate,
			Drives: []Drive{{NBD: nbd.Socket, Serial: "BAD"}, {File: target, Serial: "TARGET"}},
			Append: baseAppend + " coldimage.auto=1 coldimage.target=LABEL=EVIDENCE coldimage.case=BAUD coldimage.hash=sha256 coldimage.retries=0"})
		expect(t, v, `COLDIMAGE DONE ok=(\d+) failed=(\d+)`, 20*time.Minute)
		if err := v.Wait(2 * time.Minute); err != nil {
			t.Fatal(err)
		}
		session := readTarget(t, target)
		folder := sourceFolder(t, session, "vd?_BAD")
		var rec rescueRecord
		readJSON(t, filepath.Join(folder, "acquisition.json"), &rec)
		var bytes int
		for _, l := range v.Lines() {
			bytes += len(l) + 1
		}
		t.Logf("console read at %d B/s (0: unlimited): %d bytes of console, imaging took %.1f s, result %s", rate, bytes, rec.DurationSec, rec.Result)
		if bytes > 32<<10 {
			t.Errorf("console read at %d B/s: %d bytes, more than 32 KiB: at 115200 baud the console would pace the engine", rate, bytes)
		}
		return rec
	}
	fast := run(0)
	slow := run(11520)
	if hashOf(t, src) != h0 {
		t.Fatal("source changed")
	}
	if fast.Hashes["sha256"] != slow.Hashes["sha256"] || len(fast.Unreadable) != len(slow.Unreadable) {
		t.Errorf("the two runs disagree: %s %d ranges vs %s %d ranges", fast.Hashes["sha256"], len(fast.Unreadable), slow.Hashes["sha256"], len(slow.Unreadable))
	}
	t.Logf("imaging took %.1f s with a 115200-baud console, %.1f s without (%.2f×)", slow.DurationSec, fast.DurationSec, slow.DurationSec/max(fast.DurationSec, 0.001))
}
