package qemutests

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTargetVanishes unplugs the target (QEMU device_del) while the
// unattended run writes to it. The job ends with a clear error — the
// target's writes fail at the next sync instead of vanishing into the page
// cache — the appliance waits coldimage.replug-wait for the target to come
// back, then ends with COLDIMAGE DONE and a power-off, and the source is
// unchanged.
func TestTargetVanishes(t *testing.T) {
	a := appliance(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	if err := WritePattern(src, 384<<20, 41); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "target.img")
	if err := MakeGPTExt4(target, 512, "EVIDENCE"); err != nil {
		t.Fatal(err)
	}
	h := hashOf(t, src)
	v := boot(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Log: consoleLog(t, a, ""), Monitor: true,
		Drives: []Drive{{File: src, Serial: "SRCT"}, {File: target, Serial: "TARGET"}},
		Append: baseAppend + " coldimage.auto=1 coldimage.target=LABEL=EVIDENCE coldimage.case=PULL coldimage.replug-wait=20s"})
	expect(t, v, `vd[a-z]_SRCT acquire\s+\d+%`, 5*time.Minute)
	pulled := time.Now()
	if _, err := v.Monitor("device_del dev1"); err != nil {
		t.Fatalf("device_del: %v", err)
	}
	expect(t, v, `COLDIMAGE WAITING for the target .* to be plugged back in, up to 20s`, 3*time.Minute)
	expect(t, v, `the target did not come back`, time.Minute)
	m := expect(t, v, `COLDIMAGE DONE ok=(\d+) failed=(\d+)`, time.Minute)
	t.Logf("COLDIMAGE DONE %.0fs after the target was pulled", time.Since(pulled).Seconds())
	if err := v.Wait(2 * time.Minute); err != nil {
		t.Fatalf("no power-off after DONE: %v", err)
	}
	if m[1] != "0" || m[2] != "1" {
		t.Errorf("DONE ok=%s failed=%s, want ok=0 failed=1", m[1], m[2])
	}
	var failed string
	for _, l := range v.Lines() {
		if strings.Contains(l, "_SRCT acquire failed:") {
			failed = l
		}
	}
	if failed == "" {
		t.Error("no line says why the job failed")
	}
	t.Logf("%s", failed)
	if hashOf(t, src) != h {
		t.Fatal("the source changed")
	}
}

// TestTargetReplugged unplugs the target mid-write and plugs it back in
// (QEMU device_del, then drive_add and device_add of the same image): the
// appliance waits for it, mounts it again, finds the session cut off there
// and resumes the acquisition from its last checkpoint. The session ends
// ok, the image on the target is the source's bytes, and the record lists
// both runs.
func TestTargetReplugged(t *testing.T) {
	a := appliance(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	// 768 MiB: the first checkpoints (every 256 MiB) land before the pull.
	if err := WritePattern(src, 768<<20, 42); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "target.img")
	if err := MakeGPTExt4(target, 1024, "EVIDENCE"); err != nil {
		t.Fatal(err)
	}
	h := hashOf(t, src)
	v := boot(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Log: consoleLog(t, a, ""), Monitor: true,
		Drives: []Drive{{File: src, Serial: "SRCR"}, {File: target, Serial: "TARGET"}},
		Append: baseAppend + " coldimage.auto=1 coldimage.target=LABEL=EVIDENCE coldimage.case=REPLUG coldimage.piece-size=16M coldimage.hash=sha256"})
	expect(t, v, `vd[a-z]_SRCR acquire\s+([4-9]\d)%`, 5*time.Minute)
	if _, err := v.Monitor("device_del dev1"); err != nil {
		t.Fatalf("device_del: %v", err)
	}
	expect(t, v, `COLDIMAGE WAITING for the target`, 3*time.Minute)
	time.Sleep(2 * time.Second)
	for _, cmd := range []string{
		"drive_add 0 if=none,id=d1b,format=raw,cache=writeback,file=" + target,
		"device_add virtio-blk-pci,id=dev1b,drive=d1b,serial=TARGET",
	} {
		if out, err := v.Monitor(cmd); err != nil || strings.Contains(strings.ToLower(out), "error") {
			t.Fatalf("%s: %v %q", cmd, err, out)
		}
	}
	expect(t, v, `the target is back: resuming the session`, 2*time.Minute)
	expect(t, v, `continuing the session cut off in`, 2*time.Minute)
	m := expect(t, v, `COLDIMAGE DONE ok=(\d+) failed=(\d+)`, 10*time.Minute)
	if err := v.Wait(2 * time.Minute); err != nil {
		t.Fatalf("no power-off after DONE: %v", err)
	}
	if m[1] != "1" || m[2] != "0" {
		t.Errorf("DONE ok=%s failed=%s, want the resumed acquisition ok", m[1], m[2])
	}
	if hashOf(t, src) != h {
		t.Fatal("the source changed")
	}
	session := readTarget(t, target)
	folder := sourceFolder(t, session, "vd?_SRCR")
	if got := hashOf(t, filepath.Join(folder, "image.raw")); got != h {
		t.Errorf("image sha256 %s, want the source's %s", got, h)
	}
	var rec struct {
		Result string
		Hashes map[string]string
		Runs   []struct {
			From int64 `json:"from_byte"`
			To   int64 `json:"to_byte"`
		}
	}
	readJSON(t, filepath.Join(folder, "acquisition.json"), &rec)
	t.Logf("runs %+v", rec.Runs)
	if rec.Result != "ok" || rec.Hashes["sha256"] != h || len(rec.Runs) != 2 || rec.Runs[1].From == 0 || rec.Runs[1].From > rec.Runs[0].To {
		t.Errorf("record: result %q sha256 %s runs %+v; want ok, the source's hash, two runs, the second from where the first stopped", rec.Result, rec.Hashes["sha256"], rec.Runs)
	}
}
