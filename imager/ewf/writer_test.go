package ewf

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coldimage/coldimage/imager"
)

func TestCreateRefuses(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "image.E01"), []byte("evidence"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		dir  string
		opt  Options
		want string
		is   error
	}{
		{"existing E01", dir, Options{}, "create segment", os.ErrExist},
		{"small segment", t.TempDir(), Options{SegmentSize: 1000}, "below the minimum", nil},
		{"sector size", t.TempDir(), Options{SectorSize: 520}, "sector size 520", nil},
		{"unaligned media size", t.TempDir(), Options{MediaSize: 1000}, "not a whole number of 512-byte sectors", ErrUnaligned},
		{"level", t.TempDir(), Options{Level: 3}, "compression level 3", nil},
		{"too many chunks", t.TempDir(), Options{MediaSize: 1 << 48, SegmentSize: 1 << 40}, "EWF counts chunks in 32 bits", nil},
		{"too many segments", t.TempDir(), Options{MediaSize: 30 << 40}, "do not fit in 14971 segments", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, err := Create(c.dir, "image", c.opt)
			if err == nil {
				w.Abort()
				t.Fatal("Create succeeded")
			}
			if !strings.Contains(err.Error(), c.want) || (c.is != nil && !errors.Is(err, c.is)) {
				t.Fatalf("Create: %v, want %q / %v", err, c.want, c.is)
			}
		})
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "image.E01")); string(b) != "evidence" {
		t.Fatalf("existing image.E01 was changed: %q", b)
	}
}

// TestAbort: an aborted set keeps its data but no done section, so it does
// not pass for a complete image.
func TestAbort(t *testing.T) {
	dir := t.TempDir()
	opt := testOptions()
	opt.SegmentSize = 1 << 20
	w, err := Create(dir, "image", opt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(testData("random", 3<<20, 5)); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if _, err := w.Write([]byte{1}); err == nil {
		t.Error("Write after Abort succeeded")
	}
	files := w.Files()
	if len(files) < 3 {
		t.Fatalf("%d files after 3 MiB with 1 MiB segments", len(files))
	}
	_, err = Open(files[0])
	if err == nil || !strings.Contains(err.Error(), files[len(files)-1]) || !strings.Contains(err.Error(), "segment truncated") {
		t.Fatalf("Open of an aborted set: %v", err)
	}
}

// TestUnalignedStream: a stream that stops inside a sector is padded with
// zeros to the sector and reported as ErrUnaligned; the data is intact.
func TestUnalignedStream(t *testing.T) {
	dir := t.TempDir()
	data := testData("random", 100000, 3)
	w, err := Create(dir, "image", testOptions())
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	err = w.Finish(imager.Final{Hashes: hexsum(data), SectorSize: 512, Size: int64(len(data))})
	if !errors.Is(err, ErrUnaligned) {
		t.Fatalf("Finish: %v, want %v", err, ErrUnaligned)
	}
	r, err := Open(filepath.Join(dir, "image.E01"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if r.Size() != 100352 || !bytes.Equal(got[:len(data)], data) || !isZero(got[len(data):]) {
		t.Fatalf("size %d, data equal %v, padding zero %v", r.Size(), bytes.Equal(got[:len(data)], data), isZero(got[len(data):]))
	}
}

func TestFinishChecks(t *testing.T) {
	for _, c := range []struct {
		name string
		f    imager.Final
		want string
	}{
		{"size mismatch", imager.Final{Hashes: hexsum(nil), SectorSize: 512, Size: 1024}, "engine reports 1024 bytes, sink received 512"},
		{"sector size mismatch", imager.Final{Hashes: hexsum(nil), SectorSize: 4096}, "sector size 4096"},
		{"no sha1", imager.Final{Hashes: map[string]string{"md5": hexsum(nil)["md5"]}}, "has no sha1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, err := Create(t.TempDir(), "image", testOptions())
			if err != nil {
				t.Fatal(err)
			}
			w.Write(make([]byte, 512))
			if err := w.Finish(c.f); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Finish: %v, want %q", err, c.want)
			}
		})
	}
}
