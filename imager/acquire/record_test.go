package acquire

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/verify"
)

// sourceFile writes size deterministic bytes (a quarter of them zeros, like
// real disks) to a temp file and returns its path and content.
func sourceFile(t *testing.T, size int, seed byte) (string, []byte) {
	t.Helper()
	r := rand.New(rand.NewChaCha8([32]byte{seed}))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	if size > 4096 {
		clear(b[size/2 : size/2+size/4])
	}
	p := filepath.Join(t.TempDir(), "disk.dd")
	if err := os.WriteFile(p, b, 0o444); err != nil {
		t.Fatal(err)
	}
	return p, b
}

// What the confirm screen lists (imager.HashesFor) is what the record holds:
// an E01 adding MD5 and SHA-1 says so up front.
func TestHashesForIsWhatIsRecorded(t *testing.T) {
	src, _ := sourceFile(t, 1<<20, 1)
	for _, tc := range []struct {
		format string
		split  int64
		hashes []string
		want   []string
	}{
		{"raw", 0, nil, []string{"sha256", "blake3"}},
		{"raw", 0, []string{"md5", "sha256", "blake3"}, []string{"md5", "sha256", "blake3"}},
		{"split", 256 << 10, []string{"sha256"}, []string{"sha256"}},
		{"e01", 0, []string{"md5", "sha256", "blake3"}, []string{"md5", "sha1", "sha256", "blake3"}},
		{"e01", 0, nil, []string{"md5", "sha1", "sha256", "blake3"}},
	} {
		t.Run(tc.format+"/"+strings.Join(tc.hashes, ","), func(t *testing.T) {
			shown := imager.HashesFor(tc.format, tc.hashes)
			if !slices.Equal(shown, tc.want) {
				t.Errorf("HashesFor(%q, %v) = %v, want %v", tc.format, tc.hashes, shown, tc.want)
			}
			format := tc.format
			if format == "split" {
				format = "raw"
			}
			r := &Request{Source: src, OutDir: filepath.Join(t.TempDir(), "out"), Format: format, Split: tc.split,
				Hashes: slices.Clone(tc.hashes), NoVerify: true}
			rec, err := Run(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			if got := imager.HashAlgs(rec.Hashes); !slices.Equal(got, shown) {
				t.Errorf("recorded %v, the confirm screen showed %v", got, shown)
			}
			for _, alg := range shown {
				if _, err := os.Stat(filepath.Join(r.OutDir, "image."+alg)); err != nil {
					t.Errorf("sidecar for %s: %v", alg, err)
				}
			}
		})
	}
}

// session.json, session.txt and acquisition.txt name a format with the same
// word (imager.FormatName); acquisition.json keeps raw|e01 + split_size.
func TestFormatWordAgrees(t *testing.T) {
	src, _ := sourceFile(t, 1<<20+512, 2)
	for _, tc := range []struct {
		format string
		split  int64
		word   string
	}{
		{"raw", 0, "raw"},
		{"raw", 256 << 10, "split"},
		{"e01", 0, "e01"},
	} {
		t.Run(tc.word, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			rec, err := Run(context.Background(), &Request{Source: src, OutDir: out, Format: tc.format, Split: tc.split, NoVerify: true})
			if err != nil {
				t.Fatal(err)
			}
			if rec.Image.Format != tc.format || rec.Image.SplitSize != tc.split {
				t.Errorf("acquisition.json image.format %q split_size %d, want %q %d", rec.Image.Format, rec.Image.SplitSize, tc.format, tc.split)
			}
			word := imager.FormatName(rec.Image.Format, rec.Image.SplitSize)
			if word != tc.word {
				t.Errorf("FormatName = %q, want %q", word, tc.word)
			}
			txt, _ := os.ReadFile(filepath.Join(out, "acquisition.txt"))
			if !hasLine(string(txt), "Format:", tc.word) {
				t.Errorf("acquisition.txt does not say format %q:\n%s", tc.word, txt)
			}
			if tc.word == "split" && !strings.Contains(string(txt), "5 piece(s) of up to 262144 bytes") {
				t.Errorf("acquisition.txt does not give the pieces:\n%s", txt)
			}
			sdir := t.TempDir()
			s := &imager.Session{Format: word, Split: rec.Image.SplitSize}
			if err := imager.WriteSession(sdir, s); err != nil {
				t.Fatal(err)
			}
			back, err := imager.ReadSession(sdir)
			if err != nil || back.Format != tc.word {
				t.Errorf("session.json format %q (%v), want %q", back.Format, err, tc.word)
			}
			stxt, _ := os.ReadFile(filepath.Join(sdir, "session.txt"))
			if !strings.Contains(string(stxt), "format "+tc.word) {
				t.Errorf("session.txt does not say format %q:\n%s", tc.word, stxt)
			}
		})
	}
}

