package raid

import (
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// sparse is a member of a given size that reads zeros except for a few
// byte ranges, so metadata cut from a fixture disk can be put back where it
// was without keeping the whole disk.
type sparse struct {
	size  int64
	parts []sparsePart
}

type sparsePart struct {
	off int64
	b   []byte
}

func (s *sparse) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, io.EOF
	}
	n := len(p)
	if int64(n) > s.size-off {
		n = int(s.size - off)
	}
	clear(p[:n])
	for _, pt := range s.parts {
		lo, hi := max(off, pt.off), min(off+int64(n), pt.off+int64(len(pt.b)))
		if lo < hi {
			copy(p[lo-off:hi-off], pt.b[lo-pt.off:hi-pt.off])
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// ddfMember rebuilds a DDF member from a seed: the anchor sector followed
// by the metadata that starts at the anchor's primary_lba.
func ddfMember(seed []byte, size int64) Member {
	s := &sparse{size: size}
	if len(seed) >= 512 {
		s.parts = append(s.parts, sparsePart{size&^511 - 512, seed[:512]})
		prim := int64(binary.BigEndian.Uint64(seed[96:104]))
		if prim >= 0 && prim < size/512 {
			s.parts = append(s.parts, sparsePart{prim * 512, seed[512:]})
		}
	}
	return Member{Name: "ddf-seed", R: s, Size: size}
}

// imsmMember puts a seed (the last sectors of an IMSM disk) back at
// the end of a member.
func imsmMember(seed []byte, size int64, serial string) Member {
	s := &sparse{size: size, parts: []sparsePart{{size&^511 - int64(len(seed)), seed}}}
	return Member{Name: "imsm-seed", R: s, Size: size, Serial: serial}
}

func readSeed(t testing.TB, dir, name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Expected values: what mdadm --examine printed for the same fixture member.
func TestDDFGolden(t *testing.T) {
	sb, err := ddfProber{}.Probe(ddfMember(readSeed(t, "ddf", "ddf-raid5-1.bin"), 64<<20))
	if err != nil || sb == nil || sb.DDF == nil {
		t.Fatalf("probe: %v %+v", err, sb)
	}
	d := sb.DDF
	if !sb.ChecksumOK || len(d.SectionErrors) > 0 {
		t.Fatalf("checksums: ok %v, errors %v", sb.ChecksumOK, d.SectionErrors)
	}
	if d.ContainerGUID != "4c696e75782d4d44deadbeef000000005833d7b51b96b25f" || d.Sequence != 0x0a || d.Refnum != 0xdb133b10 || len(d.VDs) != 1 {
		t.Fatalf("container: %+v", d)
	}
	vd := d.VDs[0]
	if vd.GUID != "4c696e75782d4d44deadbeef000000005833d7b52ad396a3" || vd.Level != 5 || vd.Layout != algLeftSymmetric ||
		vd.ChunkSectors != 128 || vd.Blocks != 2*16384 || vd.ArrayBlocks != 2*49152 || vd.PrimCount != 4 || vd.Position != 1 {
		t.Fatalf("vd: %+v", vd)
	}
	// A corrupted configuration record is reported, not used.
	bad := readSeed(t, "ddf", "ddf-raid5-1.bin")
	cfg := 512 + 162*512 // anchor + config section offset (sectors) from the header
	for o := cfg; o < len(bad); o += 7 * 512 {
		if binary.BigEndian.Uint32(bad[o:]) == ddfVDConfMagic {
			bad[o+100] ^= 1
		}
	}
	sb, _ = ddfProber{}.Probe(ddfMember(bad, 64<<20))
	if sb == nil || len(sb.DDF.VDs) != 1 || sb.DDF.VDs[0].Err == "" {
		t.Fatalf("corrupted VD config not reported: %+v", sb)
	}
}

func TestIMSMGolden(t *testing.T) {
	seed := readSeed(t, "imsm", "imsm-raid5-1.bin")
	sb, err := imsmProber{}.Probe(imsmMember(seed, 64<<20, "CIFX0021"))
	if err != nil || sb == nil || sb.IMSM == nil {
		t.Fatalf("probe: %v %+v", err, sb)
	}
	d := sb.IMSM
	if !sb.ChecksumOK || sb.Checksum != 0xcd192de2 || d.Family != 0xa50ca2e6 || d.Generation != 0x19 || d.Version != "1.2.02" || len(d.Disks) != 3 {
		t.Fatalf("mpb: ok %v sum %08x %+v", sb.ChecksumOK, sb.Checksum, d)
	}
	if len(d.Volumes) != 1 || d.ThisDisk < 0 {
		t.Fatalf("volumes %+v this %d", d.Volumes, d.ThisDisk)
	}
	v := d.Volumes[0]
	slot := -1
	for i, o := range v.Ord {
		if int(o&0xffffff) == d.ThisDisk {
			slot = i
		}
	}
	if v.Level != 5 || v.SizeSectors != 65536 || v.BlocksPerMember != 34816 || v.StripSectors != 128 || v.PBA != 0 || slot != 1 {
		t.Fatalf("volume %+v slot %d", v, slot)
	}
	seed[600] ^= 1 // inside the MPB
	sb, _ = imsmProber{}.Probe(imsmMember(seed, 64<<20, "CIFX0021"))
	if sb == nil || sb.ChecksumOK {
		t.Fatalf("corrupted MPB: checksum reported correct")
	}
}

func addDirSeeds(f *testing.F, dir string) {
	files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.bin"))
	if len(files) == 0 {
		f.Fatalf("no seeds in testdata/%s", dir)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func openAndRead(t *testing.T, ms []Member) {
	rep, err := Examine(ms)
	if err != nil {
		return
	}
	buf := make([]byte, 4096)
	for _, a := range rep.Arrays {
		v, err := Open(a)
		if err != nil {
			continue
		}
		for _, off := range []int64{0, v.Size() / 3, v.Size() - 10} {
			if off >= 0 {
				v.ReadAt(buf, off)
			}
		}
	}
}

func FuzzDDF(f *testing.F) {
	addDirSeeds(f, "ddf")
	f.Fuzz(func(t *testing.T, b []byte) {
		m := ddfMember(b, 64<<20)
		sb, err := ddfProber{}.Probe(m)
		if err == nil {
			checkSB(t, sb)
		}
		openAndRead(t, []Member{m, ddfMember(b, 64<<20)})
	})
}

func FuzzIMSM(f *testing.F) {
	addDirSeeds(f, "imsm")
	f.Fuzz(func(t *testing.T, b []byte) {
		var ms []Member
		for _, s := range []string{"CIFX0020", "CIFX0021", "CIFX0022"} {
			ms = append(ms, imsmMember(b, 8<<20, s))
		}
		sb, err := imsmProber{}.Probe(ms[0])
		if err == nil {
			checkSB(t, sb)
		}
		openAndRead(t, ms)
	})
}

// Some LSI/PERC controllers put the DDF anchor elsewhere in the last 32 MiB:
// the same real metadata, with the anchor moved 1 MiB + 3 sectors up from
// the end, must still be found (and a last sector without it is no error).
func TestDDFAnchorNotInLastSector(t *testing.T) {
	seed := readSeed(t, "ddf", "ddf-raid5-1.bin")
	const size = 64 << 20
	m := ddfMember(seed, size)
	s := m.R.(*sparse)
	s.parts[0].off = size - 1<<20 - 3*512
	sb, err := ddfProber{}.Probe(m)
	if err != nil || sb == nil || !sb.ChecksumOK || sb.Offset != size-1<<20-3*512 || len(sb.DDF.VDs) != 1 {
		t.Fatalf("moved anchor: %v %+v", err, sb)
	}
	// Without the search (listings), only the last sector counts.
	rep, _ := ExamineWith([]Member{m}, ExamineOptions{NoDDFSearch: true})
	if len(rep.Members[0].Found) != 0 {
		t.Fatalf("NoDDFSearch still found %+v", rep.Members[0].Found)
	}
	// Nothing at all: not DDF.
	sb, err = ddfProber{}.Probe(Member{Name: "zeros", R: &sparse{size: size}, Size: size})
	if sb != nil || err != nil {
		t.Fatalf("zeros: %+v %v", sb, err)
	}
}
