// Command mkusb builds coldimage's bootable USB stick image (make usb):
//
//	go run ./image-build/cmd/mkusb -appliance build -out build/coldimage-usb.img
//
// It needs the appliance (make appliance) and Debian's shim-signed,
// grub-efi-amd64-signed, grub-pc-bin and grub-common packages.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/coldimage/coldimage/image-build/usbimage"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mkusb:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("mkusb", flag.ContinueOnError)
	var o usbimage.Options
	out := fl.String("out", "build/coldimage-usb.img", "the image file to write")
	fl.StringVar(&o.ApplianceDir, "appliance", "build", "directory with vmlinuz and initramfs.cpio.* (make appliance)")
	fl.StringVar(&o.Shim, "shim", usbimage.DefaultShim, "Debian's signed shim")
	fl.StringVar(&o.MokManager, "mokmanager", usbimage.DefaultMokManager, "Debian's signed MokManager")
	fl.StringVar(&o.GrubEFI, "grub-efi", usbimage.DefaultGrubEFI, "Debian's signed GRUB for x86_64-efi")
	fl.StringVar(&o.GrubPCDir, "grub-pc", usbimage.DefaultGrubPCDir, "GRUB's i386-pc directory (boot.img and modules)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	in, err := usbimage.Prepare(o)
	if err != nil {
		return err
	}
	im, err := usbimage.Build(in)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := usbimage.Write(im, *out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "mkusb: %s: %d MiB, ESP %s (label %s), kernel %s, inputs sha256 %x\n",
		*out, im.Size>>20, im.ESPUUID(), usbimage.ESPLabel, in.KernelRelease, im.Hash[:8])
	return nil
}
