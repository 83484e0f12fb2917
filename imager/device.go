package imager

import (
	"fmt"
	"strings"
)

// DeviceIdentity is what the drive itself says about itself, asked through
// read-only passthrough commands (SCSI INQUIRY and VPD pages, READ
// CAPACITY(16), ATA IDENTIFY DEVICE through ATA PASS-THROUGH, NVMe
// Identify): acquisition.json's device{} and `coldimage identify`.
// Additive to schema 1.
type DeviceIdentity struct {
	// Transport is how the drive was asked: "ata" (SATA, directly or
	// behind a SAS HBA or USB bridge that translates), "scsi" (SAS,
	// virtual SCSI), "nvme"; "none" when the device takes no passthrough
	// commands (virtio-blk, a loop device, a file).
	Transport string `json:"transport"`
	Vendor    string `json:"vendor,omitempty"`
	Model     string `json:"model,omitempty"`
	Serial    string `json:"serial,omitempty"`
	Firmware  string `json:"firmware,omitempty"`
	WWN       string `json:"wwn,omitempty"`   // NAA / ATA world wide name, hex
	EUI64     string `json:"eui64,omitempty"` // NVMe namespace or SCSI EUI-64, hex
	NGUID     string `json:"nguid,omitempty"` // NVMe namespace GUID, hex
	// DeviceSectors is the capacity the drive reports (READ CAPACITY(16),
	// IDENTIFY's LBA count, NVMe nsze), in its logical sectors;
	// KernelSectors is what the kernel exposes, in the same unit. They
	// differ when a host protected area hides sectors from the kernel, or
	// the kernel sees a partition or namespace only.
	DeviceSectors  int64 `json:"device_sectors,omitempty"`
	KernelSectors  int64 `json:"kernel_sectors,omitempty"`
	LogicalSector  int   `json:"logical_sector,omitempty"`
	PhysicalSector int   `json:"physical_sector,omitempty"`
	// RotationRPM: 1 means a non-rotating medium (SSD), 0 not reported.
	RotationRPM int `json:"rotation_rpm,omitempty"`
	// Hidden areas of an ATA drive: the native capacity (READ NATIVE MAX
	// ADDRESS), the capacity its configuration overlay allows (DEVICE
	// CONFIGURATION IDENTIFY), the sectors a host protected area and an
	// overlay hide (absent: not known), and HiddenArea, what it comes to.
	NativeSectors int64  `json:"native_sectors,omitempty"`
	DCOSectors    int64  `json:"dco_max_sectors,omitempty"`
	HPAHidden     *int64 `json:"hpa_hidden_sectors,omitempty"`
	DCOHidden     *int64 `json:"dco_hidden_sectors,omitempty"`
	HiddenArea    string `json:"hidden_area,omitempty"`
	// KernelHPA are the kernel's own log lines about this drive's hidden
	// area since boot: libata reports a host protected area it found, and
	// unlocks one itself (libata.ignore_hpa=1, or a partition that extends
	// past the accessible end: "enabling native capacity"), which changes
	// what the drive exposes until it is powered off.
	KernelHPA []string `json:"kernel_hpa,omitempty"`
	// Security: the ATA security feature set (IDENTIFY word 128) and a
	// self-encrypting drive's TCG Level 0 Discovery, each in a sentence;
	// Locked when either says the data cannot be read as it is now.
	// Nothing is ever unlocked.
	ATASecurity string `json:"ata_security,omitempty"`
	// Health is the SMART summary: ATA overall status and attributes, or
	// the NVMe health log, in a line.
	Health string `json:"health,omitempty"`
	// Sanitize is an NVMe drive's Sanitize Status log in a sentence: a
	// drive sanitized (or formatted) since its data was written holds none.
	Sanitize string `json:"sanitize,omitempty"`
	TCG      string `json:"tcg,omitempty"`
	Locked   bool   `json:"locked,omitempty"`
	// Namespaces lists an NVMe controller's namespaces: each active one,
	// and those allocated but not attached (flagged: not imaged).
	Namespaces []NVMeNamespace `json:"namespaces,omitempty"`
	// Commands lists every passthrough command sent, in order, with its
	// outcome: "INQUIRY: ok", "ATA IDENTIFY DEVICE: rejected (…)".
	Commands []string `json:"commands"`
	// Raw holds each reply as hex: "inquiry", "vpd80", "vpd83", "vpdb1",
	// "readcap16", "ata_identify", "nvme_identify_ctrl", "nvme_identify_ns".
	Raw map[string]string `json:"raw,omitempty"`
	// Errors says what could not be asked, and why; never fatal.
	Errors []string `json:"errors,omitempty"`
}

