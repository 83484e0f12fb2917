// Package passthru asks a drive who it is, read-only by construction.
//
// Every command goes through one send point per interface (SG_IO for SCSI
// and for ATA commands carried by ATA PASS-THROUGH(16); the NVMe admin
// ioctl), and that point refuses any command that is not on the allow-list
// in allow.go: non-modifying opcodes, data transferred from the device only.
// The replies are parsed by portable code (scsi.go, ata.go, nvme.go) that
// fuzz tests feed, from byte layouts documented with their offsets.
package passthru
