package main

import (
	"github.com/coldimage/coldimage/disk"
	"strings"
	"testing"
)

func testDevs() []Device {
	return []Device{
		{Info: disk.Info{Name: "loop0", Size: 1 << 20}, RO: true},
		{Info: disk.Info{Name: "sda", Size: 1 << 30, Serial: "SRC1"}, RO: true},
		{Info: disk.Info{Name: "sda1", Kind: disk.KindPart, Parent: "sda", Serial: "SRC1", Size: 1 << 29, FSType: "ext4", FSLabel: "data", FSUUID: "u-1"}, RO: true},
		{Info: disk.Info{Name: "sdb", Size: 1 << 30, Serial: "TGT"}, RO: true},
		{Info: disk.Info{Name: "sdb1", Kind: disk.KindPart, Parent: "sdb", Serial: "TGT", Size: 1 << 30, FSType: "ext4", FSLabel: "EVIDENCE", FSUUID: "u-2"}, RO: true},
		{Info: disk.Info{Name: "sdc", Size: 1 << 30}, RO: false, ROErr: "BLKROSET: permission denied"},
		{Info: disk.Info{Name: "sdd", Size: 8 << 30}, RO: true},
		{Info: disk.Info{Name: "sdd1", Kind: disk.KindPart, Parent: "sdd", Size: 1 << 20, FSType: "vfat", FSLabel: BootLabel}, RO: true},
		{Info: disk.Info{Name: "sr0", Size: 0}, RO: true},
		{Info: disk.Info{Name: "vda", Size: 1 << 30, FSType: "vfat", FSLabel: "USB", FSUUID: "AB12-CD34"}, RO: true},
	}
}

func TestMatchTarget(t *testing.T) {
	devs := testDevs()
	for _, tc := range []struct{ spec, want, err string }{
		{"LABEL=EVIDENCE", "sdb1", ""},
		{"UUID=ab12-cd34", "vda", ""},
		{"SERIAL=TGT", "sdb1", ""},
		{"/dev/sda1", "sda1", ""},
		{"sdd1", "sdd1", ""},
		{"LABEL=nope", "", "not found"},
		{"PARTUUID=x", "", "want LABEL="},
		{"", "", "no target"},
	} {
		d, err := MatchTarget(devs, tc.spec)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil || d.Name != tc.want {
			t.Errorf("%q: got %s, %v; want %s", tc.spec, d.Name, err, tc.want)
		}
	}
}

func TestBootDisks(t *testing.T) {
	for _, c := range []struct {
		name string
		dev  Device
		boot bool
	}{
		{"FAT label", Device{Info: disk.Info{Name: "sdd1", Kind: disk.KindPart, Parent: "sdd", FSType: "vfat", FSLabel: BootLabel}}, true},
		{"GPT name, FAT relabelled", Device{Info: disk.Info{Name: "sdd2", Kind: disk.KindPart, Parent: "sdd", PartLabel: BootLabel, FSType: "vfat", FSLabel: "USB"}}, true},
		{"GPT name, no file system", Device{Info: disk.Info{Name: "sdd2", Kind: disk.KindPart, Parent: "sdd", PartLabel: BootLabel}}, true},
		{"other names", Device{Info: disk.Info{Name: "sdd1", Kind: disk.KindPart, Parent: "sdd", PartLabel: "EFI system partition", FSType: "vfat", FSLabel: "EFI"}}, false},
		{"a disk's PartName is ignored", Device{Info: disk.Info{Name: "sdd", PartLabel: BootLabel}}, false},
	} {
		if got := BootDisks([]Device{c.dev})["sdd"]; got != c.boot {
			t.Errorf("%s: boot %v, want %v", c.name, got, c.boot)
		}
	}
}

func TestSelectSources(t *testing.T) {
	devs := testDevs()
	target := devs[4] // sdb1
	boot := BootDisks(devs)
	names := func(ds []Device) string {
		var s []string
		for _, d := range ds {
			s = append(s, d.Name)
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		name, sources string
		consent       map[string]bool
		want, err     string
		skipped       int
	}{
		{"all", "all", nil, "sda,vda", "", 5},
		{"all with consent", "all", map[string]bool{"sdc": true}, "sda,sdc,vda", "", 4},
		{"named", "sda1,SERIAL=SRC1", nil, "sda1,sda", "", 0},
		{"target disk refused", "sdb", nil, "", "on the target's disk", 0},
		{"target partition refused", "sda,sdb1", nil, "sda", "on the target's disk", 0},
		{"boot refused", "sdd", nil, "", "boot medium", 0},
		{"unprotected refused", "sdc", nil, "", "explicit consent", 0},
		{"missing", "nvme0n1", nil, "", "not found", 0},
		{"volume", "md-0a1b,sda1", nil, "md-0a1b,sda1", "", 0},
		{"volume with a member on the target disk", "md-ffff", nil, "", "member sdb1: on the target's disk", 0},
		{"volume with an unprotected member", "md-cccc", nil, "", "member sdc: could not be made read-only", 0},
		{"volume with consent", "md-cccc", map[string]bool{"sdc": true}, "md-cccc", "", 0},
		{"volume missing", "md-0000", nil, "", "source md-0000 not found", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ParseCmdline("coldimage.sources=" + tc.sources)
			volumes := func() []Device {
				return []Device{
					{Info: disk.Info{Name: "md-0a1b", Size: 1 << 30}, RO: true, Members: []string{"sda", "vda"}},
					{Info: disk.Info{Name: "md-ffff", Size: 1 << 30}, RO: true, Members: []string{"sda", "sdb1"}},
					{Info: disk.Info{Name: "md-cccc", Size: 1 << 30}, RO: true, Members: []string{"sdc"}},
				}
			}
			src, skipped, err := SelectSources(devs, cfg, &target, boot, tc.consent, volumes)
			if names(src) != tc.want {
				t.Errorf("sources %s, want %s", names(src), tc.want)
			}
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("err %v, want %q", err, tc.err)
			}
			if len(skipped) != tc.skipped {
				t.Errorf("skipped %v, want %d", skipped, tc.skipped)
			}
		})
	}
}