// KernelUnlockedHPA says whether the kernel's log says it unlocked a host
// protected area on the drive.
func (d *DeviceIdentity) KernelUnlockedHPA() bool {
	for _, k := range d.KernelHPA {
		if strings.Contains(k, "HPA unlocked") || strings.Contains(k, "enabling native capacity") {
			return true
		}
	}
	return false
}

// NVMeNamespace is one namespace of an NVMe controller, in its own blocks.
type NVMeNamespace struct {
	ID         uint32 `json:"nsid"`
	Size       uint64 `json:"nsze"`
	Capacity   uint64 `json:"ncap"`
	Used       uint64 `json:"nuse"`
	BlockSize  int    `json:"block_size"`
	Attached   bool   `json:"attached"`
	KernelName string `json:"kernel_name,omitempty"` // nvme0n1 when the kernel has it
}

// text renders the identity as key/value lines for acquisition.txt and
// `coldimage identify`.
func (d *DeviceIdentity) text(line func(k, v string)) {
	line("Transport:", d.Transport)
	for _, kv := range [][2]string{{"Vendor:", d.Vendor}, {"Model:", d.Model}, {"Serial:", d.Serial}, {"Firmware:", d.Firmware},
		{"WWN:", d.WWN}, {"EUI-64:", d.EUI64}, {"NGUID:", d.NGUID}} {
		if kv[1] != "" {
			line(kv[0], kv[1])
		}
	}
	if d.DeviceSectors > 0 {
		c := fmt.Sprintf("%d sectors of %d bytes (%s) as the drive reports it", d.DeviceSectors, d.LogicalSector, HumanBytes(d.DeviceSectors*int64(d.LogicalSector)))
		switch {
		case d.KernelSectors == d.DeviceSectors:
			c += "; the kernel sees the same"
		case d.KernelSectors > 0:
			c += fmt.Sprintf("; THE KERNEL SEES %d", d.KernelSectors)
		}
		line("Capacity:", c)
		if d.PhysicalSector > 0 && d.PhysicalSector != d.LogicalSector {
			line("Physical sector:", fmt.Sprintf("%d bytes", d.PhysicalSector))
		}
	}
	if d.HiddenArea != "" {
		line("Hidden areas:", d.HiddenArea)
	}
	for _, k := range d.KernelHPA {
		line("Kernel log:", k)
	}
	if d.KernelUnlockedHPA() {
		line("", "THE KERNEL UNLOCKED A HOST PROTECTED AREA ON THIS DRIVE (volatile: until it is powered off)")
	}
	if d.Sanitize != "" {
		line("Sanitize:", d.Sanitize)
	}
	if d.Health != "" {
		line("Health (SMART):", d.Health)
	}
	if d.ATASecurity != "" {
		line("ATA security:", d.ATASecurity)
	}
	if d.TCG != "" {
		line("Self-encryption:", d.TCG)
	}
	switch {
	case d.RotationRPM == 1:
		line("Medium:", "non-rotating (solid state)")
	case d.RotationRPM > 1:
		line("Medium:", fmt.Sprintf("rotating, %d rpm", d.RotationRPM))
	}
	for _, n := range d.Namespaces {
		state := "attached"
		if !n.Attached {
			state = "ALLOCATED BUT NOT ATTACHED: not visible to the kernel, not imaged"
		}
		k := ""
		if n.KernelName != "" {
			k = ", " + n.KernelName
		}
		line(fmt.Sprintf("Namespace %d:", n.ID), fmt.Sprintf("%d blocks of %d bytes (capacity %d, in use %d)%s, %s", n.Size, n.BlockSize, n.Capacity, n.Used, k, state))
	}
	line("Commands sent:", strings.Join(d.Commands, "; "))
	for _, e := range d.Errors {
		line("Not asked:", e)
	}
}

// Text renders the identity alone (`coldimage identify`).
func (d *DeviceIdentity) Text(path string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", path)
	d.text(func(k, v string) { fmt.Fprintf(&b, "  %-17s %s\n", k, v) })
	return b.String()
}
