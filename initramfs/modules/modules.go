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
}

// Boot is loaded, in order, by PID 1. Bus drivers come before the disk
// drivers that sit on them (kmodule ignores softdeps and modules.alias).
var Boot = []Module{
	// Buses and host controllers.
	{"virtio_pci", "virtio PCI transport (QEMU, cloud)"},
	{"ahci", "SATA AHCI controllers"},
	{"ata_piix", "Intel PIIX/ICH IDE and SATA (legacy mode)"},
	{"ata_generic", "generic PATA"},
	{"nvme", "NVMe SSDs"},
	{"xhci_pci", "USB 3 host controllers"},
	{"ehci_pci", "USB 2 host controllers"},
	{"ohci_pci", "USB 1.1 OHCI host controllers"},
	{"uhci_hcd", "USB 1.1 UHCI host controllers"},
	{"megaraid_sas", "LSI/Broadcom MegaRAID SAS"},
	{"mpt3sas", "LSI/Broadcom SAS2/SAS3 HBAs"},
	{"mptsas", "LSI SAS1 HBAs"},
	{"hpsa", "HP Smart Array"},
	{"smartpqi", "Microsemi Smart Family"},
	{"aacraid", "Adaptec RAID"},
	{"mvsas", "Marvell SAS"},
	{"pm80xx", "PMC-Sierra SAS"},
	{"isci", "Intel C600 SAS"},
	{"sdhci_pci", "SD card readers on PCI"},
	// Disk drivers.
	{"virtio_blk", "virtio block disks"},
	{"virtio_scsi", "virtio SCSI disks"},
	{"sd_mod", "SCSI/SATA/USB disks"},
	{"sr_mod", "optical drives"},
	{"usb_storage", "USB mass storage"},
	{"uas", "USB attached SCSI"},
	{"mmc_block", "SD/MMC cards"},
	// Keyboards on USB, for the menu.
	{"usbhid", "USB keyboards"},
	{"hid_generic", "generic HID keyboards"},
	// Target file systems.
	{"crc32c_generic", "crc32c for ext4 metadata checksums"},
	{"crc32c_intel", "accelerated crc32c"},
	{"ext4", "ext4 targets"},
	{"exfat", "exFAT targets"},
	{"nls_cp437", "vfat default codepage"},
	{"nls_ascii", "vfat default iocharset fallback"},
	{"nls_utf8", "utf8 iocharset for vfat/exFAT"},
	{"nls_iso8859_1", "vfat iocharset iso8859-1"},
	{"vfat", "FAT targets"},
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
