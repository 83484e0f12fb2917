package disk

import (
	"path/filepath"
	"strings"
)

// Kinds of Info.
const (
	KindDisk = "disk"
	KindPart = "part"
	KindFile = "file"
)

// Info describes a block device, a partition or a regular file source.
type Info struct {
	Path           string `json:"path"`                // as given, or /dev/NAME
	Name           string `json:"name"`                // kernel name (sda, nvme0n1p1) or file base name
	Kind           string `json:"kind"`                // "disk", "part", "file"
	Size           int64  `json:"size"`                // bytes (BLKGETSIZE64 for devices, st_size for files)
	LogicalSector  int    `json:"logical_sector"`      // BLKSSZGET (512 for files)
	PhysicalSector int    `json:"physical_sector"`     // BLKPBSZGET (512 for files)
	Model          string `json:"model,omitempty"`     // sysfs device/model (trimmed)
	Serial         string `json:"serial,omitempty"`    // sysfs serial, device/serial or SCSI VPD page 0x80
	WWN            string `json:"wwn,omitempty"`       // sysfs wwid or device/wwid
	Transport      string `json:"transport,omitempty"` // "sata", "sas", "nvme", "usb", "virtio", "scsi", "mmc", "loop", "file", ...
	Removable      bool   `json:"removable"`
	ReadOnly       bool   `json:"read_only"` // BLKROGET (files: false)

	Parent     string `json:"parent,omitempty"` // for partitions: parent disk name
	PartNumber int    `json:"part_number,omitempty"`
	Start      int64  `json:"start,omitempty"` // partition start offset in bytes on the parent

	PartTable string `json:"part_table,omitempty"` // for disks: "gpt", "mbr" or ""
	PartType  string `json:"part_type,omitempty"`  // GPT type GUID or MBR type as "0x83"
	PartLabel string `json:"part_label,omitempty"` // GPT partition name
	PartUUID  string `json:"part_uuid,omitempty"`  // GPT partition GUID

	FSType string `json:"fs_type,omitempty"` // guessed from magic bytes (see Probe)
	// Encryption: what the content tells about encryption (Encryption):
	// an encrypted-volume format, or "possibly encrypted".
	Encryption string `json:"encryption,omitempty"`
	FSLabel    string `json:"fs_label,omitempty"`
	FSUUID     string `json:"fs_uuid,omitempty"`

	Holders    []string `json:"holders,omitempty"`    // sysfs holders (md, dm, ...)
	RAID       string   `json:"raid,omitempty"`       // RAID membership found by the raid probers (filled by callers)
	Partitions []Info   `json:"partitions,omitempty"` // for disks and partitioned image files

	// Error is set by List for a device that is present but could not be
	// opened or read (e.g. an empty card reader); the other fields then come
	// from sysfs alone.
	Error string `json:"error,omitempty"`
}

// ID returns the CONVENTIONS source-id: kernel name plus "_" plus serial when
// known (sda_WD-WX12345); partitions carry their parent's serial
// (sda1_WD-WX12345); files use their base name. Only [A-Za-z0-9._-] is kept:
// every run of other characters becomes one "_".
func ID(info Info) string {
	name := info.Name
	if name == "" {
		name = filepath.Base(info.Path)
	}
	id := name
	if info.Kind != KindFile && info.Serial != "" {
		id = name + "_" + info.Serial
	}
	id = sanitizeID(id)
	if id == "" || id == "." || id == ".." {
		return "source"
	}
	return id
}

func sanitizeID(s string) string {
	var b strings.Builder
	under := false
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if ok {
			b.WriteRune(r)
			under = r == '_'
			continue
		}
		if !under {
			b.WriteByte('_')
			under = true
		}
	}
	return strings.Trim(b.String(), "_")
}
