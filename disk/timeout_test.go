package disk

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLowerTimeout: a disk with a command timeout above the wanted one
// gets it lowered, and put back by restore (recorded); one at or below it,
// one without the setting (virtio-blk, NVMe) and a zero duration are left
// alone.
func TestLowerTimeout(t *testing.T) {
	old := SysRoot
	SysRoot = t.TempDir()
	defer func() { SysRoot = old }()
	for name, v := range map[string]string{"sda": "30\n", "sdb": "7\n"} {
		dir := filepath.Join(SysRoot, "block", name, "device")
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "timeout"), []byte(v), 0o644)
	}
	os.MkdirAll(filepath.Join(SysRoot, "block", "vda"), 0o755)
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(SysRoot, "block", name, "device", "timeout"))
		return string(b)
	}

	s, restore, err := LowerTimeout("sda", 10*time.Second)
	if err != nil || s == nil || s.Was != "30" || s.Set != "10" || read("sda") != "10" {
		t.Fatalf("sda: %+v %v, timeout now %q", s, err, read("sda"))
	}
	if err := restore(); err != nil || read("sda") != "30" {
		t.Errorf("after restore: %+v, timeout %q", s, read("sda"))
	}
	for _, tc := range []struct {
		name string
		d    time.Duration
	}{{"sdb", 10 * time.Second}, {"vda", 10 * time.Second}, {"sda", 0}, {"nosuch", time.Second}} {
		s, restore, err := LowerTimeout(tc.name, tc.d)
		if s != nil || err != nil || restore() != nil {
			t.Errorf("%s %s: %+v %v, want nothing changed", tc.name, tc.d, s, err)
		}
	}
	if read("sdb") != "7\n" {
		t.Errorf("sdb changed to %q", read("sdb"))
	}
}
