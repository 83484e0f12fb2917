package ui

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/session"
)

// TestPlan builds the jobs for each format from the examiner's choices and
// checks them with acquire.Preflight on real files.
func TestPlan(t *testing.T) {
	src := filepath.Join(t.TempDir(), "evidence.img")
	if err := os.WriteFile(src, make([]byte, 4<<20), 0o444); err != nil {
		t.Fatal(err)
	}
	info, err := disk.Inspect(src)
	if err != nil {
		t.Skipf("inspect: %v", err)
	}
	cfg := Config{Version: "1.0.0", Now: func() time.Time { return time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC) }}
	for _, c := range []struct {
		format, wantFormat string
		split, wantSplit   int64
		hashes, wantHashes []string
	}{
		{"raw", "raw", 0, 0, []string{"sha256", "blake3"}, []string{"sha256", "blake3"}},
		{"split", "raw", 1 << 20, 1 << 20, []string{"sha256"}, []string{"sha256"}},
		{"e01", "e01", 0, 0, []string{"sha256"}, []string{"md5", "sha1", "sha256"}}, // E01 stores MD5 and SHA-1
	} {
		t.Run(c.format, func(t *testing.T) {
			target := t.TempDir()
			asked := &imager.DeviceIdentity{Transport: "ata", Model: "ASKED"}
			ch := &Choices{Sources: []Device{{Info: info}}, Target: &Target{Name: target, Dir: target, Free: -1, Given: true},
				Case: imager.Case{Case: "2026/07 a", Examiner: "E"}, Hashes: c.hashes, Format: c.format, Split: c.split, Verify: true,
				Drive: func(Device) *imager.DeviceIdentity { return asked }}
			s, err := Plan(context.Background(), cfg, ch)
			if err != nil {
				t.Fatal(err)
			}
			r := s.Jobs[0].Req
			if want := filepath.Join(target, "coldimage", "2026_07_a", "20261122T060000Z", "evidence.img"); r.OutDir != want || s.Dir != filepath.Dir(want) {
				t.Errorf("outdir %s (session %s), want %s", r.OutDir, s.Dir, want)
			}
			if r.Device != asked {
				t.Errorf("request device %+v: the drive's answer to the UI is not passed on (it would be asked again)", r.Device)
			}
			if r.Format != c.wantFormat || r.Split != c.wantSplit || r.NoVerify || strings.Join(r.Hashes, ",") != strings.Join(c.wantHashes, ",") {
				t.Errorf("request format %s split %d noverify %v hashes %v", r.Format, r.Split, r.NoVerify, r.Hashes)
			}
			if _, err := os.Stat(filepath.Join(target, "coldimage")); err == nil {
				t.Error("Plan wrote to the target")
			}
		})
	}
}

