//go:build linux

package disk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

func TestAlignedBuffer(t *testing.T) {
	for _, size := range []int{0, 1, 511, 512, 4096, 1 << 20, 1<<20 + 3} {
		b := AlignedBuffer(size)
		if len(b) != size {
			t.Errorf("AlignedBuffer(%d) has len %d", size, len(b))
		}
		if size > 0 && uintptr(unsafe.Pointer(&b[0]))%DirectAlign != 0 {
			t.Errorf("AlignedBuffer(%d) not %d-aligned", size, DirectAlign)
		}
	}
}

// randomFile writes size seeded random bytes into dir.
func randomFile(t *testing.T, dir string, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	rand.New(rand.NewSource(int64(size))).Read(data)
	p := filepath.Join(dir, fmt.Sprintf("src-%d.bin", size))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(p) })
	return p, data
}

// accessMode returns the O_ACCMODE bits of an open file from /proc.
func accessMode(t *testing.T, f *os.File) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "flags:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 8, 64)
			if err != nil {
				t.Fatal(err)
			}
			return int(n) & syscall.O_ACCMODE
		}
	}
	t.Fatal("no flags in fdinfo")
	return -1
}

// checkReads compares Source.ReadAt with the expected bytes for aligned,
// unaligned, odd and end-crossing requests, as os.File.ReadAt would answer.
func checkReads(t *testing.T, s *Source, data []byte) {
	t.Helper()
	size := int64(len(data))
	type req struct {
		off     int64
		n       int
		aligned bool
	}
	reqs := []req{
		{0, 1 << 20, true}, {4096, 64 << 10, true}, {512, 512, true},
		{0, 1 << 20, false}, {1, 1, false}, {777, 4097, false}, {4095, 2, false},
		{size - 1000, 4096, true}, {size &^ 4095, 8192, true}, {size - 1, 10, false},
		{size, 512, true}, {size + 4096, 4096, true}, {0, 0, false},
	}
	for _, r := range reqs {
		var p []byte
		if r.aligned {
			p = AlignedBuffer(r.n)
		} else {
			p = make([]byte, r.n+1)[1:]
		}
		n, err := s.ReadAt(p, r.off)
		want := 0
		if r.off < size {
			want = int(min(int64(r.n), size-r.off))
		}
		var wantErr error
		if want < r.n {
			wantErr = io.EOF
		}
		if n != want || err != wantErr {
			t.Errorf("ReadAt(len %d, off %d) = %d, %v; want %d, %v", r.n, r.off, n, err, want, wantErr)
			continue
		}
		if want > 0 && !bytes.Equal(p[:n], data[r.off:r.off+int64(n)]) {
			t.Errorf("ReadAt(len %d, off %d): bytes differ from the source", r.n, r.off)
		}
	}
}

func TestOpenSourceFile(t *testing.T) {
	tests := []struct {
		name       string
		dir        string
		size       int
		opt        OpenOptions
		wantDirect bool
	}{
		{"disk-fs-direct", t.TempDir(), 3<<20 + 777, OpenOptions{}, true},
		{"disk-fs-aligned-size", t.TempDir(), 2 << 20, OpenOptions{}, true},
		{"no-direct", t.TempDir(), 1<<20 + 1, OpenOptions{NoDirect: true}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat(tc.dir); err != nil {
				t.Skipf("%s: %v", tc.dir, err)
			}
			p, data := randomFile(t, tc.dir, tc.size)
			s, err := OpenSource(p, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Info.Kind != KindFile || s.Info.Size != int64(tc.size) || s.Info.LogicalSector != 512 {
				t.Errorf("Info = %+v", s.Info)
			}
			if set, confirmed := s.ReadOnlyState(); set || confirmed {
				t.Errorf("ReadOnlyState = %v, %v for a file", set, confirmed)
			}
			if m := accessMode(t, s.buffered); m != syscall.O_RDONLY {
				t.Errorf("buffered descriptor access mode %o, want O_RDONLY", m)
			}
			if s.direct != nil {
				if m := accessMode(t, s.direct); m != syscall.O_RDONLY {
					t.Errorf("O_DIRECT descriptor access mode %o, want O_RDONLY", m)
				}
			}
			if s.Direct() != tc.wantDirect {
				t.Fatalf("Direct() = %v, want %v", s.Direct(), tc.wantDirect)
			}
			checkReads(t, s, data)
			direct, buffered := s.ReadStats()
			if tc.wantDirect && (direct == 0 || !s.Direct()) {
				t.Errorf("O_DIRECT not used: %d direct, %d buffered reads, Direct() %v", direct, buffered, s.Direct())
			}
			if !tc.wantDirect && direct != 0 {
				t.Errorf("%d O_DIRECT reads without O_DIRECT", direct)
			}
			if buffered == 0 {
				t.Errorf("unaligned requests did not use the buffered descriptor")
			}
		})
	}
}

