package ewf

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/coldimage/coldimage/imager"
)

type imageCase struct {
	name        string
	kind        string // testData kind
	size        int
	sectorSize  int
	segmentSize int64
	level       int
	bad         []imager.BadRange
	tableLimit  int // entries per table group (0: the format's 16375)
	minSegments int
	mediaSize   int64 // Options.MediaSize; -1: the real size
	workers     int   // Options.Workers (0: one per CPU)
}

var imageCases = []imageCase{
	{name: "empty", kind: "random", size: 0, mediaSize: -1},
	{name: "one-sector", kind: "random", size: 512, mediaSize: -1},
	{name: "1MiB+7sectors", kind: "random", size: 1<<20 + 7*512, mediaSize: -1},
	{name: "32KiBx5", kind: "mixed", size: 5 * ChunkSize, mediaSize: -1},
	{name: "all-zero", kind: "zero", size: 3<<20 + 512, mediaSize: -1},
	{name: "random", kind: "random", size: 2<<20 + 3*512, mediaSize: -1},
	{name: "multi-segment", kind: "random", size: 9<<19 + 5*512, segmentSize: 1 << 20, minSegments: 5, mediaSize: -1},
	{name: "beyond-E99", kind: "random", size: 101 << 20, segmentSize: 1 << 20, minSegments: 101, mediaSize: -1,
		bad: []imager.BadRange{{LBA: 200000, Count: 8, Error: "EIO"}}},
	{name: "table-groups", kind: "mixed", size: 3<<20 + 9*512, segmentSize: 1 << 20, tableLimit: 7, minSegments: 2, mediaSize: -1},
	{name: "unreadable", kind: "mixed", size: 2<<20 + 512, mediaSize: -1,
		bad: []imager.BadRange{{LBA: 10, Count: 3, Error: "EIO"}, {LBA: 2000, Count: 64, Error: "EIO"}, {LBA: 4096, Count: 1, Error: "EIO"}}},
	{name: "4096-byte-sectors", kind: "mixed", size: 1<<20 + 3*4096, sectorSize: 4096, mediaSize: -1,
		bad: []imager.BadRange{{LBA: 5, Count: 2, Error: "EIO"}}},
	{name: "level-none", kind: "mixed", size: 1<<20 + 512, level: LevelNone, mediaSize: -1},
	{name: "level-best", kind: "mixed", size: 1<<20 + 512, level: LevelBest, mediaSize: -1},
	{name: "stream-shorter-than-media", kind: "mixed", size: 1<<20 + 3*512, segmentSize: 1 << 20, mediaSize: 4 << 20},
	{name: "media-size-unknown", kind: "random", size: 1<<20 + 512, segmentSize: 1 << 20, mediaSize: 0},
	// One compressor, three batches: a job among many (session.share).
	{name: "one-worker", kind: "mixed", size: 5<<20 + 7*512, segmentSize: 2 << 20, minSegments: 2, mediaSize: -1, workers: 1,
		bad: []imager.BadRange{{LBA: 3000, Count: 5, Error: "EIO"}}},
}

func (c imageCase) options() Options {
	opt := testOptions()
	if c.sectorSize != 0 {
		opt.SectorSize = c.sectorSize
	}
	opt.SegmentSize = c.segmentSize
	opt.Level = c.level
	if c.level == 0 && c.name != "level-none" {
		opt.Level = LevelFast
	}
	opt.MediaSize = c.mediaSize
	opt.Workers = c.workers
	if c.mediaSize < 0 {
		opt.MediaSize = int64(c.size)
	}
	return opt
}

