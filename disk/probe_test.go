package disk

import (
	"encoding/binary"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
)

// TestProbeMkfs formats image files with the real tools and checks Probe
// against the values we asked for and against blkid's low-level probe.
func TestProbeMkfs(t *testing.T) {
	const uuid = "0f3a6b62-29c4-4f51-9d0a-5b1c2e7d8a90"
	tests := []struct {
		name string
		size int64
		tool string
		args func(img string) []string // arguments to tool
		want FS                        // UUID "" = only cross-check with blkid
	}{
		{"ext2", 8 << 20, "mkfs.ext2", func(img string) []string { return []string{"-q", "-F", "-L", "E2LABEL", "-U", uuid, img} }, FS{"ext2", "E2LABEL", uuid}},
		{"ext3", 8 << 20, "mkfs.ext3", func(img string) []string { return []string{"-q", "-F", "-L", "E3LABEL", "-U", uuid, img} }, FS{"ext3", "E3LABEL", uuid}},
		{"ext4", 16 << 20, "mkfs.ext4", func(img string) []string { return []string{"-q", "-F", "-L", "E4LABEL", "-U", uuid, img} }, FS{"ext4", "E4LABEL", uuid}},
		{"fat16", 16 << 20, "mkfs.vfat", func(img string) []string { return []string{"-F", "16", "-n", "FAT16LBL", "-i", "1234ABCD", img} }, FS{"vfat", "FAT16LBL", "1234-ABCD"}},
		{"fat32", 40 << 20, "mkfs.vfat", func(img string) []string { return []string{"-F", "32", "-n", "FAT32LBL", "-i", "DEADBEEF", img} }, FS{"vfat", "FAT32LBL", "DEAD-BEEF"}},
		{"fat-nolabel", 8 << 20, "mkfs.vfat", func(img string) []string { return []string{"-i", "00C0FFEE", img} }, FS{"vfat", "", "00C0-FFEE"}},
		{"exfat", 16 << 20, "mkfs.exfat", func(img string) []string { return []string{"-L", "EXLABEL", img} }, FS{"exfat", "EXLABEL", ""}},
		{"ntfs", 16 << 20, "mkntfs", func(img string) []string { return []string{"-q", "-F", "-f", "-L", "NTLABEL", img} }, FS{"ntfs", "NTLABEL", ""}},
		{"xfs", 320 << 20, "mkfs.xfs", func(img string) []string { return []string{"-q", "-L", "XLABEL", "-m", "uuid=" + uuid, img} }, FS{"xfs", "XLABEL", uuid}},
		{"btrfs", 128 << 20, "mkfs.btrfs", func(img string) []string { return []string{"-q", "-L", "BLABEL", "-U", uuid, img} }, FS{"btrfs", "BLABEL", uuid}},
		{"swap", 1 << 20, "mkswap", func(img string) []string { return []string{"-L", "SWLABEL", "-U", uuid, img} }, FS{"swap", "SWLABEL", uuid}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			needTool(t, tc.tool)
			img := sparseFile(t, tc.name+".img", tc.size)
			run(t, tc.tool, tc.args(img)...)
			checkProbe(t, img, tc.want)
		})
	}
	t.Run("iso9660", func(t *testing.T) {
		needTool(t, "xorriso")
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		img := filepath.Join(t.TempDir(), "x.iso")
		run(t, "xorriso", "-as", "mkisofs", "-quiet", "-V", "ISOLABEL", "-o", img, dir)
		checkProbe(t, img, FS{"iso9660", "ISOLABEL", ""})
	})
}

func checkProbe(t *testing.T, img string, want FS) {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	got, ok := Probe(f, st.Size())
	if !ok {
		t.Fatalf("Probe(%s) found nothing, want %+v", img, want)
	}
	if got.Type != want.Type || got.Label != want.Label || (want.UUID != "" && got.UUID != want.UUID) {
		t.Errorf("Probe = %+v, want %+v", got, want)
	}
	if b := blkidExport(t, img); b != nil {
		if b["TYPE"] != got.Type || b["LABEL"] != got.Label || b["UUID"] != got.UUID {
			t.Errorf("Probe = %+v, blkid says TYPE=%q LABEL=%q UUID=%q", got, b["TYPE"], b["LABEL"], b["UUID"])
		}
	}
}

