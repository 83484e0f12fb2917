package raid

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// r6Layouts are the RAID6 layouts r56map knows.
var r6Layouts = []int{algLeftAsymmetric, algRightAsymmetric, algLeftSymmetric, algRightSymmetric, algParity0, algParityN,
	algRotatingZeroRestart, algRotatingNRestart, algRotatingNContinue,
	algLeftAsymmetric6, algRightAsymmetric6, algLeftSymmetric6, algRightSymmetric6, algParity0_6}

// memRAID6 is a RAID6 array of n in-memory members, chunk bytes per chunk and
// the given number of stripes, with random data (from seed) and P and Q
// computed as md does. Roles in missing are left out.
func memRAID6(t testing.TB, n, layout int, chunk, stripes int64, seed uint64, missing ...int) *Array {
	t.Helper()
	devBytes := chunk * stripes
	a := &Array{Metadata: "md-1.2", UUID: fmt.Sprintf("test:raid6:%d:%d", n, layout), LevelNum: 6, Level: "raid6",
		LayoutNum: layout, Layout: LayoutName(6, layout, false), ChunkBytes: chunk, RaidDevices: n,
		fresh: &Superblock{ChecksumOK: true, DevSectors: devBytes / 512}}
	devs := make([][]byte, n)
	for i := range devs {
		devs[i] = make([]byte, devBytes)
	}
	if r6width(a) == nil {
		rng := rand.New(rand.NewPCG(seed, uint64(n)))
		v := &Volume{arr: a, n: n, chunk: chunk}
		data := int64(n - 2)
		for s := int64(0); s < stripes; s++ {
			_, g, _, err := v.r56map(s * data)
			if err != nil {
				t.Fatal(err)
			}
			off := s * chunk
			slots, _ := r6slots(n, g.pd, g.qd, g.ddf)
			p, q := devs[g.pd][off:off+chunk], devs[g.qd][off:off+chunk]
			for i := 0; i < n; i++ {
				if i == g.pd || i == g.qd {
					continue
				}
				d := devs[i][off : off+chunk]
				for j := range d {
					d[j] = byte(rng.Uint32())
				}
				xorInto(p, d)
				gfMulAdd(q, d, gfPow2(slots[i]))
			}
		}
	}
	gone := map[int]bool{}
	for _, r := range missing {
		gone[r] = true
	}
	for r := 0; r < n; r++ {
		am := &ArrayMember{Role: r, Status: StatusMissing}
		if !gone[r] {
			name := fmt.Sprintf("m%d", r)
			am = &ArrayMember{Name: name, Role: r, Status: StatusActive, sb: &Superblock{DataSize: devBytes / 512},
				member: Member{Name: name, R: bytes.NewReader(devs[r]), Size: devBytes}}
		}
		a.Members = append(a.Members, am)
	}
	return a
}

func readAll(t testing.TB, a *Array) []byte {
	t.Helper()
	v, err := Open(a)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	buf := make([]byte, v.Size())
	if _, err := v.ReadAt(buf, 0); err != nil {
		t.Fatalf("read: %v", err)
	}
	return buf
}

