package disk

import (
	"os"
	"regexp"
	"strings"
)

// Kernel log lines about a drive's hidden area (drivers/ata/libata-core.c,
// block/partitions/core.c): libata reports a host protected area it finds
// and one it unlocks itself (libata.ignore_hpa=1, or a partition that
// extends past the accessible end: "enabling native capacity"); either
// way the drive's accessible size is then not what it was.
var (
	kmsgATA  = regexp.MustCompile(`^(ata\d+)\.\d+: (HPA detected: .*|HPA unlocked: .*|device aborted resize .*)$`)
	kmsgDisk = regexp.MustCompile(`^([a-z]+[a-z0-9]*): (p\d+ size \d+ extends beyond EOD, enabling native capacity|detected capacity change .*)$`)
)

// KernelHPAFindings picks, from kernel log messages (one per line, without
// the syslog prefix), those about the hidden area of disk name on ATA port
// port ("ata3"; "" when it is not on one): what the kernel found and
// whether it unlocked it.
//
// A capacity change alone says nothing about a hidden area (a loop device
// or a replaced disk reusing the name changes capacity too): it is kept
// only beside a line that does. Virtual block devices (loop, ram, zram,
// nbd, dm, md) have no hidden area and get none.
func KernelHPAFindings(messages []string, name, port string) []string {
	for _, p := range []string{"loop", "ram", "zram", "nbd", "dm-", "md"} {
		if strings.HasPrefix(name, p) {
			return nil
		}
	}
	var out []string
	hpa := false
	for _, m := range messages {
		m = strings.TrimSpace(m)
		if s := kmsgATA.FindStringSubmatch(m); s != nil && port != "" && s[1] == port {
			out, hpa = append(out, "kernel: "+m), true
		} else if s := kmsgDisk.FindStringSubmatch(m); s != nil && s[1] == name {
			out = append(out, "kernel: "+m)
			hpa = hpa || strings.Contains(m, "enabling native capacity")
		}
	}
	if !hpa {
		return nil
	}
	return out
}

// ATAPort finds the libata port ("ata3") in a disk's sysfs device path
// (/sys/devices/pci0000:00/0000:00:1f.2/ata3/host2/target2:0:0/2:0:0:0).
func ATAPort(sysPath string) string {
	for _, part := range strings.Split(sysPath, "/") {
		if len(part) > 3 && strings.HasPrefix(part, "ata") && strings.Trim(part[3:], "0123456789") == "" {
			return part
		}
	}
	return ""
}

// libataIgnoreHPA is libata's ignore_hpa module parameter: 1 when the
// kernel opens a host protected area on each ATA drive it finds.
var libataIgnoreHPA = "/sys/module/libata/parameters/ignore_hpa"

// LibataIgnoreHPA reads libata's ignore_hpa parameter ("" when libata is
// not loaded or not a module).
func LibataIgnoreHPA() string {
	b, err := os.ReadFile(libataIgnoreHPA)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
