package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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
// anything more) at several points of a run — raw and split — and
// continues it with --resume: the image, its hashes and its pieces equal
// those of an uninterrupted run, and the record lists every run. A resume
// against another source, and one whose image prefix was changed on the
// target, are refused and change nothing.
func TestKillAndResume(t *testing.T) {
	dir := t.TempDir()
	src := writeSource(t, dir, "disk.dd", 48<<20, 71)
	want := fileSHA256(t, src)
	ref := filepath.Join(dir, "ref")
	if _, stderr, err := runCLI(t, "acquire", "--hash", "sha256,md5", "--piece-size", "1M", "--no-verify", src, ref); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	refRec, err := imager.ReadRecord(ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		extra []string
		kills []int64 // kill once the record says this many bytes are durable
	}{
		{"raw", nil, []int64{2 << 20, 17 << 20, 40 << 20}},
		{"split", []string{"--split", "5M"}, []int64{9 << 20, 30 << 20}},
		{"e01", []string{"--format", "e01", "--segment-size", "1M"}, []int64{3 << 20, 11 << 20, 26 << 20, 38 << 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			args := append(append([]string{"acquire", "--hash", "sha256,md5", "--piece-size", "1M"}, tc.extra...), src, out)
			runs, finished := 0, false
			for i, at := range tc.kills {
				if i > 0 {
					args = []string{"acquire", "--resume", out}
				}
				cmd := startCLI(t, 1<<20, args...)
				exited := make(chan struct{})
				go func() { cmd.Wait(); close(exited) }()
				deadline := time.Now().Add(time.Minute)
				killed := false
			wait:
				for time.Now().Before(deadline) {
					// This run's own record (a resume's lists its run): the last
					// run's may already say more than at.
					if rec, err := imager.ReadRecord(out); err == nil && rec.Result == imager.ResultInProgress && rec.Image.Size >= at && (i == 0 || len(rec.Runs) > i) {
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
				// What the record says is durable is on the target and is the source's.
				b, _ := os.ReadFile(src)
				onDisk := imageBytes(t, out, rec)
				if int64(len(onDisk)) < rec.Image.Size || string(onDisk[:rec.Image.Size]) != string(b[:rec.Image.Size]) {
					t.Fatalf("after the kill at %d: the image holds %d bytes, the record says %d are durable and must be the source's", at, len(onDisk), rec.Image.Size)
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
			if got := fmt.Sprintf("%x", sha256.Sum256(imageBytes(t, out, rec))); got != want || rec.Hashes["sha256"] != want || rec.Hashes["md5"] != refRec.Hashes["md5"] {
				t.Errorf("resumed image sha256 %s, record %s / md5 %s; want %s / md5 %s", got, rec.Hashes["sha256"], rec.Hashes["md5"], want, refRec.Hashes["md5"])
			}
			if fmt.Sprint(rec.Pieces) != fmt.Sprint(refRec.Pieces) {
				t.Error("pieces differ from an uninterrupted run's")
			}
			if rec.Result != "ok" || !rec.Complete || rec.Verification == nil || !rec.Verification.Image.Match {
				t.Errorf("result %s complete %v verification %+v", rec.Result, rec.Complete, rec.Verification)
			}
			t.Logf("%d kill(s), runs recorded: %+v", runs, rec.Runs)
			if runs > 0 && len(rec.Runs) != runs+1 {
				t.Errorf("%d runs recorded, want %d: %+v", len(rec.Runs), runs+1, rec.Runs)
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
			f.Close()
			os.Truncate(filepath.Join(out, "image.raw"), rec.Image.Size) // what a resume cuts anyway
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
