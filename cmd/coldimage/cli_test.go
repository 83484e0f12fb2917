package main

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/acquire"
	"github.com/coldimage/coldimage/ui"
)

func writeSource(t *testing.T, dir, name string, size int, seed byte) string {
	t.Helper()
	r := rand.New(rand.NewChaCha8([32]byte{seed}))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	if size > 4096 { // some zeros too, like real disks
		clear(b[size/2 : size/2+size/4])
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o444); err != nil {
		t.Fatal(err)
	}
	return p
}

func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), err
}

// coreutils runs e.g. sha256sum on a file and returns the hex digest.
func coreutils(t *testing.T, tool, path string) string {
	t.Helper()
	out, err := exec.Command(tool, path).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", tool, path, err)
	}
	return strings.Fields(string(out))[0]
}

func needTool(t *testing.T, tools ...string) {
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (scripts/install-deps.sh installs it)", tool)
		}
	}
}

func TestAcquireHashesEqualCoreutils(t *testing.T) {
	needTool(t, "sha256sum", "md5sum", "sha1sum")
	for _, tc := range []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"one-sector", 512},
		{"odd", 3<<20 + 1234},
		{"random", 9 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := writeSource(t, dir, tc.name+".dd", tc.size, byte(tc.size))
			out := filepath.Join(dir, "out")
			stdout, stderr, err := runCLI(t, "acquire", "--hash", "sha256,blake3,md5,sha1", "--case", "C-1", src, out)
			if err != nil {
				t.Fatalf("acquire: %v\n%s%s", err, stdout, stderr)
			}
			rec, err := imager.ReadRecord(out)
			if err != nil {
				t.Fatal(err)
			}
			for alg, tool := range map[string]string{"sha256": "sha256sum", "md5": "md5sum", "sha1": "sha1sum"} {
				if got, want := rec.Hashes[alg], coreutils(t, tool, src); got != want {
					t.Errorf("%s: record %s, %s says %s", alg, got, tool, want)
				}
				c := exec.Command(tool, "-c", "image."+alg)
				c.Dir = out
				if b, err := c.CombinedOutput(); err != nil {
					t.Errorf("%s -c image.%s in OUTDIR: %v\n%s", tool, alg, err, b)
				}
			}
			if rec.Result != "ok" || !rec.Complete || rec.Verification == nil || !rec.Verification.Image.Match || !rec.Verification.Source.Match {
				t.Errorf("record: result %q complete %v verification %+v", rec.Result, rec.Complete, rec.Verification)
			}
			if rec.Case.Case != "C-1" || rec.Source.Size != int64(tc.size) || rec.Image.Size != int64(tc.size) {
				t.Errorf("record fields: case %q source size %d image size %d", rec.Case.Case, rec.Source.Size, rec.Image.Size)
			}
			txt, err := os.ReadFile(filepath.Join(out, "acquisition.txt"))
			if err != nil || !strings.Contains(string(txt), rec.Hashes["sha256"]) {
				t.Errorf("acquisition.txt missing or without the SHA-256: %v", err)
			}
		})
	}
}

func TestAcquireSplitConcatenatesToSource(t *testing.T) {
	needTool(t, "sha256sum")
	dir := t.TempDir()
	src := writeSource(t, dir, "disk.dd", 5<<20+512, 3)
	out := filepath.Join(dir, "out")
	if _, stderr, err := runCLI(t, "acquire", "--split", "2M", src, out); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	rec, _ := imager.ReadRecord(out)
	want := []string{"image.raw.001", "image.raw.002", "image.raw.003"}
	if strings.Join(rec.Image.Files, ",") != strings.Join(want, ",") {
		t.Fatalf("files %v, want %v", rec.Image.Files, want)
	}
	var cat []byte
	for _, f := range want {
		b, _ := os.ReadFile(filepath.Join(out, f))
		cat = append(cat, b...)
	}
	orig, _ := os.ReadFile(src)
	if !bytes.Equal(cat, orig) {
		t.Error("split pieces do not concatenate to the source")
	}
	c := exec.Command("sha256sum", "-c", "image.sha256")
	c.Dir = out
	if b, err := c.CombinedOutput(); err != nil || strings.Count(string(b), ": OK") != 3 {
		t.Errorf("sha256sum -c image.sha256: %v\n%s", err, b)
	}
}

