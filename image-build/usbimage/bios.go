package usbimage

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// GRUB i386-pc boot.img (the MBR code), offsets from grub's
// include/grub/i386/pc/boot.h.
const (
	bootImgKernelSector = 0x5c // 8 bytes LE: LBA of core.img's first sector
	bootImgBootDrive    = 0x64 // 1 byte: 0xff = use the drive the BIOS passed in DL
	mbrCodeSize         = 440  // boot code; 440..445 disk signature and reserved
	mbrDiskSignature    = 440  // 4 bytes
	sectorSize          = 512
	coreBlocklistStart  = 0x1f4 // diskboot.img: first blocklist entry, start LBA (8 bytes LE)
	coreBlocklistLen    = 0x1fc // 2 bytes LE: sectors after the first
	coreBlocklistSeg    = 0x1fe // 2 bytes LE: load segment
)

// MkCore runs grub-mkimage for i386-pc with the early config embedded and
// returns core.img. Its output depends only on its inputs (checked by
// TestBuildReproducible).
func MkCore(mkimage, moddir, early string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "mkusb-core-")
	if err != nil {
		return nil, fmt.Errorf("grub core: %w", err)
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "early.cfg")
	if err := os.WriteFile(cfg, []byte(early), 0o644); err != nil {
		return nil, fmt.Errorf("grub core: %w", err)
	}
	out := filepath.Join(dir, "core.img")
	args := append([]string{"-O", "i386-pc", "-d", moddir, "-o", out, "-c", cfg, "-p", GrubPrefix}, BIOSModules...)
	if b, err := exec.Command(mkimage, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("grub core: %s %v: %w: %s", mkimage, args, err, b)
	}
	core, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("grub core: %w", err)
	}
	return core, nil
}

// PatchCore points core.img's first blocklist at the sectors following its
// first one, for a core image written at LBA coreLBA (what grub-install's
// setup does). The length grub-mkimage filled in is checked against the
// image size.
func PatchCore(core []byte, coreLBA uint64) error {
	if len(core) < sectorSize {
		return fmt.Errorf("core.img: %d bytes, shorter than one sector", len(core))
	}
	n := binary.LittleEndian.Uint16(core[coreBlocklistLen:])
	sectors := (len(core) + sectorSize - 1) / sectorSize
	if int(n) != sectors-1 {
		return fmt.Errorf("core.img: blocklist length %d sectors at 0x%x, want %d for %d bytes (not a grub-mkimage i386-pc image?)", n, coreBlocklistLen, sectors-1, len(core))
	}
	if seg := binary.LittleEndian.Uint16(core[coreBlocklistSeg:]); seg != 0x820 {
		return fmt.Errorf("core.img: blocklist load segment 0x%x at 0x%x, want 0x820", seg, coreBlocklistSeg)
	}
	binary.LittleEndian.PutUint64(core[coreBlocklistStart:], coreLBA+1)
	return nil
}

// MBRCode returns the 440 bytes of boot code for sector 0: GRUB's boot.img
// loading core.img from coreLBA, from the drive the BIOS booted. The jump
// over the drive-number check is kept, so a BIOS that emulates the stick as
// a floppy still boots it.
func MBRCode(bootImg []byte, coreLBA uint64) ([]byte, error) {
	if len(bootImg) != sectorSize || bootImg[510] != 0x55 || bootImg[511] != 0xaa {
		return nil, fmt.Errorf("boot.img: not a 512-byte boot sector with 55aa")
	}
	code := append([]byte(nil), bootImg[:mbrCodeSize]...)
	binary.LittleEndian.PutUint64(code[bootImgKernelSector:], coreLBA)
	code[bootImgBootDrive] = 0xff
	return code, nil
}
