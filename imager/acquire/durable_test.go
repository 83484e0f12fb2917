package acquire

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
)

// stallingReader serves data but stops at byte at until released: the
// moment of a power cut, frozen so the test can look at the target.
type stallingReader struct {
	data    []byte
	at      int64
	reached chan struct{}
	release chan struct{}
	once    sync.Once
}

func (s *stallingReader) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > s.at {
		s.once.Do(func() { close(s.reached) })
		<-s.release
	}
	return bytes.NewReader(s.data).ReadAt(p, off)
}

// TestInProgressRecordIsTruthful: from before the first byte until the
// end, acquisition.json is on the target; while imaging it says
// in-progress, and what it says is durable (image.size) is there: the image
// file holds at least that many bytes and they are the source's. Room for
// the final records is held meanwhile and given back at the end.
func TestInProgressRecordIsTruthful(t *testing.T) {
	data := bytes.Repeat([]byte("durable-evidence"), 1<<20) // 16 MiB
	for _, tc := range []struct {
		name  string
		split int64
	}{{"raw", 0}, {"split", 3 << 20}} {
		t.Run(tc.name, func(t *testing.T) {
			src := &stallingReader{data: data, at: 11 << 20, reached: make(chan struct{}), release: make(chan struct{})}
			out := filepath.Join(t.TempDir(), "out")
			member := filepath.Join(t.TempDir(), "m")
			os.WriteFile(member, make([]byte, 512), 0o444)
			r := &Request{Source: "md-durable", OutDir: out, Hashes: []string{"sha256"}, Split: tc.split, BufferSize: 256 << 10,
				SyncEvery: 2 << 20, NoVerify: true,
				Volume: &Volume{R: src, Info: disk.Info{Name: "md-durable", Kind: "raid", Size: int64(len(data))}, Members: []string{member}}}
			done := make(chan error, 1)
			go func() { _, err := Run(context.Background(), r); done <- err }()
			select {
			case <-src.reached:
			case err := <-done:
				t.Fatalf("finished before the cut: %v", err)
			case <-time.After(time.Minute):
				t.Fatal("never reached the cut")
			}
			time.Sleep(100 * time.Millisecond) // the writer drains what was read before the cut
			rec, err := imager.ReadRecord(out)
			if err != nil {
				t.Fatalf("no record at the cut: %v", err)
			}
			if rec.Result != imager.ResultInProgress || rec.Complete || !rec.Image.Partial || rec.Image.Size < 6<<20 || rec.Image.Size > 11<<20 {
				t.Fatalf("record at the cut: result %s complete %v size %d", rec.Result, rec.Complete, rec.Image.Size)
			}
			var onDisk []byte
			for _, f := range rec.Image.Files {
				b, err := os.ReadFile(filepath.Join(out, f))
				if err != nil {
					t.Fatal(err)
				}
				onDisk = append(onDisk, b...)
			}
			if int64(len(onDisk)) < rec.Image.Size || !bytes.Equal(onDisk[:rec.Image.Size], data[:rec.Image.Size]) {
				t.Errorf("the files hold %d bytes; the record says %d are durable and must be the source's", len(onDisk), rec.Image.Size)
			}
			if _, err := os.Stat(filepath.Join(out, recordReserve)); err != nil {
				t.Errorf("no room held for the final records: %v", err)
			}
			close(src.release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			final, err := imager.ReadRecord(out)
			if err != nil || final.Result != imager.ResultOK || final.Image.Size != int64(len(data)) || final.Hashes["sha256"] != sha256hex(data) {
				t.Fatalf("final record: %v %+v", err, final)
			}
			if _, err := os.Stat(filepath.Join(out, recordReserve)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the reserve is still there at the end: %v", err)
			}
		})
	}
}

func sha256hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// badReader fails reads touching its bad sectors and counts them after
// armed is set.
type badReader struct {
	data    []byte
	bad     map[int64]bool
	mu      sync.Mutex
	armed   bool
	touched int
}

func (b *badReader) ReadAt(p []byte, off int64) (int, error) {
	for l := off / 512; l*512 < off+int64(len(p)); l++ {
		if b.bad[l] {
			b.mu.Lock()
			if b.armed {
				b.touched++
			}
			b.mu.Unlock()
			return 0, errors.New("input/output error")
		}
	}
	return bytes.NewReader(b.data).ReadAt(p, off)
}

// TestVerifyDoesNotRepeatRescue: the verification re-reads the source
// everywhere but the ranges the acquisition recorded as unreadable, which
// it compares as the zeros the image holds; the record says which ranges
// were not re-read.
func TestVerifyDoesNotRepeatRescue(t *testing.T) {
	data := bytes.Repeat([]byte("evidence"), 512<<10) // 4 MiB
	src := &badReader{data: data, bad: map[int64]bool{100: true, 101: true, 5000: true}}
	member := filepath.Join(t.TempDir(), "m")
	os.WriteFile(member, make([]byte, 512), 0o444)
	out := filepath.Join(t.TempDir(), "out")
	r := &Request{Source: "md-bad", OutDir: out, Hashes: []string{"sha256"}, BufferSize: 256 << 10,
		Volume: &Volume{R: src, Info: disk.Info{Name: "md-bad", Kind: "raid", Size: int64(len(data))}, Members: []string{member}},
		Emit: func(e imager.Event) {
			if e.Kind == imager.EventStart && e.Phase == imager.PhaseVerify {
				src.mu.Lock()
				src.armed = true
				src.mu.Unlock()
			}
		}}
	rec, err := Run(context.Background(), r)
	if !errors.Is(err, ErrIncomplete) {
		t.Fatalf("err %v, want incomplete (unreadable sectors)", err)
	}
	if src.touched != 0 {
		t.Errorf("verification read the recorded unreadable sectors %d time(s)", src.touched)
	}
	v := rec.Verification
	if v == nil || !v.Completed() || v.Source == nil || !v.Source.Match || !v.Image.Match || len(v.NotReread) != 2 || len(v.Unreadable) != 0 {
		t.Fatalf("verification %+v", v)
	}
	if !strings.Contains(rec.Text(), "not re-read:") {
		t.Error("acquisition.txt does not say what was not re-read")
	}
}

// TestResumeBeforeFirstCheckpoint: a run cut off before its first
// checkpoint leaves a record that names no image file, while the folder
// holds a partial image.raw. The resume's room check counts the file on
// the target (it is cut and reused), so a target with room for the rest
// lets it resume, and the resumed image equals the source.
func TestResumeBeforeFirstCheckpoint(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	src, data := sourceFile(t, 6<<20, 9)
	mnt := t.TempDir()
	if b, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=10m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, b)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	out := filepath.Join(mnt, "out")
	if _, err := Run(context.Background(), &Request{Source: src, OutDir: out, Hashes: []string{"sha256"}, NoVerify: true}); err != nil {
		t.Fatal(err)
	}
	// Back to what the target holds after a cut before the first checkpoint.
	rec, err := imager.ReadRecord(out)
	if err != nil {
		t.Fatal(err)
	}
	rec.Result, rec.Complete, rec.Image.Files, rec.Image.Size = imager.ResultInProgress, false, nil, 0
	rec.Hashes, rec.Pieces, rec.Verification = map[string]string{}, []imager.Piece{}, nil
	if err := imager.WriteRecord(out, rec, false); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(out, "image.raw"), 5<<20); err != nil {
		t.Fatal(err)
	}
	r := &Request{OutDir: out, Source: src}
	if err := PreflightResume(r); err != nil {
		t.Fatalf("resume refused although the target has room for the rest: %v", err)
	}
	got, err := Resume(context.Background(), &Request{OutDir: out, Source: src, NoVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	img, _ := os.ReadFile(filepath.Join(out, "image.raw"))
	if !bytes.Equal(img, data) || got.Result != imager.ResultOK {
		t.Errorf("resumed image equal %v, result %q", bytes.Equal(img, data), got.Result)
	}
}

// badVolume is a volume whose bad sectors fail (slowly) with EIO.
type badVolume struct {
	data  []byte
	bad   map[int64]bool
	delay time.Duration
}

func (b *badVolume) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b.data)) {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), int64(len(b.data)))
	for lba := off / 512; lba*512 < end; lba++ {
		if b.bad[lba] {
			time.Sleep(b.delay)
			return 0, fmt.Errorf("read at %d: %w", off, syscall.EIO)
		}
	}
	n := copy(p, b.data[off:end])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestResumeUnfinishedRescue: an acquisition whose rescue stopped at its