func TestVerifyNamesFlippedPiece(t *testing.T) {
	dir := t.TempDir()
	src := writeSource(t, dir, "disk.dd", 4<<20, 4)
	out := filepath.Join(dir, "out")
	if _, stderr, err := runCLI(t, "acquire", "--piece-size", "1M", src, out); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if stdout, _, err := runCLI(t, "verify", out); err != nil || !strings.Contains(stdout, "image match") {
		t.Fatalf("verify of an untouched image: %v\n%s", err, stdout)
	}
	img := filepath.Join(out, "image.raw")
	os.Chmod(img, 0o644)
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	const at = 2<<20 + 12345
	b := []byte{0}
	f.ReadAt(b, at)
	b[0] ^= 1
	f.WriteAt(b, at)
	f.Close()

	stdout, _, err := runCLI(t, "verify", out)
	if exitCode(err) != exitMismatch {
		t.Fatalf("verify of a flipped image: exit %d (%v), want %d", exitCode(err), err, exitMismatch)
	}
	if !strings.Contains(stdout, "first differing piece: offset 2097152 length 1048576") {
		t.Errorf("verify must name the piece at 2 MiB:\n%s", stdout)
	}
	stdout, _, err = runCLI(t, "verify", out, "--source", src)
	if exitCode(err) != exitMismatch || !strings.Contains(stdout, "first differing byte: 2109497") || !strings.Contains(stdout, "source match") {
		t.Errorf("verify --source: exit %d (%v)\n%s", exitCode(err), err, stdout)
	}
	// acquisition.json keeps what the acquisition found (records keep their
	// history): the mismatch is in the verification records beside it.
	rec, _ := imager.ReadRecord(out)
	if rec.Result != "ok" || !rec.Complete {
		t.Errorf("acquisition record after a failed verify: result %q complete %v, want it as acquired", rec.Result, rec.Complete)
	}
}

func TestAcquireRefusals(t *testing.T) {
	dir := t.TempDir()
	src := writeSource(t, dir, "disk.dd", 1<<20, 5)
	full := filepath.Join(dir, "full")
	os.Mkdir(full, 0o755)
	os.WriteFile(filepath.Join(full, "image.raw"), []byte("earlier evidence"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"existing output", []string{"acquire", src, full}, exitRefused, "not empty"},
		{"missing source", []string{"acquire", filepath.Join(dir, "nope"), filepath.Join(dir, "o1")}, exitRefused, "nope"},
		{"bad hash", []string{"acquire", "--hash", "crc32", src, filepath.Join(dir, "o2")}, exitUsage, "crc32"},
		{"bad format", []string{"acquire", "--format", "aff", src, filepath.Join(dir, "o3")}, exitUsage, "aff"},
		{"bad split", []string{"acquire", "--split", "1000", src, filepath.Join(dir, "o4")}, exitUsage, "multiple of 512"},
		{"no outdir", []string{"acquire", src}, exitUsage, "OUTDIR"},
		{"output is the source", []string{"acquire", src, src}, exitRefused, "not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCLI(t, tc.args...)
			if exitCode(err) != tc.code || err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("exit %d err %v; want exit %d mentioning %q", exitCode(err), err, tc.code, tc.msg)
			}
		})
	}
	if b, _ := os.ReadFile(filepath.Join(full, "image.raw")); string(b) != "earlier evidence" {
		t.Error("existing output was touched")
	}
}

