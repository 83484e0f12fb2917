package ewf

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

// chunkAt returns where chunk i of the first table of segment path lies.
func chunkAt(t *testing.T, path string, i int) (start, end int64, compressed bool, tbl tableRef) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	s, err := parseSegment(f, st.Size(), path)
	if err != nil {
		t.Fatal(err)
	}
	tbl = s.tables[0]
	e, err := readEntries(f, tbl, path)
	if err != nil {
		t.Fatal(err)
	}
	start = tbl.base + int64(e[i]&offsetMask)
	end = tbl.end
	if i+1 < len(e) {
		end = tbl.base + int64(e[i+1]&offsetMask)
	}
	return start, end, e[i]&compressedFlag != 0, tbl
}

// sectionAt returns the offset of the first section of type typ in path.
func sectionAt(t *testing.T, path, typ string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for off := int64(fileHeaderSize); off+descriptorSize <= int64(len(b)); {
		d, err := parseDescriptor(b[off:])
		if err != nil {
			t.Fatal(err)
		}
		if d.Type == typ {
			return off
		}
		if d.Next <= uint64(off) {
			break
		}
		off = int64(d.Next)
	}
	t.Fatalf("%s has no %s section", path, typ)
	return 0
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestCorruption(t *testing.T) {
	random4 := imageCase{name: "c", kind: "random", size: 7<<19 + 512, segmentSize: 1 << 20, mediaSize: -1}
	mixed := imageCase{name: "c", kind: "mixed", size: 1<<20 + 512, mediaSize: -1}
	tests := []struct {
		name     string
		img      imageCase
		mutate   func(t *testing.T, files []string)
		openErr  string // substring of Open's error; "" = Open succeeds
		readErr  string // substring of the read error; "" = the image reads back intact
		checksum bool   // the error wraps ErrChecksum
		either   bool   // a deflate error or a checksum error are both right
	}{
		{"stored chunk byte", random4, func(t *testing.T, f []string) {
			s, _, c, _ := chunkAt(t, f[0], 3)
			if c {
				t.Fatal("random chunk 3 was compressed")
			}
			flipByte(t, f[0], s+1000)
		}, "", "image.E01 offset", true, false},
		{"stored chunk checksum", random4, func(t *testing.T, f []string) {
			_, e, _, _ := chunkAt(t, f[0], 5)
			flipByte(t, f[0], e-2)
		}, "", "chunk 5 (media offset 163840)", true, false},
		{"compressed chunk trailer", mixed, func(t *testing.T, f []string) {
			_, e, c, _ := chunkAt(t, f[0], 3)
			if !c {
				t.Fatal("zero chunk 3 was not compressed")
			}
			flipByte(t, f[0], e-1)
		}, "", "chunk 3 (media offset 98304)", true, false},
		{"compressed chunk data", mixed, func(t *testing.T, f []string) {
			s, e, c, _ := chunkAt(t, f[0], 4)
			if !c {
				t.Fatal("text chunk 4 was not compressed")
			}
			flipByte(t, f[0], (s+e)/2)
		}, "", "chunk 4 (media offset 131072)", false, true},
		{"table entries, table2 intact", mixed, func(t *testing.T, f []string) {
			_, _, _, tb := chunkAt(t, f[0], 0)
			flipByte(t, f[0], tb.entriesOff+5)
		}, "", "", false, false},
		{"table and table2 entries", mixed, func(t *testing.T, f []string) {
			_, _, _, tb := chunkAt(t, f[0], 0)
			flipByte(t, f[0], tb.entriesOff+5)
			flipByte(t, f[0], tb.mirrorOff+5)
		}, "", "table entries", true, false},
		{"section descriptor", mixed, func(t *testing.T, f []string) {
			flipByte(t, f[0], fileHeaderSize+20)
		}, "image.E01: offset 13: section descriptor", "", true, false},
		{"volume data", mixed, func(t *testing.T, f []string) {
			flipByte(t, f[0], sectionAt(t, f[0], "volume")+descriptorSize+4)
		}, "\"volume\" section at offset", "", true, false},
		{"hash data", mixed, func(t *testing.T, f []string) {
			flipByte(t, f[0], sectionAt(t, f[0], "hash")+descriptorSize+3)
		}, "\"hash\" section at offset", "", true, false},
		{"header2, copy intact", mixed, func(t *testing.T, f []string) {
			flipByte(t, f[0], sectionAt(t, f[0], "header2")+descriptorSize+10)
		}, "", "", false, false},
		{"header2 and its copy", mixed, func(t *testing.T, f []string) {
			off := sectionAt(t, f[0], "header2")
			flipByte(t, f[0], off+descriptorSize+10)
			b, _ := os.ReadFile(f[0])
			d, _ := parseDescriptor(b[off:])
			flipByte(t, f[0], int64(d.Next)+descriptorSize+10)
		}, "\"header2\" section at offset 13", "", false, false},
		{"missing middle segment", random4, func(t *testing.T, f []string) {
			if err := os.Remove(f[1]); err != nil {
				t.Fatal(err)
			}
		}, "image.E02 is missing: ", "", false, false},
		{"missing last segment", random4, func(t *testing.T, f []string) {
			if err := os.Remove(f[len(f)-1]); err != nil {
				t.Fatal(err)
			}
		}, "is missing", "", false, false},
		{"truncated last segment", random4, func(t *testing.T, f []string) {
			st, _ := os.Stat(f[len(f)-1])
			if err := os.Truncate(f[len(f)-1], st.Size()-40); err != nil {
				t.Fatal(err)
			}
		}, "segment truncated", "", false, false},
		{"segment renamed out of order", random4, func(t *testing.T, f []string) {
			if err := os.Rename(f[1], f[0]+".tmp"); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(f[2], f[1]); err != nil {
				t.Fatal(err)
			}
		}, "file header says segment 3, its name says 2", "", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, first, w := tc.img.write(t)
			files := w.Files()
			tc.mutate(t, files)
			r, err := Open(first)
			if tc.openErr != "" {
				if err == nil {
					r.Close()
					t.Fatalf("Open succeeded, want error containing %q", tc.openErr)
				}
				if !strings.Contains(err.Error(), tc.openErr) || errors.Is(err, ErrChecksum) != tc.checksum {
					t.Fatalf("Open: %v\nwant %q, checksum error %v", err, tc.openErr, tc.checksum)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer r.Close()
			whole := make([]byte, len(data)) // the parallel path must report the same
			_, werr := r.ReadAt(whole, 0)
			all, err := io.ReadAll(r)
			if (err == nil) != (werr == nil || werr == io.EOF) || (err != nil && werr.Error() != err.Error()) {
				t.Errorf("sequential Read: %v\nwhole ReadAt: %v", err, werr)
			}
			if tc.readErr == "" {
				if err != nil || sha256hex(all) != sha256hex(data) {
					t.Fatalf("read back: %v, sha256 equal %v", err, sha256hex(all) == sha256hex(data))
				}
				return
			}
			if err == nil {
				t.Fatalf("read succeeded, want error containing %q", tc.readErr)
			}
			if !strings.Contains(err.Error(), tc.readErr) || (!tc.either && errors.Is(err, ErrChecksum) != tc.checksum) {
				t.Fatalf("read: %v\nwant %q, checksum error %v", err, tc.readErr, tc.checksum)
			}
			t.Logf("reported: %v", err)
		})
	}
}
