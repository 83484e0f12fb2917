package imager

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zeebo/blake3"
)

// testData returns deterministic pseudo-random bytes from a seed.
func testData(seed uint64, n int) []byte {
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 1, 2, 3}))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func refHashes(b []byte) map[string]string {
	m5 := md5.Sum(b)
	s1 := sha1.Sum(b)
	s2 := sha256.Sum256(b)
	b3 := blake3.Sum256(b)
	return map[string]string{
		"md5": hex.EncodeToString(m5[:]), "sha1": hex.EncodeToString(s1[:]),
		"sha256": hex.EncodeToString(s2[:]), "blake3": hex.EncodeToString(b3[:]),
	}
}

// faultySource fails every read that touches a bad sector, like a disk does.
type faultySource struct {
	data []byte
	ss   int64
	bad  map[int64]bool // LBA → unreadable
	// goneAt: from this byte on (and once anything there was asked for,
	// everywhere) reads fail with goneErr, as a removed device's do.
	goneAt  int64
	goneErr error
	gone    bool
	mu      sync.Mutex
	reads   int
	failed  int
	flaky   map[int64]int // LBA → failures before it reads
	// badDelay is how long a failing read takes (a real drive retries
	// inside for seconds); deadFrom > 0: every read touching a byte from
	// there on fails with EIO (a dead drive that is still attached);
	// slow reads of bytes in [slowFrom, slowTo) take slowDelay.
	badDelay         time.Duration
	deadFrom         int64
	slowFrom, slowTo int64
	slowDelay        time.Duration
	// page > 0: ReadAt fails for every byte of a page (page bytes) that
	// holds a bad sector, as a file read through the page cache does;
	// Precise reads sector-exact, as O_DIRECT does.
	page int64
}

// Precise is the sector-exact reader of a source whose ReadAt goes by pages.
func (f *faultySource) Precise() io.ReaderAt { return preciseFaulty{f} }

type preciseFaulty struct{ f *faultySource }

func (p preciseFaulty) ReadAt(b []byte, off int64) (int, error) { return p.f.readAt(b, off, p.f.ss) }

func (f *faultySource) fail(off int64) (int, error) {
	f.mu.Lock()
	f.failed++
	f.mu.Unlock()
	time.Sleep(f.badDelay)
	return 0, fmt.Errorf("read at %d: %w", off, syscall.EIO)
}

func (f *faultySource) ReadAt(p []byte, off int64) (int, error) {
	return f.readAt(p, off, max(f.page, f.ss))
}

// readAt reads p at off; a read fails when a bad sector is in one of the
// units (bytes each) it touches.
func (f *faultySource) readAt(p []byte, off, unit int64) (int, error) {
	f.mu.Lock()
	f.reads++
	if f.goneErr != nil && off+int64(len(p)) > f.goneAt {
		f.gone = true
	}
	gone := f.gone
	f.mu.Unlock()
	if gone {
		return 0, fmt.Errorf("read at %d: %w", off, f.goneErr)
	}
	if off >= int64(len(f.data)) {
		return 0, errors.New("EOF-ish")
	}
	end := min(off+int64(len(p)), int64(len(f.data)))
	if f.deadFrom > 0 && end > f.deadFrom {
		return f.fail(off)
	}
	for lba := off / unit * unit / f.ss; lba*f.ss < (end+unit-1)/unit*unit; lba++ {
		if f.bad[lba] {
			return f.fail(off)
		}
		f.mu.Lock()
		if f.flaky[lba] > 0 {
			f.flaky[lba]--
			f.mu.Unlock()
			return f.fail(off)
		}
		f.mu.Unlock()
	}
	if off < f.slowTo && end > f.slowFrom {
		time.Sleep(f.slowDelay)
	}
	n := copy(p, f.data[off:end])
	if n < len(p) {
		return n, errors.New("short")
	}
	return n, nil
}

type memSink struct {
	buf      bytes.Buffer
	failAt   int64
	finished *Final
	aborted  bool
}

func (m *memSink) Write(p []byte) (int, error) {
	if m.failAt > 0 && int64(m.buf.Len())+int64(len(p)) > m.failAt {
		n := int(m.failAt - int64(m.buf.Len()))
		m.buf.Write(p[:n])
		return n, syscall.ENOSPC
	}
	return m.buf.Write(p)
}
func (m *memSink) Finish(f Final) error { m.finished = &f; return nil }
func (m *memSink) Abort() error         { m.aborted = true; return nil }
func (m *memSink) Files() []string      { return nil }

