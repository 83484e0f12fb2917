package ewf

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/coldimage/coldimage/imager"
)

func TestSegmentExt(t *testing.T) {
	for _, c := range []struct {
		n    int
		want string
	}{{1, "E01"}, {9, "E09"}, {10, "E10"}, {99, "E99"}, {100, "EAA"}, {101, "EAB"}, {125, "EAZ"}, {126, "EBA"},
		{775, "EZZ"}, {776, "FAA"}, {maxSegments, "ZZZ"}} {
		got, err := segmentExt(c.n, true)
		if err != nil || got != c.want {
			t.Errorf("segmentExt(%d) = %q, %v; want %q", c.n, got, err, c.want)
		}
	}
	if got, _ := segmentExt(100, false); got != "eaa" {
		t.Errorf("lower-case segmentExt(100) = %q", got)
	}
	for _, n := range []int{0, -1, maxSegments + 1} {
		if _, err := segmentExt(n, true); err == nil {
			t.Errorf("segmentExt(%d) succeeded", n)
		}
	}
}

// TestSections marshals each section kind, parses it back, then checks that
// a flipped bit in every byte covered by an Adler-32 is reported.
func TestSections(t *testing.T) {
	vol := volume{MediaType: mediaFixed, Chunks: 7, SectorsPerChunk: 64, BytesPerSector: 512, Sectors: 400,
		MediaFlags: 3, CompressionLevel: 1, ErrorGranularity: 64, SetID: [16]byte{1, 2, 3}}
	md5 := [16]byte{0xaa, 1}
	sha1 := [20]byte{0xbb, 2}
	entries := []uint32{76, 1000 | compressedFlag, 40000}
	cases := []struct {
		name    string
		data    []byte
		covered int // leading bytes an Adler-32 covers (flips there must fail)
		parse   func([]byte) (any, error)
		want    any
	}{
		{"descriptor", descriptor{Type: "table2", Next: 1234, Size: 100}.marshal(), 72,
			func(b []byte) (any, error) { return parseDescriptor(b) }, descriptor{Type: "table2", Next: 1234, Size: 100}},
		{"volume", vol.marshal(), 1048, func(b []byte) (any, error) { return parseVolume(b) }, vol},
		{"table", marshalTable(5000, entries), tableHeaderSize + 12,
			func(b []byte) (any, error) {
				h, err := parseTableHeader(b)
				if err != nil {
					return nil, err
				}
				e, err := parseTableEntries(b[tableHeaderSize:], int(h.Entries))
				return [2]any{h, e}, err
			}, [2]any{tableHeader{Entries: 3, Base: 5000}, entries}},
		{"error2", marshalError2([]errorRange{{10, 3}, {99, 1}}), error2HeaderSize + 16,
			func(b []byte) (any, error) { return parseError2(b) }, []errorRange{{10, 3}, {99, 1}}},
		{"hash", marshalHash(md5), 32, func(b []byte) (any, error) { return parseHash(b) }, md5},
		{"digest", marshalDigest(md5, sha1), 76, func(b []byte) (any, error) {
			m, s, err := parseDigest(b)
			return [2]any{m, s}, err
		}, [2]any{md5, sha1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.parse(c.data)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if sprint(got) != sprint(c.want) {
				t.Fatalf("parse = %+v, want %+v", got, c.want)
			}
			for i := 0; i < c.covered; i++ {
				b := append([]byte(nil), c.data...)
				b[i] ^= 0x10
				if _, err := c.parse(b); !errors.Is(err, ErrChecksum) {
					t.Fatalf("byte %d flipped: %v, want %v", i, err, ErrChecksum)
				}
			}
		})
	}
}

