package ewf

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coldimage/coldimage/imager"
)

// cutSet writes data[:upTo] into a new set, makes it durable with Sync,
// then leaves it as a crash would: more chunks written after the durable
// point (a group never closed, a segment begun with a torn header). It
// returns the durable point.
func cutSet(t *testing.T, dir string, data []byte, opt Options, upTo, more int) int64 {
	t.Helper()
	w, err := Create(dir, "image", opt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data[:upTo]); err != nil {
		t.Fatal(err)
	}
	w.Sync()
	var d int64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if d = w.Durable(); d > 0 {
			break
		}
	}
	if d == 0 {
		t.Fatal("Sync never made a chunk group durable")
	}
	if _, err := w.Write(data[upTo : upTo+more]); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	// What a power cut leaves past the durable point: a torn section in the
	// last segment, and the header of a next segment only half written.
	files := w.Files()
	last := files[len(files)-1]
	f, err := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("sectors\x00torn"))
	if st, err := f.Stat(); err == nil {
		f.Truncate(st.Size() + 16<<20) // the file grew, its data never came: zeros
	}
	f.Close()
	next, _ := segmentPath(dir, "image", len(files)+1)
	os.WriteFile(next, []byte("EVF"), 0o644)
	return d
}

func setSHA256(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	for _, p := range SegmentFiles(dir, "image") {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(filepath.Base(p)))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestReopen cuts a set off at a durable point, as a crash would, and goes
// on with Reopen: the media, the stored hashes and an independent reader
// (ewfverify) agree with the source; the set keeps its identifier. A point
// that is no closed group, and options that are not the set's, are refused
// and change nothing.
func TestReopen(t *testing.T) {
	old := tableEntriesLimit
	tableEntriesLimit = 40 // many groups per segment
	defer func() { tableEntriesLimit = old }()
	data := testData("mixed", 12<<20, 5)
	for _, tc := range []struct {
		name        string
		upTo, more  int
		segmentSize int64
	}{
		{"early", 3 << 20, 1 << 20, 1 << 20},
		{"late, one big segment", 10 << 20, 2 << 20, 64 << 20},
		{"middle", 6<<20 + 32<<10, 3 << 20, 2 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opt := testOptions()
			opt.SegmentSize, opt.MediaSize = tc.segmentSize, int64(len(data))
			d := cutSet(t, dir, data, opt, tc.upTo, tc.more)
			at, err := ResumePoint(dir, "image", d)
			if err != nil || at != d {
				t.Fatalf("ResumePoint(%d) = %d, %v; want the durable point itself", d, at, err)
			}
			if at, _ := ResumePoint(dir, "image", d-1); at >= d {
				t.Errorf("ResumePoint(%d) = %d: past what was asked", d-1, at)
			}
			before := setSHA256(t, dir)
			first, _ := os.ReadFile(filepath.Join(dir, "image.E01"))
			// Refusals change nothing.
			if _, err := Reopen(dir, "image", opt, d+512); err == nil || !strings.Contains(err.Error(), "no closed chunk group") {
				t.Errorf("Reopen at a point that is no group boundary: %v", err)
			}
			other := opt
			other.MediaSize += 1 << 20
			if _, err := Reopen(dir, "image", other, d); err == nil || !strings.Contains(err.Error(), "volume section") {
				t.Errorf("Reopen with another media size: %v", err)
			}
			// A resume refused after Reopen (its prefix did not check out) aborts before any write.
			if w, err := Reopen(dir, "image", opt, d); err != nil {
				t.Fatal(err)
			} else if err := w.Abort(); err != nil {
				t.Fatal(err)
			}
			if setSHA256(t, dir) != before {
				t.Fatal("a refused Reopen, or one aborted before its first write, changed the set")
			}
			w, r := finishReopened(t, dir, opt, d, data)
			if r.StoredHashes()["md5"] != hexsum(data)["md5"] {
				t.Errorf("stored md5 %s", r.StoredHashes()["md5"])
			}
			if files := w.Files(); len(files) != len(r.Segments()) {
				t.Errorf("Files() lists %d segments, the set has %d", len(files), len(r.Segments()))
			}
			// Nothing of the cut-off run is left past a segment's last section.
			for _, p := range r.Segments() {
				b, _ := os.ReadFile(p)
				d, err := parseDescriptor(b[len(b)-descriptorSize:])
				if err != nil || (d.Type != "next" && d.Type != "done") || d.Next != uint64(len(b)-descriptorSize) {
					t.Errorf("%s does not end with its next or done section (%+v, %v): bytes of the cut-off run left behind", p, d, err)
				}
			}
			now, _ := os.ReadFile(filepath.Join(dir, "image.E01"))
			if len(first) < 200 || len(now) < 200 || string(now[:200]) != string(first[:200]) {
				t.Error("the first segment's header changed")
			}
			if _, err := exec.LookPath("ewfverify"); err == nil {
				out, err := exec.Command("ewfverify", "-q", filepath.Join(dir, "image.E01")).CombinedOutput()
				if err != nil || !strings.Contains(string(out), "ewfverify: SUCCESS") {
					t.Errorf("ewfverify: %v\n%s", err, out)
				}
			}
		})
	}
}

// TestReopenFromNothing: a set with no durable group is created anew.
func TestReopenFromNothing(t *testing.T) {
	dir := t.TempDir()
	data := testData("random", 3<<20, 9)
	opt := testOptions()
	opt.SegmentSize, opt.MediaSize = 1<<20, int64(len(data))
	os.WriteFile(filepath.Join(dir, "image.E01"), []byte("EVF\x09\x0d\x0a\xff\x00torn"), 0o644)
	os.WriteFile(filepath.Join(dir, "image.E02"), nil, 0o644)
	if at, err := ResumePoint(dir, "image", int64(len(data))); err != nil || at != 0 {
		t.Fatalf("ResumePoint = %d, %v; want 0", at, err)
	}
	finishReopened(t, dir, opt, 0, data)
}

// finishReopened reopens the set at d, writes the rest of data, finishes,
// and checks the set's media are data; it returns the writer and an open
// reader of the set.
func finishReopened(t *testing.T, dir string, opt Options, d int64, data []byte) (*Writer, *Reader) {
	t.Helper()
	w, err := Reopen(dir, "image", opt, d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data[d:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(imager.Final{Hashes: hexsum(data), SectorSize: 512, Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	r, err := Open(filepath.Join(dir, "image.E01"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	got := make([]byte, r.Size())
	if _, err := r.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatal("the resumed set's media differ from the source")
	}
	return w, r
}
