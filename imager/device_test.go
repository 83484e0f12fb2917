package imager

import (
	"strings"
	"testing"
)

// TestDeviceText: acquisition.txt names the drive as it reports itself,
// says in capitals what the examiner must act on, and lists every
// command sent.
func TestDeviceText(t *testing.T) {
	hidden, none := int64(2048), int64(0)
	for _, tc := range []struct {
		name string
		rec  Record
		want []string
	}{
		{"sata with an HPA", Record{Device: &DeviceIdentity{Transport: "ata", Model: "WDC WD80EFAX", Serial: "WD-1", Firmware: "81.00A81",
			WWN: "50014ee2b1234567", DeviceSectors: 1000, KernelSectors: 998, LogicalSector: 512, PhysicalSector: 4096, RotationRPM: 5400,
			HPAHidden: &hidden, HiddenArea: "HPA: 2048 sectors hidden", ATASecurity: "ATA SECURITY ENABLED AND LOCKED", Locked: true,
			Commands: []string{"INQUIRY: ok", "ATA IDENTIFY DEVICE: ok"}}},
			[]string{"Drive (as it reports itself", "WDC WD80EFAX", "THE KERNEL SEES 998", "HPA: 2048 sectors hidden", "rotating, 5400 rpm",
				"Physical sector:  4096 bytes", "ENABLED AND LOCKED", "Commands sent:    INQUIRY: ok; ATA IDENTIFY DEVICE: ok"}},
		{"nvme with a detached namespace", Record{Device: &DeviceIdentity{Transport: "nvme", Serial: "N1", DeviceSectors: 16, KernelSectors: 16, LogicalSector: 512,
			HPAHidden: &none, Namespaces: []NVMeNamespace{{ID: 1, Size: 16, BlockSize: 512, Attached: true, KernelName: "nvme0n1"}, {ID: 2, Size: 8, BlockSize: 512}},
			Commands: []string{}}},
			[]string{"the kernel sees the same", "Namespace 1:", "nvme0n1, attached", "Namespace 2:", "ALLOCATED BUT NOT ATTACHED"}},
		{"encrypted volume", Record{Encryption: []string{"sda2: LUKS: encrypted volume"}}, []string{"ENCRYPTION:", "sda2: LUKS: encrypted volume", "ciphertext"}},
	} {
		txt := tc.rec.Text()
		for _, w := range tc.want {
			if !strings.Contains(txt, w) {
				t.Errorf("%s: acquisition.txt lacks %q:\n%s", tc.name, w, txt)
			}
		}
	}
}
