package usbimage

import "github.com/coldimage/coldimage/disk"

// ESPConfig is the examiner's settings file on the stick (disk.BootConfigFile).
const ESPConfig = "/" + disk.BootConfigFile

// ConfigTemplate is the settings file as built: every setting commented
// out, so the stick behaves as the boot menu says until an examiner edits it
// on a workstation (any text editor; CRLF line ends are fine).
const ConfigTemplate = `# coldimage settings, read at boot from this stick (never written by the appliance).
# One setting per line, as on the kernel command line, without quotes; remove the
# leading # to use one. The kernel command line (the boot menu entry) wins where
# both set the same key. Each session record lists the settings it used.
#
# coldimage.case=2026-0042
# coldimage.examiner=Jane Doe
# coldimage.evidence=HDD-01
# coldimage.hash=sha256,blake3
# coldimage.target=LABEL=EVIDENCE
# coldimage.sources=all
# coldimage.raid=both
# coldimage.ui=plain
# coldimage.term=vt100
# coldimage.wait=20
#
# coldimage.hpa=image (image host protected areas) works on the kernel command line
# only: boot the menu's "image hidden areas (HPA)" entry.
`
