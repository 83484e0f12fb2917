package main

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/verify"
)

// startCLI starts the coldimage command as a process of its own (the test
// binary's TestHelperCLI), checkpointing every syncEvery bytes.
func startCLI(t *testing.T, syncEvery int64, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestHelperCLI$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "COLDIMAGE_HELPER_CLI=1", fmt.Sprintf("COLDIMAGE_HELPER_SYNC_EVERY=%d", syncEvery))
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func fileSHA256(t *testing.T, paths ...string) string {
	t.Helper()
	h := sha256.New()
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(h, f)
		f.Close()
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestKillAndResume kills `coldimage acquire` (SIGKILL: no chance to write
// anything more) at 10 random points of a 1 GiB acquisition (48 MiB with
// -short) — raw, split and E01 — and continues it with --resume each time:
// the image, its hashes and its pieces equal those of an uninterrupted
// run, the record lists every run, and the resumes go on from the hash
// states the checkpoints saved. The points are logged with their seed.
func TestKillAndResume(t *testing.T) {
	size, piece, split, seg := int64(1<<30), "16M", "100M", "64M"
	if testing.Short() {
		size, piece, split, seg = 48<<20, "1M", "5M", "1M"
	}
	syncEvery := size / 64
	dir := t.TempDir()
	src := writeSource(t, dir, "disk.dd", int(size), 71)
	want := fileSHA256(t, src)
	ref := filepath.Join(dir, "ref")
	if _, stderr, err := runCLI(t, "acquire", "--hash", "sha256,md5", "--piece-size", piece, "--no-verify", src, ref); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	refRec, err := imager.ReadRecord(ref)
	if err != nil {
		t.Fatal(err)
	}
	seed := time.Now().UnixNano()
	rng := mathrand.New(mathrand.NewPCG(uint64(seed), 71))
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"raw", nil},
		{"split", []string{"--split", split}},
		{"e01", []string{"--format", "e01", "--segment-size", seg}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var kills []int64 // kill once the record says this many bytes are durable
			for range 10 {
				kills = append(kills, rng.Int64N(size))
			}
			slices.Sort(kills)
			t.Logf("seed %d: kill points %v", seed, kills)
			out := filepath.Join(t.TempDir(), "out")
			args := append(append([]string{"acquire", "--hash", "sha256,md5", "--piece-size", piece}, tc.extra...), src, out)
			runs, finished, fromStates := 0, false, 0
			expect := []int64{0} // per run: where the states the record left before it were saved (0: none)
			for i, at := range kills {
				if runs > 0 {
					args = []string{"acquire", "--resume", out}
				}
				cmd := startCLI(t, syncEvery, args...)
				exited := make(chan struct{})
				go func() { cmd.Wait(); close(exited) }()
				deadline := time.Now().Add(2 * time.Minute)
				killed := false
			wait:
				for time.Now().Before(deadline) {
					// This run's own record (a resume's lists its run): the last
					// run's may already say more than at.
					if rec, err := imager.ReadRecord(out); err == nil && rec.Result == imager.ResultInProgress && rec.Image.Size >= at && (runs == 0 || len(rec.Runs) > runs) {
						cmd.Process.Kill()
						killed = true
						break
					}
					select {
					case <-exited:
						break wait
					case <-time.After(time.Millisecond):
					}
				}
				<-exited
				rec, err := imager.ReadRecord(out)
				if err != nil {
					t.Fatal(err)
				}
				if !killed || rec.Result != imager.ResultInProgress {
					t.Logf("run %d finished before the kill at %d (result %s): fine, nothing left to cut", i, at, rec.Result)
					finished = rec.Result == imager.ResultOK
					break
				}
				runs++
				if rec.HashStates != nil {
					expect = append(expect, rec.HashStates.Offset)
				} else {
					expect = append(expect, 0) // killed before the hashers reached a piece boundary
				}
				if n := len(rec.Runs); n > 0 && rec.Runs[n-1].HashStatesAt > 0 {
					fromStates++
				}
				// What the record says is durable is on the target and is the source's.
				if err := sameBytes(src, out, rec, rec.Image.Size); err != nil {
					t.Fatalf("after the kill at %d: %v", at, err)
				}
			}
			if !finished {
				stdout, stderr, err := runCLI(t, "acquire", "--resume", "--json-progress", out)
				if err != nil {
					t.Fatalf("final resume: %v\n%s", err, stderr)
				}
				if runs > 0 && !strings.Contains(stdout, `"event":"resumed"`) {
					t.Errorf("no resumed line in the progress:\n%s", stdout)
				}
			}
			rec, err := imager.ReadRecord(out)
			if err != nil {
				t.Fatal(err)
			}
			if got := imageSHA256(t, out, rec); got != want || rec.Hashes["sha256"] != want || rec.Hashes["md5"] != refRec.Hashes["md5"] {
				t.Errorf("resumed image sha256 %s, record %s / md5 %s; want %s / md5 %s", got, rec.Hashes["sha256"], rec.Hashes["md5"], want, refRec.Hashes["md5"])
			}
			if fmt.Sprint(rec.Pieces) != fmt.Sprint(refRec.Pieces) {
				t.Error("pieces differ from an uninterrupted run's")
			}
			if rec.Result != "ok" || !rec.Complete || rec.Verification == nil || !rec.Verification.Image.Match {
				t.Errorf("result %s complete %v verification %+v", rec.Result, rec.Complete, rec.Verification)
			}
			if rec.HashStates != nil {
				t.Error("the final record still holds hash states")
			}
			if n := len(rec.Runs); n > 0 && rec.Runs[n-1].HashStatesAt > 0 {
				fromStates++
			}
			t.Logf("%d kill(s), %d resume(s) from saved hash states; runs recorded:", runs, fromStates)
			for _, r := range rec.Runs {
				t.Logf("  %d → %d (states at %d): %s", r.From, r.To, r.HashStatesAt, r.StoppedBy)
			}
			if runs > 0 && len(rec.Runs) != runs+1 {
				t.Errorf("%d runs recorded, want %d: %+v", len(rec.Runs), runs+1, rec.Runs)
			}
			// Every resume goes on from the states the record it found had saved.
			for i, r := range rec.Runs {
				if i < len(expect) && r.HashStatesAt != expect[i] {
					t.Errorf("run %d (from byte %d) went on from hash states at %d, the record before it had saved them at %d", i, r.From, r.HashStatesAt, expect[i])
				}
			}
			if runs > 1 && fromStates == 0 {
				t.Error("no resume went on from saved hash states")
			}
			if tc.extra != nil {
				if _, err := os.Stat(filepath.Join(out, "image.sha256")); err != nil {
					t.Error(err)
				}
				c := exec.Command("sha256sum", "-c", "image.sha256")
				c.Dir = out
				if b, err := c.CombinedOutput(); err != nil {
					t.Errorf("sha256sum -c: %v %s", err, b)
				}
			}
		})
	}
}

