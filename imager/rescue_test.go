package imager

import (
	"bytes"
	"context"
	"io"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestPutRange(t *testing.T) {
	m := []BadRange{{LBA: 10, Count: 10, Error: "e", State: StateNonTried}, {LBA: 30, Count: 5, Error: "e", State: StateNonTrimmed}}
	for _, tc := range []struct {
		name string
		r    BadRange
		keep bool
		want []BadRange
	}{
		{"read the middle", BadRange{LBA: 12, Count: 3}, false,
			[]BadRange{{10, 2, "e", StateNonTried}, {15, 5, "e", StateNonTried}, {30, 5, "e", StateNonTrimmed}}},
		{"read the head", BadRange{LBA: 10, Count: 4}, false,
			[]BadRange{{14, 6, "e", StateNonTried}, {30, 5, "e", StateNonTrimmed}}},
		{"read all of one", BadRange{LBA: 30, Count: 5}, false,
			[]BadRange{{10, 10, "e", StateNonTried}}},
		{"bad sector inside", BadRange{LBA: 31, Count: 1, Error: "EIO"}, true,
			[]BadRange{{10, 10, "e", StateNonTried}, {30, 1, "e", StateNonTrimmed}, {31, 1, "EIO", ""}, {32, 3, "e", StateNonTrimmed}}},
		{"new range between", BadRange{LBA: 25, Count: 2, Error: "x", State: StateNonScraped}, true,
			[]BadRange{{10, 10, "e", StateNonTried}, {25, 2, "x", StateNonScraped}, {30, 5, "e", StateNonTrimmed}}},
		{"new range after", BadRange{LBA: 40, Count: 1, Error: "EIO"}, true,
			[]BadRange{{10, 10, "e", StateNonTried}, {30, 5, "e", StateNonTrimmed}, {40, 1, "EIO", ""}}},
		{"same state merges", BadRange{LBA: 20, Count: 10, Error: "e", State: StateNonTried}, true,
			[]BadRange{{10, 20, "e", StateNonTried}, {30, 5, "e", StateNonTrimmed}}},
		{"spanning two", BadRange{LBA: 15, Count: 17, Error: "EIO"}, true,
			[]BadRange{{10, 5, "e", StateNonTried}, {15, 17, "EIO", ""}, {32, 3, "e", StateNonTrimmed}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := putRange(append([]BadRange(nil), m...), tc.r, tc.keep)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// rescueRun images src into a raw image (split when split > 0) in a new
// folder and returns the result, the image bytes and the events.
func rescueRun(t *testing.T, src *faultySource, o Options, split int64) (*Result, []byte, []Event, error) {
	t.Helper()
	dir := t.TempDir()
	sink, err := NewRawSink(dir, "image", split)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []Event
	o.Name, o.Source, o.Size, o.Sinks = "failing", src, int64(len(src.data)), []Sink{sink}
	o.Emit = func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() }
	res, runErr := Run(context.Background(), o)
	files := sink.Files()
	mf, err := OpenFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	img := make([]byte, mf.Size())
	if _, err := mf.ReadAt(img, 0); err != nil && len(img) > 0 {
		t.Fatal(err)
	}
	return res, img, events, runErr
}

// reference is what an uninterrupted run over want (a flawless source
// holding the image's bytes) hashes: whole-stream hashes, pieces, parts.
func reference(t *testing.T, want []byte, o Options) *Result {
	t.Helper()
	o.Name, o.Source, o.Size, o.Sinks, o.Emit = "ref", bytes.NewReader(want), int64(len(want)), nil, nil
	o.Hashes = Algorithms
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestRescuePasses: a raw image is copied first, skipping past failures,
// then what was skipped is read back (backwards), trimmed, scraped and
// retried: the image is the source with exactly the bad sectors zeroed,
// sectors that fail a few times before they read are recovered, and every
// hash, piece and part is that of the final image (re-hashed from the
// first rescued area on).
func TestRescuePasses(t *testing.T) {
	const ss = 512
	size := 6<<20 + 4096
	bad := []int64{5, 3000, 3001, 4095, 4096, 9000}
	for l := int64(6000); l < 6100; l++ { // a run of 100 sectors
		bad = append(bad, l)
	}
	flaky := map[int64]int{200: 2, 7000: 1, 12000: 6} // 12000: fails more often than copy, trim and 2 retries read it
	for _, split := range []int64{0, 1 << 20} {
		t.Run(map[bool]string{true: "split", false: "single file"}[split > 0], func(t *testing.T) {
			data := testData(21, size)
			src := &faultySource{data: data, ss: ss, bad: map[int64]bool{}, flaky: map[int64]int{}}
			want := append([]byte(nil), data...)
			for _, l := range bad {
				src.bad[l] = true
				clear(want[l*ss : (l+1)*ss])
			}
			for l, n := range flaky {
				src.flaky[l] = n
			}
			clear(want[12000*ss : 12001*ss])
			o := Options{Hashes: Algorithms, BufferSize: 256 << 10, PieceSize: 1 << 20, Retries: 2}
			if split > 0 {
				o.PartSize = split
			}
			res, img, events, err := rescueRun(t, src, o, split)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(img, want) {
				for i := range img {
					if img[i] != want[i] {
						t.Fatalf("image differs from the source (bad sectors zeroed) at byte %d (LBA %d)", i, i/ss)
					}
				}
				t.Fatalf("image is %d bytes, want %d", len(img), len(want))
			}
			var gotBad []int64
			for _, r := range res.Unreadable {
				if r.State != "" {
					t.Errorf("range %+v left unread with no time limit", r)
				}
				for l := r.LBA; l < r.LBA+r.Count; l++ {
					gotBad = append(gotBad, l)
				}
			}
			wantBad := append(append([]int64(nil), bad...), 12000)
			sortInts(wantBad)
			if !reflect.DeepEqual(gotBad, wantBad) {
				t.Errorf("unreadable sectors %v, want %v", gotBad, wantBad)
			}
			ref := reference(t, want, o)
			if !reflect.DeepEqual(res.Hashes, ref.Hashes) || !reflect.DeepEqual(res.Pieces, ref.Pieces) || !reflect.DeepEqual(res.Parts, ref.Parts) {
				t.Errorf("hashes/pieces/parts are not those of the image:\n%v\n%v", res.Hashes, ref.Hashes)
			}
			if res.Rescue == nil || res.Rescue.RehashFrom != 0 {
				t.Fatalf("rescue report %+v: want a re-hash from the first failing buffer (byte 0)", res.Rescue)
			}
			var passes []string
			for _, p := range res.Rescue.Passes {
				passes = append(passes, p.Pass)
			}
			if !reflect.DeepEqual(passes, []string{PassCopy, PassSkip, PassTrim, PassScrape, PassRetry, PassRetry, PassRehash}) {
				t.Errorf("passes %v", passes)
			}
			// Events are merged ranges (flushed at most once a second and
			// at the end of each pass), not sectors. A flaky sector may be
			// reported and then read by a retry.
			var unreadable, sectors int
			for _, e := range events {
				if e.Kind == EventUnreadable {
					unreadable++
					sectors += int(e.Bad.Count)
				}
			}
			if sectors < len(wantBad) || sectors > len(wantBad)+len(flaky) || unreadable > 2*len(res.Unreadable) {
				t.Errorf("%d unreadable events covering %d sectors for %d ranges of %d sectors: want merged ranges", unreadable, sectors, len(res.Unreadable), len(wantBad))
			}
		})
	}
}

func sortInts(a []int64) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// TestRescueTimeLimit: failing reads are slow, so the rescue runs out of
// time; what it did not reach stays in the map in the state it got to,
// zero-filled, and every byte outside the map is the source's.
func TestRescueTimeLimit(t *testing.T) {
	const ss = 512
	data := testData(22, 8<<20)
	src := &faultySource{data: data, ss: ss, bad: map[int64]bool{}, badDelay: 20 * time.Millisecond}
	for l := int64(4096); l < 4096+2048; l++ { // 1 MiB bad
		src.bad[l] = true
	}
	for _, l := range []int64{100, 9000, 15000} {
		src.bad[l] = true
	}
	o := Options{BufferSize: 256 << 10, RescueTime: 500 * time.Millisecond}
	start := time.Now()
	res, img, events, err := rescueRun(t, src, o, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %s", d)
	}
	if res.Rescue == nil || !res.Rescue.Stopped {
		t.Fatalf("rescue report %+v: want stopped by the time limit", res.Rescue)
	}
	inMap := make([]bool, len(data)/ss)
	var unread int64
	for _, r := range res.Unreadable {
		for l := r.LBA; l < r.LBA+r.Count; l++ {
			inMap[l] = true
		}
		if r.State != "" {
			unread += r.Count
		}
	}
	if unread == 0 {
		t.Error("no range left unread although time ran out")
	}
	for l := range inMap {
		got, src := img[l*ss:(l+1)*ss], data[l*ss:(l+1)*ss]
		if inMap[l] && !bytes.Equal(got, make([]byte, ss)) {
			t.Fatalf("LBA %d is in the map but not zero-filled", l)
		}
		if !inMap[l] && !bytes.Equal(got, src) {
			t.Fatalf("LBA %d is not in the map but differs from the source", l)
		}
	}
	for l := range src.bad {
		if !inMap[l] {
			t.Errorf("bad LBA %d missing from the map", l)
		}
	}
	if res.Hashes["sha256"] != refHashes(img)["sha256"] {
		t.Error("sha256 is not that of the image")
	}
	stopped := false
	for _, e := range events {
		if e.Kind == EventRescue && e.Err != nil {
			stopped = true
		}
	}
	if !stopped {
		t.Error("no rescue event says the time limit stopped it")
	}
}

// TestRescueDeadSource: a drive that stops answering (EIO from some byte
// on, still attached) costs the copy pass a few failed reads — it skips
// ahead by a growing step — not one per buffer, and the rescue ends at its
// time limit.
func TestRescueDeadSource(t *testing.T) {
	data := testData(23, 64<<20)
	src := &faultySource{data: data, ss: 512, deadFrom: 16 << 20, badDelay: 5 * time.Millisecond}
	o := Options{BufferSize: 256 << 10, RescueTime: 300 * time.Millisecond}
	start := time.Now()
	res, img, _, err := rescueRun(t, src, o, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %s", d)
	}
	if !bytes.Equal(img[:16<<20], data[:16<<20]) || !bytes.Equal(img[16<<20:], make([]byte, 48<<20)) {
		t.Error("image is not the readable part followed by zeros")
	}
	// 48 MiB dead in 256 KiB buffers: 192 failed reads without skipping.
	if res.Rescue == nil || len(res.Rescue.Passes) == 0 {
		t.Fatalf("no rescue report: %+v", res.Rescue)
	}
	copy := res.Rescue.Passes[0]
	var later int
	for _, p := range res.Rescue.Passes[1:] {
		later += int(p.Failed)
	}
	if copy.Pass != PassCopy || int(copy.Failed)+later != src.failed {
		t.Errorf("passes %+v do not account for the %d failed reads", res.Rescue.Passes, src.failed)
	}
	if copyFails := copy.Failed; copyFails > 12 {
		t.Errorf("the copy pass failed %d reads on a dead drive: it should skip ahead", copyFails)
	}
	if res.Unreadable[len(res.Unreadable)-1].LBA+res.Unreadable[len(res.Unreadable)-1].Count != 64<<20/512 {
		t.Errorf("map %+v does not reach the end", res.Unreadable)
	}
}

// TestRescueSlowReads: reads slower than SlowRead keep their data but make
// the copy pass skip ahead; what it skipped is read later, so the image is
// whole and exact.
func TestRescueSlowReads(t *testing.T) {
	data := testData(24, 8<<20)
	src := &faultySource{data: data, ss: 512, slowFrom: 2 << 20, slowTo: 3 << 20, slowDelay: 30 * time.Millisecond}
	o := Options{BufferSize: 256 << 10, SlowRead: 10 * time.Millisecond, Hashes: []string{"sha256"}}
	res, img, _, err := rescueRun(t, src, o, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(img, data) {
		t.Fatal("image differs from the source")
	}
	if len(res.Unreadable) != 0 {
		t.Errorf("map %+v: nothing is unreadable", res.Unreadable)
	}
	if res.Rescue == nil || res.Rescue.Passes[1].Pass != PassSkip || res.Rescue.Passes[1].Recovered == 0 {
		t.Errorf("rescue %+v: want the skipped area read by the copy-back pass", res.Rescue)
	}
	if res.Hashes["sha256"] != refHashes(data)["sha256"] {
		t.Error("sha256 is not the source's")
	}
}

// TestRescueCheckpoints: a checkpoint never vouches for a piece from the
// first area set aside on (the rescue may still write into it), and the
// last one records the final map.
func TestRescueCheckpoints(t *testing.T) {
	data := testData(25, 8<<20)
	src := &faultySource{data: data, ss: 512, bad: map[int64]bool{5000: true}}
	dir := t.TempDir()
	sink, err := NewRawSink(dir, "image", 0)
	if err != nil {
		t.Fatal(err)
	}
	var cps []Checkpoint
	res, err := Run(context.Background(), Options{Name: "cp", Source: src, Size: int64(len(data)), Sinks: []Sink{sink},
		BufferSize: 256 << 10, SyncEvery: 1 << 20, PieceSize: 1 << 20, Checkpoint: func(c Checkpoint) error { cps = append(cps, c); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cps {
		for _, p := range c.Pieces {
			if p.Offset+p.Length > 5000*512/(256<<10)*(256<<10) {
				t.Errorf("checkpoint at %d vouches for piece %d+%d past the first rescued area", c.Bytes, p.Offset, p.Length)
			}
		}
	}
	last := cps[len(cps)-1]
	if last.Bytes != int64(len(data)) || !reflect.DeepEqual(last.Unreadable, res.Unreadable) {
		t.Errorf("last checkpoint %d bytes, map %+v; want %d, %+v", last.Bytes, last.Unreadable, len(data), res.Unreadable)
	}
}

// A source read by pages in its stream (a file through the page cache)
// with a sector-exact Precise reader (O_DIRECT): the rescue reads through
// Precise, so the map holds the bad sectors, not the pages around them.
func TestRescueReadsPrecise(t *testing.T) {
	const ss = 512
	data := testData(23, 2<<20)
	bad := []int64{9, 1000, 3001}
	for _, c := range []struct {
		name    string
		precise bool
		inline  bool  // a sink that cannot be patched: the rescue narrows each failing read at once
		want    int64 // sectors in the map
	}{{"precise", true, false, 3}, {"pages only", false, false, 3 * 8}, {"precise, inline", true, true, 3}, {"pages only, inline", false, true, 3 * 8}} {
		t.Run(c.name, func(t *testing.T) {
			src := &faultySource{data: data, ss: ss, bad: map[int64]bool{}, page: 4096}
			for _, l := range bad {
				src.bad[l] = true
			}
			var s io.ReaderAt = src
			if !c.precise {
				s = pagesOnly{src}
			}
			o := Options{Hashes: []string{"sha256"}, BufferSize: 256 << 10, PieceSize: -1, Retries: -1, Name: "failing", Source: s, Size: int64(len(data))}
			sink, err := NewRawSink(t.TempDir(), "image", 0)
			if err != nil {
				t.Fatal(err)
			}
			o.Sinks = []Sink{sink}
			if c.inline {
				o.Sinks = []Sink{&memSink{}}
			}
			res, err := Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			var n int64
			for _, r := range res.Unreadable {
				n += r.Count
			}
			if n != c.want {
				t.Errorf("%d sectors unreadable in %+v, want %d", n, res.Unreadable, c.want)
			}
		})
	}
}

// pagesOnly hides a faultySource's Precise reader.
type pagesOnly struct{ f *faultySource }

func (p pagesOnly) ReadAt(b []byte, off int64) (int, error) { return p.f.ReadAt(b, off) }
