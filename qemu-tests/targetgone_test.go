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
// cache — the session still ends with COLDIMAGE DONE and a power-off, and
// the source is unchanged.
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
		Append: baseAppend + " coldimage.auto=1 coldimage.target=LABEL=EVIDENCE coldimage.case=PULL"})
	expect(t, v, `vd[a-z]_SRCT acquire\s+\d+%`, 5*time.Minute)
	pulled := time.Now()
	if _, err := v.Monitor("device_del dev1"); err != nil {
		t.Fatalf("device_del: %v", err)
	}
	m := expect(t, v, `COLDIMAGE DONE ok=(\d+) failed=(\d+)`, 3*time.Minute)
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