// hasLine reports whether text has a line "<key> <word>…" (key, spaces, then word).
func hasLine(text, key, word string) bool {
	for _, l := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(l, key); ok && strings.HasPrefix(strings.TrimSpace(rest), word) {
			if r := strings.TrimSpace(rest)[len(word):]; r == "" || r[0] == ' ' {
				return true
			}
		}
	}
	return false
}

// Case text outside ASCII reaches every record unchanged: acquisition.json
// (as UTF-8, not escaped), acquisition.txt, session.json/.txt and the E01's
// header2 as libewf's ewfinfo reads it. (The E01's legacy ASCII header
// transliterates, see ewf.TestHeaderASCII.)
func TestNonASCIICaseText(t *testing.T) {
	c := imager.Case{Case: "Müller's case", Examiner: "Jürgen Müller", Evidence: "Bücher & Söhne <1>", Notes: "Zoë’s “café” — ß"}
	src, _ := sourceFile(t, 1<<20, 4)
	out := filepath.Join(t.TempDir(), "out")
	rec, err := Run(context.Background(), &Request{Source: src, OutDir: out, Format: "e01", Case: c, Tool: imager.Tool{Version: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	back, err := imager.ReadRecord(out)
	if err != nil || back.Case != c {
		t.Errorf("acquisition.json case %+v (%v), want %+v", back.Case, err, c)
	}
	js, _ := os.ReadFile(filepath.Join(out, "acquisition.json"))
	txt, _ := os.ReadFile(filepath.Join(out, "acquisition.txt"))
	for _, v := range []string{c.Case, c.Examiner, c.Evidence, c.Notes} {
		if !strings.Contains(string(js), v) {
			t.Errorf("acquisition.json does not hold %q as written", v)
		}
		if !strings.Contains(string(txt), v) {
			t.Errorf("acquisition.txt does not hold %q", v)
		}
	}

	sdir := t.TempDir()
	s := &imager.Session{Case: c, Format: "e01", Sources: []imager.SessionSource{{ID: rec.Source.ID, Outdir: "x"}}}
	s.Sources[0].Outcome(rec, nil, false)
	if err := imager.WriteSession(sdir, s); err != nil {
		t.Fatal(err)
	}
	sb, err := imager.ReadSession(sdir)
	if err != nil || sb.Case != c {
		t.Errorf("session.json case %+v (%v), want %+v", sb.Case, err, c)
	}
	sjs, _ := os.ReadFile(filepath.Join(sdir, "session.json"))
	stxt, _ := os.ReadFile(filepath.Join(sdir, "session.txt"))
	for _, v := range []string{c.Case, c.Examiner, c.Evidence, c.Notes} {
		if !strings.Contains(string(sjs), v) || !strings.Contains(string(stxt), v) {
			t.Errorf("session.json/txt do not hold %q as written:\n%s\n%s", v, sjs, stxt)
		}
	}

	if _, err := exec.LookPath("ewfinfo"); err != nil {
		t.Skip("ewfinfo (ewf-tools) not installed")
	}
	info, err := exec.Command("ewfinfo", filepath.Join(out, "image.E01")).CombinedOutput()
	if err != nil {
		t.Fatalf("ewfinfo: %v\n%s", err, info)
	}
	for _, kv := range [][2]string{{"Case number", c.Case}, {"Examiner name", c.Examiner}, {"Evidence number", c.Evidence}, {"Notes", c.Notes}} {
		if !hasField(string(info), kv[0]+":", kv[1]) {
			t.Errorf("ewfinfo does not show %s %q:\n%s", kv[0], kv[1], info)
		}
	}
}

// hasField reports whether text has a line "<key><tabs or spaces><value>".
func hasField(text, key, value string) bool {
	for _, l := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), key); ok && strings.TrimSpace(rest) == value {
			return true
		}
	}
	return false
}

// errAborted stands for ui.ErrAborted: the cause the console UI cancels with.
var errAborted = errors.New("aborted by the operator")

