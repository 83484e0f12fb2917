package disk

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestEncryptionFindings: a LUKS2 volume made by cryptsetup and BitLocker
// and APFS headers built from their published layouts are named by
// Inspect; random-filled data is possibly encrypted (PossiblyEncrypted,
// which acquisitions run on the image); a plain ext4, zeros and text are
// neither.
func TestEncryptionFindings(t *testing.T) {
	dir := t.TempDir()
	const size = 32 << 20
	img := func(name string, fill func([]byte)) string {
		b := make([]byte, size)
		fill(b)
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	random := func(b []byte) {
		r := rand.New(rand.NewPCG(7, 8))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
	}
	type tc struct {
		path   string
		want   string // Inspect's finding
		random bool   // PossiblyEncrypted's
	}
	cases := map[string]tc{
		"random": {img("random.img", random), "", true},
		"zeros":  {img("zeros.img", func([]byte) {}), "", false},
		"text": {img("text.img", func(b []byte) {
			copy(b, bytes.Repeat([]byte("the evidence was handled with care. "), size/35))
		}), "", false},
		"bitlocker": {img("bitlocker.img", func(b []byte) {
			random(b)
			copy(b[0:], []byte{0xeb, 0x58, 0x90})
			copy(b[3:], "-FVE-FS-")
		}), "BitLocker: encrypted volume", false},
		// A Core Storage volume header built from libfvde's layout (see
		// probeCoreStorage), over random data (its encrypted metadata and
		// volume); with its checksum wrong it is not one.
		"core storage": {img("cs.img", func(b []byte) { random(b); coreStorageHeader(b, true) }),
			"Apple Core Storage: its logical volume may be FileVault 2-encrypted", false},
		"core storage, bad checksum": {img("csbad.img", func(b []byte) { coreStorageHeader(b, false) }), "", false},
		"apfs": {img("apfs.img", func(b []byte) {
			copy(b[32:], "NXSB")
			copy(b[72:], []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
		}), "APFS container", false},
	}
	if _, err := exec.LookPath("cryptsetup"); err == nil {
		p := img("luks.img", func([]byte) {})
		key := filepath.Join(dir, "key")
		os.WriteFile(key, []byte("pw"), 0o600)
		if out, err := exec.Command("cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2", "--pbkdf", "pbkdf2",
			"--pbkdf-force-iterations", "1000", "--key-file", key, p).CombinedOutput(); err != nil {
			t.Fatalf("cryptsetup: %v %s", err, out)
		}
		cases["luks2 (cryptsetup)"] = tc{p, "LUKS: encrypted volume", false}
	} else {
		t.Log("cryptsetup not installed: the LUKS2 case is skipped (scripts/install-deps.sh installs it)")
	}
	if _, err := exec.LookPath("mkfs.ext4"); err == nil {
		p := img("ext4.img", random) // random first: mkfs leaves unused blocks as they were
		if out, err := exec.Command("mkfs.ext4", "-q", "-F", p).CombinedOutput(); err != nil {
			t.Fatalf("mkfs.ext4: %v %s", err, out)
		}
		cases["ext4 over random"] = tc{p, "", false}
	}
	for name, c := range cases {
		info, err := Inspect(c.path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.want == "" && info.Encryption != "" || c.want != "" && !strings.Contains(info.Encryption, c.want) {
			t.Errorf("%s: encryption %q (fs %q), want %q", name, info.Encryption, info.FSType, c.want)
		}
		if c.want != "" || info.FSType != "" {
			continue // a volume with a signature or a file system is not sampled
		}
		f, err := os.Open(c.path)
		if err != nil {
			t.Fatal(err)
		}
		got := PossiblyEncrypted(f, size)
		f.Close()
		if (got != "") != c.random {
			t.Errorf("%s: PossiblyEncrypted %q, want random %v", name, got, c.random)
		}
	}
}

// TestTypeEncryption: a partition whose type says Core Storage or LUKS is
// flagged when its content has no signature of its own.
func TestTypeEncryption(t *testing.T) {
	for _, c := range []struct{ typ, want string }{
		{"53746f72-6167-11aa-aa11-00306543ecac", "Apple Core Storage: its logical volume may be FileVault 2-encrypted"},
		{"CA7D7CCB-63ED-4C53-861C-1742536059CC", "LUKS partition type: encrypted volume"},
		{"0FC63DAF-8483-4772-8E79-3D69D8477DE4", ""},
		{"0x83", ""},
	} {
		i := Info{PartType: c.typ}
		i.ProbeFS(bytes.NewReader(make([]byte, 1<<20)), 1<<20) // zeros: no file system
		if i.Encryption != c.want {
			t.Errorf("type %s: %q, want %q", c.typ, i.Encryption, c.want)
		}
	}
}

// coreStorageHeader writes a Core Storage physical volume header at the
// start of b: version 1 at 8, block type 0x0010 at 10, bytes per sector at
// 48, the volume size at 64, "CS" at 88, checksum algorithm 1 (CRC-32C) at
// 90, block size at 96, key data size 16 at 168, encryption method 2
// (AES-XTS) at 172, key data at 176, the physical volume identifier at
// 304, and the CRC-32C of bytes 8–511 from the initial value 0xffffffff at
// 4 into 0 (off by one when good is false).
func coreStorageHeader(b []byte, good bool) {
	h := b[:512]
	clear(h)
	le := binary.LittleEndian
	le.PutUint32(h[4:], 0xffffffff)
	le.PutUint16(h[8:], 1)
	le.PutUint16(h[10:], 0x0010)
	le.PutUint32(h[48:], 512)
	le.PutUint64(h[64:], uint64(len(b)))
	copy(h[88:], "CS")
	le.PutUint32(h[90:], 1)
	le.PutUint32(h[96:], 4096)
	le.PutUint32(h[168:], 16)
	le.PutUint32(h[172:], 2)
	copy(h[176:], bytes.Repeat([]byte{0x5a}, 16))
	copy(h[304:], []byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	sum := crc32cRaw(0xffffffff, h[8:512])
	if !good {
		sum++
	}
	le.PutUint32(h[0:], sum)
}