// TestProbeSynthetic covers formats we cannot create here (md needs the md
// driver, LVM needs lvmetad/udev, LUKS needs cryptsetup) with headers built
// from the on-disk layouts, and the negative cases.
func TestProbeSynthetic(t *testing.T) {
	const size = 1 << 20
	set := func(b []byte, off int, v []byte) { copy(b[off:], v) }
	le32 := func(v uint32) []byte { b := make([]byte, 4); binary.LittleEndian.PutUint32(b, v); return b }
	uuidBytes := []byte{0x0f, 0x3a, 0x6b, 0x62, 0x29, 0xc4, 0x4f, 0x51, 0x9d, 0x0a, 0x5b, 0x1c, 0x2e, 0x7d, 0x8a, 0x90}
	rnd := make([]byte, size)
	rand.New(rand.NewSource(1)).Read(rnd)

	tests := []struct {
		name   string
		build  func(b []byte)
		want   FS
		wantOK bool
	}{
		{"md-1.2", func(b []byte) {
			set(b, 4096, le32(mdMagic))
			set(b, 4096+4, le32(1))
			set(b, 4096+16, uuidBytes)
			set(b, 4096+32, []byte("host:0"))
		}, FS{"linux_raid_member", "host:0", "0f3a6b62-29c4-4f51-9d0a-5b1c2e7d8a90"}, true},
		{"md-1.0-at-end", func(b []byte) {
			off := (size - 8192) &^ 4095
			set(b, off, le32(mdMagic))
			set(b, off+4, le32(1))
			set(b, off+16, uuidBytes)
			// an ext4 inside must not win over the member
			binary.LittleEndian.PutUint16(b[extSBOffset+extMagicOff:], extMagic)
		}, FS{"linux_raid_member", "", "0f3a6b62-29c4-4f51-9d0a-5b1c2e7d8a90"}, true},
		{"md-0.90", func(b []byte) {
			off := size&^(md090BlockSize-1) - md090BlockSize
			set(b, off, le32(mdMagic))
			set(b, off+md090UUID0Off, le32(0x11111111))
			set(b, off+md090UUID1Off, le32(0x22222222))
			set(b, off+md090UUID1Off+4, le32(0x33333333))
			set(b, off+md090UUID1Off+8, le32(0x44444444))
		}, FS{"linux_raid_member", "", "11111111-2222-2222-3333-333344444444"}, true},
		{"lvm2", func(b []byte) {
			set(b, 512, []byte("LABELONE"))
			set(b, 512+lvmOffsetXLOff, le32(32))
			set(b, 512+lvmLabelTypeOff, []byte("LVM2 001"))
			set(b, 512+32, []byte("AbCdEf0123456789AbCdEf0123456789"))
		}, FS{"LVM2_member", "", "AbCdEf-0123-4567-89Ab-CdEf-0123-456789"}, true},
		{"luks2", func(b []byte) {
			set(b, 0, []byte("LUKS\xba\xbe\x00\x02"))
			set(b, luksLabelOff, []byte("secret"))
			set(b, luksUUIDOff, []byte("0f3a6b62-29c4-4f51-9d0a-5b1c2e7d8a90"))
		}, FS{"crypto_LUKS", "secret", "0f3a6b62-29c4-4f51-9d0a-5b1c2e7d8a90"}, true},
		{"zeros", func(b []byte) {}, FS{}, false},
		{"random", func(b []byte) { copy(b, rnd) }, FS{}, false},
		{"mbr-only", func(b []byte) { b[510], b[511] = 0x55, 0xAA }, FS{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := make([]byte, size)
			tc.build(b)
			got, ok := Probe(bytesReaderAt(b), size)
			if ok != tc.wantOK || got != tc.want {
				t.Errorf("Probe = %+v, %v; want %+v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, os.ErrNotExist
	}
	n := copy(p, b[off:])
	return n, nil
}