// TestDirectEINVALFallback makes the kernel refuse an O_DIRECT read (an
// offset the file system cannot do direct I/O at) and checks that the
// source switches to buffered reads for good, with the right bytes.
func TestDirectEINVALFallback(t *testing.T) {
	p, data := randomFile(t, t.TempDir(), 1<<20)
	s, err := OpenSource(p, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Direct() {
		t.Skip("O_DIRECT not available on the temp dir's file system")
	}
	s.align = 1 // let a misaligned request through to the O_DIRECT descriptor
	buf := AlignedBuffer(4096)
	n, err := s.ReadAt(buf[:1000], 3)
	if n != 1000 || err != nil || !bytes.Equal(buf[:1000], data[3:1003]) {
		t.Fatalf("ReadAt after EINVAL = %d, %v (bytes equal: %v)", n, err, bytes.Equal(buf[:1000], data[3:1003]))
	}
	if s.Direct() {
		t.Fatal("still Direct() after the kernel refused O_DIRECT")
	}
	d0, _ := s.ReadStats()
	s.align = 512
	if n, err := s.ReadAt(buf, 0); n != 4096 || err != nil || !bytes.Equal(buf, data[:4096]) {
		t.Fatalf("aligned ReadAt after fallback = %d, %v", n, err)
	}
	if d1, _ := s.ReadStats(); d1 != d0 {
		t.Errorf("O_DIRECT used again after the fallback (%d -> %d)", d0, d1)
	}
}

func TestOpenSourceEmptyFile(t *testing.T) {
	p := sparseFile(t, "empty", 0)
	s, err := OpenSource(p, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.ReadAt(AlignedBuffer(4096), 0); n != 0 || err != io.EOF {
		t.Errorf("ReadAt on empty file = %d, %v; want 0, EOF", n, err)
	}
	if n, err := s.ReadAt(make([]byte, 4096), -1); n != 0 || err == nil {
		t.Errorf("ReadAt at -1 = %d, %v; want an error", n, err)
	}
}

func TestReadErrorKeepsErrno(t *testing.T) {
	err := error(&ReadError{Path: "/dev/sdz", Offset: 1024 * 512, Len: 4096, Sector: 512, Err: syscall.EIO})
	err = fmt.Errorf("engine: %w", err)
	if !errors.Is(err, syscall.EIO) {
		t.Errorf("errors.Is(%v, EIO) = false", err)
	}
	var re *ReadError
	if !errors.As(err, &re) || re.Offset != 524288 {
		t.Errorf("errors.As ReadError failed: %v", err)
	}
	for _, want := range []string{"/dev/sdz", "offset 524288", "LBA 1024", "input/output error"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not contain %q", err.Error(), want)
		}
	}
}

// TestSourceConcurrentReads: the engine and verify read one Source from
// several goroutines.
func TestSourceConcurrentReads(t *testing.T) {
	p, data := randomFile(t, t.TempDir(), 4<<20+100)
	s, err := OpenSource(p, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func(g int) {
			buf := AlignedBuffer(64 << 10)
			for off := int64(g) * 4096; off < int64(len(data)); off += 8 * 64 << 10 {
				n, err := s.ReadAt(buf, off)
				if err != nil && err != io.EOF {
					errs <- err
					return
				}
				if !bytes.Equal(buf[:n], data[off:off+int64(n)]) {
					errs <- fmt.Errorf("bytes differ at %d", off)
					return
				}
			}
			errs <- nil
		}(g)
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestBouncedDirectReads: a request aligned on the device but not in
// memory (a slice into a buffer) still goes through O_DIRECT, bounced
// through an aligned buffer — never the page cache, whose page-sized
// reads and read-ahead would touch sectors not asked for — and returns the
// right bytes, also past one bounce buffer.
func TestBouncedDirectReads(t *testing.T) {
	p, data := randomFile(t, t.TempDir(), 3<<20)
	s, err := OpenSource(p, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Direct() {
		t.Skip("O_DIRECT not available on the temp dir's file system")
	}
	a := int(s.align)
	buf := AlignedBuffer(3<<20 + 2*a)
	for _, tc := range []struct{ mem, off, n int }{{a, 0, a}, {a, 5 * a, 7 * a}, {2 * a, a, bounceSize + 3*a}, {a, 0, 3<<20 - a}} {
		if a == DirectAlign && tc.mem%DirectAlign == 0 {
			tc.mem += 512 // stay unaligned in memory
		}
		d0, b0 := s.ReadStats()
		q := buf[tc.mem : tc.mem+tc.n]
		n, err := s.ReadAt(q, int64(tc.off))
		if n != tc.n || err != nil || !bytes.Equal(q, data[tc.off:tc.off+tc.n]) {
			t.Fatalf("%+v: ReadAt = %d, %v (bytes equal %v)", tc, n, err, bytes.Equal(q, data[tc.off:tc.off+tc.n]))
		}
		if d1, b1 := s.ReadStats(); d1 == d0 || b1 != b0 {
			t.Errorf("%+v: direct reads %d -> %d, buffered %d -> %d: want O_DIRECT only", tc, d0, d1, b0, b1)
		}
	}
}

// BulkBuffered: the stream (ReadAt) goes through the page cache, Precise
// through O_DIRECT wherever a request is aligned (512 bytes on a file
// system that takes it), both reading the file's bytes.
func TestBulkBufferedPrecise(t *testing.T) {
	p, data := randomFile(t, t.TempDir(), 2<<20)
	s, err := OpenSource(p, OpenOptions{BulkBuffered: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.direct == nil {
		t.Skip("no O_DIRECT on this file system")
	}
	if s.Direct() {
		t.Error("Direct() true for a stream read through the page cache")
	}
	buf := AlignedBuffer(1 << 20)
	if _, err := s.ReadAt(buf, 0); err != nil || !bytes.Equal(buf, data[:1<<20]) {
		t.Fatalf("ReadAt: %v", err)
	}
	if d, b := s.ReadStats(); d != 0 || b == 0 {
		t.Errorf("stream: %d direct, %d buffered reads; want buffered only", d, b)
	}
	_, b0 := s.ReadStats()
	q := AlignedBuffer(4096)[:512]
	pr := s.Precise()
	for _, off := range []int64{512, 1536, 1<<20 + 3584} {
		if _, err := pr.ReadAt(q, off); err != nil || !bytes.Equal(q, data[off:off+512]) {
			t.Fatalf("Precise at %d: %v", off, err)
		}
	}
	if d, b := s.ReadStats(); d != 3 || b != b0 {
		t.Errorf("precise: %d direct reads, %d more buffered; want 3 direct, none buffered (alignment %d)", d, b-b0, s.align)
	}
}