func (c imageCase) write(t testing.TB) (data []byte, first string, w *Writer) {
	t.Helper()
	if c.tableLimit > 0 {
		old := tableEntriesLimit
		tableEntriesLimit = c.tableLimit
		defer func() { tableEntriesLimit = old }()
	}
	data = testData(c.kind, c.size, uint64(len(c.name)))
	first, w = writeImage(t, t.TempDir(), data, c.options(), c.bad)
	return data, first, w
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestRoundTrip writes each case, reads it back with our Reader and checks it
// with Debian's ewf-tools as the independent implementation.
func TestRoundTrip(t *testing.T) {
	for _, c := range imageCases {
		t.Run(c.name, func(t *testing.T) {
			data, first, w := c.write(t)
			files := w.Files()
			if len(files) < max(c.minSegments, 1) {
				t.Errorf("%d segment files, want at least %d", len(files), c.minSegments)
			}
			for i, f := range files {
				st, err := os.Stat(f)
				if err != nil {
					t.Fatal(err)
				}
				limit := c.options().SegmentSize
				if limit == 0 {
					limit = DefaultSegmentSize
				}
				if i == len(files)-1 {
					limit += error2HeaderSize + 8*int64(len(c.bad)) + 4 + descriptorSize // error2 is not reserved
				}
				if st.Size() > limit {
					t.Errorf("%s: %d bytes, segment size %d", f, st.Size(), limit)
				}
			}
			if c.minSegments > 99 && !strings.HasSuffix(files[99], ".EAA") {
				t.Errorf("segment 100 is %s, want .EAA", files[99])
			}
			t.Run("reader", func(t *testing.T) { checkReader(t, first, data, c, files) })
			t.Run("ewf-tools", func(t *testing.T) { checkEwfTools(t, first, data, c) })
		})
	}
}

func checkReader(t *testing.T, first string, data []byte, c imageCase, files []string) {
	r, err := Open(first)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	if r.SectorSize() != c.options().SectorSize {
		t.Errorf("SectorSize() = %d, want %d", r.SectorSize(), c.options().SectorSize)
	}
	if r.Size() != int64(len(data)) {
		t.Fatalf("Size() = %d, want %d", r.Size(), len(data))
	}
	if !reflect.DeepEqual(r.Segments(), files) {
		t.Errorf("Segments() = %v, writer's Files() = %v", r.Segments(), files)
	}
	if c.tableLimit > 0 {
		perSeg := map[int]int{}
		for _, tb := range r.tables {
			if tb.ref.n > c.tableLimit {
				t.Errorf("table with %d entries, limit %d", tb.ref.n, c.tableLimit)
			}
			perSeg[tb.seg]++
		}
		if perSeg[0] < 2 {
			t.Errorf("first segment has %d table groups, want several", perSeg[0])
		}
	}
	all, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("sequential Read: %v", err)
	}
	if got, want := sha256hex(all), sha256hex(data); got != want {
		t.Fatalf("sha256 of image %s, of source %s (%d vs %d bytes)", got, want, len(all), len(data))
	}
	whole := make([]byte, len(data)) // one large ReadAt: chunks decoded in parallel
	if k, err := r.ReadAt(whole, 0); k != len(data) || (err != nil && err != io.EOF) || !bytes.Equal(whole, data) {
		t.Fatalf("ReadAt of the whole image: %d, %v, equal %v", k, err, bytes.Equal(whole, data))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range min(len(data), 50) {
		off := rng.IntN(len(data))
		n := min(rng.IntN(3*ChunkSize)+1, len(data)-off)
		p := make([]byte, n)
		if k, err := r.ReadAt(p, int64(off)); err != nil && !(err == io.EOF && k == n) {
			t.Fatalf("ReadAt(%d, %d): %d, %v", n, off, k, err)
		}
		if !bytes.Equal(p, data[off:off+n]) {
			t.Fatalf("ReadAt(%d, %d) differs from the source", n, off)
		}
	}
	if k, err := r.ReadAt(make([]byte, 10), int64(len(data))-4); len(data) > 4 && (k != 4 || err != io.EOF) {
		t.Errorf("ReadAt across the end: %d, %v; want 4, EOF", k, err)
	}
	h := hexsum(data)
	if want := map[string]string{"md5": h["md5"], "sha1": h["sha1"]}; !reflect.DeepEqual(r.StoredHashes(), want) {
		t.Errorf("StoredHashes() = %v, want %v", r.StoredHashes(), want)
	}
	opt := c.options()
	hd := r.Header()
	for k, want := range map[string]string{
		"case": opt.Case, "examiner": opt.Examiner, "evidence": opt.Evidence, "notes": opt.Notes,
		"description": opt.Description, "model": opt.Model, "serial": opt.Serial, "version": opt.Tool,
		"acquired": "2026-03-04T10:19:59Z", "system": "2026-03-04T10:20:01Z", "password": "0",
	} {
		if hd[k] != want {
			t.Errorf("Header()[%q] = %q, want %q", k, hd[k], want)
		}
	}
	var wantBad []imager.BadRange
	for _, b := range c.bad {
		wantBad = append(wantBad, imager.BadRange{LBA: b.LBA, Count: b.Count, Error: "unreadable at acquisition (EWF error2)"})
	}
	if !reflect.DeepEqual(r.Errors(), wantBad) {
		t.Errorf("Errors() = %v, want %v", r.Errors(), wantBad)
	}
}

func checkEwfTools(t *testing.T, first string, data []byte, c imageCase) {
	if _, err := exec.LookPath("ewfverify"); err != nil {
		t.Skip("ewfverify not on PATH (apt-get install ewf-tools)")
	}
	h := hexsum(data)
	out, err := exec.Command("ewfverify", "-q", "-d", "sha1", first).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ewfverify: SUCCESS") {
		t.Fatalf("ewfverify: %v\n%s", err, out)
	}
	for _, want := range []string{
		"MD5 hash stored in file:\t\t" + h["md5"],
		"MD5 hash calculated over data:\t\t" + h["md5"],
		"SHA1 hash stored in file:\t\t" + h["sha1"],
		"SHA1 hash calculated over data:\t\t" + h["sha1"],
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("ewfverify output lacks %q:\n%s", want, out)
		}
	}

	out, err = exec.Command("ewfinfo", first).CombinedOutput()
	if err != nil {
		t.Fatalf("ewfinfo: %v\n%s", err, out)
	}
	opt := c.options()
	wantInfo := []string{
		"Case number:\t\t" + opt.Case, "Examiner name:\t\t" + opt.Examiner, "Evidence number:\t" + opt.Evidence,
		"Notes:\t\t\t" + opt.Notes, "Description:\t\t" + opt.Description, "Model:\t\t\t" + opt.Model,
		"Serial number:\t\t" + opt.Serial, "File format:\t\tEnCase 6", "Bytes per sector:\t" + itoa(opt.SectorSize),
		"Number of sectors:\t" + itoa(len(data)/opt.SectorSize), "MD5:\t\t\t" + h["md5"], "SHA1:\t\t\t" + h["sha1"],
	}
	if len(c.bad) > 0 {
		wantInfo = append(wantInfo, "total number: "+itoa(len(c.bad)))
		for _, b := range c.bad {
			wantInfo = append(wantInfo, "at sector(s): "+itoa(int(b.LBA))+" - "+itoa(int(b.LBA+b.Count-1))+" number: "+itoa(int(b.Count)))
		}
	}
	for _, want := range wantInfo {
		if !strings.Contains(string(out), want) {
			t.Errorf("ewfinfo output lacks %q:\n%s", want, out)
		}
	}

	// ewfexport prints its banner on stdout, so export to a file.
	target := filepath.Join(t.TempDir(), "export")
	out, err = exec.Command("ewfexport", "-u", "-q", "-f", "raw", "-t", target, first).CombinedOutput()
	if err != nil {
		t.Fatalf("ewfexport: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(target + ".raw")
	if os.IsNotExist(err) && len(data) == 0 {
		err = nil // ewfexport creates no file for an empty image
	}
	if err != nil {
		t.Fatalf("ewfexport output: %v\n%s", err, out)
	}
	if got, want := sha256hex(raw), sha256hex(data); got != want {
		t.Errorf("ewfexport raw: sha256 %s (%d bytes), source %s (%d bytes)", got, len(raw), want, len(data))
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
