package raidinfo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
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

// A degraded RAID1 (one member of two, md 1.0: data from sector 0,
// superblock near the end) is offered as a source and images to exactly the
// member's data area.
func TestVolumeSource(t *testing.T) {
	sb, err := os.ReadFile(filepath.Join("..", "..", "raid", "testdata", "sb", "md10-raid1-member0.bin"))
	if err != nil {
		t.Skipf("raid fixtures: %v", err)
	}
	const sectors, superOffset, used = 16384, 16368, 16256 // member size, super_offset, size per the superblock
	member := make([]byte, sectors*512)
	for i := range member[:used*512] {
		member[i] = byte(i/512*31 + i%251)
	}
	copy(member[superOffset*512:], sb)
	dir := t.TempDir()
	mp := filepath.Join(dir, "sdx1")
	if err := os.WriteFile(mp, member, 0o444); err != nil {
		t.Fatal(err)
	}
	devs := Annotate([]ui.Device{{Info: disk.Info{Path: mp, Name: "sdx1", Kind: disk.KindDisk, Size: int64(len(member))}}})
	if len(devs) != 2 || devs[1].Kind != "raid" || devs[1].Volume == nil {
		t.Fatalf("devices %+v: want the member and its volume", devs)
	}
	v := devs[1]
	if !strings.HasPrefix(v.Name, "md-") || v.Size != used*512 {
		t.Errorf("volume %s size %d, want md-… of %d bytes", v.Name, v.Size, used*512)
	}
	t.Logf("volume %s: %s", v.Name, v.RAID)

	target := t.TempDir()
	ch := &ui.Choices{Sources: []ui.Device{v}, Target: &ui.Target{Name: target, Dir: target, Free: -1, Given: true},
		Case: imager.Case{Case: "R-1", Examiner: "E"}, Hashes: []string{"sha256"}, Format: "raw", Verify: true}
	cfg := ui.Config{Version: "test", Now: time.Now}
	s, err := ui.Plan(context.Background(), cfg, ch)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background(), ui.NewText(io.Discard, false, time.Hour)); err != nil {
		t.Fatal(err)
	}
	r := s.Sources[0]
	want := sha256.Sum256(member[:used*512])
	if !r.OK || r.Hashes["sha256"] != hex.EncodeToString(want[:]) || r.Verified != "match" {
		t.Fatalf("result %+v, want ok with sha256 %x", r, want)
	}
	rec, err := imager.ReadRecord(filepath.Join(s.Dir, r.ID))
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.RAID) == 0 || rec.Source.Kind != "raid" {
		t.Errorf("record: source kind %q, raid %s", rec.Source.Kind, rec.RAID)
	}
}
