package imager

import (
	"fmt"
	"regexp"
	"strconv"
)

// Hidden-area choices (--hpa, coldimage.hpa=).
const (
	// HPAReport images what the kernel exposes and reports any host
	// protected area (the default).
	HPAReport = "report"
	// HPAImage asks for the host protected area to be imaged too. Only the
	// kernel opens it: libata with ignore_hpa=1 sends a volatile SET MAX
	// ADDRESS (EXT) to the native max when it first finds the drive (the
	// drive reverts at power-off). coldimage itself sends no command that
	// changes a drive.
	HPAImage = "image"
)

// ParseHPA checks a --hpa / coldimage.hpa= value.
func ParseHPA(s string) (string, error) {
	switch s {
	case HPAReport:
		return HPAReport, nil
	case HPAImage:
		return HPAImage, nil
	}
	return "", fmt.Errorf("hidden-area choice %q: want report or image", s)
}

// HPAChoice is acquisition.json's hpa{}: what was asked for the drive's
// hidden areas and what came of it. Additive to schema 1.
type HPAChoice struct {
	Mode string `json:"mode"` // report | image
	// Imaged: the host protected area is in the image (the kernel
	// opened it before the acquisition read the drive).
	Imaged bool `json:"hidden_area_imaged"`
	// The kernel's unlock, from its log ("HPA unlocked: A -> B, native N"),
	// in sectors: the accessible size before and after, and the native.
	BeforeSectors int64 `json:"before_sectors,omitempty"`
	AfterSectors  int64 `json:"after_sectors,omitempty"`
	NativeSectors int64 `json:"native_sectors,omitempty"`
	// IgnoreHPA is libata's ignore_hpa parameter as the kernel had it
	// ("" when libata is not loaded).
	IgnoreHPA string `json:"libata_ignore_hpa,omitempty"`
	// Outcome says it in a sentence; NotImaged is set (in capitals in
	// acquisition.txt and on the console) when sectors the drive holds
	// are not in the image.
	Outcome   string `json:"outcome"`
	NotImaged string `json:"not_imaged,omitempty"`
}

// kmsgUnlocked is libata's line after it opened a host protected area
// (drivers/ata/libata-core.c, ata_hpa_resize).
var kmsgUnlocked = regexp.MustCompile(`HPA unlocked: (\d+) -> (\d+), native (\d+)`)

// DecideHPA says what comes of the hidden-area choice mode for a drive
// that identified itself as id (nil: not a drive, e.g. a file or a RAID
// volume) while libata's ignore_hpa parameter read ignoreHPA; partition:
// the source is a partition of that drive. It never fails: whatever the
// drive exposes is imaged, and what is not is said.
func DecideHPA(mode string, id *DeviceIdentity, ignoreHPA string, partition bool) HPAChoice {
	c := HPAChoice{Mode: mode, IgnoreHPA: ignoreHPA}
	if c.Mode == "" {
		c.Mode = HPAReport
	}
	unlocked := false
	if id != nil {
		for _, k := range id.KernelHPA {
			if m := kmsgUnlocked.FindStringSubmatch(k); m != nil {
				c.BeforeSectors, _ = strconv.ParseInt(m[1], 10, 64)
				c.AfterSectors, _ = strconv.ParseInt(m[2], 10, 64)
				c.NativeSectors, _ = strconv.ParseInt(m[3], 10, 64)
			}
		}
		unlocked = id.KernelUnlockedHPA()
	}
	how := "libata.ignore_hpa=" + ignoreHPA
	if ignoreHPA == "" {
		how = "libata not loaded"
	}
	switch {
	case id == nil || id.Transport != "ata":
		c.Outcome = "not an ATA drive: no host protected area; imaged as the device reports itself"
	case partition:
		c.Outcome = "the source is a partition: the drive's hidden areas (see the drive's block) are outside it"
		return c
	case unlocked && (id.HPAHidden == nil || *id.HPAHidden == 0):
		c.Imaged = true
		c.Outcome = "the kernel opened a host protected area (volatile SET MAX ADDRESS: the drive reverts at power-off)"
		if c.NativeSectors > 0 {
			c.Outcome = fmt.Sprintf("the kernel opened a host protected area of %d sectors: %d -> %d of native %d (volatile SET MAX ADDRESS: the drive reverts at power-off)",
				c.AfterSectors-c.BeforeSectors, c.BeforeSectors, c.AfterSectors, c.NativeSectors)
		}
		if c.Mode == HPAReport {
			c.Outcome += "; not asked for (hidden-area choice: report): the kernel did it itself"
		}
		c.Outcome += "; imaged"
	case id.HPAHidden != nil && *id.HPAHidden > 0:
		n := *id.HPAHidden
		c.NotImaged = fmt.Sprintf("HOST PROTECTED AREA OF %d SECTORS NOT IMAGED", n)
		if c.Mode == HPAImage {
			c.Outcome = fmt.Sprintf("--hpa=image asked, but the kernel did not open the host protected area of %d sectors (%s; the drive may refuse SET MAX ADDRESS, e.g. frozen by the BIOS); imaged as the kernel sees it", n, how)
			if ignoreHPA != "1" {
				c.Outcome += ": boot with libata.ignore_hpa=1 (the appliance: coldimage.hpa=image on the kernel command line) to image it"
			}
		} else {
			c.Outcome = fmt.Sprintf("a host protected area hides %d sectors: not imaged (--hpa=report)", n)
		}
	case id.HPAHidden == nil:
		c.Outcome = "whether a host protected area exists is not known (" + orUnknown(id.HiddenArea) + "); imaged as the kernel sees it"
	default:
		c.Outcome = "no host protected area"
	}
	if id != nil && id.DCOHidden != nil && *id.DCOHidden > 0 {
		n := *id.DCOHidden
		dco := fmt.Sprintf("DEVICE CONFIGURATION OVERLAY HIDES %d SECTORS, NOT IMAGED (removing an overlay is permanent: coldimage never does it)", n)
		if c.NotImaged != "" {
			c.NotImaged += "; " + dco
		} else {
			c.NotImaged = dco
		}
	}
	return c
}

func orUnknown(s string) string {
	if s == "" {
		return "the drive was not asked"
	}
	return s
}
