package ewf

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/coldimage/coldimage/imager"
)

var update = flag.Bool("update", false, "rewrite the fuzz seed corpus in testdata/fuzz")

// seedImages are small single-segment images whose E01 files seed the fuzzer.
var seedImages = []imageCase{
	{name: "seed-one-sector", kind: "random", size: 512, mediaSize: -1,
		bad: []imager.BadRange{{LBA: 0, Count: 1, Error: "EIO"}}},
	{name: "seed-three-chunks", kind: "zero", size: 3 * ChunkSize, mediaSize: -1, tableLimit: 2},
}

const corpusDir = "testdata/fuzz/FuzzParseSegment"

// TestFuzzSeeds checks the committed seed corpus still parses (it is a valid
// image set written by an earlier Writer); -update rewrites it.
func TestFuzzSeeds(t *testing.T) {
	if *update {
		if err := os.MkdirAll(corpusDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, c := range seedImages {
			_, first, _ := c.write(t)
			b, err := os.ReadFile(first)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(corpusDir, c.name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range seedImages {
		b := readSeed(t, filepath.Join(corpusDir, c.name))
		s, err := parseSegment(bytes.NewReader(b), int64(len(b)), c.name)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if s.last != "done" || s.vol == nil || s.header2 == nil || s.header == nil || s.hashMD5 == nil || s.digMD5 == nil {
			t.Errorf("%s: incomplete parse: %+v", c.name, s)
		}
		if len(c.bad) > 0 && len(s.errors) != len(c.bad) {
			t.Errorf("%s: %d error2 entries, want %d", c.name, len(s.errors), len(c.bad))
		}
	}
}

// readSeed decodes a "go test fuzz v1" file holding one []byte.
func readSeed(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (regenerate with go test -run TestFuzzSeeds -update)", err)
	}
	var q string
	if _, err := fmt.Sscanf(string(bytes.TrimPrefix(raw, []byte("go test fuzz v1\n"))), "[]byte(%q)", &q); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return []byte(q)
}

// FuzzParseSegment feeds arbitrary bytes to the section parser and the table
// reader: they must return errors, never panic, loop or allocate wildly.
func FuzzParseSegment(f *testing.F) {
	f.Add([]byte("EVF\x09\x0d\x0a\xff\x00\x01\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		s, err := parseSegment(r, int64(len(b)), "fuzz.E01")
		if err != nil {
			return
		}
		if s.last != "next" && s.last != "done" {
			t.Fatalf("parsed without a next/done section: %q", s.last)
		}
		for _, tb := range s.tables {
			if tb.entriesOff+4*int64(tb.n)+4 > int64(len(b)) {
				t.Fatalf("table entries at %d (%d) beyond %d bytes", tb.entriesOff, tb.n, len(b))
			}
			readEntries(r, tb, "fuzz.E01")
		}
		if s.last != "done" || s.vol == nil || s.vol.chunkSize() > 1<<20 {
			return
		}
		// A complete single segment: read all of it through the Reader.
		first := filepath.Join(t.TempDir(), "fuzz.E01")
		if err := os.WriteFile(first, b, 0o644); err != nil {
			t.Fatal(err)
		}
		img, err := Open(first)
		if err != nil {
			return
		}
		defer img.Close()
		n, err := io.Copy(io.Discard, img)
		if err == nil && n != img.Size() {
			t.Fatalf("read %d bytes without error, size %d", n, img.Size())
		}
		img.ReadAt(make([]byte, 3*img.ChunkSize()), 0)
	})
}

// FuzzHeaderText feeds arbitrary text to the header/header2 line parser and
// arbitrary bytes to the UTF-16 decoding path (after zlib).
func FuzzHeaderText(f *testing.F) {
	v := headerValues{Case: "C", Examiner: "E", Evidence: "N", Notes: "T", Model: "M", Serial: "S"}
	f.Add(header2Text(v))
	f.Add(headerText(v))
	f.Add("main\n")
	f.Fuzz(func(t *testing.T, s string) {
		if m, err := parseMain(s); err == nil && m == nil {
			t.Fatal("nil map without error")
		}
		parseHeader2(zlibBytes([]byte(s)))
		parseHeader(zlibBytes([]byte(s)))
	})
}