func TestPlanRefusals(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "evidence.img")
	if err := os.WriteFile(src, make([]byte, 4<<20), 0o444); err != nil {
		t.Fatal(err)
	}
	info, err := disk.Inspect(src)
	if err != nil {
		t.Skipf("inspect: %v", err)
	}
	cfg := Config{Now: time.Now}
	base := func() *Choices {
		return &Choices{Sources: []Device{{Info: info}}, Target: &Target{Name: dir, Dir: t.TempDir(), Given: true, Free: -1},
			Case: imager.Case{Case: "C", Examiner: "E"}, Hashes: []string{"sha256"}, Format: "raw", Verify: true}
	}
	for _, c := range []struct {
		name, want string
		edit       func(*Choices)
	}{
		{"no source", "no source chosen", func(c *Choices) { c.Sources = nil }},
		{"no case", "case number is empty", func(c *Choices) { c.Case.Case = " " }},
		{"no examiner", "examiner is empty", func(c *Choices) { c.Case.Examiner = "" }},
		{"no hash", "no hash chosen", func(c *Choices) { c.Hashes = nil }},
		{"same id twice", "same id", func(c *Choices) { c.Sources = append(c.Sources, c.Sources[0]) }},
		{"a file as target", "not a directory", func(c *Choices) { c.Target.Dir = src }},
		{"no label, not confirmed", "no EVIDENCE* label", func(c *Choices) {
			c.Target = &Target{Name: "/dev/sdg1", Disk: "sdg", Label: "DATA", Free: -1, Dir: dir}
		}},
		{"boot medium", "our boot medium", func(c *Choices) {
			c.Target = &Target{Name: "/dev/sdc1", Disk: "sdc", Label: "EVIDENCE", Boot: true, Free: -1, Dir: dir}
		}},
		{"on a source's disk", "holds a selected source", func(c *Choices) {
			c.Sources = []Device{{Info: disk.Info{Path: "/dev/sda1", Name: "sda1", Kind: disk.KindPart, Parent: "sda", Size: 1 << 20}}}
			c.Target = &Target{Name: "/dev/sda2", Disk: "sda", Label: "EVIDENCE", Free: -1, Dir: dir}
		}},
		{"too small before unlocking", "not enough space", func(c *Choices) {
			c.Target = &Target{Name: "/dev/sde1", Disk: "sde", Label: "EVIDENCE", Free: 1 << 20, Dir: dir}
		}},
		{"FAT file size", "holds files of at most", func(c *Choices) {
			c.Sources[0].Size = 5 << 30
			c.Target = &Target{Name: "/dev/sde1", Disk: "sde", FSType: "vfat", Label: "EVIDENCE", Free: 1 << 40, MaxFile: 1<<32 - 1, Dir: dir}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ch := base()
			c.edit(ch)
			_, err := Plan(context.Background(), cfg, ch)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Plan: %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// A refusal found only after the target was unlocked (Preflight on the
// mounted folder) releases it again, and both steps are logged for the
// next session record; a refusal found before never calls Prepare.
func TestPlanReleasesAfterRefusal(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "evidence.img")
	if err := os.WriteFile(src, make([]byte, 4<<20), 0o444); err != nil {
		t.Fatal(err)
	}
	info, err := disk.Inspect(src)
	if err != nil {
		t.Skipf("inspect: %v", err)
	}
	var calls []string
	tg := &Target{Name: "/dev/sdz1", Disk: "sdz", Label: "EVIDENCE-7", Free: -1,
		Prepare: func(context.Context) (string, error) { calls = append(calls, "prepare"); return src, nil }, // a file: Preflight refuses
		Release: func() error { calls = append(calls, "release"); return nil }}
	ch := &Choices{Sources: []Device{{Info: info}}, Target: tg, Case: imager.Case{Case: "C", Examiner: "E"}, Hashes: []string{"sha256"}, Format: "raw"}
	cfg := Config{Now: time.Now}
	_, err = Plan(context.Background(), cfg, ch)
	if err == nil || !strings.Contains(err.Error(), "read-only again (BLKROGET=1)") {
		t.Fatalf("Plan: %v", err)
	}
	if strings.Join(calls, ",") != "prepare,release" || tg.Dir != "" {
		t.Fatalf("calls %v, dir %q", calls, tg.Dir)
	}
	if len(ch.Log) != 2 || !strings.Contains(ch.Log[0].What, "write-blocking lifted on target /dev/sdz1") || !strings.Contains(ch.Log[1].What, "write-blocked again") {
		t.Fatalf("log %+v", ch.Log)
	}
	// Too small as the unmounted file system says: refused before Prepare.
	calls = nil
	tg.Free = 1
	if _, err := Plan(context.Background(), cfg, ch); err == nil || !strings.Contains(err.Error(), "nothing was unlocked") || len(calls) != 0 {
		t.Fatalf("Plan: %v, calls %v", err, calls)
	}
	// The next session record starts with the logged events.
	tg.Free, tg.Prepare = -1, func(context.Context) (string, error) { calls = append(calls, "prepare"); return t.TempDir(), nil }
	s, err := Plan(context.Background(), cfg, ch)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 3 || len(ch.Log) != 0 || s.Target.Disk != "sdz" || !strings.Contains(s.Target.Policy, "EVIDENCE*") {
		t.Fatalf("session events %+v, log %+v, target %+v", s.Events, ch.Log, s.Target)
	}
}

func TestTargetPolicy(t *testing.T) {
	for _, c := range []struct {
		t        Target
		patterns []string
		offered  bool
		code     string
	}{
		{Target{Label: "EVIDENCE"}, nil, true, "0.0"},
		{Target{Label: "EVIDENCE-2", DiskSerial: "WD-WCC4M0XYZ987"}, nil, true, "Z987"},
		{Target{Label: "evidence"}, nil, false, "0.0"},
		{Target{Label: "", DiskSerial: "AB"}, nil, false, "AB"},
		{Target{Label: "DATA", DiskSize: 500 << 30}, nil, false, "500"},
		{Target{Label: "LAB-07", DiskSize: 3 << 29}, []string{"LAB-??"}, true, "1.5"},
		{Target{Label: "EVIDENCE"}, []string{"LAB-??"}, false, "0.0"},
		{Target{Given: true}, nil, true, "0.0"},
	} {
		if got := c.t.PolicyLabel(c.patterns) != ""; got != c.offered {
			t.Errorf("%+v with %v: offered %v, want %v", c.t, c.patterns, got, c.offered)
		}
		if code, _ := c.t.ConfirmCode(); code != c.code {
			t.Errorf("%+v: code %q, want %q", c.t, code, c.code)
		}
	}
}

// Targets on a chosen source, its disk, a volume's member, or our boot
// medium are not offered.
func TestEligibleTargets(t *testing.T) {
	all := []Target{
		{Name: "/dev/sda3", Disk: "sda"}, {Name: "/dev/sdb1", Disk: "sdb"}, {Name: "/dev/sdc1", Disk: "sdc"},
		{Name: "/dev/sdd1", Disk: "sdd", Boot: true}, {Name: "/dev/sde", Disk: "sde"}, {Name: "/srv/images"},
	}
	for _, c := range []struct {
		name    string
		sources []Device
		want    string
	}{
		{"none", nil, "/dev/sda3 /dev/sdb1 /dev/sdc1 /dev/sde /srv/images"},
		{"a partition's disk", []Device{{Info: disk.Info{Path: "/dev/sda1", Name: "sda1", Parent: "sda"}}}, "/dev/sdb1 /dev/sdc1 /dev/sde /srv/images"},
		{"a whole disk", []Device{{Info: disk.Info{Path: "/dev/sdb", Name: "sdb"}}}, "/dev/sda3 /dev/sdc1 /dev/sde /srv/images"},
		{"a volume's members", []Device{{Info: disk.Info{Path: "md-1", Name: "md-1", Kind: "raid"}, Members: []string{"/dev/sdc1", "/dev/sde"}}}, "/dev/sda3 /dev/sdb1 /srv/images"},
	} {
		var got []string
		for _, tg := range eligibleTargets(all, c.sources) {
			got = append(got, tg.Name)
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%s: %v, want %s", c.name, got, c.want)
		}
	}
}

// A FAT target cannot hold a raw image file over 4 GiB: choosing it for a
// larger source switches to split raw at the FAT-safe size, in both modes.
func TestChooseTargetFATSplits(t *testing.T) {
	a := &app{cfg: Config{confirmed: map[string]bool{}}}
	a.ch = Choices{Sources: []Device{{Info: disk.Info{Path: "/dev/sda", Name: "sda", Kind: disk.KindDisk, Size: 5 << 30}}}, Format: "raw"}
	fat := Target{Name: "/dev/sde1", Disk: "sde", FSType: "vfat", Label: "EVIDENCE", Free: 1 << 40, MaxFile: 1<<32 - 1}
	note, err := a.chooseTarget(fat)
	if err != nil || a.ch.Target == nil || a.ch.Format != "split" || a.ch.Split != session.FATSplit || !strings.Contains(note, "cannot hold files of 4 GiB") {
		t.Fatalf("chooseTarget: note %q err %v choices %+v", note, err, a.ch)
	}
	a.ch.Format, a.ch.Target = "raw", nil
	small := fat
	small.Free = 1 << 30
	if _, err := a.chooseTarget(small); err == nil || !strings.Contains(err.Error(), "nothing was unlocked") || a.ch.Target != nil || a.ch.Format != "raw" {
		t.Fatalf("a target too small was chosen: %v %+v", err, a.ch)
	}
}

// TestTargetRoom: a target too small whatever it holds is refused before
// anything is unlocked; one with too little free room but large enough for
// the images may hold a session cut off while imaging them, so it passes
// to the mounted check (Plan: the cut-off question, then the room counted
// on the mounted file system).
func TestTargetRoom(t *testing.T) {
	src := Device{Info: disk.Info{Path: "/dev/sda", Name: "sda", Kind: disk.KindDisk, Size: 100 << 20}}
	for _, c := range []struct {
		name        string
		free, total int64
		want        Room
		refused     bool
	}{
		{"free not known", -1, 0, RoomFits, false},
		{"room to spare", 1 << 30, 2 << 30, RoomFits, false},
		{"short, file system large enough", 40 << 20, 1 << 30, RoomIfCutOff, false},
		{"short, size not known", 40 << 20, 0, RoomNone, true},
		{"file system too small", 40 << 20, 90 << 20, RoomNone, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ch := &Choices{Sources: []Device{src}, Format: "raw",
				Target: &Target{Name: "/dev/sde1", Disk: "sde", Label: "EVIDENCE", Free: c.free, Total: c.total}}
			if got := ch.Target.Room(ch.Need()); got != c.want {
				t.Errorf("Room: %d, want %d", got, c.want)
			}
			err := CheckTarget(ch, nil, nil)
			if refused := errors.Is(err, ErrNotFit); refused != c.refused {
				t.Errorf("CheckTarget: %v, refused %v, want %v", err, refused, c.refused)
			}
		})
	}
}
