package verify

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coldimage/coldimage/imager"
)

// makeImage writes a raw image and its record the way acquisition does.
func makeImage(t *testing.T, data []byte, piece int64) string {
	t.Helper()
	dir := t.TempDir()
	sink, err := imager.NewRawSink(dir, "image", 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := imager.Run(context.Background(), imager.Options{Source: bytes.NewReader(data), Size: int64(len(data)),
		Sinks: []imager.Sink{sink}, PieceSize: piece, BufferSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	rec := &imager.Record{Schema: imager.Schema, Hashes: res.Hashes, Pieces: res.Pieces,
		Source: imager.SourceRecord{Size: int64(len(data)), LogicalSector: 512},
		Image:  imager.ImageRecord{Format: "raw", Files: []string{"image.raw"}, Size: res.Size}}
	Settle(rec, nil)
	if err := imager.WriteRecord(dir, rec, false); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestRun(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 1<<20+512)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	const piece = 256 << 10
	for _, tc := range []struct {
		name       string
		damage     func(t *testing.T, dir string)
		withSource bool
		wantErr    error
		wantPiece  int64 // offset of the piece named, -1 none
	}{
		{"intact", nil, false, nil, -1},
		{"intact with source", nil, true, nil, -1},
		{"flipped byte", flip(600000), false, ErrMismatch, 524288},
		{"flipped byte with source", flip(600000), true, ErrMismatch, 524288},
		{"truncated", func(t *testing.T, dir string) { os.Truncate(filepath.Join(dir, "image.raw"), 1000) }, false, ErrMismatch, -1},
		{"missing", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "image.raw")) }, false, os.ErrNotExist, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := makeImage(t, data, piece)
			if tc.damage != nil {
				tc.damage(t, dir)
			}
			o := Options{}
			if tc.withSource {
				o.Source, o.SourceName = bytes.NewReader(data), "mem"
			}
			rec, err := Run(context.Background(), dir, o)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			v := rec.Verification
			if wantCache := tc.name != "missing"; (v.ImageCache == "dropped") != wantCache {
				t.Errorf("image_cache %q", v.ImageCache)
			}
			switch {
			case tc.wantPiece >= 0 && (v.Piece == nil || v.Piece.Offset != tc.wantPiece):
				t.Errorf("piece named %+v, want offset %d", v.Piece, tc.wantPiece)
			case tc.wantPiece < 0 && v.Piece != nil:
				t.Errorf("piece %+v named for an undamaged or unreadable image", v.Piece)
			}
			if tc.withSource && tc.wantErr != nil && (v.FirstDifference == nil || *v.FirstDifference != 600000 || !v.Source.Match) {
				t.Errorf("with source: first difference %v, source match %v", v.FirstDifference, v.Source)
			}
			back, _ := imager.ReadRecord(dir)
			if wantOK := tc.wantErr == nil; (back.Result == imager.ResultOK) != wantOK || back.Complete != wantOK {
				t.Errorf("stored record: result %q complete %v", back.Result, back.Complete)
			}
		})
	}
}

func flip(at int64) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		f, err := os.OpenFile(filepath.Join(dir, "image.raw"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b := []byte{0}
		f.ReadAt(b, at)
		b[0] ^= 0x80
		f.WriteAt(b, at)
	}
}

// TestRereadFailed: a source that fails on re-read where the acquisition
// read it, with the image matching its record, is a verification not
// completed — not a mismatch — unless source and image already differ
// before the first failing sector.
func TestRereadFailed(t *testing.T) {
	five := int64(5 * 512)
	hundred := int64(100 * 512)
	for _, tc := range []struct {
		name       string
		unreadable []imager.BadRange
		imageMatch bool
		firstDiff  *int64
		want       error
	}{
		{"nothing failed", nil, true, nil, nil},
		{"failed, image matches", []imager.BadRange{{LBA: 10, Count: 8}}, true, &hundred, ErrNotCompleted},
		{"failed, no difference seen", []imager.BadRange{{LBA: 10, Count: 8}}, true, nil, ErrNotCompleted},
		{"difference before the failure", []imager.BadRange{{LBA: 10, Count: 8}}, true, &five, nil},
		{"image does not match its record", []imager.BadRange{{LBA: 10, Count: 8}}, false, &hundred, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &imager.Verification{Source: &imager.VerifyPart{}, Image: imager.VerifyPart{Match: tc.imageMatch}, FirstDifference: tc.firstDiff}
			err := rereadFailed(v, &imager.Result{Unreadable: tc.unreadable}, 512)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil && (v.Status != imager.VerifyFailed || !strings.Contains(v.Error, "could not be re-read")) {
				t.Errorf("verification %q %q", v.Status, v.Error)
			}
		})
	}
}