func TestAcquireSeveralSourcesJSONProgress(t *testing.T) {
	dir := t.TempDir()
	a := writeSource(t, dir, "a.dd", 2<<20, 6)
	b := writeSource(t, dir, "b.dd", 3<<20+512, 7)
	out := filepath.Join(dir, "out")
	stdout, stderr, err := runCLI(t, "acquire", "--json-progress", a, b, out)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	kinds := map[string]int{}
	err = ui.ReadProgress(strings.NewReader(stdout), func(l ui.ProgressLine) error {
		kinds[l.Event]++
		if l.Event == "done" && l.Result != "ok" {
			t.Errorf("done line: %+v", l)
		}
		if l.Event == "progress" && (l.Bytes == nil || l.Total == nil || l.ETA == nil) {
			t.Errorf("progress line without bytes/total/eta_s: %+v", l)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if kinds["start"] != 2 || kinds["done"] != 2 || kinds["progress"] < 2 {
		t.Errorf("event counts %v", kinds)
	}
	for _, id := range []string{"a.dd", "b.dd"} {
		if rec, err := imager.ReadRecord(filepath.Join(out, id)); err != nil || rec.Result != "ok" || rec.Source.ID != id {
			t.Errorf("%s: %v %+v", id, err, rec)
		}
	}
	// Several sources: the session record is beside their folders.
	s, err := imager.ReadSession(out)
	if err != nil || s.Result != imager.SessionOK || s.OK != 2 || s.Mode != "host" || len(s.Sources) != 2 || s.Sources[1].Outdir != "b.dd" {
		t.Errorf("session.json in OUTDIR: %v %+v", err, s)
	}
}

// A target that fills up mid-run: the error is clear, the partial image stays,
// and the record says incomplete. Preflight would refuse, so call Run directly.
func TestTargetFillsUp(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	src := writeSource(t, dir, "disk.dd", 6<<20, 8)
	mnt := filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	if b, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, b)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })

	// Preflight refuses before the first byte.
	_, _, err := runCLI(t, "acquire", src, filepath.Join(mnt, "pre"))
	if exitCode(err) != exitRefused || !strings.Contains(err.Error(), "not enough space") {
		t.Errorf("preflight: exit %d %v", exitCode(err), err)
	}
	if _, err := os.Stat(filepath.Join(mnt, "pre")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a refused acquisition created its output directory")
	}

	out := filepath.Join(mnt, "out")
	rec, err := acquire.Run(context.Background(), &acquire.Request{Source: src, OutDir: out, BufferSize: 256 << 10})
	if !errors.Is(err, acquire.ErrIncomplete) || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("err %v, want incomplete with ENOSPC", err)
	}
	if rec == nil || rec.Result != "incomplete" || rec.Complete {
		t.Fatalf("record %+v", rec)
	}
	st, err := os.Stat(filepath.Join(out, "image.raw"))
	if err != nil || st.Size() == 0 {
		t.Fatalf("partial image not kept: %v", err)
	}
	// The records made it onto the full target (their room was held while
	// imaging), and they say what is there.
	onDisk, err := imager.ReadRecord(out)
	if err != nil || onDisk.Result != "incomplete" || onDisk.Image.Size != st.Size() || !onDisk.Image.Partial {
		t.Errorf("acquisition.json on the full target: %v, size %d vs %d bytes in image.raw", err, onDisk.Image.Size, st.Size())
	}
	if _, err := os.Stat(filepath.Join(out, "image.sha256")); err != nil {
		t.Errorf("sidecar of the partial image: %v", err)
	}
}

func TestAcquireMirror(t *testing.T) {
	needTool(t, "sha256sum")
	dir := t.TempDir()
	src := writeSource(t, dir, "disk.dd", 3<<20+512, 11)
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if _, stderr, err := runCLI(t, "acquire", "--mirror", b, src, a); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	want := coreutils(t, "sha256sum", src)
	for _, d := range []string{a, b} {
		rec, err := imager.ReadRecord(d)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Hashes["sha256"] != want || rec.Result != "ok" || len(rec.Image.Copies) != 2 || rec.Verification == nil || !rec.Verification.Image.Match {
			t.Errorf("%s: record %+v", d, rec)
		}
		c := exec.Command("sha256sum", "-c", "image.sha256")
		c.Dir = d
		if out, err := c.CombinedOutput(); err != nil {
			t.Errorf("%s: sha256sum -c: %v %s", d, err, out)
		}
	}
	// A mirror on top of the primary is refused before anything is written.
	_, _, err := runCLI(t, "acquire", "--mirror", filepath.Join(dir, "c"), src, filepath.Join(dir, "c"))
	if exitCode(err) != exitRefused {
		t.Errorf("same dir twice: exit %d %v", exitCode(err), err)
	}
}

