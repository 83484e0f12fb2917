package qemutests

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSourceVanishes removes a source disk (QEMU device_del: a hot-unplug
// the guest sees as the disk going away) while the unattended run reads
// it. That source stops at once — "vanished at byte N", result incomplete,
// no sector-by-sector rescue of the rest and nothing recorded as
// unreadable — while the other source is imaged and verified; the run
// ends with COLDIMAGE DONE and powers off; neither disk file changed.
func TestSourceVanishes(t *testing.T) {
	a := appliance(t)
	dir := t.TempDir()
	keep, gone := filepath.Join(dir, "keep.img"), filepath.Join(dir, "gone.img")
	if err := WritePattern(keep, 24<<20, 31); err != nil {
		t.Fatal(err)
	}
	if err := WritePattern(gone, 512<<20, 32); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "target.img")
	if err := MakeGPTExt4(target, 640, "EVIDENCE"); err != nil {
		t.Fatal(err)
	}
	hKeep, hGone := hashOf(t, keep), hashOf(t, gone)
	v := boot(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Log: consoleLog(t, a, ""), Monitor: true,
		Drives: []Drive{{File: keep, Serial: "KEEP"}, {File: gone, Serial: "GONE"}, {File: target, Serial: "TARGET"}},
		Append: baseAppend + " coldimage.auto=1 coldimage.target=LABEL=EVIDENCE coldimage.case=VANISH"})
	expect(t, v, `vd[a-z]_GONE acquire\s+\d+%`, 5*time.Minute)
	pulled := time.Now()
	if out, err := v.Monitor("device_del dev1"); err != nil || strings.TrimSpace(out) != "" && !strings.Contains(out, "device_del") {
		t.Fatalf("device_del: %v %q", err, out)
	}
	expect(t, v, `vd[a-z]_GONE acquire failed: .*vanished at byte \d+`, 2*time.Minute)
	t.Logf("the job stopped %.0fs after the disk was pulled", time.Since(pulled).Seconds())
	m := expect(t, v, `COLDIMAGE DONE ok=(\d+) failed=(\d+)`, 5*time.Minute)
	if err := v.Wait(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	if m[1] != "1" || m[2] != "1" {
		t.Errorf("DONE ok=%s failed=%s, want ok=1 failed=1", m[1], m[2])
	}
	for _, l := range v.Lines() {
		if strings.Contains(l, "_GONE UNREADABLE") {
			t.Errorf("a vanished disk was rescued as bad sectors: %s", l)
			break
		}
	}
	if hashOf(t, keep) != hKeep || hashOf(t, gone) != hGone {
		t.Fatal("a source changed")
	}
	session := readTarget(t, target)
	var sj struct {
		Result  string
		Sources []struct {
			ID, Result, Error, Verified string
			OK                          bool
			Unreadable                  []any
		}
	}
	readJSON(t, filepath.Join(session, "session.json"), &sj)
	if sj.Result != "failed" || len(sj.Sources) != 2 {
		t.Fatalf("session.json: %+v", sj)
	}
	for _, s := range sj.Sources {
		switch {
		case strings.HasSuffix(s.ID, "_KEEP"):
			if !s.OK || s.Result != "ok" || s.Verified != "match" {
				t.Errorf("the other source: %+v", s)
			}
		case strings.HasSuffix(s.ID, "_GONE"):
			if s.OK || s.Result != "incomplete" || !strings.Contains(s.Error, "vanished at byte") || len(s.Unreadable) != 0 {
				t.Errorf("the pulled source: %+v", s)
			}
		default:
			t.Errorf("unexpected source %+v", s)
		}
	}
}
