package raid

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// The superblocks in testdata/sb were cut from members that Debian's mdadm
// 4.2 created in the fixture guest (qemu-tests/raidfixture); the expected
// values are what that mdadm printed with --examine for the same member.
var sbGolden = []struct {
	file       string
	parse      func([]byte, int64) (*Superblock, error)
	off        int64
	format     string
	uuid       string
	level      string
	layout     string
	chunkK     int64
	raidDisks  int
	events     uint64
	checksum   uint32
	role       int
	dataOffset int64
	devSectors int64
	reshape    bool
}{
	{file: "md090-raid5-ls-member1.bin", parse: parseMD090, off: 8323072, format: "md-0.90",
		uuid: "e7b4116c:7da68b77:0e113a4c:fd2bb95d", level: "raid5", layout: "left-symmetric", chunkK: 64,
		raidDisks: 4, events: 18, checksum: 0xefc8f2d4, role: 1, dataOffset: 0, devSectors: 8128 * 2},
	{file: "md12-raid6-ls-member3.bin", parse: md1parser(2), off: 4096, format: "md-1.2",
		uuid: "c7c5308a:7e1a6e41:aeba4065:14730d87", level: "raid6", layout: "left-symmetric", chunkK: 64,
		raidDisks: 6, events: 17, checksum: 0x11a70199, role: 3, dataOffset: 2048, devSectors: 14336},
	{file: "md12-raid5-reshape-member3.bin", parse: md1parser(2), off: 4096, format: "md-1.2",
		level: "raid5", layout: "left-symmetric", chunkK: 64, raidDisks: 4, events: 29, checksum: 0xe9cc345e,
		role: 3, dataOffset: 2048, devSectors: 14336, reshape: true},
}

func md1parser(minor int) func([]byte, int64) (*Superblock, error) {
	return func(b []byte, off int64) (*Superblock, error) { return parseMD1(b, minor, off) }
}