func TestRunHashesMatchReference(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		buf  int
	}{
		{"empty", 0, 0},
		{"one sector", 512, 0},
		{"odd size", 3*4096 + 77, 4096},
		{"several buffers", 1<<20 + 513, 64 << 10},
		{"exact buffers", 256 << 10, 64 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := testData(uint64(tc.size), tc.size)
			sink := &memSink{}
			res, err := Run(context.Background(), Options{
				Name: tc.name, Source: bytes.NewReader(data), Size: int64(len(data)),
				Hashes: Algorithms, Sinks: []Sink{sink}, BufferSize: tc.buf,
			})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Hashes, refHashes(data)) {
				t.Errorf("hashes %v, want %v", res.Hashes, refHashes(data))
			}
			if !bytes.Equal(sink.buf.Bytes(), data) {
				t.Errorf("sink got %d bytes differing from the source", sink.buf.Len())
			}
			if sink.finished == nil || sink.finished.Size != int64(len(data)) || sink.finished.Hashes["sha256"] != res.Hashes["sha256"] {
				t.Errorf("sink not finished with the stream's size and hashes: %+v", sink.finished)
			}
		})
	}
}

func TestRunBadSectors(t *testing.T) {
	const ss = 512
	for _, tc := range []struct {
		name string
		size int
		bad  []int64
		want []BadRange
	}{
		{"one sector", 1 << 20, []int64{100}, []BadRange{{100, 1, "", ""}}},
		{"first and last", 1 << 20, []int64{0, 2047}, []BadRange{{0, 1, "", ""}, {2047, 1, "", ""}}},
		{"run across buffers", 1 << 20, []int64{126, 127, 128, 129, 130}, []BadRange{{126, 5, "", ""}}},
		{"scattered", 3<<20 + 1024, []int64{7, 9, 4000, 4001, 6145}, []BadRange{{7, 1, "", ""}, {9, 1, "", ""}, {4000, 2, "", ""}, {6145, 1, "", ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := testData(7, tc.size)
			src := &faultySource{data: data, ss: ss, bad: map[int64]bool{}}
			want := append([]byte(nil), data...)
			for _, l := range tc.bad {
				src.bad[l] = true
				clear(want[l*ss : (l+1)*ss])
			}
			var events []Event
			var mu sync.Mutex
			sink := &memSink{}
			res, err := Run(context.Background(), Options{
				Name: "faulty", Source: src, Size: int64(len(data)), Sinks: []Sink{sink}, BufferSize: 64 << 10,
				Emit: func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() },
			})
			if err != nil {
				t.Fatal(err)
			}
			for i := range tc.want {
				tc.want[i].Error = "input/output error (errno 5)"
			}
			if !reflect.DeepEqual(res.Unreadable, tc.want) {
				t.Errorf("unreadable %+v, want %+v", res.Unreadable, tc.want)
			}
			if !bytes.Equal(sink.buf.Bytes(), want) {
				t.Error("image is not the source with exactly the bad sectors zeroed")
			}
			if res.Hashes["sha256"] != refHashes(want)["sha256"] {
				t.Error("hash is not that of the zero-filled image")
			}
			// Events are ranges, merged per rescued region (a range that
			// spans two buffers is two events), covering every bad sector.
			n, sectors := 0, int64(0)
			for _, e := range events {
				if e.Kind == EventUnreadable {
					n++
					sectors += e.Bad.Count
				}
			}
			if sectors != int64(len(tc.bad)) || n < len(tc.want) || n > len(tc.want)+1 {
				t.Errorf("%d unreadable events covering %d sectors; want about one per range (%d) covering %d", n, sectors, len(tc.want), len(tc.bad))
			}
		})
	}
}

