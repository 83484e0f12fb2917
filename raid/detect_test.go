package raid

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"testing"
)

func seedMember(t *testing.T, dir, name string, at, size int64) Member {
	b := readSeed(t, dir, name)
	return Member{Name: name, R: &sparse{size: size, parts: []sparsePart{{at, b}}}, Size: size}
}

// Real tool output (see testdata/README.md for how it was made and what the
// tools printed).
func TestDetectRealTools(t *testing.T) {
	for _, tc := range []struct {
		name   string
		m      Member
		format string
		uuid   string
		sum    uint32
		devnum int
		text   string
	}{
		{"lvm2", seedMember(t, "lvm2", "pvcreate-16M.bin", 0, 16<<20), "lvm2", "CzE9d7-8TEH-lwr9-FJIq-3jVI-6J4S-fQwIH0", 0x7247c9d7, -1, "device size 16777216"},
		{"btrfs dev 1", seedMember(t, "btrfs", "mkfs-raid1-dev1.bin", 64<<10, 256<<20), "btrfs", "6eb6b508-d5a9-4efc-91d9-0a197e8251af", 0x4ad8e911, 1, "device 1 of 2, generation 6"},
		{"btrfs dev 2", seedMember(t, "btrfs", "mkfs-raid1-dev2.bin", 64<<10, 256<<20), "btrfs", "6eb6b508-d5a9-4efc-91d9-0a197e8251af", 0xa8a441f4, 2, "device 2 of 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Examine([]Member{tc.m})
			if err != nil {
				t.Fatal(err)
			}
			f := rep.Members[0].Found
			if len(f) != 1 || len(rep.Arrays) != 0 {
				t.Fatalf("found %d formats, %d arrays", len(f), len(rep.Arrays))
			}
			sb := f[0]
			if sb.Format != tc.format || sb.UUID != tc.uuid || !sb.ChecksumOK || sb.Checksum != tc.sum || sb.DevNumber != tc.devnum ||
				!bytes.Contains([]byte(sb.Detail), []byte(tc.text)) {
				t.Fatalf("got %s %s checksum %08x ok %v dev %d %q", sb.Format, sb.UUID, sb.Checksum, sb.ChecksumOK, sb.DevNumber, sb.Detail)
			}
		})
	}
	// Damage is reported.
	for _, tc := range []struct {
		dir, name      string
		at, size, flip int64
	}{
		{"lvm2", "pvcreate-16M.bin", 0, 16 << 20, 512 + 40},
		{"btrfs", "mkfs-raid1-dev1.bin", 64 << 10, 256 << 20, 300},
	} {
		b := readSeed(t, tc.dir, tc.name)
		b[tc.flip] ^= 1
		m := Member{Name: tc.name, R: &sparse{size: tc.size, parts: []sparsePart{{tc.at, b}}}, Size: tc.size}
		rep, _ := Examine([]Member{m})
		if f := rep.Members[0].Found; len(f) != 1 || f[0].ChecksumOK {
			t.Errorf("%s: damaged metadata not reported: %+v", tc.name, f)
		}
	}
}

// ZFS and LDM have no tool on this system; these tests build the structures
// from the documented layouts (see zfs.go, ldm.go), so they only show that
// the probers find what the documentation describes.
func TestDetectZFSAndLDMFromLayout(t *testing.T) {
	const size = 8 << 20
	// ZFS: one little-endian uberblock in L0's ring, slot 3 (1 KiB slots).
	slot := make([]byte, 1024)
	le := binary.LittleEndian
	le.PutUint64(slot[0:], zfsUBMagic)
	le.PutUint64(slot[8:], 5000)  // version
	le.PutUint64(slot[16:], 1234) // txg
	le.PutUint64(slot[24:], 0xfeedface)
	off := int64(128<<10 + 3*1024)
	eck := slot[1024-40:]
	le.PutUint64(eck, zecMagic)
	le.PutUint64(eck[8:], uint64(off))
	sum := sha256.Sum256(slot)
	for w := 0; w < 4; w++ {
		le.PutUint64(eck[8+8*w:], binary.BigEndian.Uint64(sum[8*w:]))
	}
	m := Member{Name: "zfs", R: &sparse{size: size, parts: []sparsePart{{off, slot}}}, Size: size}
	sb, err := zfsProber{}.Probe(m)
	if err != nil || sb == nil || !sb.ChecksumOK || sb.Events != 1234 {
		t.Fatalf("zfs: %+v %v", sb, err)
	}
	slot[100] ^= 1
	if sb, _ := (zfsProber{}).Probe(m); sb == nil || sb.ChecksumOK {
		t.Fatalf("zfs: damaged uberblock checksum not reported")
	}

	ph := make([]byte, 512)
	copy(ph, "PRIVHEAD")
	binary.BigEndian.PutUint16(ph[0x0C:], 2)
	binary.BigEndian.PutUint16(ph[0x0E:], 12)
	copy(ph[0x30:], "01234567-89ab-cdef-0123-456789abcdef")
	copy(ph[0xF0:], "WIN-DG0")
	m = Member{Name: "ldm", R: &sparse{size: size, parts: []sparsePart{{6 * 512, ph}}}, Size: size}
	sb, err = ldmProber{}.Probe(m)
	if err != nil || sb == nil || sb.UUID != "01234567-89ab-cdef-0123-456789abcdef" || sb.Name != "WIN-DG0" || sb.ChecksumNote == "" {
		t.Fatalf("ldm: %+v %v", sb, err)
	}
}

func fuzzProber(f *testing.F, p Prober, at, size int64) {
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 256<<10 {
			b = b[:256<<10]
		}
		m := Member{Name: p.Name(), R: &sparse{size: size, parts: []sparsePart{{at, b}}}, Size: size}
		sb, err := p.Probe(m)
		if err == nil {
			checkSB(t, sb)
		}
	})
}

func FuzzLVM2(f *testing.F) {
	addDirSeeds(f, "lvm2")
	fuzzProber(f, lvm2Prober{}, 0, 16<<20)
}

func FuzzBtrfs(f *testing.F) {
	addDirSeeds(f, "btrfs")
	fuzzProber(f, btrfsProber{}, 64<<10, 256<<20)
}

func FuzzZFS(f *testing.F) {
	f.Add(bytes.Repeat([]byte{0x0c, 0xb1, 0xba, 0, 0, 0, 0, 0}, 128))
	fuzzProber(f, zfsProber{}, 128<<10, 8<<20)
}

func FuzzLDM(f *testing.F) {
	f.Add(append([]byte("PRIVHEAD"), make([]byte, 504)...))
	fuzzProber(f, ldmProber{}, 6*512, 8<<20)
}