// An abort during verification is not a mismatch: the image and its hashes
// stand, the result is incomplete, the verification "not completed
// (aborted)", and no record shouts the error text or the path in capitals.
func TestAbortDuringVerification(t *testing.T) {
	src, data := sourceFile(t, 4<<20, 5)
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	out := filepath.Join(t.TempDir(), "Case-Dir", "sda_Serial")
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	rec, err := Run(ctx, &Request{Source: src, OutDir: out, BufferSize: 64 << 10, Emit: func(ev imager.Event) {
		if ev.Phase == imager.PhaseVerify && ev.Kind == imager.EventStart {
			cancel(errAborted)
		}
	}})
	if !errors.Is(err, ErrIncomplete) || errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), errAborted.Error()) {
		t.Errorf("err %v: want incomplete with the abort's cause, not a mismatch", err)
	}
	if rec == nil {
		t.Fatal("no record")
	}
	img, _ := os.ReadFile(filepath.Join(out, "image.raw"))
	if s := sha256.Sum256(img); hex.EncodeToString(s[:]) != want {
		t.Fatal("image.raw differs from the source")
	}
	stored, err := imager.ReadRecord(out)
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*imager.Record{"returned": rec, "acquisition.json": stored} {
		if r.Result != imager.ResultIncomplete || r.Hashes["sha256"] != want || !r.Complete {
			t.Errorf("%s: result %q complete %v sha256 %s; want incomplete, image complete, the source's hash", name, r.Result, r.Complete, r.Hashes["sha256"])
		}
		if v := r.Verification; v == nil || v.Status != "not completed (aborted)" || v.Error != errAborted.Error() || v.Verdict() != "not completed (aborted)" {
			t.Errorf("%s: verification %+v", name, v)
		}
		if !slices.ContainsFunc(r.Errors, func(e string) bool { return strings.Contains(e, errAborted.Error()) }) {
			t.Errorf("%s: errors %q lack the abort's cause as written", name, r.Errors)
		}
	}
	js, _ := os.ReadFile(filepath.Join(out, "acquisition.json"))
	txt, _ := os.ReadFile(filepath.Join(out, "acquisition.txt"))
	for name, b := range map[string]string{"acquisition.json": string(js), "acquisition.txt": string(txt)} {
		if strings.Contains(strings.ToLower(b), "mismatch") {
			t.Errorf("%s speaks of a mismatch:\n%s", name, b)
		}
		if strings.Contains(b, strings.ToUpper(out)) || strings.Contains(b, strings.ToUpper(errAborted.Error())) {
			t.Errorf("%s upper-cases a path or an error text:\n%s", name, b)
		}
	}
	if !strings.Contains(string(txt), "not completed (aborted)") || !hasLine(string(txt), "Result:", "INCOMPLETE") {
		t.Errorf("acquisition.txt:\n%s", txt)
	}
	c := exec.Command("sha256sum", "-c", "image.sha256")
	c.Dir = out
	if b, err := c.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c image.sha256: %v\n%s", err, b)
	}

	s := imager.SessionSource{ID: "sda_Serial", Outdir: "sda_Serial"}
	s.Outcome(rec, err, false)
	if s.Verified != "not completed (aborted)" || s.Result != "incomplete" || s.OK {
		t.Errorf("session: verified %q result %q ok %v", s.Verified, s.Result, s.OK)
	}

	// A later verification that completes settles the record as ok.
	again, verr := verify.Run(context.Background(), out, verify.Options{})
	if verr != nil || again.Result != imager.ResultOK || again.Verification.Verdict() != "match" || len(again.Errors) != 0 {
		t.Errorf("re-verified: %v, result %q, verdict %q, errors %q", verr, again.Result, again.Verification.Verdict(), again.Errors)
	}
}

func TestResultText(t *testing.T) {
	for in, want := range map[string]string{
		"ok":         "OK",
		"incomplete": "INCOMPLETE",
		"mismatch":   "MISMATCH",
		"error: verify: verify /run/coldimage/Case-1/sda: read image at byte 0: input/output error": "ERROR: verify: verify /run/coldimage/Case-1/sda: read image at byte 0: input/output error",
		"": "",
	} {
		if got := imager.ResultText(in); got != want {
			t.Errorf("ResultText(%q) = %q, want %q", in, got, want)
		}
	}
}

// paced serves its first fast bytes at once (as from the page cache) and the
// rest at rate bytes/s, measured from the first read.
type paced struct {
	data  []byte
	fast  int64
	rate  float64
	mu    sync.Mutex
	start time.Time
}

