package main

import (
	"errors"
	"fmt"
	"github.com/coldimage/coldimage/disk"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeSysfs makes class/block entries: disks as directories, partitions
// with a "partition" file inside their disk's directory (as sysfs links),
// and points disk.SysRoot at them for the test.
func fakeSysfs(t *testing.T, devs map[string]string) {
	root := t.TempDir()
	old := disk.SysRoot
	disk.SysRoot = root
	t.Cleanup(func() { disk.SysRoot = old })
	cb := filepath.Join(root, "class", "block")
	os.MkdirAll(cb, 0o755)
	for name, parent := range devs {
		dir := filepath.Join(root, "devices", name)
		if parent != "" {
			dir = filepath.Join(root, "devices", parent, name)
		}
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "size"), []byte("2048\n"), 0o644)
		if parent != "" {
			os.WriteFile(filepath.Join(dir, "partition"), []byte("1\n"), 0o644)
			os.WriteFile(filepath.Join(dir, "uevent"), []byte("MAJOR=8\nMINOR=1\nDEVNAME="+name+"\nDEVTYPE=partition\nPARTN=1\nPARTNAME=part-"+name+"\n"), 0o644)
		} else {
			os.WriteFile(filepath.Join(dir, "serial"), []byte("S-"+name+"\n"), 0o644)
		}
		if err := os.Symlink(dir, filepath.Join(cb, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestGuard(t *testing.T) {
	fakeSysfs(t, map[string]string{"sda": "", "sda1": "sda", "sdb": "", "sr0": ""})
	var calls []string
	fail := map[string]error{
		"/dev/sdb": errors.New("BLKROSET: operation not permitted"),
		"/dev/sr0": fmt.Errorf("open /dev/sr0: %w", unix.ENOMEDIUM),
	}
	var report []string
	g := NewGuard(func(dev string) error {
		calls = append(calls, dev)
		return fail[dev]
	}, func(f string, a ...any) { report = append(report, fmt.Sprintf(f, a...)) })

	g.Sweep()
	if got := strings.Join(calls, " "); got != "/dev/sda /dev/sda1 /dev/sdb /dev/sr0" {
		t.Errorf("sweep set RO on %q", got)
	}
	g.Sweep() // checked devices are not touched again (a medium change comes as a uevent)
	if len(calls) != 4 {
		t.Errorf("second sweep called BLKROSET again: %v", calls[4:])
	}
	g.Protect("sr0", "uevent change", false) // failed before: retried
	if calls[len(calls)-1] != "/dev/sr0" {
		t.Errorf("change event did not retry sr0: %v", calls)
	}
	if err := g.Protect("sda", "uevent add", true); err != nil || calls[len(calls)-1] != "/dev/sda" {
		t.Errorf("re-added device not protected again: %v %v", err, calls)
	}
	joined := strings.Join(report, "\n")
	for _, want := range []string{
		"coldplug /dev/sda read-only (BLKROGET=1)",
		"COLDIMAGE WARNING /dev/sdb is NOT read-only: BLKROSET: operation not permitted",
		"coldplug /dev/sr0: no medium",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("report lacks %q:\n%s", want, joined)
		}
	}
	devs := map[string]Device{}
	for _, d := range g.ListDevices() {
		devs[d.Name] = d
	}
	if d := devs["sda1"]; !d.IsPart() || d.Disk() != "sda" || !d.RO || d.Serial != "S-sda" || d.Size != 1<<20 || d.ID() != "sda1_S-sda" || d.PartLabel != "part-sda1" {
		t.Errorf("sda1 = %+v (id %s)", d, d.ID())
	}
	if d := devs["sdb"]; d.RO || d.ROErr == "" {
		t.Errorf("sdb = %+v", d)
	}
	g.Allow("sdb")
	if checked, ro, err := g.Checked("sdb"); !checked || ro || err != nil {
		t.Errorf("after Allow: %v %v %v", checked, ro, err)
	}
	g.Forget("sda")
	if checked, _, _ := g.Checked("sda"); checked {
		t.Error("Forget kept sda")
	}
}