// E01 through the CLI, checked by libewf's tools as an independent reader.
func TestAcquireE01WithEwfTools(t *testing.T) {
	needTool(t, "ewfverify", "ewfinfo", "ewfexport", "sha256sum")
	dir := t.TempDir()
	src := writeSource(t, dir, "disk.dd", 5<<20+7*512, 12) // not a multiple of the 32 KiB chunk
	out := filepath.Join(dir, "out")
	if _, stderr, err := runCLI(t, "acquire", "--format", "e01", "--segment-size", "2M", "--case", "CASE-9", "--examiner", "E. Xaminer", "--evidence", "EV-3", src, out); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	rec, err := imager.ReadRecord(out)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Image.Format != "e01" || len(rec.Image.Files) < 2 || rec.Image.Files[0] != "image.E01" || rec.Result != "ok" {
		t.Fatalf("record image %+v result %s", rec.Image, rec.Result)
	}
	if rec.Hashes["md5"] == "" || rec.Hashes["sha1"] == "" || rec.Hashes["sha256"] != coreutils(t, "sha256sum", src) {
		t.Errorf("hashes %v", rec.Hashes)
	}
	v, err := exec.Command("ewfverify", "-q", filepath.Join(out, "image.E01")).CombinedOutput()
	if err != nil || !strings.Contains(string(v), "SUCCESS") {
		t.Errorf("ewfverify: %v\n%s", err, v)
	}
	info, _ := exec.Command("ewfinfo", filepath.Join(out, "image.E01")).CombinedOutput()
	for _, w := range []string{"CASE-9", "E. Xaminer", "EV-3", rec.Hashes["md5"]} {
		if !strings.Contains(string(info), w) {
			t.Errorf("ewfinfo lacks %q:\n%s", w, info)
		}
	}
	raw := filepath.Join(dir, "export")
	if b, err := exec.Command("ewfexport", "-q", "-u", "-t", raw, "-f", "raw", filepath.Join(out, "image.E01")).CombinedOutput(); err != nil {
		t.Fatalf("ewfexport: %v %s", err, b)
	}
	if got := coreutils(t, "sha256sum", raw+".raw"); got != rec.Hashes["sha256"] {
		t.Errorf("ewfexport gives sha256 %s, source %s", got, rec.Hashes["sha256"])
	}
	c := exec.Command("sha256sum", "-c", "image.sha256")
	c.Dir = out
	if b, err := c.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c over the E01 files: %v %s", err, b)
	}
	if stdout, _, err := runCLI(t, "verify", out, "--source", src); err != nil {
		t.Errorf("coldimage verify of the E01: %v\n%s", err, stdout)
	}
}

// verify takes a folder of image folders (an acquire OUTDIR of several
// sources, or an appliance session folder) and verifies each in turn.
func TestVerifyFolderOfImages(t *testing.T) {
	dir := t.TempDir()
	a := writeSource(t, dir, "a.dd", 2<<20, 11)
	b := writeSource(t, dir, "b.dd", 3<<20+512, 12)
	out := filepath.Join(dir, "out")
	if _, stderr, err := runCLI(t, "acquire", a, b, out); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	os.WriteFile(filepath.Join(out, "session.json"), []byte("{}"), 0o644) // other files are ignored
	stdout, _, err := runCLI(t, "verify", out)
	if err != nil || strings.Count(stdout, "image match") != 2 || !strings.Contains(stdout, "2 image(s) verified") {
		t.Fatalf("verify of a folder of two images: %v\n%s", err, stdout)
	}
	var flipped string
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "b.dd") {
			flipped = filepath.Join(out, e.Name(), "image.raw")
		}
	}
	if flipped == "" {
		t.Fatalf("no image folder for b.dd in %v", entries)
	}
	os.Chmod(flipped, 0o644)
	f, err := os.OpenFile(flipped, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0xff}, 3<<20)
	f.Close()
	stdout, _, err = runCLI(t, "verify", out)
	if exitCode(err) != exitMismatch || strings.Count(stdout, "image match") != 1 || !strings.Contains(stdout, "image MISMATCH") || !strings.Contains(stdout, "1 failed") {
		t.Errorf("one flipped image of two: exit %d (%v)\n%s", exitCode(err), err, stdout)
	}
	if _, _, err := runCLI(t, "verify", out, "--source", a); exitCode(err) != exitUsage {
		t.Errorf("--source with a folder of two images: exit %d (%v), want usage", exitCode(err), err)
	}
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	if _, _, err := runCLI(t, "verify", empty); err == nil || !strings.Contains(err.Error(), "no acquisition.json there or in its subfolders") {
		t.Errorf("verify of an empty folder: %v", err)
	}
}
