package usbimage

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/coldimage/coldimage/disk"
)

// Layout in 512-byte sectors: MBR and primary GPT, 1 MiB alignment gap,
// the BIOS boot partition (GRUB core image), the EFI system partition, and
// 1 MiB at the end for the backup GPT.
const (
	BIOSBootLBA     = 2048
	BIOSBootSectors = 2048 // 1 MiB
	ESPLBA          = BIOSBootLBA + BIOSBootSectors
	tailSectors     = 2048
	minESPMiB       = 64  // FAT32 with 512-byte clusters needs > 32 MiB
	MaxImageMiB     = 256 // issue 6: the stick image stays small
	// ESPLabel is the FAT volume label of the EFI system partition and
	// its GPT partition name. The appliance's init recognises its own boot
	// medium by either (disk.BootLabel) and never images it or writes to it.
	ESPLabel = disk.BootLabel
	// SourceDateEpoch is the timestamp of every file and directory on the
	// ESP (2024-01-01T00:00:00Z) unless SOURCE_DATE_EPOCH is set.
	SourceDateEpoch = 1704067200
)

// File is one file on the EFI system partition.
type File struct {
	Path string
	Data []byte
}

// Image is everything Write needs, computed from the inputs only.
type Image struct {
	Size       int64 // bytes
	ESPSectors uint64
	DiskGUID   string
	ESPGUID    string
	BIOSGUID   string
	VolumeID   uint32 // FAT volume serial number
	DiskSig    uint32 // MBR disk signature
	MBRCode    []byte // 440 bytes
	Core       []byte // GRUB i386-pc core image, patched for BIOSBootLBA
	Files      []File
	Hash       [32]byte // of the inputs; the identifiers derive from it
}

// ESPUUID is the volume id as GRUB and Linux print it ("ABCD-1234").
func (im *Image) ESPUUID() string {
	return fmt.Sprintf("%04X-%04X", im.VolumeID>>16, im.VolumeID&0xffff)
}

// Build derives the identifiers from the inputs, renders the boot
// configuration, makes GRUB's core image and plans the layout.
func Build(in *Inputs) (*Image, error) {
	manifest := in.Manifest()
	im := &Image{Hash: sha256.Sum256([]byte(manifest))}
	im.DiskGUID = derivedGUID(im.Hash, "disk")
	im.ESPGUID = derivedGUID(im.Hash, "esp")
	im.BIOSGUID = derivedGUID(im.Hash, "bios-boot")
	im.VolumeID = derived32(im.Hash, "fat-volume-id")
	im.DiskSig = derived32(im.Hash, "mbr-disk-signature")

	cfg := GrubConfig(Menu(), im.ESPUUID(), in.InitrdName)
	im.Files = []File{
		{ESPShim, in.Shim},
		{ESPGrub, in.Grub},
		{ESPMok, in.MokManager},
		{ESPGrubCfg, []byte(cfg)},
		{ESPKernel, in.Kernel},
		{"/" + in.InitrdName, in.Initrd},
		{ESPManifest, []byte(manifest + "fat-volume-id " + im.ESPUUID() + "\n")},
		{ESPConfig, []byte(strings.ReplaceAll(ConfigTemplate, "\n", "\r\n"))}, // CRLF: Notepad-friendly
	}

	core, err := MkCore(in.GrubMkimage, in.GrubPCDir, BIOSEarlyConfig(im.ESPUUID()))
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	if len(core) > BIOSBootSectors*sectorSize {
		return nil, fmt.Errorf("build: GRUB core image is %d bytes, the BIOS boot partition %d", len(core), BIOSBootSectors*sectorSize)
	}
	if err := PatchCore(core, BIOSBootLBA); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	im.Core = core
	if im.MBRCode, err = MBRCode(in.BootImg, BIOSBootLBA); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}

	// ESP: the files, 512-byte clusters, directories and FATs, plus room.
	var content int64
	for _, f := range im.Files {
		content += (int64(len(f.Data)) + sectorSize - 1) / sectorSize * sectorSize
	}
	espMiB := (content*11/10)>>20 + 16
	if espMiB < minESPMiB {
		espMiB = minESPMiB
	}
	sectors := uint64(espMiB) << 20 / sectorSize
	im.ESPSectors = fat32SafeSectors(sectors)
	im.Size = int64(ESPLBA+sectors+tailSectors) * sectorSize
	if im.Size > MaxImageMiB<<20 {
		return nil, fmt.Errorf("build: image would be %d MiB (ESP %d MiB for %d MiB of files), more than %d MiB", im.Size>>20, espMiB, content>>20, MaxImageMiB)
	}
	return im, nil
}

// fat32SafeSectors shrinks a FAT32 file system of n 512-byte sectors
// (512-byte clusters, 32 reserved sectors, two FATs) until go-diskfs
// v1.9.4's sectors-per-FAT formula, ceil((n-32)/130), leaves room for the
// FAT's two reserved entries: it needs ceil((n-32+2)/130). Otherwise the
// last two clusters have no FAT entry and mtools refuses the file system.
func fat32SafeSectors(n uint64) uint64 {
	for {
		fat := (n - 32 + 129) / 130
		if fat*128 >= n-32-2*fat+2 {
			return n
		}
		n--
	}
}

// derivedGUID is a version-4-shaped GUID taken from a hash of the inputs
// and a purpose, so the same inputs give the same GUIDs.
func derivedGUID(h [32]byte, purpose string) string {
	s := sha256.Sum256(append(h[:], purpose...))
	s[6] = s[6]&0x0f | 0x40
	s[8] = s[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}

func derived32(h [32]byte, purpose string) uint32 {
	s := sha256.Sum256(append(h[:], purpose...))
	v := binary.LittleEndian.Uint32(s[:4])
	if v == 0 {
		v = 1
	}
	return v
}
