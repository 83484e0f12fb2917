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

// Network drivers are carried but loaded only when a network target (or
// coldimage.net=) asks for networking: the appliance touches no network
// otherwise. Each is optional: a port without its firmware (Debian's
// non-free firmware is not carried) fails to probe and is said so.
var Network = []Module{
	// The DHCP client's transaction IDs come from the kernel's random
	// pool: a virtual machine without RDRAND fills it from its host.
	{"virtio_rng", "entropy from a virtual machine's host", true},
	{"virtio_net", "virtio network (QEMU, cloud)", true},
	{"e1000", "Intel PRO/1000 (older)", true},
	{"e1000e", "Intel PRO/1000 PCIe, I217/I218/I219", true},
	{"igb", "Intel 1 GbE server ports (I350, I210)", true},
	{"igc", "Intel 2.5 GbE (I225/I226)", true},
	{"ixgbe", "Intel 10 GbE (82599, X540, X550)", true},
	{"i40e", "Intel 10/25/40 GbE (X710, XL710, XXV710)", true},
	{"ice", "Intel 100 GbE (E810)", true},
	{"bnxt_en", "Broadcom NetXtreme-C/E (BCM573xx/574xx)", true},
	{"tg3", "Broadcom NetXtreme (BCM57xx, BCM5720 server LOMs)", true},
	{"bnx2x", "Broadcom/QLogic NetXtreme II 10 GbE", true},
	{"mlx4_en", "Mellanox ConnectX-3", true},
	{"mlx5_core", "Mellanox/NVIDIA ConnectX-4 and later", true},
	{"qede", "QLogic/Marvell FastLinQ", true},
	{"be2net", "Emulex OneConnect", true},
	{"r8169", "Realtek 1/2.5 GbE", true},
}

// NetFS are the network file-system clients, loaded when a smb:// or
// nfs:// target is mounted. The kernel's cifs names crypto modules as
// softdeps, which kmodule does not follow: they are listed before it
// (SMB 3 signing and encryption: cmac, gcm, ccm, sha512).
var NetFS = map[string][]Module{
	"smb": {
		{"aesni_intel", "accelerated AES for SMB 3 encryption", true},
		{"ghash_clmulni_intel", "accelerated GHASH for AES-GCM", true},
		{"ctr", "counter mode, under GCM and CCM", false},
		{"ghash_generic", "GHASH, under GCM (when the CPU has no PCLMUL)", false},
		{"gcm", "AES-GCM (SMB 3.1.1 encryption)", false},
		{"ccm", "AES-CCM (SMB 3.0 encryption)", false},
		{"cmac", "AES-CMAC (SMB 3 signing)", false},
		{"sha512_generic", "SHA-512 (SMB 3.1.1 pre-authentication integrity)", false},
		{"ecb", "ECB mode", false},
		{"cifs", "SMB client", false},
	},
	"nfs": {
		{"nfsv4", "NFS v4.x client", false},
	},
}

// Extra are carried in the initramfs but not loaded at boot (9P shares
// for test harnesses such as vmtest).
var Extra = []string{"9p", "9pnet_virtio", "netfs", "fscache"}

// Forbidden modules must never be in the initramfs: activating them could
// write to evidence (md resync, LVM metadata, dm).
var Forbidden = []string{"md_mod", "raid0", "raid1", "raid10", "raid456", "linear", "multipath", "dm_mod", "dm_raid", "dm_crypt", "dm_mirror", "dm_snapshot"}

// Names returns the names of every module to carry: Boot, Network, NetFS
// (smb, then nfs), then Extra.
func Names() []string {
	var n []string
	for _, m := range Boot {
		n = append(n, m.Name)
	}
	for _, m := range Network {
		n = append(n, m.Name)
	}
	for _, fs := range []string{"smb", "nfs"} {
		for _, m := range NetFS[fs] {
			n = append(n, m.Name)
		}
	}
	return append(n, Extra...)
}
