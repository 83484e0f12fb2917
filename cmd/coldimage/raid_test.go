package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coldimage/coldimage/qemu-tests/raidfixture"
	"github.com/coldimage/coldimage/raid"
)

// raidFixture returns one case of the RAID fixtures (built by mdadm in a QEMU
// guest, normally from the cache).
func raidFixture(t *testing.T, name string) *raidfixture.Result {
	t.Helper()
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 not installed: RAID fixtures need a QEMU guest with the md driver")
	}
	fx, err := raidfixture.Build(context.Background(), raidfixture.Options{Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	r := fx.Results[name]
	if r == nil || r.SHA256 == "" {
		t.Fatalf("fixture %s missing: %+v", name, r)
	}
	return r
}

func TestRaidCLIAssembleDegraded(t *testing.T) {
	r := raidFixture(t, "v12-raid6-ls")
	out := filepath.Join(t.TempDir(), "vol.raw")
	var stdout, stderr bytes.Buffer
	// Two of six members missing: RAID6 rebuilds them from P and Q.
	args := append([]string{"raid", "assemble", "-o", out}, r.Members[2:]...)
	if err := run(context.Background(), args, nil, &stdout, &stderr); err != nil {
		t.Fatalf("assemble: %v\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != r.SHA256 {
		t.Fatalf("volume sha256 %s, kernel md %s", got, r.SHA256)
	}
	if !strings.Contains(stdout.String(), r.SHA256) || !strings.Contains(stderr.String(), "degraded") {
		t.Errorf("stdout %q stderr %q: want the hash and a degraded warning", stdout.String(), stderr.String())
	}
	// A second run must refuse to overwrite the output.
	err = run(context.Background(), args, nil, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("second assemble onto %s: %v, want a refusal", out, err)
	}
	// Too many missing: a clear error, no output file.
	out2 := filepath.Join(t.TempDir(), "vol2.raw")
	err = run(context.Background(), append([]string{"raid", "assemble", "-o", out2}, r.Members[3:]...), nil, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "too many members missing") {
		t.Fatalf("assemble with 3 of 6 missing: %v", err)
	}
	if _, err := os.Stat(out2); !os.IsNotExist(err) {
		t.Errorf("output created despite the error")
	}
}

func TestRaidCLIExamineJSONAndParity(t *testing.T) {
	r := raidFixture(t, "v12-raid5-la")
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), append([]string{"raid", "examine", "--json"}, r.Members...), nil, &stdout, &stderr); err != nil {
		t.Fatalf("examine: %v\n%s", err, stderr.String())
	}
	var rep raid.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Arrays) != 1 || rep.Arrays[0].Level != "raid5" || rep.Arrays[0].Layout != "left-asymmetric" ||
		rep.Arrays[0].Size != r.Size || rep.Arrays[0].State != "clean" {
		t.Fatalf("examine --json: %+v", rep.Arrays)
	}
	stdout.Reset()
	out := filepath.Join(t.TempDir(), "vol.raw")
	if err := run(context.Background(), append([]string{"raid", "assemble", "--check-parity", "-o", out}, r.Members...), nil, &stdout, &stderr); err != nil {
		t.Fatalf("assemble --check-parity: %v", err)
	}
	if !strings.Contains(stdout.String(), " 0 mismatches") {
		t.Fatalf("parity check of a resynced array: %s", stdout.String())
	}
}

func TestRaidCLIIMSMSerials(t *testing.T) {
	r := raidFixture(t, "imsm-raid5")
	out := filepath.Join(t.TempDir(), "vol.raw")
	var stdout, stderr bytes.Buffer
	// Without serials an image cannot be placed in the IMSM disk table.
	err := run(context.Background(), append([]string{"raid", "assemble", "-o", out}, r.Members...), nil, &stdout, &stderr)
	if err == nil {
		t.Fatalf("IMSM assembly without serials succeeded")
	}
	args := []string{"raid", "assemble", "-o", out}
	for i, m := range r.Members[:2] { // one member missing: RAID5 rebuilds it
		args = append(args, "--serial", m+"="+r.Serials[i])
	}
	args = append(args, r.Members[:2]...)
	stdout.Reset()
	if err := run(context.Background(), args, nil, &stdout, &stderr); err != nil {
		t.Fatalf("assemble: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "imsm-") || !strings.Contains(stdout.String(), r.SHA256) {
		t.Fatalf("stdout %q: want imsm- id and kernel hash %s", stdout.String(), r.SHA256)
	}
}

// Images acquired from block devices carry the drive serial in
// acquisition.json; raid assemble uses it to place IMSM members.
func TestRaidCLIIMSMSerialFromRecord(t *testing.T) {
	r := raidFixture(t, "imsm-raid1")
	var members []string
	for i, p := range r.Members {
		dir := filepath.Join(t.TempDir(), "src")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		img := filepath.Join(dir, "image.raw")
		if err := os.WriteFile(img, b, 0o644); err != nil {
			t.Fatal(err)
		}
		rec := `{"schema":"coldimage.acquisition/1","source":{"path":"/dev/sdz","serial":"` + r.Serials[i] + `"}}`
		if err := os.WriteFile(filepath.Join(dir, "acquisition.json"), []byte(rec), 0o644); err != nil {
			t.Fatal(err)
		}
		members = append(members, img)
	}
	out := filepath.Join(t.TempDir(), "vol.raw")
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), append([]string{"raid", "assemble", "-o", out}, members...), nil, &stdout, &stderr); err != nil {
		t.Fatalf("assemble: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), r.SHA256) {
		t.Fatalf("stdout %q, want kernel hash %s", stdout.String(), r.SHA256)
	}
}