// TestRunSourceVanished: a device that goes away (ENODEV, ENXIO,
// ENOMEDIUM) stops the pass at once — no sector-by-sector rescue of the
// rest, nothing zero-filled, nothing recorded as unreadable — and the
// error says where.
func TestRunSourceVanished(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.ENODEV, syscall.ENXIO, syscall.ENOMEDIUM} {
		t.Run(errno.Error(), func(t *testing.T) {
			data := testData(9, 8<<20)
			src := &faultySource{data: data, ss: 512, goneAt: 3 << 20, goneErr: errno}
			sink := &memSink{}
			var unreadable int
			res, err := Run(context.Background(), Options{Name: "vdz", Source: src, Size: int64(len(data)), Sinks: []Sink{sink}, BufferSize: 256 << 10, Retries: 3,
				Emit: func(e Event) {
					if e.Kind == EventUnreadable {
						unreadable++
					}
				}})
			if !errors.Is(err, ErrVanished) || !errors.Is(err, errno) && !strings.Contains(err.Error(), errno.Error()) || !strings.Contains(err.Error(), "at byte") {
				t.Fatalf("err = %v, want the source vanished at a byte", err)
			}
			if src.reads > 3<<20/(256<<10)+2 {
				t.Errorf("%d reads: the rest was rescued instead of stopping", src.reads)
			}
			if len(res.Unreadable) != 0 || unreadable != 0 {
				t.Errorf("a vanished device is not bad sectors: %+v, %d events", res.Unreadable, unreadable)
			}
			if !sink.aborted || int64(sink.buf.Len()) > 3<<20 || !bytes.Equal(sink.buf.Bytes(), data[:sink.buf.Len()]) {
				t.Errorf("partial image of %d bytes is not the source's prefix (aborted %v)", sink.buf.Len(), sink.aborted)
			}
		})
	}
}

// syncSink is a memSink that can Sync: what it holds at the last Sync is
// what a power cut would leave.
type syncSink struct {
	memSink
	durable []int64
}

func (s *syncSink) Sync() error { s.durable = append(s.durable, int64(s.buf.Len())); return nil }

