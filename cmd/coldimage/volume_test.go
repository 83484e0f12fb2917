package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
)

// A RAID volume as an acquisition source: list names it, acquire images it
// from the members (here mdadm-made member images, one of them missing), and
// the image hashes like the kernel md driver's view of the volume.
func TestAcquireRAIDVolume(t *testing.T) {
	r := raidFixture(t, "v12-raid5-ls")
	members := r.Members[1:] // degraded: member 0 missing
	stdout, _, err := runCLI(t, append([]string{"list", "--json"}, members...)...)
	if err != nil {
		t.Fatal(err)
	}
	var infos []disk.Info
	if err := json.Unmarshal([]byte(stdout), &infos); err != nil {
		t.Fatal(err)
	}
	var vol *disk.Info
	for i := range infos {
		if infos[i].Kind == "raid" {
			vol = &infos[i]
		} else if !strings.Contains(infos[i].RAID, "raid5") {
			t.Errorf("member %s not annotated: %q", infos[i].Path, infos[i].RAID)
		}
	}
	if vol == nil || !strings.HasPrefix(vol.Name, "md-") || vol.Size != r.Size {
		t.Fatalf("list shows no volume of %d bytes: %+v", r.Size, vol)
	}

	out := filepath.Join(t.TempDir(), "out")
	args := []string{"acquire", "--hash", "sha256"}
	for _, m := range members {
		args = append(args, "--member", m)
	}
	if _, stderr, err := runCLI(t, append(args, vol.Name, out)...); err != nil {
		t.Fatalf("acquire %s: %v\n%s", vol.Name, err, stderr)
	}
	rec, err := imager.ReadRecord(out)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Hashes["sha256"] != r.SHA256 || rec.Source.Kind != "raid" || rec.Source.ID != vol.Name || len(rec.RAID) == 0 {
		t.Errorf("record: sha256 %s (kernel %s), source %+v, raid %s", rec.Hashes["sha256"], r.SHA256, rec.Source, rec.RAID)
	}
	if rec.Result != "ok" || !rec.Verification.Source.Match {
		t.Errorf("result %s verification %+v", rec.Result, rec.Verification)
	}
	if _, _, err := runCLI(t, "acquire", "md-00000000-00000000-00000000-00000000", filepath.Join(t.TempDir(), "x")); exitCode(err) != exitRefused || !strings.Contains(err.Error(), "no members") {
		t.Errorf("unknown volume: exit %d %v", exitCode(err), err)
	}
}
