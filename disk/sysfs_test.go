//go:build linux

package disk

import (
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// fakeSysfs builds testdata/mksysfs.sh's tree in a temp dir and points
// SysRoot (and DevRoot, at an empty dir) there for the test.
func fakeSysfs(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	script, _ := filepath.Abs(filepath.Join("testdata", "mksysfs.sh"))
	if out, err := exec.Command("sh", script, root).CombinedOutput(); err != nil {
		t.Fatalf("mksysfs.sh: %v\n%s", err, out)
	}
	oldSys, oldDev := SysRoot, DevRoot
	SysRoot, DevRoot = root, t.TempDir()
	t.Cleanup(func() { SysRoot, DevRoot = oldSys, oldDev })
	return root
}

func TestReadSysIdent(t *testing.T) {
	fakeSysfs(t)
	tests := []struct {
		name string
		want sysIdent
	}{
		{"sda", sysIdent{Size: 1953525168 * 512, Logical: 512, Physical: 4096,
			Model: "WDC WD10EZEX-08W", Serial: "WD-WCC6Y1234567", WWN: "naa.50014ee2b1234567", Transport: "sata"}},
		{"sda1", sysIdent{IsPart: true, Parent: "sda", PartNumber: 1, Start: 2048 * 512, Size: 1953521664 * 512,
			Logical: 512, Physical: 4096, Model: "WDC WD10EZEX-08W", Serial: "WD-WCC6Y1234567",
			WWN: "naa.50014ee2b1234567", Transport: "sata", Holders: []string{"md127"}}},
		{"nvme0n1", sysIdent{Size: 1953525168 * 512, Logical: 512, Physical: 512,
			Model: "Samsung SSD 980 PRO 1TB", Serial: "S5GXNX0R123456", WWN: "eui.002538b111b22c33", Transport: "nvme"}},
		{"nvme0n1p2", sysIdent{IsPart: true, Parent: "nvme0n1", PartNumber: 2, Start: 1050624 * 512, Size: 1952474511 * 512,
			Logical: 512, Physical: 512, Model: "Samsung SSD 980 PRO 1TB", Serial: "S5GXNX0R123456",
			WWN: "eui.002538b111b22c33", Transport: "nvme"}},
		{"sdb", sysIdent{Size: 30031872 * 512, Logical: 512, Physical: 512, Removable: true,
			Model: "Cruzer Blade", Serial: "4C530001230101110531", Transport: "usb"}},
		{"vda", sysIdent{Size: 536870912 * 512, Logical: 512, Physical: 512, Serial: "overlayblk", Transport: "virtio"}},
		{"loop0", sysIdent{Size: 131072 * 512, Logical: 512, Physical: 512, ReadOnly: true, Transport: "loop", Backing: "/images/evidence.dd"}},
		{"md127", sysIdent{Size: 1953388544 * 512, Logical: 512, Physical: 4096, Transport: "md", Slaves: []string{"sda1"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readSysIdent(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Name = tc.name
			got.Resolved = ""
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("readSysIdent(%s) =\n %+v\nwant\n %+v", tc.name, got, tc.want)
			}
		})
	}
	if _, err := readSysIdent("sdz"); err == nil || !strings.Contains(err.Error(), "sdz") {
		t.Errorf("readSysIdent(sdz) error %v, want one naming sdz", err)
	}
	if n, err := nameForDevNum(259, 1); err != nil || n != "nvme0n1p1" {
		t.Errorf("nameForDevNum(259:1) = %q, %v", n, err)
	}
}

func TestTransportOf(t *testing.T) {
	tests := []struct{ name, path, want string }{
		{"sda", "/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda", "sata"},
		{"sdc", "/devices/pci0000:00/0000:00:01.0/0000:01:00.0/host0/port-0:0/end_device-0:0/target0:0:0/0:0:0:0/block/sdc", "sas"},
		{"sdd", "/devices/pci0000:00/0000:00:03.0/virtio2/host2/target2:0:1/2:0:1:0/block/sdd", "scsi"}, // scsi-hd on virtio-scsi
		{"sr1", "/devices/pci0000:00/0000:00:03.0/virtio2/host2/target2:0:2/2:0:2:0/block/sr1", "scsi"}, // scsi-cd on virtio-scsi
		{"sde", "/devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block/sde", "usb"},
		{"sdf", "/devices/platform/host3/target3:0:0/3:0:0:0/block/sdf", "scsi"},
		{"nvme0n1", "/devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0/nvme0n1", "nvme"},
		{"mmcblk0", "/devices/platform/soc/mmc_host/mmc0/mmc0:0001/block/mmcblk0", "mmc"},
		{"vda", "/devices/pci0000:00/0000:00:02.0/virtio1/block/vda", "virtio"},
		{"loop3", "/devices/virtual/block/loop3", "loop"},
		{"dm-0", "/devices/virtual/block/dm-0", "dm"},
		{"md0", "/devices/virtual/block/md0", "md"},
		{"nbd0", "/devices/virtual/block/nbd0", "nbd"},
		{"sr0", "/devices/pci0000:00/0000:00:1f.2/ata2/host1/target1:0:0/1:0:0:0/block/sr0", "sata"},
	}
	for _, tc := range tests {
		if got := transportOf(tc.name, tc.path); got != tc.want {
			t.Errorf("transportOf(%s, %s) = %q, want %q", tc.name, tc.path, got, tc.want)
		}
	}
}

func TestParseVPD80(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"\x00\x80\x00\x14     WD-WCC6Y1234567", "WD-WCC6Y1234567"},
		{"\x00\x80\x00\x08ABC12345", "ABC12345"},
		{"\x00\x80\x00\x20SHORT", "SHORT"},       // length beyond the data
		{"\x00\x83\x00\x04ABCD", ""},             // another page
		{"\x00\x80\x00\x04\x01\x02\x03\x04", ""}, // binary junk
		{"\x00\x80", ""},
	}
	for _, tc := range tests {
		if got := parseVPD80([]byte(tc.in)); got != tc.want {
			t.Errorf("parseVPD80(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestListFakeSysfs: with no device nodes, List still reports every
// listable disk from sysfs, partitions nested, each with an Error.
func TestListFakeSysfs(t *testing.T) {
	fakeSysfs(t)
	list, err := List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range list {
		names = append(names, d.Name)
		if d.Error == "" || !strings.Contains(d.Error, filepath.Join(DevRoot, d.Name)) {
			t.Errorf("%s: Error %q, want one naming the missing node", d.Name, d.Error)
		}
	}
	want := []string{"loop0", "md127", "nvme0n1", "sda", "sdb", "vda"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("List names = %v, want %v", names, want)
	}
	nv := list[2]
	if nv.Serial != "S5GXNX0R123456" || nv.Transport != "nvme" || nv.Kind != KindDisk || len(nv.Partitions) != 2 {
		t.Fatalf("nvme0n1 = %+v", nv)
	}
	p2 := nv.Partitions[1]
	if p2.Name != "nvme0n1p2" || p2.Kind != KindPart || p2.Parent != "nvme0n1" || p2.PartNumber != 2 ||
		p2.Start != 1050624*512 || p2.Serial != nv.Serial || ID(p2) != "nvme0n1p2_S5GXNX0R123456" {
		t.Errorf("nvme0n1p2 = %+v (ID %s)", p2, ID(p2))
	}
	if sda := list[3]; ID(sda) != "sda_WD-WCC6Y1234567" || sda.PhysicalSector != 4096 || !reflect.DeepEqual(sda.Partitions[0].Holders, []string{"md127"}) {
		t.Errorf("sda = %+v", sda)
	}
	if !list[0].ReadOnly {
		t.Errorf("loop0 ro=1 in sysfs, ReadOnly false")
	}
}

func TestID(t *testing.T) {
	tests := []struct {
		info Info
		want string
	}{
		{Info{Name: "sda", Kind: KindDisk, Serial: "WD-WX12345"}, "sda_WD-WX12345"},
		{Info{Name: "sda1", Kind: KindPart, Serial: "WD-WX12345"}, "sda1_WD-WX12345"},
		{Info{Name: "sdb", Kind: KindDisk}, "sdb"},
		{Info{Name: "nvme0n1", Kind: KindDisk, Serial: "S5GX NX0R/12:34"}, "nvme0n1_S5GX_NX0R_12_34"},
		{Info{Name: "my disk (copy).img", Kind: KindFile, Path: "/x/my disk (copy).img", Serial: "ignored"}, "my_disk_copy_.img"},
		{Info{Path: "/evidence/über.dd", Kind: KindFile}, "ber.dd"},
		{Info{Name: "..", Kind: KindFile}, "source"},
		{Info{Name: "///", Kind: KindFile}, "source"},
	}
	for _, tc := range tests {
		if got := ID(tc.info); got != tc.want {
			t.Errorf("ID(%+v) = %q, want %q", tc.info, got, tc.want)
		}
	}
}

// TestTaintedDevices: what must not receive output, from sysfs alone.
func TestTaintedDevices(t *testing.T) {
	fakeSysfs(t)
	tests := []struct {
		src  string
		want []string
	}{
		{"sda", []string{"md127", "sda", "sda1"}},                    // holders of its partition
		{"sda1", []string{"md127", "sda", "sda1"}},                   // its disk too
		{"md127", []string{"md127", "sda", "sda1"}},                  // the members and their disks
		{"nvme0n1p1", []string{"nvme0n1", "nvme0n1p1", "nvme0n1p2"}}, // sibling partitions
		{"sdb", []string{"sdb"}},
	}
	for _, tc := range tests {
		m, err := taintedDevices(tc.src)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for k := range m {
			got = append(got, k)
		}
		sort.Strings(got)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("taintedDevices(%s) = %v, want %v", tc.src, got, tc.want)
		}
	}
}
