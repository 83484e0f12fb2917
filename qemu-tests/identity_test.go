package qemutests

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coldimage/coldimage/disk/passthru"
	"github.com/coldimage/coldimage/imager"
)

// TestDriveIdentity images a SATA disk (AHCI), a SAS-like SCSI disk and an
// NVMe controller with an attached and a detached namespace, unattended:
// each record's device{} says what QEMU was given, field by field, the
// detached namespace is listed and flagged, and every command sent is on
// the allow-list. The evidence never changed.
func TestDriveIdentity(t *testing.T) {
	a := appliance(t)
	dir := t.TempDir()
	files := map[string]string{}
	for _, n := range []string{"sata", "sas", "nvme1", "nvme2", "nvme3", "target"} {
		files[n] = filepath.Join(dir, n+".img")
	}
	for i, n := range []string{"sata", "sas", "nvme1", "nvme2", "nvme3"} {
		if err := WritePattern(files[n], 8<<20, uint64(60+i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := MakeGPTExt4(files["target"], 128, "EVIDENCE"); err != nil {
		t.Fatal(err)
	}
	before := map[string]string{}
	for _, n := range []string{"sata", "sas", "nvme1", "nvme2", "nvme3"} {
		before[n] = hashOf(t, files[n])
	}
	v := boot(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Log: consoleLog(t, a, ""),
		Drives: []Drive{
			{File: files["sata"], Bus: "ahci", Serial: "SATA0042", Props: "model=WDC WD80EFAX-TEST,wwn=0x50014ee2b1234567,rotation_rate=5400"},
			{File: files["sas"], Bus: "scsi", Serial: "SAS0042", Props: "vendor=SEAGATE,product=ST4000NM0023,wwn=0x5000c50012345678,rotation_rate=7200"},
			// Two namespaces attached (1, 2) and one allocated but not
			// attached (3): both attached ones are imaged.
			{File: files["nvme1"], Bus: "nvme", Ctrl: "nvme0", Serial: "NVME0042", Props: "eui64=0x0102030405060708"},
			{File: files["nvme3"], Bus: "nvme", Ctrl: "nvme0", Serial: "NVME0042"},
			{File: files["nvme2"], Bus: "nvme", Ctrl: "nvme0", Serial: "NVME0042", Props: "detached=on"},
			{File: files["target"], Serial: "TARGET"},
		},
		// coldimage.hpa=image: libata is loaded with ignore_hpa=1 (QEMU's
		// drives have no hidden area, so the kernel finds none to open).
		Append: baseAppend + " coldimage.auto=1 coldimage.target=LABEL=EVIDENCE coldimage.case=IDENT coldimage.hash=sha256 coldimage.hpa=image"})
	expect(t, v, `hidden areas: libata ignore_hpa=1: the kernel opens each ATA drive's host protected area`, 3*time.Minute)
	m := expect(t, v, `COLDIMAGE DONE ok=(\d+) failed=(\d+)`, 10*time.Minute)
	if err := v.Wait(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	if m[1] != "4" || m[2] != "0" {
		t.Errorf("DONE ok=%s failed=%s, want the four attached disks and namespaces ok", m[1], m[2])
	}
	for n, h := range before {
		if hashOf(t, files[n]) != h {
			t.Errorf("%s changed", n)
		}
	}
	session := readTarget(t, files["target"])
	allowed := map[string]bool{}
	for _, c := range passthru.AllowList() {
		allowed[c.Name] = true
	}
	device := func(pattern string) *imager.DeviceIdentity {
		var rec imager.Record
		readJSON(t, filepath.Join(sourceFolder(t, session, pattern), "acquisition.json"), &rec)
		if rec.Device == nil {
			t.Fatalf("%s: no device{} in the record", pattern)
		}
		// The hidden-area choice: asked, with libata's parameter as the
		// kernel had it; no drive here has a hidden area to open.
		outcome := "not an ATA drive"
		if rec.Device.Transport == "ata" {
			outcome = "no host protected area"
		}
		if h := rec.HPA; h == nil || h.Mode != imager.HPAImage || h.IgnoreHPA != "1" || h.Outcome != outcome && !strings.HasPrefix(h.Outcome, outcome) || h.Imaged || h.NotImaged != "" {
			t.Errorf("%s: hidden-area choice %+v, want mode image, libata ignore_hpa 1, outcome %q", pattern, rec.HPA, outcome)
		}
		for _, c := range rec.Device.Commands {
			if name, _, _ := strings.Cut(c, ": "); !allowed[name] {
				t.Errorf("%s: %q sent, not on the allow-list", pattern, c)
			}
		}
		t.Logf("%s: %+v", pattern, *rec.Device)
		return rec.Device
	}
	type want struct {
		transport, vendor, model, serial, wwn, eui string
		rpm                                        int
		sectors                                    int64
	}
	for pattern, w := range map[string]want{
		"sd?_SATA0042": {"ata", "", "WDC WD80EFAX-TEST", "SATA0042", "50014ee2b1234567", "", 5400, 16384},
		"sd?_SAS0042":  {"scsi", "SEAGATE", "ST4000NM0023", "SAS0042", "5000c50012345678", "", 7200, 16384},
		"nvme0n1*":     {"nvme", "1b36", "", "NVME0042", "", "0102030405060708", 0, 16384},
		"nvme0n2*":     {"nvme", "1b36", "", "NVME0042", "", "", 0, 16384},
	} {
		d := device(pattern)
		got := want{d.Transport, d.Vendor, d.Model, d.Serial, d.WWN, d.EUI64, d.RotationRPM, d.DeviceSectors}
		if w.model == "" {
			got.model = "" // QEMU's own NVMe model string
		}
		if pattern == "nvme0n2*" {
			got.eui = "" // not given: QEMU may make one up
		}
		if got != w {
			t.Errorf("%s: device says %+v, QEMU was given %+v", pattern, got, w)
		}
		if d.KernelSectors != d.DeviceSectors {
			t.Errorf("%s: kernel sees %d sectors, the drive reports %d (no hidden area was set up)", pattern, d.KernelSectors, d.DeviceSectors)
		}
		if pattern == "sd?_SATA0042" {
			// QEMU's ATA emulation answers READ NATIVE MAX with its last
			// sector and has no DCO: no hidden area, a rejected command handled.
			if d.HPAHidden == nil || *d.HPAHidden != 0 || !strings.Contains(d.HiddenArea, "no host protected area") {
				t.Errorf("SATA hidden area: %v %q", d.HPAHidden, d.HiddenArea)
			}
			sent := strings.Join(d.Commands, "\n")
			for _, c := range []string{"ATA READ NATIVE MAX ADDRESS EXT: ok", "ATA DEVICE CONFIGURATION IDENTIFY: "} {
				if !strings.Contains(sent, c) {
					t.Errorf("SATA: %q not among the commands sent:\n%s", c, sent)
				}
			}
			if !strings.Contains(d.ATASecurity, "ATA security") || d.Locked {
				t.Errorf("SATA security %q locked %v", d.ATASecurity, d.Locked)
			}
		}
		if pattern == "nvme0n1*" && !strings.Contains(d.Health, "power-on hours") {
			t.Errorf("NVMe health: %q", d.Health)
		}
		if strings.HasPrefix(pattern, "nvme") {
			var attached, detached int
			for _, n := range d.Namespaces {
				if n.Attached {
					attached++
				} else {
					detached++
				}
			}
			if attached != 2 || detached != 1 {
				t.Errorf("%s: namespaces %+v: want two attached, one allocated but not attached", pattern, d.Namespaces)
			}
		}
	}
}
