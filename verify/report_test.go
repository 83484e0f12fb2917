package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/coldimage/coldimage/imager"
)

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// Check is a later verification: whatever it finds, it writes nothing into
// the image folder, and its report says what it read and checked against.
func TestCheckWritesNothing(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, 1<<20+512)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	const piece = 256 << 10
	for _, tc := range []struct {
		name       string
		damage     func(t *testing.T, dir string)
		withSource bool
		sourceSize int64 // 0: len(data)
		wantErr    error
		result     string
		wantPiece  int64 // -1: none
		wantByte   int64 // -1: none
	}{
		{"intact", nil, false, 0, nil, ResultMatch, -1, -1},
		{"intact with source", nil, true, 0, nil, ResultMatch, -1, -1},
		{"flipped byte", flip(600000), false, 0, ErrMismatch, ResultMismatch, 524288, -1},
		{"flipped byte with source", flip(600000), true, 0, ErrMismatch, ResultMismatch, 524288, 600000},
		{"source of another size", nil, true, 4096, ErrMismatch, ResultMismatch, -1, -1},
		{"missing image", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "image.raw")) }, false, 0, fs.ErrNotExist, ResultError, -1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := makeImage(t, data, piece)
			if tc.damage != nil {
				tc.damage(t, dir)
			}
			before := listDir(t, dir)
			recSum := fileSHA256(t, filepath.Join(dir, "acquisition.json"))
			txtSum := fileSHA256(t, filepath.Join(dir, "acquisition.txt"))
			o := Options{Tool: imager.Tool{Name: "coldimage", Version: "test"}}
			if tc.withSource {
				o.Source, o.SourceName, o.SourceSize = bytes.NewReader(data), "mem", int64(len(data))
				if tc.sourceSize > 0 {
					o.SourceSize = tc.sourceSize
				}
			}
			rep, err := Check(context.Background(), dir, o)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if got := listDir(t, dir); !slices.Equal(got, before) {
				t.Errorf("the image folder changed: %v, was %v", got, before)
			}
			if fileSHA256(t, filepath.Join(dir, "acquisition.json")) != recSum || fileSHA256(t, filepath.Join(dir, "acquisition.txt")) != txtSum {
				t.Error("acquisition.json/.txt rewritten by a later verification")
			}
			if rep.Schema != ReportSchema || rep.Result != tc.result || rep.Acquisition.SHA256 != recSum || rep.Acquisition.Result != imager.ResultOK || rep.Folder == "" || rep.Started == "" || rep.Finished == "" {
				t.Errorf("report: schema %q result %q acquisition %+v folder %q started %q finished %q", rep.Schema, rep.Result, rep.Acquisition, rep.Folder, rep.Started, rep.Finished)
			}
			if (tc.wantErr != nil) != (len(rep.Errors) > 0) {
				t.Errorf("errors %q", rep.Errors)
			}
			if len(rep.Read.Image.Files) != 1 || rep.Read.Image.Files[0].Name != "image.raw" || rep.Read.Image.Size != int64(len(data)) {
				t.Errorf("read image %+v", rep.Read.Image)
			} else if tc.name != "missing image" && rep.Read.Image.Files[0].Size != int64(len(data)) {
				t.Errorf("image file size %d", rep.Read.Image.Files[0].Size)
			}
			if tc.withSource != (rep.Read.Source != nil) {
				t.Errorf("read source %+v", rep.Read.Source)
			}
			var p *Piece
			var b *int64
			if d := rep.FirstDifference; d != nil {
				p, b = d.Piece, d.Byte
			}
			switch {
			case tc.wantPiece >= 0 && (p == nil || p.Offset != tc.wantPiece || p.Length != piece || p.Recorded == "" || p.Recorded == p.Computed):
				t.Errorf("piece %+v, want offset %d", p, tc.wantPiece)
			case tc.wantPiece < 0 && p != nil:
				t.Errorf("piece %+v named", p)
			case tc.wantPiece >= 0 && !tc.withSource && p.Computed == "":
				t.Errorf("piece %+v: the image's hash of it is missing", p)
			}
			if (tc.wantByte >= 0) != (b != nil) || (b != nil && *b != tc.wantByte) {
				t.Errorf("first byte %v, want %d", b, tc.wantByte)
			}
			if tc.result == ResultMatch || tc.wantPiece >= 0 {
				h := rep.Hashes["sha256"]
				wantImage := tc.result == ResultMatch
				if h.Recorded == "" || h.Image == "" || h.ImageMatch != wantImage || (h.Image == h.Recorded) != wantImage || rep.ImageMatch != wantImage {
					t.Errorf("sha256 %+v, image match %v", h, rep.ImageMatch)
				}
				if tc.withSource && (h.SourceMatch == nil || !*h.SourceMatch || rep.SourceMatch == nil || !*rep.SourceMatch) {
					t.Errorf("source hashes %+v: the source is unchanged", h)
				}
			}
			// The report survives the round trip through its file.
			out := t.TempDir()
			path, err := WriteReport(filepath.Join(out, "new"), rep)
			if err != nil {
				t.Fatal(err)
			}
			var back Report
			if b, err := os.ReadFile(path); err != nil || json.Unmarshal(b, &back) != nil || back.Result != rep.Result || back.Acquisition.SHA256 != recSum {
				t.Errorf("%s: %v %+v", path, err, back)
			}
			txt, err := os.ReadFile(strings.TrimSuffix(path, ".json") + ".txt")
			if err != nil || !regexp.MustCompile(`(?m)^Result:\s+`+strings.ToUpper(rep.Result)+`$`).Match(txt) || !strings.Contains(string(txt), recSum) {
				t.Errorf("text record: %v\n%s", err, txt)
			}
		})
	}
}