// time limit (image whole, areas not read) is resumable: --resume reads the
// image back, checks it against its pieces, goes on with the areas not
// read, and ends with only bad sectors in the map, the image equal to the
// source with them zeroed, the hashes those of that image, and two runs.
func TestResumeUnfinishedRescue(t *testing.T) {
	const size = 8 << 20
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i>>9)
	}
	vol := &badVolume{data: data, bad: map[int64]bool{}, delay: 2 * time.Millisecond}
	want := append([]byte(nil), data...)
	for l := int64(4096); l < 4096+1024; l++ { // 512 KiB bad
		vol.bad[l] = true
	}
	for _, l := range []int64{100, 9000, 15000} {
		vol.bad[l] = true
	}
	for l := range vol.bad {
		clear(want[l*512 : (l+1)*512])
	}
	out := filepath.Join(t.TempDir(), "out")
	req := func(limit time.Duration) *Request {
		return &Request{Source: "vol-test", OutDir: out, Hashes: []string{"sha256"}, PieceSize: 1 << 20, BufferSize: 256 << 10,
			Volume: &Volume{R: vol, Info: disk.Info{Name: "vol-test", Size: size, LogicalSector: 512, Kind: "raid"}, Members: []string{"/dev/null"}},
			Rescue: imager.RescueSettings{Time: limit, Retries: -1}}
	}
	rec, err := Run(context.Background(), req(100*time.Millisecond))
	if !errors.Is(err, ErrIncomplete) || rec == nil || !rec.RescueUnfinished() || rec.Rescue == nil || !rec.Rescue.Stopped {
		t.Fatalf("first run: %v; record unfinished %v, rescue %+v", err, rec != nil && rec.RescueUnfinished(), rec.Rescue)
	}
	if _, err := Resumable(out); err != nil {
		t.Fatalf("an unfinished rescue is not resumable: %v", err)
	}
	rec, err = Resume(context.Background(), req(0))
	if !errors.Is(err, ErrIncomplete) || rec == nil {
		t.Fatalf("resume: %v (want incomplete: bad sectors stay)", err)
	}
	n := checkRescued(t, out, rec, want)
	if n != int64(len(vol.bad)) || rec.RescueUnfinished() || len(rec.Runs) != 2 || !strings.Contains(rec.Runs[0].StoppedBy, "time limit") {
		t.Errorf("map %d sectors (want %d), unfinished %v, runs %+v", n, len(vol.bad), rec.RescueUnfinished(), rec.Runs)
	}
}

