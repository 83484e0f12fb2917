package raid

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// mdMagic is the md superblock magic (MD_SB_MAGIC in linux/raid/md_p.h), the
// first 32-bit word of both the 0.90 and the 1.x superblocks.
const mdMagic = 0xa92b4efc

// Feature bits of the 1.x superblock's feature_map (md_p.h MD_FEATURE_*).
const (
	mdFeatureBitmapOffset     = 1
	mdFeatureRecoveryOffset   = 2
	mdFeatureReshapeActive    = 4
	mdFeatureBadBlocks        = 8
	mdFeatureReplacement      = 16
	mdFeatureReshapeBackwards = 32
	mdFeatureNewOffset        = 64
	mdFeatureRecoveryBitmap   = 128
	mdFeatureClustered        = 256
	mdFeatureJournal          = 512
	mdFeaturePPL              = 1024
	mdFeatureMultiplePPLs     = 2048
	mdFeatureRAID0Layout      = 4096
)

var mdFeatureNames = []string{
	"bitmap-offset", "recovery-offset", "reshape-active", "bad-blocks", "replacement",
	"reshape-backwards", "new-offset", "recovery-bitmap", "clustered", "journal",
	"ppl", "multiple-ppls", "raid0-layout",
}

// Special roles.
const (
	RoleSpare   = -1 // 0xffff in a 1.x dev_roles table
	RoleFaulty  = -2 // 0xfffe
	RoleJournal = -3 // 0xfffd
)

// Superblock is a decoded md superblock (0.90 or 1.x), or for the
// detection-only formats, the few fields that identify them.
type Superblock struct {
	Format      string `json:"format"` // prober name: "md-0.90", "md-1.2", "lvm2", ...
	Offset      int64  `json:"offset"` // byte offset of the superblock on the member
	ByteSwapped bool   `json:"byte_swapped,omitempty"`

	// Checksum is the stored checksum, ChecksumCalc the one computed from the
	// superblock bytes; ChecksumOK says whether they agree.
	Checksum     uint32 `json:"checksum"`
	ChecksumCalc uint32 `json:"checksum_calc"`
	ChecksumOK   bool   `json:"checksum_ok"`
	// ChecksumNote, when set, says why there is no verdict (a format
	// without checksum, an algorithm not implemented); ChecksumOK is false.
	ChecksumNote string `json:"checksum_note,omitempty"`

	MajorVersion int       `json:"major_version,omitempty"`
	MinorVersion int       `json:"minor_version,omitempty"`
	SetUUID      []byte    `json:"-"`
	UUID         string    `json:"uuid"`
	Name         string    `json:"name,omitempty"`
	CTime        time.Time `json:"ctime"`
	UTime        time.Time `json:"utime"`

	Level        int    `json:"level"`
	LevelName    string `json:"level_name"`
	Layout       int    `json:"layout"`
	LayoutName   string `json:"layout_name,omitempty"`
	ChunkSectors int64  `json:"chunk_sectors"`
	RaidDisks    int    `json:"raid_disks"`
	// DevSectors is the per-member size used by the array ("size" in the
	// superblock, the component size), in 512-byte sectors.
	DevSectors int64 `json:"dev_sectors"`
	// DataOffset and DataSize (sectors): where data starts on this member and
	// how much of it is usable. For 0.90 the data starts at 0 and DataSize is
	// the superblock's own position.
	DataOffset int64 `json:"data_offset"`
	DataSize   int64 `json:"data_size"`
	// SuperOffset is the superblock position as recorded (1.x), sectors.
	SuperOffset int64 `json:"super_offset"`

	Events         uint64   `json:"events"`
	ResyncOffset   uint64   `json:"resync_offset"`   // 0.90: recovery_cp; all ones = clean
	RecoveryOffset int64    `json:"recovery_offset"` // -1 unless MD_FEATURE_RECOVERY_OFFSET
	FeatureMap     uint32   `json:"feature_map"`
	Features       []string `json:"features,omitempty"`
	State          uint32   `json:"state"` // 0.90 sb state bits; 1.x: 0

	// This member.
	DevNumber  int    `json:"dev_number"`
	DeviceUUID string `json:"device_uuid,omitempty"`
	Role       int    `json:"role"`                 // this member's role per its own superblock
	DiskState  uint32 `json:"disk_state,omitempty"` // 0.90 this_disk.state

	// Roles is the role table: for 1.x dev_roles[dev_number]; for 0.90 the
	// raid_disk of each disks[] entry (RoleFaulty when marked faulty, RoleSpare
	// when not active).
	Roles []int `json:"roles,omitempty"`

	ReshapePosition uint64 `json:"reshape_position,omitempty"`
	NewLevel        int    `json:"new_level,omitempty"`
	NewLayout       int    `json:"new_layout,omitempty"`
	NewChunkSectors int64  `json:"new_chunk_sectors,omitempty"`
	DeltaDisks      int    `json:"delta_disks,omitempty"`
	NewOffset       int64  `json:"new_offset,omitempty"`

	// Detail holds format-specific descriptive text.
	Detail string `json:"detail,omitempty"`
	// DDF holds the container and virtual disk records of a DDF member.
	DDF *DDFInfo `json:"ddf,omitempty"`
	// IMSM holds the container and volumes of an Intel IMSM member.
	IMSM *IMSMInfo `json:"imsm,omitempty"`

	reshape bool
}

