// Package modules is the single list of kernel modules the appliance
// carries and loads. The build (mkappliance) copies exactly these, plus
// their dependencies, into the initramfs; PID 1 loads them in this order.
//
// Never md, dm or LVM: RAID is reassembled in userspace.
package modules

// Module is one kernel module to load at boot.
type Module struct {
	Name string // module name as modprobe knows it (underscores or dashes)
	Why  string // what it is for, shown when loading fails
	// Optional modules may fail quietly (e.g. crc32c_intel without SSE4.2,
	// as on QEMU's default TCG CPU).
	Optional bool
}

// Boot is loaded, in order, by PID 1. Bus drivers come before the disk
// drivers that sit on them (kmodule ignores softdeps and modules.alias).
var Boot = []Module{
	// Buses and host controllers.
	{"virtio_pci", "virtio PCI transport (QEMU, cloud)", false},
	{"ahci", "SATA AHCI controllers", false},
	{"ata_piix", "Intel PIIX/ICH IDE and SATA (legacy mode)", false},
	{"ata_generic", "generic PATA", false},
	{"nvme", "NVMe SSDs", false},
	{"xhci_pci", "USB 3 host controllers", false},
	{"ehci_pci", "USB 2 host controllers", false},
	{"ohci_pci", "USB 1.1 OHCI host controllers", false},
	{"uhci_hcd", "USB 1.1 UHCI host controllers", false},
	{"megaraid_sas", "LSI/Broadcom MegaRAID SAS", false},
	{"mpt3sas", "LSI/Broadcom SAS2/SAS3 HBAs", false},
	{"mptsas", "LSI SAS1 HBAs", false},
	{"hpsa", "HP Smart Array", false},
	{"smartpqi", "Microsemi Smart Family", false},
	{"aacraid", "Adaptec RAID", false},
	{"mvsas", "Marvell SAS", false},
	{"pm80xx", "PMC-Sierra SAS", false},
	{"isci", "Intel C600 SAS", false},
	{"sdhci_pci", "SD card readers on PCI", false},
	// Disk drivers.
	{"virtio_blk", "virtio block disks", false},
	{"virtio_scsi", "virtio SCSI disks", false},
	{"sd_mod", "SCSI/SATA/USB disks", false},
	{"sr_mod", "optical drives", false},
	{"usb_storage", "USB mass storage", false},
	{"uas", "USB attached SCSI", false},
	{"mmc_block", "SD/MMC cards", false},
	// Keyboards on USB, for the menu.
	{"usbhid", "USB keyboards", false},
	{"hid_generic", "generic HID keyboards", false},
	// The power button: an orderly power-off (button: ACPI power button,
	// evdev: /dev/input/event* to read it).
	{"button", "ACPI power button", true},
	{"evdev", "input events (power button)", true},
	// Target file systems.
	{"crc32c_generic", "crc32c for ext4 metadata checksums", false},
	{"crc32c_intel", "accelerated crc32c", true},
	{"ext4", "ext4 targets", false},
	{"exfat", "exFAT targets", false},
	{"nls_cp437", "vfat default codepage", false},
	{"nls_ascii", "vfat default iocharset fallback", false},
	{"nls_utf8", "utf8 iocharset for vfat/exFAT", false},
	{"vfat", "FAT targets", false},
}

// Extra are carried in the initramfs but not loaded at boot (9P shares
// for test harnesses such as vmtest).
var Extra = []string{"9p", "9pnet_virtio", "netfs", "fscache"}

// Forbidden modules must never be in the initramfs: activating them could
// write to evidence (md resync, LVM metadata, dm).
var Forbidden = []string{"md_mod", "raid0", "raid1", "raid10", "raid456", "linear", "multipath", "dm_mod", "dm_raid", "dm_crypt", "dm_mirror", "dm_snapshot"}

// Names returns the names of every module to carry: Boot then Extra.
func Names() []string {
	var n []string
	for _, m := range Boot {
		n = append(n, m.Name)
	}
	return append(n, Extra...)
}