// countingVolume records the byte ranges read from it.
type countingVolume struct {
	*badVolume
	mu    sync.Mutex
	reads [][2]int64
}

func (c *countingVolume) ReadAt(p []byte, off int64) (int, error) {
	c.mu.Lock()
	c.reads = append(c.reads, [2]int64{off, off + int64(len(p))})
	c.mu.Unlock()
	return c.badVolume.ReadAt(p, off)
}

// TestResumeCutOffDuringRescue: an acquisition cut off (a crash: the
// in-progress record stays) once its rescue passes had begun is resumed
// from its map: the image is checked against the copy pass's pieces (its
// holes as zeros), and the source is read again only where the map says
// nothing was read yet (and the first and last MiB, compared with the
// image) — never the good areas the copy pass read already. The image,
// hashes and map end as an uninterrupted run's.
func TestResumeCutOffDuringRescue(t *testing.T) {
	const size = 8 << 20
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i>>9)
	}
	vol := &countingVolume{badVolume: &badVolume{data: data, bad: map[int64]bool{}, delay: 2 * time.Millisecond}}
	want := append([]byte(nil), data...)
	for l := int64(4096); l < 4096+1024; l++ { // 512 KiB bad
		vol.bad[l] = true
	}
	for _, l := range []int64{3000, 9000, 15000} {
		vol.bad[l] = true
	}
	for l := range vol.bad {
		clear(want[l*512 : (l+1)*512])
	}
	out := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cut []byte
	req := &Request{Source: "vol-test", OutDir: out, Hashes: []string{"sha256"}, PieceSize: 1 << 20, BufferSize: 256 << 10,
		Volume: &Volume{R: vol, Info: disk.Info{Name: "vol-test", Size: size, LogicalSector: 512, Kind: "raid"}, Members: []string{"/dev/null"}},
		Rescue: imager.RescueSettings{Retries: -1},
		Emit: func(ev imager.Event) {
			if ev.Kind == imager.EventRescue && ev.Pass != "" && ev.Pass != imager.PassCopy && cut == nil {
				// The rescue passes have begun: the power goes now.
				cut, _ = os.ReadFile(filepath.Join(out, "acquisition.json"))
				cancel()
			}
		}}
	if _, err := Run(ctx, req); err == nil {
		t.Fatal("the cut-off run finished")
	}
	if cut == nil {
		t.Fatal("no rescue pass began")
	}
	if err := os.WriteFile(filepath.Join(out, "acquisition.json"), cut, 0o644); err != nil { // what a crash leaves
		t.Fatal(err)
	}
	prev, err := imager.ReadRecord(out)
	if err != nil || prev.Result != imager.ResultInProgress || prev.RescueCopyPass == nil || prev.Image.Size != size {
		t.Fatalf("record left by the cut: %v, result %s, copy pass %v, durable %d", err, prev.Result, prev.RescueCopyPass != nil, prev.Image.Size)
	}
	holes := prev.RescueCopyPass.Holes
	vol.mu.Lock()
	vol.reads = nil
	vol.mu.Unlock()

	req.Emit = nil
	rec, err := Resume(context.Background(), req)
	if !errors.Is(err, ErrIncomplete) || rec == nil {
		t.Fatalf("resume: %v (want incomplete: bad sectors stay)", err)
	}
	// Source reads during the resume (verification excluded: it ran after
	// imaging and reads everything but the map once more).
	inHole := func(lo, hi int64) bool {
		for _, h := range holes {
			if lo >= h.LBA*512 && hi <= (h.LBA+h.Count)*512 {
				return true
			}
		}
		return false
	}
	var outside int64
	vol.mu.Lock()
	reads := vol.reads
	vol.mu.Unlock()
	for _, r := range reads[:min(len(reads), countImagingReads(reads, size))] {
		if r[1] <= 1<<20 || r[0] >= size-1<<20 || inHole(r[0], r[1]) {
			continue
		}
		outside += r[1] - r[0]
	}
	if outside > 0 {
		t.Errorf("the resume read %d bytes of the source outside the map's holes: the copy pass was repeated", outside)
	}
	n := checkRescued(t, out, rec, want)
	if n != int64(len(vol.bad)) || len(rec.Runs) != 2 || rec.Runs[1].From != size || rec.RescueCopyPass != nil {
		t.Errorf("map %d sectors (want %d), runs %+v, copy pass kept %v", n, len(vol.bad), rec.Runs, rec.RescueCopyPass != nil)
	}
}