// A RAID6 set's Q syndrome gives each data slot the coefficient g^slot in
// GF(2^8), which has 255 of them: md layouts fit 255 data disks (n-2 slots),
// DDF's rotating layouts 253 (their slots count P and Q too, n slots). One
// more is refused when the array is opened; up to the limit two missing data
// members are rebuilt, the pair whose slots are furthest apart included.
func TestRAID6DataDiskLimit(t *testing.T) {
	for _, tc := range []struct {
		layout int
		maxN   int // widest set accepted
		limit  int // data disks
	}{
		{algLeftAsymmetric, 257, 255}, {algRightAsymmetric, 257, 255}, {algLeftSymmetric, 257, 255},
		{algRightSymmetric, 257, 255}, {algParity0, 257, 255}, {algParityN, 257, 255},
		{algRotatingZeroRestart, 255, 253}, {algRotatingNRestart, 255, 253}, {algRotatingNContinue, 255, 253},
		{algLeftAsymmetric6, 257, 255}, {algRightAsymmetric6, 257, 255}, {algLeftSymmetric6, 257, 255},
		{algRightSymmetric6, 257, 255}, {algParity0_6, 257, 255},
		{algLeftSymmetric, 4, 255}, {algRotatingNContinue, 4, 253}, // small sets are not affected
	} {
		name := fmt.Sprintf("%s/%d", LayoutName(6, tc.layout, false), tc.maxN)
		t.Run(name, func(t *testing.T) {
			const chunk, stripes = 512, 3
			want := readAll(t, memRAID6(t, tc.maxN, tc.layout, chunk, stripes, 1))
			// The data roles of stripe 0 with the lowest and the highest slot.
			v := &Volume{arr: memRAID6(t, tc.maxN, tc.layout, chunk, stripes, 1), n: tc.maxN, chunk: chunk}
			_, g, _, _ := v.r56map(0)
			slots, _ := r6slots(tc.maxN, g.pd, g.qd, g.ddf)
			lo, hi := -1, -1
			for r, s := range slots {
				if r == g.pd || r == g.qd {
					continue
				}
				if lo < 0 || s < slots[lo] {
					lo = r
				}
				if hi < 0 || s > slots[hi] {
					hi = r
				}
			}
			if tc.maxN > 10 && slots[hi]-slots[lo] != tc.limit-1 {
				t.Fatalf("stripe 0 (P %d, Q %d): data slots %d..%d", g.pd, g.qd, slots[lo], slots[hi])
			}
			for _, missing := range [][]int{{lo, hi}, {0, tc.maxN - 1}, {g.pd, lo}, {g.qd, hi}, {g.pd, g.qd}} {
				if got := readAll(t, memRAID6(t, tc.maxN, tc.layout, chunk, stripes, 1, missing...)); !bytes.Equal(got, want) {
					t.Errorf("roles %v missing: rebuilt data differs", missing)
				}
			}
			if tc.maxN < 10 {
				return
			}
			// One more device: refused when opened, whatever is missing.
			for _, missing := range [][]int{nil, {lo, hi}, {0, tc.maxN}} {
				a := memRAID6(t, tc.maxN+1, tc.layout, chunk, stripes, 1, missing...)
				_, err := Open(a)
				if err == nil {
					t.Fatalf("%d devices, roles %v missing: opened", tc.maxN+1, missing)
				}
				for _, s := range []string{a.UUID, fmt.Sprintf("%d data disks", tc.maxN+1-2), fmt.Sprintf("at most %d", tc.limit)} {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %q", err, s)
					}
				}
			}
		})
	}
}

