package verify

import (
	"io"
	"sort"

	"github.com/coldimage/coldimage/imager"
)

// skipUnreadable reads a source for verification without re-reading the
// ranges the acquisition recorded as unreadable: the image holds zeros
// there, and so does what this returns. A failing drive is not put
// through the acquisition's rescue a second time (on real disks each
// failing read costs seconds); every other sector is read and compared.
type skipUnreadable struct {
	r   io.ReaderAt
	bad []imager.BadRange // sorted by LBA
	ss  int64
}

// SkipUnreadable is r read without touching the ranges bad lists (zeros
// there instead): what verification compares, and what a resume compares
// with the image already on the target.
func SkipUnreadable(r io.ReaderAt, bad []imager.BadRange, sectorSize int) io.ReaderAt {
	if len(bad) == 0 {
		return r
	}
	b := append([]imager.BadRange(nil), bad...)
	sort.Slice(b, func(i, j int) bool { return b[i].LBA < b[j].LBA })
	return &skipUnreadable{r: r, bad: b, ss: int64(sectorSize)}
}

func (s *skipUnreadable) ReadAt(p []byte, off int64) (int, error) {
	end := off + int64(len(p))
	pos := off
	i := sort.Search(len(s.bad), func(i int) bool { return (s.bad[i].LBA+s.bad[i].Count)*s.ss > off })
	for ; pos < end; i++ {
		next := end // start of the next recorded range inside [pos, end)
		var bEnd int64
		if i < len(s.bad) && s.bad[i].LBA*s.ss < end {
			next = max(pos, s.bad[i].LBA*s.ss)
			bEnd = min(end, (s.bad[i].LBA+s.bad[i].Count)*s.ss)
		}
		if next > pos {
			n, err := s.r.ReadAt(p[pos-off:next-off], pos)
			if err != nil {
				return int(pos-off) + n, err
			}
		}
		if next == end {
			break
		}
		clear(p[next-off : bEnd-off])
		pos = bEnd
	}
	return len(p), nil
}
