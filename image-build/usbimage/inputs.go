// Package usbimage builds coldimage's bootable USB stick image: a raw disk
// with a GPT (protective MBR carrying GRUB's i386-pc boot code), a BIOS boot
// partition holding GRUB's core image, and a FAT32 EFI system partition with
// Debian's signed shim and GRUB, Debian's signed kernel and our initramfs.
//
// The packer works in three steps, like gokrazy's: Prepare finds and reads
// the inputs (appliance build, Debian boot loader packages), Build derives
// identifiers from a hash of the inputs and renders boot loader
// configuration and images in memory, Write lays the disk out. The same
// inputs give the same image bytes.
package usbimage

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Paths of the Debian packages' files (shim-signed, grub-efi-amd64-signed,
// grub-pc-bin).
const (
	DefaultShim       = "/usr/lib/shim/shimx64.efi.signed"
	DefaultMokManager = "/usr/lib/shim/mmx64.efi.signed"
	DefaultGrubEFI    = "/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed"
	DefaultGrubPCDir  = "/usr/lib/grub/i386-pc"
)

// Packages whose versions are recorded on the stick.
var recordedPackages = []string{"shim-signed", "grub-efi-amd64-signed", "grub-pc-bin", "grub-common"}

// Options name the inputs. Empty fields take the defaults above; the
// appliance directory (make appliance) is required.
type Options struct {
	ApplianceDir string // vmlinuz, initramfs.cpio.*, kernel-version, kernel-package, version
	Shim         string
	MokManager   string
	GrubEFI      string
	GrubPCDir    string // boot.img and the i386-pc modules for grub-mkimage
	GrubMkimage  string // grub-mkimage binary (default: from PATH)
	// Versions overrides the package versions (dpkg-query when nil).
	Versions map[string]string
}

// Inputs are the files and facts an image is made from.
type Inputs struct {
	Kernel, Initrd         []byte
	InitrdName             string // initramfs.cpio.zst, .xz or .gz
	Shim, MokManager, Grub []byte
	BootImg                []byte // GRUB i386-pc boot.img (MBR code)
	GrubPCDir, GrubMkimage string
	KernelRelease          string
	KernelPackage          string
	ApplianceVersion       string
	Versions               map[string]string // Debian package → version
	Sources                map[string]string // input name → path it was read from
}

// Prepare reads every input named by o.
func Prepare(o Options) (*Inputs, error) {
	if o.ApplianceDir == "" {
		return nil, fmt.Errorf("prepare: no appliance directory given (make appliance builds build/)")
	}
	def := func(s, d string) string {
		if s == "" {
			return d
		}
		return s
	}
	o.Shim = def(o.Shim, DefaultShim)
	o.MokManager = def(o.MokManager, DefaultMokManager)
	o.GrubEFI = def(o.GrubEFI, DefaultGrubEFI)
	o.GrubPCDir = def(o.GrubPCDir, DefaultGrubPCDir)
	in := &Inputs{GrubPCDir: o.GrubPCDir, Sources: map[string]string{}}
	if o.GrubMkimage == "" {
		p, err := exec.LookPath("grub-mkimage")
		if err != nil {
			return nil, fmt.Errorf("prepare: grub-mkimage (Debian package grub-common) not found: %w", err)
		}
		o.GrubMkimage = p
	}
	in.GrubMkimage = o.GrubMkimage

	initrd := ""
	for _, ext := range []string{"zst", "xz", "gz"} {
		p := filepath.Join(o.ApplianceDir, "initramfs.cpio."+ext)
		if _, err := os.Stat(p); err == nil {
			initrd = p
			break
		}
	}
	if initrd == "" {
		return nil, fmt.Errorf("prepare: no initramfs.cpio.{zst,xz,gz} in %s (run make appliance)", o.ApplianceDir)
	}
	in.InitrdName = filepath.Base(initrd)

	files := []struct {
		name, path, pkg string
		dst             *[]byte
	}{
		{"kernel", filepath.Join(o.ApplianceDir, "vmlinuz"), "make appliance", &in.Kernel},
		{"initramfs", initrd, "make appliance", &in.Initrd},
		{"shim", o.Shim, "shim-signed", &in.Shim},
		{"mokmanager", o.MokManager, "shim-signed", &in.MokManager},
		{"grub-efi", o.GrubEFI, "grub-efi-amd64-signed", &in.Grub},
		{"grub-boot.img", filepath.Join(o.GrubPCDir, "boot.img"), "grub-pc-bin", &in.BootImg},
	}
	for _, f := range files {
		b, err := os.ReadFile(f.path)
		if err != nil {
			return nil, fmt.Errorf("prepare: read %s (%s): %w", f.name, f.pkg, err)
		}
		*f.dst = b
		in.Sources[f.name] = f.path
	}
	if len(in.BootImg) != 512 {
		return nil, fmt.Errorf("prepare: %s is %d bytes, want 512", in.Sources["grub-boot.img"], len(in.BootImg))
	}
	for _, f := range []struct {
		name string
		dst  *string
		need bool
	}{
		{"kernel-version", &in.KernelRelease, true},
		{"kernel-package", &in.KernelPackage, false},
		{"version", &in.ApplianceVersion, false},
	} {
		b, err := os.ReadFile(filepath.Join(o.ApplianceDir, f.name))
		if err != nil {
			if f.need {
				return nil, fmt.Errorf("prepare: %w", err)
			}
			continue
		}
		*f.dst = strings.TrimSpace(string(b))
	}
	in.Versions = o.Versions
	if in.Versions == nil {
		v, err := packageVersions(recordedPackages)
		if err != nil {
			return nil, fmt.Errorf("prepare: %w", err)
		}
		in.Versions = v
	}
	return in, nil
}

// packageVersions asks dpkg for the installed versions of pkgs.
func packageVersions(pkgs []string) (map[string]string, error) {
	args := append([]string{"-W", "-f", "${Package} ${Version}\n"}, pkgs...)
	out, err := exec.Command("dpkg-query", args...).Output()
	if err != nil {
		return nil, fmt.Errorf("dpkg-query %s (install them: apt-get install %s): %w", strings.Join(pkgs, " "), strings.Join(pkgs, " "), err)
	}
	v := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if name, ver, ok := strings.Cut(l, " "); ok {
			v[strings.TrimSuffix(name, ":amd64")] = ver
		}
	}
	return v, nil
}

// Manifest is the text file recorded on the stick (/COLDIMAGE.TXT): what
// the image was made from. Its bytes are part of the image hash.
func (in *Inputs) Manifest() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "coldimage boot stick (make usb)\n")
	fmt.Fprintf(&b, "format %s\n", FormatVersion)
	fmt.Fprintf(&b, "appliance %s\n", orUnknown(in.ApplianceVersion))
	fmt.Fprintf(&b, "kernel %s (%s)\n", in.KernelRelease, orUnknown(in.KernelPackage))
	var names []string
	for n := range in.Versions {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "package %s %s\n", n, in.Versions[n])
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"vmlinuz", in.Kernel}, {in.InitrdName, in.Initrd}, {"shimx64.efi.signed", in.Shim},
		{"mmx64.efi.signed", in.MokManager}, {"grubx64.efi.signed", in.Grub}, {"i386-pc/boot.img", in.BootImg},
	} {
		sum := sha256.Sum256(f.data)
		fmt.Fprintf(&b, "sha256 %s %s\n", hex.EncodeToString(sum[:]), f.name)
	}
	return b.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
