package raid

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// setMD1 rewrites fields of a 1.x superblock template (testdata/sb, made by
// mdadm) and recomputes its checksum, for synthetic arrays in benchmarks.
func setMD1(tmpl []byte, level, layout, chunkSectors, raidDisks, devNumber int, devSectors int64) []byte {
	b := append([]byte(nil), tmpl...)
	le := binary.LittleEndian
	le.PutUint32(b[72:], uint32(int32(level)))
	le.PutUint32(b[76:], uint32(layout))
	le.PutUint64(b[80:], uint64(devSectors))
	le.PutUint32(b[88:], uint32(chunkSectors))
	le.PutUint32(b[92:], uint32(raidDisks))
	le.PutUint64(b[136:], uint64(devSectors))
	le.PutUint32(b[160:], uint32(devNumber))
	le.PutUint32(b[220:], uint32(raidDisks))
	for i := 0; i < raidDisks; i++ {
		le.PutUint16(b[256+2*i:], uint16(i))
	}
	le.PutUint32(b[216:], 0)
	size := 256 + 2*raidDisks
	var sum uint64
	i := 0
	for ; size-i >= 4; i += 4 {
		sum += uint64(le.Uint32(b[i:]))
	}
	if size-i == 2 {
		sum += uint64(le.Uint16(b[i:]))
	}
	le.PutUint32(b[216:], uint32((sum&0xffffffff)+(sum>>32)))
	return b
}

// BenchmarkRAID5Read reads a 4-member RAID5 (left-symmetric, 512 KiB chunk)
// built from page-cached member files, against a plain read of one member.
func BenchmarkRAID5Read(b *testing.B) {
	const (
		members    = 4
		dataOffset = 2048 * 512
		devBytes   = 64 << 20
		bufSize    = 1 << 20
	)
	tmpl, err := os.ReadFile(filepath.Join("testdata", "sb", "md12-raid6-ls-member3.bin"))
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, dataOffset+devBytes)
	var ms []Member
	for i := 0; i < members; i++ {
		for j := dataOffset; j+8 <= len(data); j += 8 {
			binary.LittleEndian.PutUint64(data[j:], rng.Uint64())
		}
		clear(data[:dataOffset])
		copy(data[4096:], setMD1(tmpl, 5, algLeftSymmetric, 1024, members, i, devBytes/512))
		p := filepath.Join(dir, "m"+string(rune('0'+i)))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { f.Close() })
		ms = append(ms, Member{Name: p, R: f, Size: int64(len(data))})
	}
	rep, err := Examine(ms)
	if err != nil || len(rep.Arrays) != 1 {
		b.Fatalf("examine: %v %+v", err, rep)
	}
	v, err := Open(rep.Arrays[0])
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, bufSize)
	// Warm the page cache.
	for off := int64(0); off < v.Size(); off += bufSize {
		v.ReadAt(buf, off)
	}
	b.Run("plain-member", func(b *testing.B) {
		f := ms[0].R
		b.SetBytes(devBytes)
		for b.Loop() {
			for off := int64(dataOffset); off < dataOffset+devBytes; off += bufSize {
				if _, err := f.ReadAt(buf, off); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("raid5-volume", func(b *testing.B) {
		b.SetBytes(v.Size())
		for b.Loop() {
			for off := int64(0); off < v.Size(); off += bufSize {
				if _, err := v.ReadAt(buf, off); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("raid5-degraded", func(b *testing.B) {
		arr := *rep.Arrays[0]
		arr.Members = append([]*ArrayMember(nil), arr.Members...)
		arr.Members[1] = &ArrayMember{Role: 1, Status: StatusMissing}
		dv, err := Open(&arr)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(dv.Size())
		for b.Loop() {
			for off := int64(0); off < dv.Size(); off += bufSize {
				if _, err := dv.ReadAt(buf, off); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