func (p *paced) ReadAt(b []byte, off int64) (int, error) {
	p.mu.Lock()
	if p.start.IsZero() {
		p.start = time.Now()
	}
	start := p.start
	p.mu.Unlock()
	end := off + int64(len(b))
	if end > p.fast {
		due := start.Add(time.Duration(float64(end-p.fast) / p.rate * float64(time.Second)))
		time.Sleep(time.Until(due))
	}
	return copy(b, p.data[off:]), nil
}

// Progress shows the rate of the last seconds and an ETA that is never 0
// while work remains; the record's rate is bytes over imaging time. The
// source bursts 4 MiB, then gives 4 MiB/s for 3 s: a rate seeded by the
// burst (the console UI showed 509.9 MB/s and ETA 0:00:00 with 7 s to go)
// fails.
func TestProgressRateAndETA(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 3 s")
	}
	const fast, slow, rate = 4 << 20, 12 << 20, 4 << 20
	_, data := sourceFile(t, fast+slow, 6)
	src := &paced{data: data, fast: fast, rate: rate}
	var mu sync.Mutex
	var evs []imager.Event
	out := filepath.Join(t.TempDir(), "out")
	rec, err := Run(context.Background(), &Request{Source: "paced", OutDir: out, NoVerify: true, BufferSize: 256 << 10,
		Volume: &Volume{R: src, Info: disk.Info{Name: "paced", Size: int64(len(data))}},
		Emit: func(ev imager.Event) {
			if ev.Phase == imager.PhaseAcquire {
				mu.Lock()
				evs = append(evs, ev)
				mu.Unlock()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	start, end := evs[0], evs[len(evs)-1]
	if start.Kind != imager.EventStart || end.Kind != imager.EventDone {
		t.Fatalf("events from %s to %s", start.Kind, end.Kind)
	}
	progress := 0
	for _, ev := range evs {
		if ev.Kind != imager.EventProgress {
			continue
		}
		progress++
		el := ev.Time.Sub(start.Time)
		left := end.Time.Sub(ev.Time)
		t.Logf("%5.2fs %3d%% %5.1f MB/s ETA %v (%.1fs left)", el.Seconds(), ev.Bytes*100/ev.Total, ev.Rate/1e6, ev.ETA, left.Seconds())
		if ev.Bytes < ev.Total && ev.ETA == 0 {
			t.Errorf("at %v: ETA 0 with %d bytes to go", el, ev.Total-ev.Bytes)
		}
		if ev.Bytes < ev.Total && ev.ETA > 0 && ev.ETA%time.Second != 0 {
			t.Errorf("at %v: ETA %v is not whole seconds", el, ev.ETA)
		}
		// From 1.5 s on the burst is a quarter of the window or less.
		if el >= 1500*time.Millisecond && ev.Bytes < ev.Total {
			if ev.Rate > 2*rate || ev.Rate < rate/2 {
				t.Errorf("at %v: rate %.1f MB/s, the source gives %.1f", el, ev.Rate/1e6, float64(rate)/1e6)
			}
			if ev.ETA < left/2 || ev.ETA > 2*left+time.Second {
				t.Errorf("at %v: ETA %v with %v left", el, ev.ETA, left)
			}
		}
	}
	if progress < 4 {
		t.Errorf("%d progress events in 3 s", progress)
	}
	// The record's rate: the image's bytes over the imaging time.
	pass := end.Time.Sub(start.Time).Seconds()
	if d := rec.DurationSec; d < pass*0.9-0.05 || d > pass*1.1+0.05 {
		t.Errorf("duration_seconds %.2f, the pass took %.2f s", d, pass)
	}
	if want := float64(rec.Image.Size) / 1e6 / rec.DurationSec; math.Abs(rec.RateMBps-want) > 0.01 {
		t.Errorf("rate_mb_per_s %.2f, bytes/duration %.2f", rec.RateMBps, want)
	}
}

// stopAt cancels ctx with cause the first time a read reaches byte at.
type stopAt struct {
	data   []byte
	at     int64
	cancel context.CancelCauseFunc
	cause  error
}

func (s *stopAt) ReadAt(b []byte, off int64) (int, error) {
	if off+int64(len(b)) > s.at {
		s.cancel(s.cause)
	}
	return copy(b, s.data[off:]), nil
}

// imageBytes reads back the logical bytes of the image a record describes.
func imageBytes(t *testing.T, dir string, rec *imager.Record) []byte {
	t.Helper()
	img, err := verify.OpenImage(dir, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	b, err := io.ReadAll(io.NewSectionReader(img, 0, img.Size()))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// An acquisition that stops early records the hashes of exactly the bytes
// its (partial) image holds, says so, and writes sidecars that sha256sum -c
// accepts: raw, split (the pieces joined) and E01 (its media), mirrors each
// for their own copy.
func TestPartialImageHashed(t *testing.T) {
	_, data := sourceFile(t, 6<<20, 7)
	for _, tc := range []struct {
		name   string
		format string
		split  int64
		mirror bool
	}{
		{"raw", "raw", 0, true},
		{"split", "raw", 1 << 20, false},
		{"e01", "e01", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			src := &stopAt{data: data, at: 2<<20 + 4096, cancel: cancel, cause: errAborted}
			base := t.TempDir()
			req := &Request{Source: "disk", OutDir: filepath.Join(base, "out"), Format: tc.format, Split: tc.split, BufferSize: 256 << 10, PieceSize: 1 << 20,
				Hashes: []string{"md5", "sha256"}, Volume: &Volume{R: src, Info: disk.Info{Name: "disk", Size: int64(len(data))}}}
			if tc.mirror {
				req.Mirrors = []string{filepath.Join(base, "mirror")}
			}
			rec, err := Run(ctx, req)
			if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), errAborted.Error()) {
				t.Fatalf("err %v, want incomplete: aborted", err)
			}
			for _, dir := range append([]string{req.OutDir}, req.Mirrors...) {
				stored, err := imager.ReadRecord(dir)
				if err != nil {
					t.Fatal(err)
				}
				if dir == req.OutDir && (rec.Image.Size != stored.Image.Size || rec.Hashes["sha256"] != stored.Hashes["sha256"]) {
					t.Errorf("returned record differs from %s", dir)
				}
				n := stored.Image.Size
				if !stored.Image.Partial || n < 2<<20 || n >= int64(len(data)) || stored.Complete || stored.Result != imager.ResultIncomplete {
					t.Fatalf("%s: partial %v size %d complete %v result %q", dir, stored.Image.Partial, n, stored.Complete, stored.Result)
				}
				s := sha256.Sum256(data[:n])
				if stored.Hashes["sha256"] != hex.EncodeToString(s[:]) || len(stored.Hashes) != len(imager.HashesFor(tc.format, req.Hashes)) {
					t.Errorf("%s: hashes %v, want those of bytes 0–%d", dir, stored.Hashes, n-1)
				}
				if want := fmt.Sprintf("partial image: bytes 0–%d, the first %d of the source's %d bytes", n-1, n, len(data)); !strings.HasPrefix(stored.HashesCover, want) {
					t.Errorf("%s: hashes_cover %q, want %q…", dir, stored.HashesCover, want)
				}
				if !bytes.Equal(imageBytes(t, dir, stored), data[:n]) {
					t.Errorf("%s: the image does not hold bytes 0–%d of the source", dir, n-1)
				}
				if len(stored.Pieces) == 0 || stored.Pieces[len(stored.Pieces)-1].Offset+stored.Pieces[len(stored.Pieces)-1].Length != n {
					t.Errorf("%s: piecewise hashes %+v do not end at %d", dir, stored.Pieces, n)
				}
				if tc.split > 0 && len(stored.Image.Files) != int((n+tc.split-1)/tc.split) {
					t.Errorf("%s: files %v for %d bytes in pieces of %d", dir, stored.Image.Files, n, tc.split)
				}
				txt, _ := os.ReadFile(filepath.Join(dir, "acquisition.txt"))
				if !strings.Contains(string(txt), "PARTIAL IMAGE") || !strings.Contains(string(txt), stored.HashesCover) {
					t.Errorf("%s: acquisition.txt does not say the image and hashes are partial:\n%s", dir, txt)
				}
				for _, alg := range []string{"md5", "sha256"} {
					c := exec.Command(alg+"sum", "-c", "image."+alg)
					c.Dir = dir
					if b, err := c.CombinedOutput(); err != nil {
						t.Errorf("%s: %ssum -c image.%s: %v\n%s", dir, alg, alg, err, b)
					}
				}
				// The partial record verifies against its image.
				if v, err := verify.Run(context.Background(), dir, verify.Options{}); err != nil || v.Verification.Verdict() != "match" || v.Result != imager.ResultIncomplete {
					t.Errorf("%s: verify: %v, verdict %q, result %q", dir, err, v.Verification.Verdict(), v.Result)
				}
			}
		})
	}
}

// A target that fills up: the image holds fewer bytes than were read, so
// it is read back from the target and hashed.
func TestPartialImageTargetFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	src, data := sourceFile(t, 6<<20, 8)
	for _, format := range []string{"raw", "e01"} {
		t.Run(format, func(t *testing.T) {
			mnt := t.TempDir()
			if b, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt).CombinedOutput(); err != nil {
				t.Skipf("mount tmpfs: %v %s", err, b)
			}
			t.Cleanup(func() { exec.Command("umount", mnt).Run() })
			out := filepath.Join(mnt, "out")
			// Incompressible data, so the E01 fills the target too.
			rec, err := Run(context.Background(), &Request{Source: src, OutDir: out, Format: format, BufferSize: 256 << 10, Hashes: []string{"sha256"}})
			if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "no space left") {
				t.Fatalf("err %v, want incomplete: no space left", err)
			}
			// An E01 whose chunk table did not fit holds no readable media.
			n := rec.Image.Size
			if !rec.Image.Partial || n < 0 || n >= int64(len(data)) || (format == "raw" && n == 0) {
				t.Fatalf("partial %v size %d", rec.Image.Partial, n)
			}
			t.Logf("%s: %d bytes in the image: %s", format, n, rec.HashesCover)
			s := sha256.Sum256(data[:n])
			if rec.Hashes["sha256"] != hex.EncodeToString(s[:]) || !bytes.Equal(imageBytes(t, out, rec), data[:n]) {
				t.Errorf("hashes %v of %d bytes are not those of the image", rec.Hashes, n)
			}
			if stored, err := imager.ReadRecord(out); err != nil || stored.Hashes["sha256"] != rec.Hashes["sha256"] {
				t.Logf("record on the full target: %v (the target is full)", err)
			}
		})
	}
}

