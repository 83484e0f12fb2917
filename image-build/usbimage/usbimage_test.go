package usbimage

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// needDebianBootLoaders skips when Debian's boot loader packages are not
// installed (scripts/install-deps.sh installs them).
func needDebianBootLoaders(t *testing.T) {
	t.Helper()
	for _, f := range []string{DefaultShim, DefaultMokManager, DefaultGrubEFI, filepath.Join(DefaultGrubPCDir, "boot.img")} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("Debian's shim-signed, grub-efi-amd64-signed, grub-pc-bin needed: %v", err)
		}
	}
	if _, err := exec.LookPath("grub-mkimage"); err != nil {
		t.Skipf("grub-common needed: %v", err)
	}
}

// fakeAppliance writes an appliance directory with seeded pseudo-random
// kernel and initramfs bytes (the packer does not look inside them).
func fakeAppliance(t *testing.T, seed uint64) string {
	t.Helper()
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(seed, 1))
	data := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	for name, b := range map[string][]byte{
		"vmlinuz":            data(3 << 20),
		"initramfs.cpio.zst": data(2<<20 + 123),
		"kernel-version":     []byte("6.1.0-test-amd64\n"),
		"kernel-package":     []byte("linux-image-6.1.0-test-amd64_6.1.0-1_amd64\n"),
		"version":            []byte("test\n"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var testVersions = map[string]string{"shim-signed": "1", "grub-efi-amd64-signed": "2", "grub-pc-bin": "3", "grub-common": "3"}

func build(t *testing.T, appliance, out string) (*Inputs, *Image) {
	t.Helper()
	in, err := Prepare(Options{ApplianceDir: appliance, Versions: testVersions})
	if err != nil {
		t.Fatal(err)
	}
	im, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(im, out); err != nil {
		t.Fatal(err)
	}
	return in, im
}

func TestBuildReproducible(t *testing.T) {
	needDebianBootLoaders(t)
	app := fakeAppliance(t, 1)
	a, b := filepath.Join(t.TempDir(), "a.img"), filepath.Join(t.TempDir(), "b.img")
	_, ima := build(t, app, a)
	_, imb := build(t, app, b)
	ba, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if !bytes.Equal(ba, bb) {
		t.Fatalf("two builds from the same inputs differ (%d and %d bytes)", len(ba), len(bb))
	}
	if ima.DiskGUID != imb.DiskGUID || ima.VolumeID != imb.VolumeID {
		t.Fatal("identifiers differ between builds")
	}
	_, imc := build(t, fakeAppliance(t, 2), filepath.Join(t.TempDir(), "c.img"))
	if imc.DiskGUID == ima.DiskGUID || imc.ESPGUID == ima.ESPGUID || imc.VolumeID == ima.VolumeID {
		t.Fatal("other inputs gave the same identifiers")
	}
}

// TestImageLayout cross-checks a built image with sfdisk, blkid and mtools.
func TestImageLayout(t *testing.T) {
	needDebianBootLoaders(t)
	for _, tool := range []string{"sfdisk", "blkid", "mcopy", "fsck.fat"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s needed (util-linux, mtools, dosfstools): %v", tool, err)
		}
	}
	app := fakeAppliance(t, 3)
	img := filepath.Join(t.TempDir(), "usb.img")
	in, im := build(t, app, img)
	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) > MaxImageMiB<<20 || int64(len(raw)) != im.Size {
		t.Fatalf("image is %d bytes, planned %d, limit %d MiB", len(raw), im.Size, MaxImageMiB)
	}

	out, err := exec.Command("sfdisk", "--json", img).Output()
	if err != nil {
		t.Fatalf("sfdisk --json: %v", err)
	}
	var pt struct {
		PartitionTable struct {
			Label, ID  string
			Partitions []struct {
				Start, Size      int64
				Type, UUID, Name string
			}
		}
	}
	if err := json.Unmarshal(out, &pt); err != nil {
		t.Fatal(err)
	}
	p := pt.PartitionTable
	if p.Label != "gpt" || p.ID != im.DiskGUID || len(p.Partitions) != 2 {
		t.Fatalf("sfdisk: %s", out)
	}
	want := []struct {
		start, size int64
		typ, uuid   string
		name        string
	}{
		{BIOSBootLBA, BIOSBootSectors, "21686148-6449-6E6F-744E-656564454649", im.BIOSGUID, "BIOS boot"},
		{ESPLBA, int64(im.ESPSectors), "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", im.ESPGUID, ESPLabel},
	}
	for i, w := range want {
		g := p.Partitions[i]
		if g.Start != w.start || g.Size != w.size || g.Type != w.typ || g.UUID != w.uuid || g.Name != w.name {
			t.Errorf("partition %d: %+v, want %+v", i+1, g, w)
		}
	}

	// Protective MBR: boot code from boot.img pointing at the core image,
	// one 0xEE entry, 55AA.
	if !bytes.Equal(raw[:bootImgKernelSector], in.BootImg[:bootImgKernelSector]) ||
		binary.LittleEndian.Uint64(raw[bootImgKernelSector:]) != BIOSBootLBA ||
		raw[446+4] != 0xee || raw[510] != 0x55 || raw[511] != 0xaa {
		t.Errorf("MBR: % x", raw[:512])
	}
	core := raw[BIOSBootLBA*sectorSize:]
	if binary.LittleEndian.Uint64(core[coreBlocklistStart:]) != BIOSBootLBA+1 {
		t.Errorf("core.img blocklist starts at %d, want %d", binary.LittleEndian.Uint64(core[coreBlocklistStart:]), BIOSBootLBA+1)
	}

	esp := filepath.Join(t.TempDir(), "esp.img")
	if err := os.WriteFile(esp, raw[ESPLBA*sectorSize:(ESPLBA+int64(im.ESPSectors))*sectorSize], 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("blkid", "-o", "export", esp).Output(); err != nil ||
		!strings.Contains(string(out), "LABEL="+ESPLabel+"\n") || !strings.Contains(string(out), "UUID="+im.ESPUUID()+"\n") || !strings.Contains(string(out), "TYPE=vfat\n") {
		t.Errorf("blkid: %s %v", out, err)
	}
	if out, err := exec.Command("fsck.fat", "-n", esp).CombinedOutput(); err != nil {
		t.Errorf("fsck.fat -n: %v\n%s", err, out)
	}
	dir := t.TempDir()
	for _, f := range im.Files {
		dst := filepath.Join(dir, strings.ReplaceAll(f.Path, "/", "_"))
		if out, err := exec.Command("mcopy", "-n", "-i", esp, "::"+f.Path, dst).CombinedOutput(); err != nil {
			t.Errorf("mcopy %s: %v %s", f.Path, err, out)
			continue
		}
		got, _ := os.ReadFile(dst)
		if !bytes.Equal(got, f.Data) {
			t.Errorf("%s on the ESP differs from the input (%d bytes, want %d)", f.Path, len(got), len(f.Data))
		}
	}
}

func TestMenu(t *testing.T) {
	cfg := GrubConfig(Menu(), "ABCD-1234", "initramfs.cpio.zst")
	for _, tc := range []struct {
		title, hotkey string
		args          []string
		notArgs       []string
	}{
		{"coldimage (serial ttyS0 115200 + screen)", "s", []string{"console=tty0", "console=ttyS0,115200n8"}, []string{"coldimage.auto", "ttyS1"}},
		{"coldimage (serial ttyS1 115200 + screen)", "t", []string{"console=tty0", "console=ttyS1,115200n8"}, []string{"coldimage.auto", "ttyS0"}},
		{"coldimage unattended → LABEL=EVIDENCE", "u", []string{"console=tty0", "console=ttyS0,115200n8", "coldimage.auto=1", "coldimage.target=LABEL=EVIDENCE"}, []string{"ttyS1"}},
	} {
		t.Run(tc.hotkey, func(t *testing.T) {
			head := "menuentry '" + tc.title + "' --hotkey=" + tc.hotkey + " {\n"
			i := strings.Index(cfg, head)
			if i < 0 {
				t.Fatalf("no entry %q in\n%s", head, cfg)
			}
			body := cfg[i+len(head):]
			body = body[:strings.Index(body, "}")]
			var linux string
			for _, l := range strings.Split(body, "\n") {
				if strings.HasPrefix(strings.TrimSpace(l), "linux ") {
					linux = strings.TrimSpace(l)
				}
			}
			fields := strings.Fields(linux)
			if len(fields) < 2 || fields[1] != ESPKernel {
				t.Fatalf("linux line %q", linux)
			}
			for _, a := range tc.args {
				if !contains(fields[2:], a) {
					t.Errorf("%q lacks %s", linux, a)
				}
			}
			for _, a := range tc.notArgs {
				if strings.Contains(linux, a) {
					t.Errorf("%q has %s", linux, a)
				}
			}
			if !strings.Contains(body, "initrd /initramfs.cpio.zst\n") {
				t.Errorf("no initrd line in %q", body)
			}
		})
	}
	for _, s := range []string{"search --no-floppy --fs-uuid --set=root ABCD-1234\n", "set timeout=5\n", "terminal_output --append serial_com0\n", "terminal_output --append serial_com1\n"} {
		if !strings.Contains(cfg, s) {
			t.Errorf("grub.cfg lacks %q", s)
		}
	}
	if want := "search.fs_uuid ABCD-1234 root\nset prefix=($root)/EFI/debian\n"; BIOSEarlyConfig("ABCD-1234") != want {
		t.Errorf("BIOS early config %q, want %q", BIOSEarlyConfig("ABCD-1234"), want)
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func TestFAT32SafeSectors(t *testing.T) {
	for _, tc := range []struct{ in, want uint64 }{
		{131072, 131070}, // 64 MiB: (n-32) divisible by 130
		{131071, 131070}, // (n-32) % 130 == 129
		{131070, 131070},
		{133120, 133120}, // 65 MiB
	} {
		got := fat32SafeSectors(tc.in)
		if got != tc.want {
			t.Errorf("fat32SafeSectors(%d) = %d, want %d", tc.in, got, tc.want)
		}
		fat := (got - 32 + 129) / 130
		if clusters := got - 32 - 2*fat; fat*128 < clusters+2 {
			t.Errorf("%d sectors: FAT of %d sectors holds %d entries for %d clusters", got, fat, fat*128, clusters)
		}
	}
}

func TestPatchCore(t *testing.T) {
	good := func(sectors int) []byte {
		b := make([]byte, sectors*sectorSize-100)
		binary.LittleEndian.PutUint64(b[coreBlocklistStart:], 2)
		binary.LittleEndian.PutUint16(b[coreBlocklistLen:], uint16(sectors-1))
		binary.LittleEndian.PutUint16(b[coreBlocklistSeg:], 0x820)
		return b
	}
	badLen := good(10)
	binary.LittleEndian.PutUint16(badLen[coreBlocklistLen:], 3)
	badSeg := good(10)
	binary.LittleEndian.PutUint16(badSeg[coreBlocklistSeg:], 0x1000)
	for _, tc := range []struct {
		name string
		core []byte
		ok   bool
	}{
		{"grub-mkimage layout", good(10), true},
		{"short", make([]byte, 100), false},
		{"length mismatch", badLen, false},
		{"wrong segment", badSeg, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := PatchCore(tc.core, 2048)
			if (err == nil) != tc.ok {
				t.Fatalf("PatchCore: %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && binary.LittleEndian.Uint64(tc.core[coreBlocklistStart:]) != 2049 {
				t.Errorf("blocklist start not patched")
			}
		})
	}
}
