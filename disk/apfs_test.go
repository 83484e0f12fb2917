package disk

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// mkAPFS makes an APFS container with one volume named label with
// apfsprogs' mkapfs (a sparse 600 MiB file: mkapfs refuses smaller ones).
func mkAPFS(t testing.TB, dir, label string) string {
	t.Helper()
	needTool(t, "mkapfs")
	p := filepath.Join(dir, "apfs.img")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 600<<20); err != nil {
		t.Fatal(err)
	}
	run(t, "mkapfs", "-L", label, p)
	return p
}

// apfsVolumeBlock finds the offset of the first volume superblock (APSB)
// in a container file, scanning it block by block.
func apfsVolumeBlock(t testing.TB, f *os.File) int64 {
	t.Helper()
	buf := make([]byte, 1<<20)
	for off := int64(0); ; off += int64(len(buf)) {
		n, _ := f.ReadAt(buf, off)
		for i := 0; i+4096 <= n; i += 4096 {
			if string(buf[i+32:i+36]) == "APSB" {
				return off + int64(i)
			}
		}
		if n < len(buf) {
			t.Fatal("no APFS volume superblock in the container")
		}
	}
}

// patchAPFSVolume copies the container src to dst and changes its volume
// superblock there with edit, its checksum recomputed when sum is set.
func patchAPFSVolume(t *testing.T, src, dst string, edit func(v []byte), sum bool) {
	t.Helper()
	run(t, "cp", "--sparse=always", src, dst)
	f, err := os.OpenFile(dst, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	off := apfsVolumeBlock(t, f)
	v := make([]byte, 4096)
	if _, err := f.ReadAt(v, off); err != nil {
		t.Fatal(err)
	}
	edit(v)
	if sum {
		binary.LittleEndian.PutUint64(v, fletcher64(v[8:]))
	}
	if _, err := f.WriteAt(v, off); err != nil {
		t.Fatal(err)
	}
}

// TestAPFSVolumes: the volumes of a container made by mkapfs are read by
// name (cross-checked with libfsapfs' fsapfsinfo) and judged not
// encrypted; the same container with the volume's APFS_FS_UNENCRYPTED
// flag cleared (apfs_fs_flags at byte 264, checksum recomputed) is named
// as encrypted; a volume block whose checksum fails is not trusted.
func TestAPFSVolumes(t *testing.T) {
	dir := t.TempDir()
	const label = "Evidence Vol"
	plain := mkAPFS(t, dir, label)
	if _, err := exec.LookPath("fsapfsinfo"); err == nil {
		out := run(t, "fsapfsinfo", plain)
		if m := regexp.MustCompile(`(?m)^\s*Name\s*:\s*(.*)$`).FindStringSubmatch(out); m == nil || strings.TrimSpace(m[1]) != label {
			t.Fatalf("fsapfsinfo does not name the volume %q:\n%s", label, out)
		}
	}
	enc := filepath.Join(dir, "encrypted.img")
	patchAPFSVolume(t, plain, enc, func(v []byte) {
		binary.LittleEndian.PutUint64(v[264:], binary.LittleEndian.Uint64(v[264:])&^apfsFSUnencrypted)
	}, true)
	bad := filepath.Join(dir, "bad.img")
	patchAPFSVolume(t, plain, bad, func(v []byte) { v[704] ^= 0x20 }, false)

	for _, c := range []struct {
		name, path string
		vols       []APFSVolume
		err        string
		finding    string
	}{
		{"mkapfs", plain, []APFSVolume{{label, false}}, "", ""},
		{"flag cleared", enc, []APFSVolume{{label, true}}, "", `APFS: encrypted volume "Evidence Vol" (FileVault`},
		{"checksum fails", bad, nil, "checksum mismatch", "APFS container: its volumes may be FileVault-encrypted (not read: APFS volume superblock at block"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := os.Open(c.path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			vols, err := APFSVolumes(f, 600<<20)
			if (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
				t.Errorf("error %v, want %q", err, c.err)
			}
			if len(vols) != len(c.vols) || len(vols) > 0 && vols[0] != c.vols[0] {
				t.Errorf("volumes %+v, want %+v", vols, c.vols)
			}
			info, err := Inspect(c.path)
			if err != nil {
				t.Fatal(err)
			}
			if info.FSType != "apfs" || (c.finding == "") != (info.Encryption == "") || !strings.Contains(info.Encryption, c.finding) {
				t.Errorf("Inspect: fs %q, encryption %q, want %q", info.FSType, info.Encryption, c.finding)
			}
		})
	}
}

// TestFletcher64 checks APFS's checksum on known blocks: an all-zero body
// and the container superblock mkapfs wrote.
func TestFletcher64(t *testing.T) {
	if got := fletcher64(make([]byte, 4088)); got != 0xFFFFFFFFFFFFFFFF {
		t.Errorf("zeros: %#x", got)
	}
	f, err := os.Open(mkAPFS(t, t.TempDir(), "x"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 4096)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	if got, want := fletcher64(b[8:4096]), binary.LittleEndian.Uint64(b); got != want {
		t.Errorf("container superblock: %#x, mkapfs wrote %#x", got, want)
	}
}

// The APFS reader walks pointers of untrusted disks: never a panic, never
// a loop.
func FuzzAPFS(f *testing.F) {
	if _, err := exec.LookPath("mkapfs"); err == nil {
		if c, err := os.Open(mkAPFS(f, f.TempDir(), "seed")); err == nil {
			b := make([]byte, 64*4096) // the container superblock, object map and its tree
			c.ReadAt(b, 0)
			c.Close()
			f.Add(b)
		}
	}
	f.Add(append(append(make([]byte, 32), "NXSB"...), make([]byte, 4096)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		APFSVolumes(bytes.NewReader(b), int64(len(b)))
	})
}
