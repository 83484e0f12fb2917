package ewf

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/coldimage/coldimage/imager"
)

// TestLargeSegment writes 2.25 GiB of random data into one segment (5 table
// groups, chunks beyond the 2 GiB and 31-bit marks of the file) and checks
// it with our Reader and ewfverify. It takes a minute or two, so it runs
// only with COLDIMAGE_EWF_LARGE=1.
func TestLargeSegment(t *testing.T) {
	if os.Getenv("COLDIMAGE_EWF_LARGE") == "" {
		t.Skip("set COLDIMAGE_EWF_LARGE=1 to write a 2.25 GiB segment")
	}
	const size = 9 << 28 // 2.25 GiB
	const piece = 8 << 20
	dir := t.TempDir()
	opt := testOptions()
	opt.SegmentSize = 4 << 30
	opt.MediaSize = size
	w, err := Create(dir, "image", opt)
	if err != nil {
		t.Fatal(err)
	}
	gen := func(seed uint64, fn func([]byte)) {
		r := rand.New(rand.NewPCG(seed, 7))
		buf := make([]byte, piece)
		for off := 0; off < size; off += piece {
			for i := 0; i < piece; i += 8 {
				v := r.Uint64()
				for j := range 8 {
					buf[i+j] = byte(v >> (8 * j))
				}
			}
			fn(buf)
		}
	}
	hm, h1, h2 := md5.New(), sha1.New(), sha256.New()
	gen(42, func(b []byte) {
		hm.Write(b)
		h1.Write(b)
		h2.Write(b)
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	})
	hashes := map[string]string{"md5": hex.EncodeToString(hm.Sum(nil)), "sha1": hex.EncodeToString(h1.Sum(nil))}
	if err := w.Finish(imager.Final{Hashes: hashes, SectorSize: 512, Size: size}); err != nil {
		t.Fatal(err)
	}
	if n := len(w.Files()); n != 1 {
		t.Fatalf("%d segments, want 1", n)
	}
	st, _ := os.Stat(w.Files()[0])
	if st.Size() <= 1<<31 {
		t.Fatalf("segment is %d bytes, want > 2 GiB", st.Size())
	}
	r, err := Open(w.Files()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if want := (size/ChunkSize + maxTableEntries - 1) / maxTableEntries; len(r.tables) != want {
		t.Errorf("%d table groups, want %d", len(r.tables), want)
	}
	g := sha256.New()
	if _, err := io.Copy(g, r); err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(g.Sum(nil)) != hex.EncodeToString(h2.Sum(nil)) {
		t.Fatal("sha256 of the image differs from the source")
	}
	if _, err := exec.LookPath("ewfverify"); err != nil {
		t.Skip("ewfverify not on PATH")
	}
	out, err := exec.Command("ewfverify", "-q", w.Files()[0]).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ewfverify: SUCCESS") || !strings.Contains(string(out), "MD5 hash calculated over data:\t\t"+hashes["md5"]) {
		t.Fatalf("ewfverify: %v\n%s", err, out)
	}
}