// sameBytes compares the first n bytes of the image the record in dir
// describes with the source file's.
func sameBytes(src, dir string, rec *imager.Record, n int64) error {
	img, err := verify.OpenImage(dir, rec)
	if err != nil {
		return err
	}
	defer img.Close()
	if img.Size() < n {
		return fmt.Errorf("the image holds %d bytes, the record says %d are durable", img.Size(), n)
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	a, b := make([]byte, 4<<20), make([]byte, 4<<20)
	for off := int64(0); off < n; off += int64(len(a)) {
		k := min(int64(len(a)), n-off)
		if _, err := f.ReadAt(a[:k], off); err != nil {
			return err
		}
		if _, err := img.ReadAt(b[:k], off); err != nil && err != io.EOF {
			return err
		}
		if !bytes.Equal(a[:k], b[:k]) {
			return fmt.Errorf("the image differs from the source in [%d, %d), within the %d bytes the record says are durable", off, off+k, n)
		}
	}
	return nil
}

// imageSHA256 hashes the media of the image the record in dir describes.
func imageSHA256(t *testing.T, dir string, rec *imager.Record) string {
	t.Helper()
	img, err := verify.OpenImage(dir, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(img, 0, img.Size())); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// imageBytes reads the image the record in dir describes: a raw image's
// files joined, an E01's media (as far as its chunk tables go, when the
// record is in progress).
func imageBytes(t *testing.T, dir string, rec *imager.Record) []byte {
	t.Helper()
	img, err := verify.OpenImage(dir, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	b := make([]byte, img.Size())
	if _, err := img.ReadAt(b, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return b
}

func readAll(t *testing.T, paths []string) []byte {
	t.Helper()
	var out []byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

// TestResumeRefusals: a resume against another source, onto an image
// whose durable bytes were changed, of a complete acquisition, or with
// settings of its own, is refused and changes nothing in the folder.
func TestResumeRefusals(t *testing.T) {
	dir := t.TempDir()
	src := writeSource(t, dir, "disk.dd", 24<<20, 72)
	other := writeSource(t, dir, "other.dd", 24<<20, 73)
	out := filepath.Join(dir, "out")
	cmd := startCLI(t, 1<<20, "acquire", "--hash", "sha256", "--piece-size", "1M", src, out)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if rec, err := imager.ReadRecord(out); err == nil && rec.Result == imager.ResultInProgress && len(rec.Pieces) >= 4 {
			cmd.Process.Kill() // 4 whole pieces recorded: the resume point is past 4 MiB
			break
		}
	}
	cmd.Wait()
	rec, err := imager.ReadRecord(out)
	if err != nil || rec.Result != imager.ResultInProgress {
		t.Skipf("the run finished before it could be cut (%v)", err)
	}
	snapshot := func() string {
		var b strings.Builder
		ents, _ := os.ReadDir(out)
		for _, e := range ents {
			if n := e.Name(); n == "acquisition.json" || strings.HasPrefix(n, "image.raw") {
				// the record and the image; a killed run's leftovers (.tmp
				// files, the reserve) and the text rendering may be tidied
				fmt.Fprintf(&b, "%s:%s\n", n, fileSHA256(t, filepath.Join(out, n)))
			}
		}
		return b.String()
	}
	before := snapshot()
	for _, c := range []struct {
		name string
		args []string
		want string
		prep func()
	}{
		{"another source", []string{"acquire", "--resume", other, out}, "differs from the image", nil},
		{"settings of its own", []string{"acquire", "--resume", "--hash", "md5", out}, "--hash not allowed", nil},
		{"nothing there", []string{"acquire", "--resume", filepath.Join(dir, "none")}, "nothing to resume", nil},
		{"image changed inside", []string{"acquire", "--resume", out}, "no longer matches its record: piece at byte 1048576", func() {
			f, _ := os.OpenFile(filepath.Join(out, "image.raw"), os.O_WRONLY, 0)
			f.WriteAt([]byte("tampered"), 1<<20+4096) // neither the first nor the last MiB before the resume point
			// A torn tail past the durable point: the refusal comes
			// before anything is cut, so the tail stays as it was.
			f.Truncate(rec.Image.Size)
			f.WriteAt(bytes.Repeat([]byte("torn tail "), 300<<10), rec.Image.Size)
			f.Close()
			before = snapshot()
		}},
		{"image changed", []string{"acquire", "--resume", out}, "differs from the image", func() {
			f, _ := os.OpenFile(filepath.Join(out, "image.raw"), os.O_WRONLY, 0)
			f.WriteAt([]byte("tampered"), 100)
			f.Close()
			before = snapshot()
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.prep != nil {
				c.prep()
			}
			_, _, err := runCLI(t, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want a refusal saying %q", err, c.want)
			}
			if after := snapshot(); after != before {
				t.Errorf("a refused resume changed the folder:\nbefore %s\nafter %s", before, after)
			}
		})
	}
}

// TestResumeRefusalsE01: an E01 cut off mid-run, whose durable chunks
// were then changed on the target (the stored Adler-32 no longer matches,
// or the chunk reads back different from its recorded piece), is not
// resumed, and the refusal leaves every segment file as it was.
func TestResumeRefusalsE01(t *testing.T) {
	dir := t.TempDir()
	src := writeSource(t, dir, "disk.dd", 24<<20, 75)
	out := filepath.Join(dir, "out")
	cmd := startCLI(t, 1<<20, "acquire", "--format", "e01", "--segment-size", "1M", "--hash", "sha256", "--piece-size", "1M", src, out)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if rec, err := imager.ReadRecord(out); err == nil && rec.Result == imager.ResultInProgress && len(rec.Pieces) >= 6 {
			cmd.Process.Kill()
			break
		}
	}
	cmd.Wait()
	if rec, err := imager.ReadRecord(out); err != nil || rec.Result != imager.ResultInProgress {
		t.Skipf("the run finished before it could be cut (%v)", err)
	}
	snapshot := func() string {
		var b strings.Builder
		ents, _ := os.ReadDir(out)
		for _, e := range ents {
			if n := e.Name(); n == "acquisition.json" || strings.HasPrefix(n, "image.E") {
				fmt.Fprintf(&b, "%s:%s\n", n, fileSHA256(t, filepath.Join(out, n)))
			}
		}
		return b.String()
	}
	seg := filepath.Join(out, "image.E03") // media from about 2 MiB: neither the first nor the last MiB before the resume point
	st, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(seg, os.O_WRONLY, 0)
	f.WriteAt([]byte("tampered"), st.Size()/2)
	f.Close()
	before := snapshot()
	_, _, err = runCLI(t, "acquire", "--resume", out)
	if err == nil || !strings.Contains(err.Error(), "not resumed") {
		t.Fatalf("err %v, want a refusal", err)
	}
	t.Logf("refused: %v", err)
	if after := snapshot(); after != before {
		t.Errorf("a refused resume changed the folder:\nbefore %s\nafter %s", before, after)
	}
}

// TestVerifyCutOff: `coldimage verify` on an acquisition cut off mid-run
// gives no verdict on the incomplete image (exit 3, saying how to resume),
// after checking that the durable bytes' recorded pieces match; a byte
// changed in them is a mismatch (exit 4) naming the piece.
func TestVerifyCutOff(t *testing.T) {
	dir := t.TempDir()
	src := writeSource(t, dir, "disk.dd", 24<<20, 74)
	out := filepath.Join(dir, "out")
	cmd := startCLI(t, 1<<20, "acquire", "--hash", "sha256", "--piece-size", "1M", src, out)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if rec, err := imager.ReadRecord(out); err == nil && rec.Result == imager.ResultInProgress && len(rec.Pieces) >= 3 {
			cmd.Process.Kill()
			break
		}
	}
	cmd.Wait()
	if rec, err := imager.ReadRecord(out); err != nil || rec.Result != imager.ResultInProgress {
		t.Skipf("the run finished before it could be cut (%v)", err)
	}
	stdout, _, err := runCLI(t, "verify", out)
	if exitCode(err) != exitIncomplete || !strings.Contains(err.Error(), "cut off") || !strings.Contains(err.Error(), "--resume "+out) {
		t.Fatalf("verify of a cut-off acquisition: exit %d %v\n%s", exitCode(err), err, stdout)
	}
	f, _ := os.OpenFile(filepath.Join(out, "image.raw"), os.O_WRONLY, 0)
	f.WriteAt([]byte{0xEE}, 1<<20+77)
	f.Close()
	stdout, _, err = runCLI(t, "verify", out)
	if exitCode(err) != exitMismatch || !strings.Contains(stdout, "first differing piece: offset 1048576") {
		t.Fatalf("verify of a changed cut-off image: exit %d %v\n%s", exitCode(err), err, stdout)
	}
}

// TestResumeWrongHashState: a saved hash state that is well-formed but not
// the image's (a record changed on the target) cannot be told from a good
// one when it is restored; the verification that ends every resume reads
// source and image again and says the hashes do not match — never ok.
func TestResumeWrongHashState(t *testing.T) {
	dir := t.TempDir()
	src := writeSource(t, dir, "disk.dd", 24<<20, 76)
	out := filepath.Join(dir, "out")
	cmd := startCLI(t, 1<<20, "acquire", "--hash", "sha256", "--piece-size", "1M", src, out)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if r, err := imager.ReadRecord(out); err == nil && r.Result == imager.ResultInProgress && r.HashStates != nil && r.HashStates.Offset >= 2<<20 {
			cmd.Process.Kill()
			break
		}
	}
	cmd.Wait()
	rec, err := imager.ReadRecord(out)
	if err != nil || rec.Result != imager.ResultInProgress || rec.HashStates == nil {
		t.Skipf("the run finished before it could be cut with hash states saved (%v)", err)
	}
	// The state of as many zero bytes: the right layout, the wrong content.
	h := sha256.New()
	h.Write(make([]byte, rec.HashStates.Offset))
	b, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	rec.HashStates.States["sha256"] = base64.StdEncoding.EncodeToString(b)
	if err := imager.WriteRecord(out, rec, false); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := runCLI(t, "acquire", "--resume", out)
	if err == nil {
		t.Fatalf("a resume from a wrong hash state passed:\n%s", stderr)
	}
	final, rerr := imager.ReadRecord(out)
	if rerr != nil {
		t.Fatal(rerr)
	}
	t.Logf("refused as: %v; result %s", err, final.Result)
	if final.Result == imager.ResultOK || final.Verification == nil || final.Verification.Image.Match {
		t.Errorf("result %s, verification %+v: the wrong hash went unnoticed", final.Result, final.Verification)
	}
	if want := fileSHA256(t, src); final.Hashes["sha256"] == want {
		t.Errorf("the recorded sha256 is the source's, though the state was not the image's")
	}
}