// IsMD reports whether the superblock is an md one.
func (s *Superblock) IsMD() bool { return strings.HasPrefix(s.Format, "md-") }

// ReshapeActive reports whether a reshape was in progress.
func (s *Superblock) ReshapeActive() bool { return s.reshape }

// UUIDString is the set UUID in mdadm's colon form (4 groups of 8 hex digits).
func (s *Superblock) UUIDString() string { return s.UUID }

// RoleOf returns the role that s (this, the freshest superblock) gives to the
// member described by other.
func (s *Superblock) RoleOf(other *Superblock) int {
	if other.DevNumber >= 0 && other.DevNumber < len(s.Roles) {
		return s.Roles[other.DevNumber]
	}
	return other.Role
}

func mdUUIDString(b []byte) string {
	h := hex.EncodeToString(b)
	var parts []string
	for i := 0; i+8 <= len(h); i += 8 {
		parts = append(parts, h[i:i+8])
	}
	return strings.Join(parts, ":")
}

func featureNames(m uint32) []string {
	var out []string
	for i, n := range mdFeatureNames {
		if m&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	if rest := m &^ (1<<len(mdFeatureNames) - 1); rest != 0 {
		out = append(out, fmt.Sprintf("unknown-%#x", rest))
	}
	return out
}

// LevelName gives mdadm's name for an md level number.
func LevelName(level int) string {
	switch level {
	case -1:
		return "linear"
	case -4:
		return "multipath"
	case -5:
		return "faulty"
	case 0, 1, 4, 5, 6, 10:
		return fmt.Sprintf("raid%d", level)
	}
	return fmt.Sprintf("unknown(%d)", level)
}

// RAID5/6 algorithms (linux drivers/md/raid5.h ALGORITHM_*).
const (
	algLeftAsymmetric      = 0
	algRightAsymmetric     = 1
	algLeftSymmetric       = 2
	algRightSymmetric      = 3
	algParity0             = 4
	algParityN             = 5
	algRotatingZeroRestart = 8
	algRotatingNRestart    = 9
	algRotatingNContinue   = 10
	algLeftAsymmetric6     = 16
	algRightAsymmetric6    = 17
	algLeftSymmetric6      = 18
	algRightSymmetric6     = 19
	algParity0_6           = 20
)

var r5LayoutNames = map[int]string{
	algLeftAsymmetric:      "left-asymmetric",
	algRightAsymmetric:     "right-asymmetric",
	algLeftSymmetric:       "left-symmetric",
	algRightSymmetric:      "right-symmetric",
	algParity0:             "parity-first",
	algParityN:             "parity-last",
	algRotatingZeroRestart: "ddf-zero-restart",
	algRotatingNRestart:    "ddf-N-restart",
	algRotatingNContinue:   "ddf-N-continue",
	algLeftAsymmetric6:     "left-asymmetric-6",
	algRightAsymmetric6:    "right-asymmetric-6",
	algLeftSymmetric6:      "left-symmetric-6",
	algRightSymmetric6:     "right-symmetric-6",
	algParity0_6:           "parity-first-6",
}

// LayoutName gives mdadm's name for a layout of a level. raid0Layout says
// whether a RAID0 layout field is meaningful (MD_FEATURE_RAID0_LAYOUT).
func LayoutName(level, layout int, raid0Layout bool) string {
	switch level {
	case 4, 5, 6:
		if n, ok := r5LayoutNames[layout]; ok {
			return n
		}
		return fmt.Sprintf("unknown(%d)", layout)
	case 10:
		nc, fc, off := layout&0xff, (layout>>8)&0xff, layout&(1<<16) != 0
		var parts []string
		if nc > 1 {
			parts = append(parts, fmt.Sprintf("near=%d", nc))
		}
		if fc > 1 {
			if off {
				parts = append(parts, fmt.Sprintf("offset=%d", fc))
			} else {
				parts = append(parts, fmt.Sprintf("far=%d", fc))
			}
		}
		if len(parts) == 0 {
			return "near=1"
		}
		return strings.Join(parts, ", ")
	case 0:
		if !raid0Layout {
			return ""
		}
		switch layout {
		case 1:
			return "original"
		case 2:
			return "alternate"
		}
		return fmt.Sprintf("unknown(%d)", layout)
	}
	return ""
}