// Two verifications in one second: the second record never replaces the first.
func TestWriteReportNeverReplaces(t *testing.T) {
	dir := t.TempDir()
	rep := &Report{Schema: ReportSchema, Started: "2026-04-02T10:41:00.5Z", Result: ResultMatch}
	var paths []string
	for range 3 {
		p, err := WriteReport(dir, rep)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, filepath.Base(p))
	}
	want := []string{"verify-20260402T104100Z.json", "verify-20260402T104100Z-2.json", "verify-20260402T104100Z-3.json"}
	if !slices.Equal(paths, want) {
		t.Errorf("records %v, want %v", paths, want)
	}
	if n := len(listDir(t, dir)); n != 6 {
		t.Errorf("%d files, want 3 .json + 3 .txt", n)
	}
}

// The hash the appliance prints on COLDIMAGE DONE (Session.WrittenSHA256) is
// the one CheckSession finds in the file.
func TestCheckSession(t *testing.T) {
	dir := t.TempDir()
	if s, err := CheckSession(dir, ""); s != nil || err != nil {
		t.Errorf("no session.json, nothing noted: %+v %v", s, err)
	}
	if _, err := CheckSession(dir, strings.Repeat("0", 64)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("noted, no session.json: %v", err)
	}
	s := &imager.Session{Mode: "unattended", Case: imager.Case{Case: "C-1"}}
	if err := imager.WriteSession(dir, s); err != nil {
		t.Fatal(err)
	}
	h := s.WrittenSHA256()
	if h == "" || h != fileSHA256(t, filepath.Join(dir, "session.json")) {
		t.Fatalf("WrittenSHA256 %q, file %s", h, fileSHA256(t, filepath.Join(dir, "session.json")))
	}
	for _, tc := range []struct {
		name, noted string
		match       bool
	}{
		{"as noted", h, true},
		{"upper case", strings.ToUpper(h), true},
		{"changed", strings.Repeat("ab", 32), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := CheckSession(dir, tc.noted)
			if c == nil || c.Match == nil || *c.Match != tc.match || c.SHA256 != h {
				t.Fatalf("%+v %v", c, err)
			}
			if tc.match != (err == nil) || (!tc.match && (!errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "session.json changed since the run: sha256 "+h+", noted "+tc.noted))) {
				t.Errorf("err %v", err)
			}
		})
	}
	// A failed write leaves no hash to print: DONE keeps its short form.
	if err := imager.WriteSession(filepath.Join(dir, "missing"), s); err == nil || s.WrittenSHA256() != "" {
		t.Errorf("write into a missing folder: %v, hash %q", err, s.WrittenSHA256())
	}
}