// TestRunCheckpoints: with sinks that can sync, Checkpoint is told, in
// order, how much every sink holds durably — never more than the slowest
// sink synced — with the unreadable ranges before that point.
func TestRunCheckpoints(t *testing.T) {
	data := testData(12, 8<<20)
	src := &faultySource{data: data, ss: 512, bad: map[int64]bool{100: true, 9000: true}}
	a, b := &syncSink{}, &syncSink{}
	var cps []Checkpoint
	res, err := Run(context.Background(), Options{Name: "cp", Source: src, Size: int64(len(data)), Sinks: []Sink{a, b},
		BufferSize: 256 << 10, SyncEvery: 1 << 20, Checkpoint: func(c Checkpoint) error { cps = append(cps, c); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if len(cps) < 6 {
		t.Fatalf("%d checkpoints for 8 MiB synced every 1 MiB", len(cps))
	}
	for i, c := range cps {
		if i > 0 && c.Bytes <= cps[i-1].Bytes {
			t.Errorf("checkpoint %d: %d bytes after %d", i, c.Bytes, cps[i-1].Bytes)
		}
		if c.Bytes%(256<<10) != 0 || c.Bytes > res.Size {
			t.Errorf("checkpoint %d at %d bytes: not a buffer boundary within the image", i, c.Bytes)
		}
		var want []BadRange
		for _, r := range res.Unreadable {
			if r.LBA*512 < c.Bytes {
				want = append(want, r)
			}
		}
		if !reflect.DeepEqual(c.Unreadable, want) {
			t.Errorf("checkpoint at %d: unreadable %+v, want %+v", c.Bytes, c.Unreadable, want)
		}
		if !slices.Contains(a.durable, c.Bytes) && c.Bytes > slices.Max(a.durable) {
			t.Errorf("checkpoint at %d is past what sink a synced (%v)", c.Bytes, a.durable)
		}
	}
	// A sink that cannot sync (E01 today): no checkpoints at all.
	cps = nil
	if _, err := Run(context.Background(), Options{Source: bytes.NewReader(data), Size: int64(len(data)), Sinks: []Sink{&syncSink{}, &memSink{}},
		SyncEvery: 1 << 20, Checkpoint: func(c Checkpoint) error { cps = append(cps, c); return nil }}); err != nil || len(cps) != 0 {
		t.Errorf("with a sink that cannot sync: %d checkpoints, %v", len(cps), err)
	}
	// A checkpoint that fails stops the pass.
	stop := errors.New("record not written")
	if _, err := Run(context.Background(), Options{Source: bytes.NewReader(data), Size: int64(len(data)), Sinks: []Sink{&syncSink{}},
		SyncEvery: 1 << 20, Checkpoint: func(Checkpoint) error { return stop }}); !errors.Is(err, stop) {
		t.Errorf("failing checkpoint: err %v", err)
	}
}

// TestRunResume: a resumed pass hashes the prefix read back from the
// image and writes only what follows it; its hashes and pieces equal an
// uninterrupted pass's; the pieces of the prefix reach Check before a byte
// of the source is read.
func TestRunResume(t *testing.T) {
	data := testData(21, 6<<20)
	full, err := Run(context.Background(), Options{Source: bytes.NewReader(data), Size: int64(len(data)), PieceSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	const at = 5<<20/2 + 512*3 // not a buffer boundary
	src := &faultySource{data: data, ss: 512, bad: map[int64]bool{}}
	sink := &memSink{}
	var checked []Piece
	var readsAtCheck int
	res, err := Run(context.Background(), Options{Source: src, Size: int64(len(data)), PieceSize: 1 << 20, BufferSize: 256 << 10,
		Sinks: []Sink{sink},
		Resume: &Resume{Offset: at, Prefix: bytes.NewReader(data[:at]), Check: func(p []Piece) error {
			checked, readsAtCheck = p, src.reads
			return nil
		}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Hashes["sha256"] != full.Hashes["sha256"] || !reflect.DeepEqual(res.Pieces, full.Pieces) {
		t.Error("a resumed pass's hashes or pieces differ from an uninterrupted one's")
	}
	if !bytes.Equal(sink.buf.Bytes(), data[at:]) {
		t.Errorf("the sink got %d bytes, want only the %d after the resume point", sink.buf.Len(), len(data)-at)
	}
	if readsAtCheck != 0 || len(checked) != 2 || !reflect.DeepEqual(checked, full.Pieces[:2]) {
		t.Errorf("Check got %d pieces after %d source reads; want the 2 whole pieces before the resume point, before any read", len(checked), readsAtCheck)
	}
	// A Check that refuses stops the pass before the source is read.
	src.reads = 0
	refuse := errors.New("pieces differ")
	sink = &memSink{}
	if _, err := Run(context.Background(), Options{Source: src, Size: int64(len(data)), PieceSize: 1 << 20, Sinks: []Sink{sink},
		Resume: &Resume{Offset: at, Prefix: bytes.NewReader(data[:at]), Check: func([]Piece) error { return refuse }}}); !errors.Is(err, refuse) || src.reads != 0 || sink.buf.Len() != 0 {
		t.Errorf("refused resume: err %v, %d source reads, %d bytes written", err, src.reads, sink.buf.Len())
	}
}

func TestRunRetriesFlakySector(t *testing.T) {
	data := testData(3, 256<<10)
	src := &faultySource{data: data, ss: 512, bad: map[int64]bool{}, flaky: map[int64]int{40: 2}}
	sink := &memSink{}
	res, err := Run(context.Background(), Options{Source: src, Size: int64(len(data)), Sinks: []Sink{sink}, BufferSize: 64 << 10, Retries: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Unreadable) != 0 || !bytes.Equal(sink.buf.Bytes(), data) {
		t.Errorf("a sector that reads on retry must be imaged, not zero-filled: %+v", res.Unreadable)
	}
}

func TestRunSinkFullKeepsPartial(t *testing.T) {
	data := testData(4, 1<<20)
	sink := &memSink{failAt: 300 << 10}
	_, err := Run(context.Background(), Options{Name: "src", Source: bytes.NewReader(data), Size: int64(len(data)), Sinks: []Sink{sink}, BufferSize: 64 << 10})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("err = %v, want ENOSPC", err)
	}
	if !sink.aborted || sink.finished != nil {
		t.Error("sink must be aborted, not finished")
	}
	if sink.buf.Len() != 300<<10 || !bytes.Equal(sink.buf.Bytes(), data[:300<<10]) {
		t.Errorf("partial image of %d bytes is not the source's prefix", sink.buf.Len())
	}
}

func TestRunSourceShorterThanSize(t *testing.T) {
	data := testData(5, 100<<10)
	_, err := Run(context.Background(), Options{Name: "shrunk", Source: bytes.NewReader(data), Size: 200 << 10, BufferSize: 64 << 10})
	if err == nil {
		t.Fatal("a source that ends before its size must fail")
	}
}

func TestRunPiecesAndParts(t *testing.T) {
	data := testData(6, 1<<20+300)
	res, err := Run(context.Background(), Options{Source: bytes.NewReader(data), Size: int64(len(data)),
		Hashes: []string{"sha256", "md5"}, PieceSize: 300 << 10, PartSize: 256 << 10, BufferSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, pieces []Piece, size int64, algs []string) {
		var want []Piece
		for off := int64(0); off < int64(len(data)); off += size {
			end := min(off+size, int64(len(data)))
			ref := refHashes(data[off:end])
			for _, a := range algs {
				want = append(want, Piece{Offset: off, Length: end - off, Alg: a, Hex: ref[a]})
			}
		}
		if !reflect.DeepEqual(pieces, want) {
			t.Errorf("%s: got %+v\nwant %+v", what, pieces, want)
		}
	}
	check("pieces", res.Pieces, 300<<10, []string{"blake3"}) // PieceAlgorithm, whatever the image hashes
	check("parts", res.Parts, 256<<10, []string{"sha256", "md5"})
}

func TestRunCompare(t *testing.T) {
	data := testData(8, 1<<20+1000)
	for _, tc := range []struct {
		name string
		flip int
	}{{"identical", -1}, {"first byte", 0}, {"middle", 700001}, {"last byte", len(data) - 1}} {
		t.Run(tc.name, func(t *testing.T) {
			img := append([]byte(nil), data...)
			if tc.flip >= 0 {
				img[tc.flip] ^= 0x40
			}
			res, err := Run(context.Background(), Options{Source: bytes.NewReader(data), Compare: bytes.NewReader(img),
				Size: int64(len(data)), Hashes: Algorithms, BufferSize: 64 << 10, Phase: PhaseVerify})
			if err != nil {
				t.Fatal(err)
			}
			if res.FirstDifference != int64(tc.flip) {
				t.Errorf("first difference %d, want %d", res.FirstDifference, tc.flip)
			}
			if !reflect.DeepEqual(res.Hashes, refHashes(data)) || !reflect.DeepEqual(res.CompareHashes, refHashes(img)) {
				t.Errorf("hashes: source %v image %v", res.Hashes, res.CompareHashes)
			}
		})
	}
}

func TestMultiBufferSHA256(t *testing.T) {
	if !CanMultiBuffer() {
		t.Skip("CPU has no AVX-512")
	}
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := testData(uint64(100+i), 1<<20+i*777)
			res, err := Run(context.Background(), Options{Source: bytes.NewReader(data), Size: int64(len(data)),
				Hashes: []string{"sha256"}, Hashers: Hashers{SHA256: SHA256Avx512MB}, PieceSize: -1})
			if err != nil {
				t.Error(err)
				return
			}
			if res.Hashes["sha256"] != refHashes(data)["sha256"] {
				t.Errorf("stream %d: multi-buffer SHA-256 differs from crypto/sha256", i)
			}
		}()
	}
	wg.Wait()
}

func TestRawSinkSplitAndNoOverwrite(t *testing.T) {
	dir := t.TempDir()
	data := testData(9, 5000*512+100)
	sink, err := NewRawSink(dir, "image", 2000*512)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), Options{Source: bytes.NewReader(data), Size: int64(len(data)), Sinks: []Sink{sink}, BufferSize: 300 * 512, PartSize: 2000 * 512})
	if err != nil {
		t.Fatal(err)
	}
	wantNames := []string{"image.raw.001", "image.raw.002", "image.raw.003"}
	var got []byte
	for i, f := range sink.Files() {
		if filepath.Base(f) != wantNames[i] {
			t.Errorf("file %d is %s, want %s", i, f, wantNames[i])
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if h := refHashes(b)["sha256"]; h != res.Parts[2*i].Hex && h != res.Parts[2*i+1].Hex {
			t.Errorf("part %d hash not in the record's parts", i)
		}
		got = append(got, b...)
	}
	if !bytes.Equal(got, data) {
		t.Error("split pieces do not concatenate to the source")
	}
	m, err := OpenFiles(sink.Files())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	back := make([]byte, len(data))
	if n, err := m.ReadAt(back, 0); n != len(data) || err != nil || !bytes.Equal(back, data) {
		t.Errorf("MultiFile read back %d bytes, err %v", n, err)
	}
	again, _ := NewRawSink(dir, "image", 2000*512)
	if _, err := again.Write([]byte("x")); !errors.Is(err, os.ErrExist) {
		t.Errorf("writing over an existing image: err %v, want ErrExist", err)
	}
}
