//go:build linux

package disk

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// sfdiskJSON is the part of `sfdisk --json` we compare against.
type sfdiskJSON struct {
	PartitionTable struct {
		Label      string `json:"label"`
		SectorSize int64  `json:"sectorsize"`
		Partitions []struct {
			Node  string `json:"node"`
			Start int64  `json:"start"`
			Size  int64  `json:"size"`
			Type  string `json:"type"`
			UUID  string `json:"uuid"`
			Name  string `json:"name"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

// fsImage formats a scratch file and returns its bytes.
func fsImage(t testing.TB, size int64, tool string, args ...string) []byte {
	t.Helper()
	needTool(t, tool)
	p := sparseFile(t, "fs.img", size)
	run(t, tool, append(args, p)...)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeAt copies b into the file at off.
func writeAt(t testing.TB, path string, b []byte, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// partitionedImage builds a 64 MiB image with the sfdisk script and an
// ext4 (label DATA) in partition 1 and a FAT32 (label EFI) in partition 2.
func partitionedImage(t testing.TB, script string) string {
	t.Helper()
	needTool(t, "sfdisk")
	img := sparseFile(t, "disk.img", 64<<20)
	runIn(t, script, "sfdisk", "-q", img)
	ext := fsImage(t, 16<<20, "mkfs.ext4", "-q", "-F", "-L", "DATA")
	fat := fsImage(t, 36<<20, "mkfs.vfat", "-F", "32", "-n", "EFI", "-i", "0BADF00D")
	writeAt(t, img, ext, 1<<20)
	writeAt(t, img, fat, 17<<20)
	return img
}

// TestInspectFilePartitions reads GPT and MBR images with Inspect and checks
// every partition against sfdisk --json, plus the FS in each.
func TestInspectFilePartitions(t *testing.T) {
	tests := []struct {
		name, script, table string
	}{
		{"gpt", "label: gpt\nstart=2048, size=32768, type=linux, name=\"data part\"\nstart=34816, size=73728, type=uefi, name=EFI\nsize=4M, type=swap\n", "gpt"},
		{"mbr", "label: dos\nstart=2048, size=32768, type=83\nstart=34816, size=73728, type=c\nsize=4M, type=82\n", "mbr"},
		{"mbr-logical", "label: dos\nstart=2048, size=32768, type=83\nstart=34816, size=73728, type=c\nstart=110592, size=20480, type=5\nstart=112640, size=4096, type=83\nstart=118784, size=4096, type=82\n", "mbr"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := partitionedImage(t, tc.script)
			info, err := Inspect(img)
			if err != nil {
				t.Fatal(err)
			}
			if info.Kind != KindFile || info.PartTable != tc.table || info.Size != 64<<20 || info.Transport != "file" {
				t.Fatalf("Inspect = kind %q table %q size %d transport %q", info.Kind, info.PartTable, info.Size, info.Transport)
			}
			var sf sfdiskJSON
			if err := json.Unmarshal([]byte(run(t, "sfdisk", "--json", img)), &sf); err != nil {
				t.Fatal(err)
			}
			if len(info.Partitions) != len(sf.PartitionTable.Partitions) {
				t.Fatalf("%d partitions, sfdisk says %d", len(info.Partitions), len(sf.PartitionTable.Partitions))
			}
			for i, want := range sf.PartitionTable.Partitions {
				got := info.Partitions[i]
				num, _ := strconv.Atoi(strings.TrimPrefix(want.Node, img))
				ss := sf.PartitionTable.SectorSize
				if got.PartNumber != num || got.Start != want.Start*ss || got.Size != want.Size*ss || got.Kind != KindPart {
					t.Errorf("partition %d: number %d start %d size %d; sfdisk: %d %d %d", i, got.PartNumber, got.Start, got.Size, num, want.Start*ss, want.Size*ss)
				}
				wantType := want.Type
				if tc.table == "mbr" {
					v, _ := strconv.ParseUint(want.Type, 16, 8)
					wantType = fmt.Sprintf("0x%02x", v)
				}
				if !strings.EqualFold(got.PartType, wantType) || got.PartLabel != want.Name || !strings.EqualFold(got.PartUUID, want.UUID) {
					t.Errorf("partition %d: type %q label %q uuid %q; sfdisk: %q %q %q", num, got.PartType, got.PartLabel, got.PartUUID, wantType, want.Name, want.UUID)
				}
			}
			if p := info.Partitions[0]; p.FSType != "ext4" || p.FSLabel != "DATA" {
				t.Errorf("partition 1 fs %q %q, want ext4 DATA", p.FSType, p.FSLabel)
			}
			if p := info.Partitions[1]; p.FSType != "vfat" || p.FSLabel != "EFI" || p.FSUUID != "0BAD-F00D" {
				t.Errorf("partition 2 fs %q %q %q, want vfat EFI 0BAD-F00D", p.FSType, p.FSLabel, p.FSUUID)
			}
			for _, p := range info.Partitions[2:] {
				if p.FSType != "" {
					t.Errorf("empty partition %d has fs %q", p.PartNumber, p.FSType)
				}
			}
		})
	}
}

// TestInspectFileNoTable: a bare file system (FAT's boot sector ends in
// 0x55AA like an MBR) and plain data must not grow a partition table.
func TestInspectFileNoTable(t *testing.T) {
	tests := []struct {
		name   string
		image  func(t *testing.T) []byte
		fsType string
	}{
		{"superfloppy-fat", func(t *testing.T) []byte { return fsImage(t, 8<<20, "mkfs.vfat", "-n", "FLOPPY") }, "vfat"},
		{"ntfs", func(t *testing.T) []byte { return fsImage(t, 16<<20, "mkntfs", "-q", "-F", "-f") }, "ntfs"},
		{"exfat", func(t *testing.T) []byte { return fsImage(t, 16<<20, "mkfs.exfat") }, "exfat"},
		{"zeros-odd-size", func(t *testing.T) []byte { return make([]byte, 12345) }, ""},
		{"empty", func(t *testing.T) []byte { return nil }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.image(t)
			p := sparseFile(t, "x.img", 0)
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			info, err := Inspect(p)
			if err != nil {
				t.Fatal(err)
			}
			if info.PartTable != "" || len(info.Partitions) != 0 || info.FSType != tc.fsType || info.Size != int64(len(b)) {
				t.Errorf("Inspect = table %q, %d partitions, fs %q, size %d; want no table, fs %q, size %d",
					info.PartTable, len(info.Partitions), info.FSType, info.Size, tc.fsType, len(b))
			}
		})
	}
}

func TestInspectErrors(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{dir + "/missing", dir, "/dev/null"} {
		if _, err := Inspect(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("Inspect(%s) error %v, want one naming the path", p, err)
		}
	}
}
