package ewf

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/coldimage/coldimage/imager"
)

// testData returns deterministic media: "random", "zero", or "mixed"
// (alternating 64 KiB runs of random bytes, zeros and text-like bytes).
func testData(kind string, size int, seed uint64) []byte {
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	switch kind {
	case "zero":
	case "random":
		for i := 0; i+8 <= size; i += 8 {
			v := r.Uint64()
			for j := range 8 {
				b[i+j] = byte(v >> (8 * j))
			}
		}
		for i := size &^ 7; i < size; i++ {
			b[i] = byte(r.Uint32())
		}
	case "mixed":
		for i := range b {
			switch (i >> 16) % 3 {
			case 0:
				b[i] = byte(r.Uint32())
			case 2:
				b[i] = "the quick brown fox jumps over the lazy dog "[r.IntN(44)]
			}
		}
	default:
		panic("unknown test data kind " + kind)
	}
	return b
}

func hexsum(data []byte) map[string]string {
	m := md5.Sum(data)
	s1 := sha1.Sum(data)
	s2 := sha256.Sum256(data)
	return map[string]string{"md5": hex.EncodeToString(m[:]), "sha1": hex.EncodeToString(s1[:]), "sha256": hex.EncodeToString(s2[:])}
}

// testOptions are the case metadata every test image carries.
func testOptions() Options {
	return Options{
		Case: "CASE-0042", Examiner: "Ada Examiner", Evidence: "EV-7", Notes: "test notes",
		Description: "coldimage ewf test", Model: "TESTDISK 1000", Serial: "SN123",
		Acquired: time.Date(2026, 3, 4, 10, 19, 59, 0, time.UTC),
		System:   time.Date(2026, 3, 4, 10, 20, 1, 0, time.UTC),
		Tool:     "coldimage t", SectorSize: 512, Level: LevelFast,
	}
}

// writeImage streams data through a Writer in uneven pieces (as the engine
// would, plus odd sizes) and finishes it; it returns the first segment.
func writeImage(t testing.TB, dir string, data []byte, opt Options, bad []imager.BadRange) (string, *Writer) {
	t.Helper()
	w, err := Create(dir, "image", opt)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	pieces := []int{4 << 20, 1, 511, 100000, 8 << 20, 32768}
	for i, rest := 0, data; len(rest) > 0; i++ {
		n := min(pieces[i%len(pieces)], len(rest))
		if k, err := w.Write(rest[:n]); err != nil || k != n {
			t.Fatalf("Write(%d bytes): %d, %v", n, k, err)
		}
		rest = rest[n:]
	}
	f := imager.Final{Hashes: hexsum(data), Unreadable: bad, SectorSize: opt.SectorSize, Size: int64(len(data))}
	if err := w.Finish(f); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	return filepath.Join(dir, "image.E01"), w
}