// Each copy of an E01 (--mirror) is its own segment set: each directory's
// sidecars hash its own files.
func TestE01MirrorSidecars(t *testing.T) {
	src, _ := sourceFile(t, 2<<20, 9)
	base := t.TempDir()
	req := &Request{Source: src, OutDir: filepath.Join(base, "a"), Mirrors: []string{filepath.Join(base, "b")}, Format: "e01", Hashes: []string{"sha256"}}
	if _, err := Run(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{req.OutDir, req.Mirrors[0]} {
		c := exec.Command("sha256sum", "-c", "image.sha256")
		c.Dir = dir
		if b, err := c.CombinedOutput(); err != nil {
			t.Errorf("%s: sha256sum -c image.sha256: %v\n%s", dir, err, b)
		}
	}
}

// A drive identity given with the request (the console UI asked the drive
// when the examiner chose it) is recorded as it is, with the hidden-area
// choice decided on it, and the notice of sectors not imaged emitted.
func TestGivenDeviceIdentity(t *testing.T) {
	path, _ := sourceFile(t, 1<<20, 3)
	hidden := int64(2048)
	id := &imager.DeviceIdentity{Transport: "ata", Model: "GIVEN-MODEL", Serial: "S1", HPAHidden: &hidden, HiddenArea: "HPA: 2048 sectors hidden",
		Commands: []string{"ATA IDENTIFY DEVICE: ok"}}
	var notes []string
	req := &Request{Source: path, OutDir: filepath.Join(t.TempDir(), "out"), Hashes: []string{"sha256"}, NoVerify: true, Device: id, HPA: imager.HPAImage,
		Emit: func(ev imager.Event) {
			if ev.Kind == imager.EventNotice {
				notes = append(notes, ev.Note)
			}
		}}
	if _, err := Run(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	rec, err := imager.ReadRecord(req.OutDir)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Device == nil || rec.Device.Model != "GIVEN-MODEL" || len(rec.Device.Commands) != 1 {
		t.Errorf("device %+v, want the identity given", rec.Device)
	}
	if rec.HPA == nil || rec.HPA.Mode != imager.HPAImage || rec.HPA.NotImaged == "" {
		t.Errorf("hpa %+v", rec.HPA)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "HOST PROTECTED AREA OF 2048 SECTORS NOT IMAGED") {
		t.Errorf("notices %q", notes)
	}
	txt, _ := os.ReadFile(filepath.Join(req.OutDir, "acquisition.txt"))
	if !strings.Contains(string(txt), "HOST PROTECTED AREA OF 2048 SECTORS NOT IMAGED") {
		t.Errorf("acquisition.txt lacks the hidden area:\n%s", txt)
	}
}