// TestRaidAssembleOutputOnMember: raid assemble -o refuses (exit 5) an
// output that is a member however it is spelled — a symlink (chain), a
// hard link, a relative path — and, with loop devices, a symlink to a
// member device or to its partition, a file on a file system of a member
// device, and a file on a loop device backed by a member image; it reads no
// member before refusing.
func TestRaidAssembleOutputOnMember(t *testing.T) {
	dir := t.TempDir()
	m1 := writeSource(t, dir, "m1.img", 1<<20, 7)
	m2 := writeSource(t, dir, "m2.img", 1<<20, 8)
	sum := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(b)
		return hex.EncodeToString(s[:])
	}
	want := sum(m1)
	refused := func(t *testing.T, out string, members ...string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"raid", "assemble", "-o", out}, members...), nil, &stdout, &stderr)
		if exitCode(err) != exitRefused || !strings.Contains(err.Error(), "onto evidence") {
			t.Errorf("assemble -o %s %v: exit %d %v; want a refusal (exit 5)", out, members, exitCode(err), err)
		}
	}
	link := filepath.Join(dir, "link")
	os.Symlink(m1, link)
	chain := filepath.Join(dir, "chain")
	os.Symlink("link", chain)
	hard := filepath.Join(dir, "hard")
	if err := os.Link(m1, hard); err != nil {
		t.Fatal(err)
	}
	refused(t, link, m1, m2)
	refused(t, chain, m2, m1)
	refused(t, hard, m1, m2)
	t.Chdir(dir)
	refused(t, "./m1.img", m1, m2)
	refused(t, "m2.img", m1, filepath.Join(dir, ".", "m2.img"))
	if got := sum(m1); got != want {
		t.Fatalf("member m1 changed")
	}
	// Not on a member: the check lets it pass (these members hold no RAID).
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"raid", "assemble", "-o", filepath.Join(t.TempDir(), "vol.raw"), m1, m2}, nil, &stdout, &stderr)
	if err == nil || exitCode(err) == exitRefused {
		t.Errorf("assemble into a fresh directory: exit %d %v; want the no-metadata error", exitCode(err), err)
	}

	if os.Geteuid() != 0 {
		t.Skip("the loop-device cases need root")
	}
	needTool(t, "losetup", "sfdisk", "mkfs.ext4", "blockdev", "mount")
	img := filepath.Join(dir, "disk.img")
	sh(t, "truncate", "-s", "24M", img)
	cmd := exec.Command("sfdisk", "-q", img)
	cmd.Stdin = strings.NewReader("label: gpt\nstart=2048, size=20480, type=L\n")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v %s", err, b)
	}
	loop, parts := blockLoop(t, img)
	if len(parts) != 1 {
		t.Fatalf("no partition on %s", loop)
	}
	part := parts[0]
	sh(t, "mkfs.ext4", "-q", part)
	loopLink := filepath.Join(dir, "loop-link")
	os.Symlink(loop, loopLink)
	partLink := filepath.Join(dir, "part-link")
	os.Symlink(part, partLink)
	refused(t, loopLink, loop)
	refused(t, partLink, loop)
	refused(t, part, loop)
	refused(t, loopLink, part)
	mnt := filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	sh(t, "mount", part, mnt)
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	refused(t, filepath.Join(mnt, "vol.raw"), loop)
	refused(t, filepath.Join(mnt, "sub", "vol.raw"), part)

	// A member image attached to a loop device whose file system holds the output.
	m3 := filepath.Join(dir, "m3.img")
	sh(t, "truncate", "-s", "16M", m3)
	sh(t, "mkfs.ext4", "-q", m3)
	loop3, _ := blockLoop(t, m3)
	mnt3 := filepath.Join(dir, "mnt3")
	os.Mkdir(mnt3, 0o755)
	sh(t, "mount", loop3, mnt3)
	t.Cleanup(func() { exec.Command("umount", mnt3).Run() })
	refused(t, filepath.Join(mnt3, "vol.raw"), m1, m3)

	// Refused before reading: no member was write-blocked, nothing written.
	for _, d := range []string{loop, part, loop3} {
		if ro := sh(t, "blockdev", "--getro", d); ro != "0" {
			t.Errorf("%s read-only (%s): a member was opened before the refusal", d, ro)
		}
	}
	for _, d := range []string{mnt, mnt3} {
		if ents, _ := os.ReadDir(d); len(ents) != 1 || ents[0].Name() != "lost+found" {
			t.Errorf("%s holds %v after the refusals", d, ents)
		}
	}
}