func readSB(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "sb", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSuperblockGolden(t *testing.T) {
	for _, g := range sbGolden {
		t.Run(g.file, func(t *testing.T) {
			sb, err := g.parse(readSB(t, g.file), g.off)
			if err != nil || sb == nil {
				t.Fatalf("parse: %v, %v", sb, err)
			}
			if !sb.ChecksumOK || sb.Checksum != g.checksum {
				t.Errorf("checksum %08x (computed %08x, ok %v), mdadm says %08x correct", sb.Checksum, sb.ChecksumCalc, sb.ChecksumOK, g.checksum)
			}
			if g.uuid != "" && sb.UUID != g.uuid {
				t.Errorf("uuid %s, want %s", sb.UUID, g.uuid)
			}
			if sb.Format != g.format || sb.LevelName != g.level || sb.LayoutName != g.layout || sb.ChunkSectors/2 != g.chunkK ||
				sb.RaidDisks != g.raidDisks || sb.Events != g.events || sb.Role != g.role || sb.DataOffset != g.dataOffset ||
				sb.DevSectors != g.devSectors || sb.ReshapeActive() != g.reshape {
				t.Errorf("got %s %s %s chunk %dK disks %d events %d role %d data_offset %d dev %d reshape %v; want %s %s %s %dK %d %d %d %d %d %v",
					sb.Format, sb.LevelName, sb.LayoutName, sb.ChunkSectors/2, sb.RaidDisks, sb.Events, sb.Role, sb.DataOffset, sb.DevSectors, sb.ReshapeActive(),
					g.format, g.level, g.layout, g.chunkK, g.raidDisks, g.events, g.role, g.dataOffset, g.devSectors, g.reshape)
			}
		})
	}
}

// swap090 converts a little-endian 0.90 superblock to the big-endian form a
// big-endian host writes: every 32-bit word swapped, and the two halves of
// the 64-bit event counters exchanged (md_p.h declares events_hi first on
// big-endian hosts), reshape_position as a big-endian u64.
func swap090(le []byte) []byte {
	be := make([]byte, len(le))
	for i := 0; i+4 <= len(le); i += 4 {
		binary.BigEndian.PutUint32(be[i:], binary.LittleEndian.Uint32(le[i:]))
	}
	for _, w := range []int{39, 41} {
		lo := binary.LittleEndian.Uint32(le[4*w:])
		hi := binary.LittleEndian.Uint32(le[4*w+4:])
		binary.BigEndian.PutUint32(be[4*w:], hi)
		binary.BigEndian.PutUint32(be[4*w+4:], lo)
	}
	binary.BigEndian.PutUint64(be[44*4:], binary.LittleEndian.Uint64(le[44*4:]))
	return be
}

func TestMD090ByteSwapped(t *testing.T) {
	le := readSB(t, "md090-raid5-ls-member1.bin")
	// Give the events a high half so the hi/lo order matters.
	binary.LittleEndian.PutUint32(le[40*4:], 3)
	a, err := parseMD090(le, 0)
	if err != nil || a == nil {
		t.Fatal(err)
	}
	b, err := parseMD090(swap090(le), 0)
	if err != nil || b == nil {
		t.Fatal(err)
	}
	if !b.ByteSwapped || a.ByteSwapped {
		t.Fatalf("ByteSwapped: native %v, swapped %v", a.ByteSwapped, b.ByteSwapped)
	}
	if a.Events != 3<<32|18 || b.Events != a.Events {
		t.Errorf("events native %d swapped %d, want %d", a.Events, b.Events, uint64(3<<32|18))
	}
	// The checksum field was not updated after the edit: both must say wrong,
	// and agree on the computed value.
	if a.ChecksumOK || b.ChecksumOK || a.ChecksumCalc != b.ChecksumCalc {
		t.Errorf("checksum after edit: native ok=%v calc=%08x, swapped ok=%v calc=%08x", a.ChecksumOK, a.ChecksumCalc, b.ChecksumOK, b.ChecksumCalc)
	}
	if a.UUID != b.UUID || a.Level != b.Level || a.Layout != b.Layout || a.ChunkSectors != b.ChunkSectors ||
		a.Role != b.Role || a.DevSectors != b.DevSectors || len(a.Roles) != len(b.Roles) {
		t.Errorf("swapped superblock decodes differently:\n%+v\n%+v", a, b)
	}
	// Unedited original, swapped: checksum must verify.
	c, _ := parseMD090(swap090(readSB(t, "md090-raid5-ls-member1.bin")), 0)
	if c == nil || !c.ChecksumOK {
		t.Errorf("swapped original: checksum not verified: %+v", c)
	}
}

func TestBadChecksumReported(t *testing.T) {
	for _, g := range sbGolden {
		b := readSB(t, g.file)
		b[100] ^= 0x40 // a field inside the checksummed range
		sb, err := g.parse(b, g.off)
		if err != nil || sb == nil {
			t.Fatalf("%s: %v", g.file, err)
		}
		if sb.ChecksumOK {
			t.Errorf("%s: corrupted superblock reported a correct checksum", g.file)
		}
		if sb.Checksum != g.checksum {
			t.Errorf("%s: stored checksum %08x, want %08x", g.file, sb.Checksum, g.checksum)
		}
	}
}

func TestNotMD(t *testing.T) {
	zero := make([]byte, 4096)
	for _, p := range []func([]byte, int64) (*Superblock, error){parseMD090, md1parser(0), md1parser(1), md1parser(2)} {
		sb, err := p(zero, 0)
		if sb != nil || err != nil {
			t.Errorf("zeros: %v %v", sb, err)
		}
	}
	// A 1.2 superblock is not a 0.90 one and not a 1.1 one (super_offset).
	b := readSB(t, "md12-raid6-ls-member3.bin")
	if sb, _ := parseMD090(b, 4096); sb != nil {
		t.Errorf("1.2 superblock parsed as 0.90")
	}
	if sb, _ := parseMD1(b, 1, 0); sb != nil {
		t.Errorf("1.2 superblock accepted at the 1.1 position")
	}
}

func TestExamineBadChecksumNotUsed(t *testing.T) {
	good := readSB(t, "md12-raid6-ls-member3.bin")
	bad := bytes.Clone(good)
	bad[100] ^= 1
	mk := func(name string, sb []byte) Member {
		img := make([]byte, 1<<20)
		copy(img[4096:], sb)
		return Member{Name: name, R: bytes.NewReader(img), Size: int64(len(img))}
	}
	rep, err := Examine([]Member{mk("good", good), mk("bad", bad)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Arrays) != 1 {
		t.Fatalf("%d arrays", len(rep.Arrays))
	}
	found := false
	for _, m := range rep.Arrays[0].Members {
		if m.Name == "bad" {
			found = true
			if m.Status != StatusBadSum {
				t.Errorf("bad member status %s", m.Status)
			}
		}
	}
	if !found || len(rep.Arrays[0].Problems) == 0 {
		t.Errorf("bad checksum not reported: %+v", rep.Arrays[0])
	}
}

func TestGF(t *testing.T) {
	// 2^8 = x^4+x^3+x^2+1 = 0x1d under 0x11d.
	if gfPow2(8) != 0x1d {
		t.Errorf("g^8 = %#x, want 0x1d", gfPow2(8))
	}
	for a := 1; a < 256; a++ {
		if gfMul(byte(a), gfInv(byte(a))) != 1 {
			t.Fatalf("a·a⁻¹ ≠ 1 for a=%d", a)
		}
	}
}

// md (super_*_validate) and mdadm --assemble accept a member whose event
// count is one behind the freshest; two behind is stale.
func TestEventMargin(t *testing.T) {
	tmpl := readSB(t, "md12-raid6-ls-member3.bin")
	mk := func(events map[int]uint64) *Array {
		var ms []Member
		for i := 0; i < 4; i++ {
			sb := setMD1(tmpl, 5, algLeftSymmetric, 128, 4, i, 2048)
			binary.LittleEndian.PutUint64(sb[200:], events[i])
			sb = setMD1(sb, 5, algLeftSymmetric, 128, 4, i, 2048) // checksum again
			img := make([]byte, 2<<20)
			copy(img[4096:], sb)
			ms = append(ms, Member{Name: string(rune('a' + i)), R: bytes.NewReader(img), Size: int64(len(img))})
		}
		rep, err := Examine(ms)
		if err != nil || len(rep.Arrays) != 1 {
			t.Fatalf("%v %+v", err, rep)
		}
		return rep.Arrays[0]
	}
	a := mk(map[int]uint64{0: 50, 1: 50, 2: 50, 3: 49})
	if a.State != "clean" || a.Members[3].Status != StatusActive || len(a.Problems) != 1 {
		t.Errorf("one behind: state %s, member 3 %s, problems %v", a.State, a.Members[3].Status, a.Problems)
	}
	a = mk(map[int]uint64{0: 50, 1: 50, 2: 50, 3: 48})
	if a.State != "degraded" || a.Members[3].Status != StatusMissing || a.Members[4].Status != StatusStale {
		t.Errorf("two behind: state %s, members %+v", a.State, a.Members)
	}
}
