package disk

import (
	"strings"
	"testing"
)

// TestKernelHPAFindings picks a drive's hidden-area lines out of a kernel
// log: libata's (by its ATA port) and the block layer's (by disk name),
// and nobody else's. The lines are libata's and the partition code's
// format strings filled in.
func TestKernelHPAFindings(t *testing.T) {
	log := []string{
		"ata3: SATA link up 6.0 Gbps (SStatus 133 SControl 300)",
		"ata3.00: HPA detected: current 1953521072, native 1953525168",
		"ata3.00: HPA unlocked: 1953521072 -> 1953525168, native 1953525168",
		"ata4.00: HPA detected: current 100, native 200",
		"ata31.00: HPA detected: current 1, native 2",
		"sdb: p2 size 1953525000 extends beyond EOD, enabling native capacity",
		"sda: p1 size 10 extends beyond EOD, enabling native capacity",
		"sdb: detected capacity change from 1953521072 to 1953525168",
		"EXT4-fs (sdb1): mounted filesystem",
	}
	got := KernelHPAFindings(log, "sdb", "ata3")
	want := []string{
		"kernel: ata3.00: HPA detected: current 1953521072, native 1953525168",
		"kernel: ata3.00: HPA unlocked: 1953521072 -> 1953525168, native 1953525168",
		"kernel: sdb: p2 size 1953525000 extends beyond EOD, enabling native capacity",
		"kernel: sdb: detected capacity change from 1953521072 to 1953525168",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := KernelHPAFindings(log, "nvme0n1", ""); len(got) != 0 {
		t.Errorf("a disk on no ATA port got %q", got)
	}
	// Capacity changes alone (a loop device set up again and again, a
	// replaced disk under the same name) are not about a hidden area.
	noise := []string{"loop0: detected capacity change from 0 to 49152", "loop0: detected capacity change from 0 to 16384",
		"sdc: detected capacity change from 0 to 1000", "loop0: p1 size 10 extends beyond EOD, enabling native capacity"}
	for _, c := range []struct{ name, port string }{{"loop0", ""}, {"sdc", "ata5"}} {
		if got := KernelHPAFindings(noise, c.name, c.port); len(got) != 0 {
			t.Errorf("%s: capacity changes alone reported: %q", c.name, got)
		}
	}
	for path, want := range map[string]string{
		"/sys/devices/pci0000:00/0000:00:1f.2/ata3/host2/target2:0:0/2:0:0:0/block/sdb": "ata3",
		"/sys/devices/pci0000:00/0000:00:04.0/virtio1/block/vda":                        "",
		"/sys/devices/platform/data/block/sdz":                                          "",
	} {
		if got := ATAPort(path); got != want {
			t.Errorf("ATAPort(%s) = %q, want %q", path, got, want)
		}
	}
}
