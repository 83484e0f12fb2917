package raidinfo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/ui"
)

// A member carrying a superblock cut from a real mdadm array (raid's
// testdata) is noted with its array; a blank device is not.
func TestAnnotate(t *testing.T) {
	sb, err := os.ReadFile(filepath.Join("..", "..", "raid", "testdata", "sb", "md12-raid6-ls-member3.bin"))
	if err != nil {
		t.Skipf("raid fixtures: %v", err)
	}
	dir := t.TempDir()
	member := make([]byte, 8<<20)
	copy(member[4096:], sb) // md 1.2: superblock 4 KiB from the start
	mp := filepath.Join(dir, "member")
	if err := os.WriteFile(mp, member, 0o444); err != nil {
		t.Fatal(err)
	}
	bp := filepath.Join(dir, "blank")
	if err := os.WriteFile(bp, make([]byte, 8<<20), 0o444); err != nil {
		t.Fatal(err)
	}
	devs := Annotate([]ui.Device{
		{Info: disk.Info{Path: mp, Name: "sdx", Kind: disk.KindDisk, Size: 8 << 20}},
		{Info: disk.Info{Path: bp, Name: "sdy", Kind: disk.KindDisk, Size: 8 << 20,
			Partitions: []disk.Info{{Path: mp, Name: "sdy1", Kind: disk.KindPart, Size: 8 << 20}}}},
	})
	if !strings.Contains(devs[0].RAID, "md-1.2 raid6") {
		t.Errorf("member noted %q, want its md-1.2 raid6 array", devs[0].RAID)
	}
	if devs[1].RAID != "" {
		t.Errorf("blank disk noted %q", devs[1].RAID)
	}
	if p := devs[1].Partitions[0].RAID; !strings.Contains(p, "md-1.2 raid6") {
		t.Errorf("member partition noted %q", p)
	}
	t.Logf("member: %s", devs[0].RAID)
}
