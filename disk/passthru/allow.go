package passthru

import "fmt"

// Interfaces commands are sent through.
const (
	IfaceSCSI = "scsi"       // a SCSI CDB through SG_IO
	IfaceATA  = "ata"        // an ATA command inside ATA PASS-THROUGH(16), through SG_IO
	IfaceNVMe = "nvme-admin" // an NVMe admin command through NVME_IOCTL_ADMIN_CMD
)

// Command is one command the package may send: none of them changes the
// medium or the drive's settings, and every one moves data from the device
// only (or none).
type Command struct {
	Name   string
	Iface  string
	Opcode byte
	// Sub narrows the opcode: the VPD page of an INQUIRY with EVPD set
	// (stdInquiry for the standard data), the service action of SERVICE
	// ACTION IN(16), the FEATURE of an ATA command that has subcommands
	// (0 for the others), the CNS of an NVMe Identify.
	Sub byte
	// NoData: a non-data command (its reply is in the returned
	// registers); every other one moves data from the device only.
	NoData bool
}

// allowed is the allow-list. A command that is not here is never sent;
// TestAllowListCovered fails when one is added without its test.
var allowed = []Command{
	{"INQUIRY", IfaceSCSI, 0x12, stdInquiry, false},
	{"INQUIRY VPD supported pages", IfaceSCSI, 0x12, 0x00, false},
	{"INQUIRY VPD unit serial number", IfaceSCSI, 0x12, 0x80, false},
	{"INQUIRY VPD device identification", IfaceSCSI, 0x12, 0x83, false},
	{"INQUIRY VPD block device characteristics", IfaceSCSI, 0x12, 0xB1, false},
	{"READ CAPACITY(16)", IfaceSCSI, 0x9E, 0x10, false},
	{"SECURITY PROTOCOL IN (TCG Level 0 Discovery)", IfaceSCSI, 0xA2, 0x01, false}, // protocol 01h, ComID 0001h only
	{"ATA IDENTIFY DEVICE", IfaceATA, 0xEC, 0, false},
	{"ATA READ NATIVE MAX ADDRESS EXT", IfaceATA, 0x27, 0, true},
	{"ATA DEVICE CONFIGURATION IDENTIFY", IfaceATA, 0xB1, 0xC2, false},
	{"ATA SMART READ DATA", IfaceATA, 0xB0, 0xD0, false},    // feature D0h; not the self-test, log-writing or enable/disable features
	{"ATA SMART RETURN STATUS", IfaceATA, 0xB0, 0xDA, true}, // feature DAh // feature C2h; the other DCO features (restore, freeze, set) are not listed
	{"NVMe Identify Namespace", IfaceNVMe, 0x06, 0x00, false},
	{"NVMe Identify Controller", IfaceNVMe, 0x06, 0x01, false},
	{"NVMe Identify active namespace list", IfaceNVMe, 0x06, 0x02, false},
	{"NVMe Identify allocated namespace list", IfaceNVMe, 0x06, 0x10, false},
	{"NVMe Identify allocated namespace", IfaceNVMe, 0x06, 0x11, false},
	{"NVMe Security Receive (TCG Level 0 Discovery)", IfaceNVMe, 0x82, 0x01, false}, // SECP 01h, SPSP 0001h only
	{"NVMe Get Log Page SMART / Health Information", IfaceNVMe, 0x02, 0x02, false},  // LID 02h
	{"NVMe Get Log Page Sanitize Status", IfaceNVMe, 0x02, 0x81, false},             // LID 81h
}

// stdInquiry stands for "no VPD page": the standard INQUIRY data.
const stdInquiry = 0xFF

// AllowList returns a copy of the allow-list.
func AllowList() []Command { return append([]Command(nil), allowed...) }

// lookup finds a command on the allow-list, or refuses.
func lookup(iface string, op, sub byte) (Command, error) {
	for _, c := range allowed {
		if c.Iface == iface && c.Opcode == op && c.Sub == sub {
			return c, nil
		}
	}
	return Command{}, fmt.Errorf("passthru: %s opcode %#02x (%#02x) is not on the allow-list of read-only commands: not sent", iface, op, sub)
}

// scsiKey says which allow-list entry a SCSI CDB is.
func scsiKey(cdb []byte) (byte, byte) {
	switch op := cdb[0]; op {
	case 0x12:
		if cdb[1]&1 == 0 {
			return op, stdInquiry
		}
		return op, cdb[2]
	case 0x9E:
		return op, cdb[1] & 0x1f
	case 0x85:
		return op, 0 // checked by its ATA command
	case 0xA2:
		if len(cdb) >= 4 && cdb[2] == 0x00 && cdb[3] == 0x01 {
			return op, cdb[1] // security protocol, for ComID 0001h (Level 0 Discovery)
		}
		return op, 0xFF
	default:
		return op, 0
	}
}

// ataKey says which allow-list entry the ATA command inside an ATA
// PASS-THROUGH(16) CDB is: its command (byte 14) and, for DEVICE
// CONFIGURATION and SMART, its feature (byte 4).
func ataKey(cdb []byte) (byte, byte) {
	if cdb[14] == 0xB1 || cdb[14] == 0xB0 {
		return cdb[14], cdb[4] // DEVICE CONFIGURATION and SMART: by feature
	}
	return cdb[14], 0
}

// checkCDB is the SG_IO send point's gate: cdb must be an allow-listed
// command sent the way the list says (n > 0: n bytes from the device; n ==
// 0: no data). An ATA PASS-THROUGH(16) must carry an allow-listed ATA
// command as PIO data-in (protocol 4, T_DIR from the device) or, for a
// non-data one, as non-data (protocol 3).
func checkCDB(cdb []byte, n int) (Command, error) {
	if len(cdb) < 6 {
		return Command{}, fmt.Errorf("passthru: a %d-byte CDB: not sent", len(cdb))
	}
	op, sub := scsiKey(cdb)
	iface := IfaceSCSI
	if op == 0x85 {
		if len(cdb) != 16 {
			return Command{}, fmt.Errorf("passthru: ATA PASS-THROUGH(16) of %d bytes: not sent", len(cdb))
		}
		proto := cdb[1] >> 1 & 0x0f
		switch {
		case n > 0 && (proto != 4 || cdb[2]&(1<<3) == 0):
			return Command{}, fmt.Errorf("passthru: ATA PASS-THROUGH with protocol %d, T_DIR %d: not PIO data-in, not sent", proto, cdb[2]>>3&1)
		case n == 0 && proto != 3:
			return Command{}, fmt.Errorf("passthru: ATA PASS-THROUGH without data and protocol %d: not non-data, not sent", proto)
		}
		iface = IfaceATA
		op, sub = ataKey(cdb)
	}
	c, err := lookup(iface, op, sub)
	if err == nil && c.NoData != (n == 0) {
		err = fmt.Errorf("passthru: %s sent with a data transfer of %d bytes: not how the allow-list has it, not sent", c.Name, n)
	}
	return c, err
}
