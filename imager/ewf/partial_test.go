package ewf

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// A set whose writing stopped (Abort: the operator, a read error) opens
// with OpenPartial: its media are exactly the bytes Write accepted, the last
// chunk short where the stream stopped inside one. Open refuses it.
func TestOpenPartial(t *testing.T) {
	data := testData("mixed", 5<<20, 3)
	for _, c := range []struct {
		name    string
		written int
		segment int64
	}{
		{"nothing", 0, 0},
		{"one chunk short", 512, 0},
		{"inside a chunk", 3<<20 + 5*512, 0},
		{"several segments", 4<<20 + 7*512, 1 << 20},
		{"whole stream, no done", len(data), 1 << 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			opt := testOptions()
			opt.MediaSize, opt.SegmentSize = int64(len(data)), c.segment
			w, err := Create(dir, "image", opt)
			if err != nil {
				t.Fatal(err)
			}
			for rest := data[:c.written]; len(rest) > 0; {
				n := min(len(rest), 100000)
				if _, err := w.Write(rest[:n]); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
			}
			if err := w.Abort(); err != nil {
				t.Fatalf("Abort: %v", err)
			}
			first := filepath.Join(dir, "image.E01")
			if _, err := Open(first); err == nil {
				t.Error("Open accepted a set without a done section")
			}
			r, err := OpenPartial(first)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Size() != int64(c.written) {
				t.Fatalf("Size %d, written %d", r.Size(), c.written)
			}
			got, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
			if err != nil || !bytes.Equal(got, data[:c.written]) {
				t.Fatalf("media differ from what was written (%v)", err)
			}
			if len(r.Segments()) != len(w.Files()) {
				t.Errorf("read %d segments, wrote %v", len(r.Segments()), w.Files())
			}
		})
	}
}

// A target that filled up cuts the last segment short: OpenPartial reads
// the chunks of the tables that made it, a prefix of the stream.
func TestOpenPartialTruncated(t *testing.T) {
	data := testData("random", 3<<20, 4)
	dir := t.TempDir()
	opt := testOptions()
	opt.MediaSize, opt.SegmentSize = int64(len(data)), 1<<20
	w, err := Create(dir, "image", opt)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	files := w.Files()
	last := files[len(files)-1]
	st, _ := os.Stat(last)
	for _, cut := range []int64{st.Size() - 10, st.Size() / 2, 200} {
		if err := os.Truncate(last, cut); err != nil {
			t.Fatal(err)
		}
		r, err := OpenPartial(filepath.Join(dir, "image.E01"))
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		got, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
		r.Close()
		if err != nil || len(got) > len(data) || !bytes.Equal(got, data[:len(got)]) || r.Size()%ChunkSize != 0 {
			t.Fatalf("cut at %d: %d bytes (%v), not a whole-chunk prefix of %d", cut, len(got), err, len(data))
		}
		// Only the table2 copy is lost when 10 bytes go; half the segment
		// takes its chunks with it.
		if full := r.Size() == int64(len(data)); full != (cut == st.Size()-10) {
			t.Errorf("cut at %d of %d: %d bytes", cut, st.Size(), r.Size())
		}
	}
	if _, err := Open(filepath.Join(dir, "image.E01")); err == nil || errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open on a truncated set: %v", err)
	}
}
