package usbimage

import (
	"encoding/binary"
	"fmt"
	"os"
	"path"
	"strconv"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/partition/gpt"
)

// FAT32 boot sector: volume serial number at +67; the backup boot sector
// is sector 6 of the file system (go-diskfs fat32.Create).
const (
	fat32VolumeIDOff   = 67
	fat32BackupBootSec = 6
)

// Write lays im out into the file out (replaced atomically): GPT with a
// protective MBR carrying GRUB's boot code, the BIOS boot partition with
// the core image, the FAT32 EFI system partition with the files.
func Write(im *Image, out string) error {
	tmp := out + ".tmp"
	os.Remove(tmp)
	if err := write(im, tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}

func write(im *Image, file string) error {
	// go-diskfs stamps FAT directory entries with SOURCE_DATE_EPOCH.
	if os.Getenv("SOURCE_DATE_EPOCH") == "" {
		os.Setenv("SOURCE_DATE_EPOCH", strconv.Itoa(SourceDateEpoch))
		defer os.Unsetenv("SOURCE_DATE_EPOCH")
	}
	d, err := diskfs.Create(file, im.Size, diskfs.SectorSize512)
	if err != nil {
		return fmt.Errorf("create disk: %w", err)
	}
	table := &gpt.Table{
		LogicalSectorSize:  sectorSize,
		PhysicalSectorSize: sectorSize,
		GUID:               im.DiskGUID,
		ProtectiveMBR:      true,
		Partitions: []*gpt.Partition{
			{Index: 1, Start: BIOSBootLBA, End: BIOSBootLBA + BIOSBootSectors - 1, Type: gpt.BIOSBoot, Name: "BIOS boot", GUID: im.BIOSGUID},
			{Index: 2, Start: ESPLBA, End: ESPLBA + im.ESPSectors - 1, Type: gpt.EFISystemPartition, Name: ESPLabel, GUID: im.ESPGUID},
		},
	}
	if err := d.Partition(table); err != nil {
		d.Close()
		return fmt.Errorf("partition table: %w", err)
	}
	// Reproducible: volume id 0 here, the derived one is patched in below.
	fs, err := d.CreateFilesystem(disk.FilesystemSpec{Partition: 2, FSType: filesystem.TypeFat32, VolumeLabel: ESPLabel, Reproducible: true})
	if err != nil {
		d.Close()
		return fmt.Errorf("FAT32 on the EFI system partition: %w", err)
	}
	if err := copyFiles(fs, im.Files); err != nil {
		d.Close()
		return err
	}
	if err := d.Close(); err != nil {
		return fmt.Errorf("close disk: %w", err)
	}

	f, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	sig := make([]byte, 4)
	binary.LittleEndian.PutUint32(sig, im.DiskSig)
	vol := make([]byte, 4)
	binary.LittleEndian.PutUint32(vol, im.VolumeID)
	espOff := int64(ESPLBA) * sectorSize
	for _, w := range []struct {
		what string
		b    []byte
		off  int64
	}{
		{"MBR boot code", im.MBRCode, 0},
		{"MBR disk signature", sig, mbrDiskSignature},
		{"GRUB core image", im.Core, BIOSBootLBA * sectorSize},
		{"FAT volume id", vol, espOff + fat32VolumeIDOff},
		{"FAT backup volume id", vol, espOff + fat32BackupBootSec*sectorSize + fat32VolumeIDOff},
	} {
		if _, err := f.WriteAt(w.b, w.off); err != nil {
			f.Close()
			return fmt.Errorf("%s at byte %d: %w", w.what, w.off, err)
		}
	}
	if err := fixDotDot(f, espOff); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func copyFiles(fs filesystem.FileSystem, files []File) error {
	made := map[string]bool{"/": true}
	for _, fl := range files {
		dir := path.Dir(fl.Path)
		var parts []string
		for p := dir; !made[p]; p = path.Dir(p) {
			parts = append([]string{p}, parts...)
		}
		for _, p := range parts {
			if err := fs.Mkdir(p); err != nil {
				return fmt.Errorf("ESP mkdir %s: %w", p, err)
			}
			made[p] = true
		}
		w, err := fs.OpenFile(fl.Path, os.O_CREATE|os.O_RDWR)
		if err != nil {
			return fmt.Errorf("ESP create %s: %w", fl.Path, err)
		}
		n, err := w.Write(fl.Data)
		if err == nil && n != len(fl.Data) {
			err = fmt.Errorf("short write: %d of %d bytes", n, len(fl.Data))
		}
		if err != nil {
			w.Close()
			return fmt.Errorf("ESP write %s: %w", fl.Path, err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("ESP close %s: %w", fl.Path, err)
		}
	}
	return nil
}
