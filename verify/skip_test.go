package verify

import (
	"bytes"
	"errors"
	"testing"

	"github.com/coldimage/coldimage/imager"
)

// failingAt fails every read that touches a sector in bad, counting reads
// there: a drive whose bad sectors cost seconds each.
type failingAt struct {
	data    []byte
	bad     map[int64]bool
	touched int
}

func (f *failingAt) ReadAt(p []byte, off int64) (int, error) {
	for l := off / 512; l*512 < off+int64(len(p)); l++ {
		if f.bad[l] {
			f.touched++
			return 0, errors.New("EIO")
		}
	}
	return copy(p, f.data[off:]), nil
}

// TestSkipUnreadable: recorded unreadable ranges read as zeros without a
// read reaching them; every other byte is read from the source, whatever
// the offsets and lengths asked.
func TestSkipUnreadable(t *testing.T) {
	data := bytes.Repeat([]byte{0xAB}, 64<<10)
	src := &failingAt{data: data, bad: map[int64]bool{3: true, 4: true, 40: true, 127: true}}
	rec := []imager.BadRange{{LBA: 40, Count: 1}, {LBA: 3, Count: 2}, {LBA: 127, Count: 1}}
	want := append([]byte(nil), data...)
	for _, r := range rec {
		clear(want[r.LBA*512 : (r.LBA+r.Count)*512])
	}
	r := SkipUnreadable(src, rec, 512)
	for _, c := range []struct{ off, n int64 }{{0, 64 << 10}, {0, 512}, {3 * 512, 512}, {1000, 5000}, {40*512 - 10, 20}, {127 * 512, 512}, {126 * 512, 1024}, {60 << 10, 4 << 10}} {
		p := make([]byte, c.n)
		for i := range p {
			p[i] = 0x55
		}
		if n, err := r.ReadAt(p, c.off); err != nil || n != len(p) || !bytes.Equal(p, want[c.off:c.off+c.n]) {
			t.Errorf("ReadAt(%d, %d): n %d err %v, bytes differ %v", c.off, c.n, n, err, !bytes.Equal(p, want[c.off:c.off+c.n]))
		}
	}
	if src.touched != 0 {
		t.Errorf("%d reads reached a recorded unreadable sector", src.touched)
	}
	// A sector that became unreadable since still fails.
	src.bad[200] = true
	if _, err := r.ReadAt(make([]byte, 4096), 199*512); err == nil {
		t.Error("a new bad sector read as good")
	}
}
