package imager

import (
	"strings"
	"testing"
)

func TestDecideHPA(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	unlockLog := []string{"kernel: ata1.00: HPA detected: current 1000, native 3048", "kernel: ata1.00: HPA unlocked: 1000 -> 3048, native 3048"}
	for _, c := range []struct {
		name      string
		mode      string
		id        *DeviceIdentity
		ignore    string
		partition bool
		imaged    bool
		before    int64
		after     int64
		native    int64
		outcome   string // a part of the outcome
		notImaged string // a part of not_imaged ("" none)
	}{
		{"not a drive: nil", HPAImage, nil, "1", false, false, 0, 0, 0, "not an ATA drive", ""},
		{"nvme", HPAImage, &DeviceIdentity{Transport: "nvme"}, "1", false, false, 0, 0, 0, "not an ATA drive", ""},
		{"no hpa", HPAReport, &DeviceIdentity{Transport: "ata", HPAHidden: n(0)}, "0", false, false, 0, 0, 0, "no host protected area", ""},
		{"no hpa, image", HPAImage, &DeviceIdentity{Transport: "ata", HPAHidden: n(0)}, "1", false, false, 0, 0, 0, "no host protected area", ""},
		{"report, closed", HPAReport, &DeviceIdentity{Transport: "ata", HPAHidden: n(2048)}, "0", false, false, 0, 0, 0,
			"hides 2048 sectors: not imaged (--hpa=report)", "HOST PROTECTED AREA OF 2048 SECTORS NOT IMAGED"},
		{"image, closed, ignore_hpa 0", HPAImage, &DeviceIdentity{Transport: "ata", HPAHidden: n(2048)}, "0", false, false, 0, 0, 0,
			"boot with libata.ignore_hpa=1", "HOST PROTECTED AREA OF 2048 SECTORS NOT IMAGED"},
		{"image, closed, drive refused", HPAImage, &DeviceIdentity{Transport: "ata", HPAHidden: n(2048)}, "1", false, false, 0, 0, 0,
			"the drive may refuse SET MAX ADDRESS", "NOT IMAGED"},
		{"image, opened", HPAImage, &DeviceIdentity{Transport: "ata", HPAHidden: n(0), KernelHPA: unlockLog}, "1", false, true, 1000, 3048, 3048,
			"the kernel opened a host protected area of 2048 sectors: 1000 -> 3048 of native 3048 (volatile SET MAX ADDRESS: the drive reverts at power-off); imaged", ""},
		{"report, opened by the kernel itself", HPAReport, &DeviceIdentity{Transport: "ata", HPAHidden: n(0), KernelHPA: []string{"kernel: sda: p1 size 4000 extends beyond EOD, enabling native capacity"}}, "0", false, true, 0, 0, 0,
			"not asked for (hidden-area choice: report): the kernel did it itself; imaged", ""},
		{"not known", HPAImage, &DeviceIdentity{Transport: "ata", HiddenArea: "HPA: PRESENT, size not known"}, "1", false, false, 0, 0, 0,
			"not known (HPA: PRESENT, size not known)", ""},
		{"partition", HPAImage, &DeviceIdentity{Transport: "ata", HPAHidden: n(2048)}, "1", true, false, 0, 0, 0, "the source is a partition", ""},
		{"dco", HPAImage, &DeviceIdentity{Transport: "ata", HPAHidden: n(0), DCOHidden: n(512)}, "1", false, false, 0, 0, 0,
			"no host protected area", "DEVICE CONFIGURATION OVERLAY HIDES 512 SECTORS, NOT IMAGED (removing an overlay is permanent: coldimage never does it)"},
		{"hpa and dco", HPAReport, &DeviceIdentity{Transport: "ata", HPAHidden: n(8), DCOHidden: n(512)}, "0", false, false, 0, 0, 0,
			"hides 8 sectors", "HOST PROTECTED AREA OF 8 SECTORS NOT IMAGED; DEVICE CONFIGURATION OVERLAY HIDES 512 SECTORS"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := DecideHPA(c.mode, c.id, c.ignore, c.partition)
			if h.Mode != c.mode || h.Imaged != c.imaged || h.BeforeSectors != c.before || h.AfterSectors != c.after || h.NativeSectors != c.native || h.IgnoreHPA != c.ignore {
				t.Errorf("got %+v", h)
			}
			if !strings.Contains(h.Outcome, c.outcome) {
				t.Errorf("outcome %q lacks %q", h.Outcome, c.outcome)
			}
			if (c.notImaged == "") != (h.NotImaged == "") || !strings.Contains(h.NotImaged, c.notImaged) {
				t.Errorf("not_imaged %q, want %q", h.NotImaged, c.notImaged)
			}
		})
	}
}

func TestParseHPA(t *testing.T) {
	for in, want := range map[string]string{"": "", "report": HPAReport, "image": HPAImage, "IMAGE": "", "open": "", "1": ""} {
		got, err := ParseHPA(in)
		if got != want || (err != nil) != (want == "") {
			t.Errorf("ParseHPA(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// acquisition.txt says the choice, and in capitals what is not imaged.
func TestRecordTextHPA(t *testing.T) {
	r := &Record{Schema: "coldimage.acquisition/1", Result: ResultOK}
	h := DecideHPA(HPAReport, &DeviceIdentity{Transport: "ata", HPAHidden: func() *int64 { v := int64(2048); return &v }()}, "0", false)
	r.HPA = &h
	txt := r.Text()
	for _, w := range []string{"Hidden areas:", "--hpa=report: a host protected area hides 2048 sectors", "HOST PROTECTED AREA OF 2048 SECTORS NOT IMAGED"} {
		if !strings.Contains(txt, w) {
			t.Errorf("acquisition.txt lacks %q:\n%s", w, txt)
		}
	}
}