func TestHeaderText(t *testing.T) {
	v := headerValues{Description: "d\tx", Case: "C1", Evidence: "E1", Examiner: "Zoë", Notes: "line1\nline2",
		Model: "M", Serial: "S", Version: "coldimage 1", Platform: "Linux",
		Acquired: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), System: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC)}
	h2, err := parseHeader2(marshalHeader2(v))
	if err != nil {
		t.Fatal(err)
	}
	want2 := map[string]string{"a": "d x", "c": "C1", "n": "E1", "e": "Zoë", "t": "line1 line2", "md": "M", "sn": "S",
		"av": "coldimage 1", "ov": "Linux", "m": "1767323045", "u": "1767323046", "p": "0", "dc": ""}
	if sprint(h2) != sprint(want2) {
		t.Errorf("header2 = %v\nwant %v", h2, want2)
	}
	h, err := parseHeader(marshalHeader(v))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"c": "C1", "n": "E1", "a": "d x", "e": "Zoe", "t": "line1 line2", "av": "coldimage 1",
		"ov": "Linux", "m": "2026 1 2 3 4 5", "u": "2026 1 2 3 4 6", "p": "0"}
	if sprint(h) != sprint(want) {
		t.Errorf("header = %v\nwant %v", h, want)
	}
}

// The legacy header is ASCII: values are transliterated by a fixed rule
// (header2 keeps them exactly, see TestHeaderText).
func TestHeaderASCII(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Müller's", "Mueller's"},
		{"ÄÖÜ äöü ß", "AeOeUe aeoeue ss"},
		{"Zoë’s “café” — naïve", "Zoe's \"cafe\" - naive"},
		{"Łódź, Dvořák, Ørsted, Ærø, Œuvre, ĳs", "Lodz, Dvorak, Orsted, AEro, OEuvre, ijs"},
		{"Ħ ĸ ŉ ſ Ÿ ÿ", "H k 'n s Y y"},
		{"a\tb\nc", "a b c"},
		{"日本 €5 \x01", "?? ?5 ?"},
		{"«x» 2×3 6÷2 wait…", "<<x>> 2x3 6/2 wait..."},
	} {
		if got := ascii(c.in); got != c.want {
			t.Errorf("ascii(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// Every letter of U+00C0–U+017F becomes ASCII letters.
	for r := rune(0xc0); r <= 0x17f; r++ {
		if r == 0xd7 || r == 0xf7 || r == 0x149 {
			continue // × ÷ ŉ
		}
		for _, c := range ascii(string(r)) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				t.Errorf("ascii(%q) = %q: not letters", r, ascii(string(r)))
				break
			}
		}
	}
}

func TestErrorRanges(t *testing.T) {
	rs, dropped := errorRanges([]imager.BadRange{{LBA: 1, Count: 2}, {LBA: 1<<32 - 2, Count: 5}, {LBA: 1 << 33, Count: 1, Error: "EIO"}, {LBA: 7, Count: 1<<32 + 1}})
	// A range may run past sector 2^32-1 but must start below it; a count
	// above 2^32-1 is split, and the part starting beyond is dropped.
	wantRs := []errorRange{{1, 2}, {1<<32 - 2, 5}, {7, 1<<32 - 1}}
	wantDropped := []imager.BadRange{{LBA: 1 << 33, Count: 1, Error: "EIO"}, {LBA: 1<<32 + 6, Count: 2}}
	if sprint(rs) != sprint(wantRs) || sprint(dropped) != sprint(wantDropped) {
		t.Errorf("errorRanges = %v, dropped %v; want %v, %v", rs, dropped, wantRs, wantDropped)
	}
}

func sprint(v any) string { return fmt.Sprintf("%#v", v) }

func TestSkewed(t *testing.T) {
	for _, c := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"random", testData("random", ChunkSize, 1), false},
		{"text", testData("mixed", 6*ChunkSize, 9)[4*ChunkSize : 5*ChunkSize], true},
		{"one sector of random", testData("random", 512, 2), false},
		{"zeros", make([]byte, ChunkSize), true},
		{"empty", nil, false},
	} {
		if got := skewed(c.b); got != c.want {
			t.Errorf("skewed(%s) = %v, want %v", c.name, got, c.want)
		}
	}
}