// The same through real metadata: mdadm-style 1.2 superblocks for a
// left-symmetric RAID6 of 258 devices (256 data disks) with roles 1 and 256
// missing — stripe 0's data slots 0 and 255, whose Q coefficients are both 1.
// Examine reports the set as too wide and Open refuses it (it used to
// panic in gfInv(0) when the first chunk was read).
func TestRAID6TooWideFromSuperblocks(t *testing.T) {
	const n = 258
	tmpl := readSB(t, "md12-raid6-ls-member3.bin")
	var ms []Member
	for r := 0; r < n; r++ {
		if r == 1 || r == 256 {
			continue
		}
		sb := setMD1(tmpl, 6, algLeftSymmetric, 8, n, r, 64)
		ms = append(ms, Member{Name: fmt.Sprintf("m%d", r), Size: 2 << 20,
			R: &sparse{size: 2 << 20, parts: []sparsePart{{4096, sb}}}})
	}
	rep, err := ExamineWith(ms, ExamineOptions{NoDDFSearch: true})
	if err != nil || len(rep.Arrays) != 1 {
		t.Fatalf("examine: %v, %d arrays", err, len(rep.Arrays))
	}
	a := rep.Arrays[0]
	if a.RaidDevices != n || a.State != "degraded" {
		t.Fatalf("raid_disks %d state %s", a.RaidDevices, a.State)
	}
	if !strings.Contains(strings.Join(a.Problems, "\n"), "256 data disks") {
		t.Errorf("problems do not name the width: %q", a.Problems)
	}
	v, err := Open(a)
	if err == nil {
		_, rerr := v.ReadAt(make([]byte, 4096), 0)
		t.Fatalf("opened a RAID6 with 256 data disks (read: %v)", rerr)
	}
	for _, s := range []string{a.UUID, "256 data disks", "at most 255"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if a.Size != 0 {
		t.Errorf("size %d for a set that cannot be opened", a.Size)
	}
}

// DDF metadata may claim a RAID6 of up to 65535 elements: the real RAID5
// member's configuration record turned into a RAID6 (rotating, N
// continue) of 256 disks is refused as 254 data disks, at most 253.
func TestDDFRAID6TooWide(t *testing.T) {
	seed := readSeed(t, "ddf", "ddf-raid5-1.bin")
	cfg := 512 + 162*512 // anchor + config section offset (sectors) from the header
	edited := 0
	for o := cfg; o+7*512 <= len(seed); o += 7 * 512 {
		r := seed[o : o+7*512]
		if binary.BigEndian.Uint32(r) != ddfVDConfMagic {
			continue
		}
		binary.BigEndian.PutUint16(r[64:], 256) // prim_elmnt_count
		r[67], r[68] = ddfRAID6, 3
		binary.BigEndian.PutUint32(r[4:], ddfCRC(r))
		edited++
	}
	if edited == 0 {
		t.Fatal("no configuration record in the seed")
	}
	m := ddfMember(seed, 64<<20)
	rep, err := Examine([]Member{m, ddfMember(seed, 64<<20)})
	if err != nil || len(rep.Arrays) != 1 {
		t.Fatalf("examine: %v %+v", err, rep)
	}
	a := rep.Arrays[0]
	if a.LevelNum != 6 || a.RaidDevices != 256 || a.LayoutNum != algRotatingNContinue {
		t.Fatalf("level %d devices %d layout %d", a.LevelNum, a.RaidDevices, a.LayoutNum)
	}
	_, err = Open(a)
	if err == nil {
		t.Fatal("opened a DDF RAID6 of 256 disks")
	}
	for _, s := range []string{a.UUID, "254 data disks", "at most 253"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
}

// reconstruct refuses, rather than divides by zero, two missing data
// members whose Q coefficients are equal — should a set that wide ever get
// past Open.
func TestReconstructEqualCoefficients(t *testing.T) {
	const n = 258
	a := memRAID6(t, n, algLeftSymmetric, 512, 1, 1, 1, 256)
	v := &Volume{arr: a, n: n, chunk: 512, devs: make([]*volDev, n)}
	for r := 0; r < n; r++ {
		if am := a.Active(r); am != nil {
			v.devs[r] = &volDev{name: am.Name, r: am.member.R, size: 512}
		}
	}
	_, g, _, err := v.r56map(0)
	if err != nil || g.dd != 1 {
		t.Fatalf("r56map: %v %+v", err, g)
	}
	err = v.reconstruct(make([]byte, 512), 0, g, 0, n-2, -1)
	if err == nil || !strings.Contains(err.Error(), "coefficient") {
		t.Fatalf("reconstruct: %v", err)
	}
}

// FuzzRAID6Degraded builds RAID6 sets of 3 to 514 devices in every layout,
// with two members missing, and reads them back: a set too wide for GF(2^8)
// is refused at Open, any other gives back the data it was built from;
// nothing panics.
func FuzzRAID6Degraded(f *testing.F) {
	for _, s := range [][4]uint16{{257, 2, 1, 255}, {258, 2, 1, 256}, {255, 8, 0, 252}, {256, 8, 0, 255},
		{4, 0, 0, 1}, {259, 16, 0, 255}, {514, 5, 0, 511}, {6, 9, 2, 2}} {
		f.Add(s[0], uint8(s[1]), s[2], s[3], uint64(1))
	}
	f.Fuzz(func(t *testing.T, n uint16, layout uint8, a, b uint16, seed uint64) {
		nn := 3 + int(n)%512
		lay := r6Layouts[int(layout)%len(r6Layouts)]
		const chunk, stripes = 512, 2
		arr := memRAID6(t, nn, lay, chunk, stripes, seed, int(a)%nn, int(b)%nn)
		wide := r6width(arr)
		v, err := Open(arr)
		if wide != nil {
			if err == nil {
				t.Fatalf("%d devices, %s: opened, r6width says %v", nn, arr.Layout, wide)
			}
			return
		}
		if err != nil {
			t.Fatalf("%d devices, %s: %v", nn, arr.Layout, err)
		}
		got := make([]byte, v.Size())
		if _, err := v.ReadAt(got, 0); err != nil {
			t.Fatal(err)
		}
		if want := readAll(t, memRAID6(t, nn, lay, chunk, stripes, seed)); !bytes.Equal(got, want) {
			t.Fatalf("%d devices, %s, roles %d %d missing: rebuilt data differs", nn, arr.Layout, int(a)%nn, int(b)%nn)
		}
	})
}