// countImagingReads is how many of reads belong to imaging: the
// verification that follows starts again at byte 0 and reads on.
func countImagingReads(reads [][2]int64, size int64) int {
	seenEnd := false
	for i, r := range reads {
		if r[1] >= size-1<<20 {
			seenEnd = true // sameContent's last MiB, at the start of the resume
		}
		if seenEnd && i > 0 && r[0] == 0 && reads[i-1][0] != 0 {
			return i
		}
	}
	return len(reads)
}

// checkRescued checks a finished rescue: the image is want (the source
// with its bad sectors zeroed) and so is its hash, no range of the map is
// left unread, and the verification found the source as recorded. It
// returns the sectors in the map.
func checkRescued(t *testing.T, out string, rec *imager.Record, want []byte) int64 {
	t.Helper()
	img, _ := os.ReadFile(filepath.Join(out, "image.raw"))
	sum := sha256.Sum256(want)
	if !bytes.Equal(img, want) || rec.Hashes["sha256"] != hex.EncodeToString(sum[:]) {
		t.Errorf("image equal %v, sha256 %s want %x", bytes.Equal(img, want), rec.Hashes["sha256"], sum)
	}
	var n int64
	for _, u := range rec.Unreadable {
		if u.State != "" {
			t.Errorf("range %+v still not read", u)
		}
		n += u.Count
	}
	if rec.Verification == nil || rec.Verification.Source == nil || !rec.Verification.Source.Match {
		t.Errorf("verification %+v", rec.Verification)
	}
	return n
}
