// Package raid finds RAID metadata on member disks and reassembles the logical
// volumes in user space, reading the members through io.ReaderAt only.
//
// Nothing in this package ever writes to a member: the kernel's md driver
// (which updates superblocks on assembly) is never involved.
//
// Detection is done by one Prober per on-disk format. Examine runs every
// prober on every member, groups the members that carry md metadata into
// arrays by set UUID and decides, from the event counts and the role tables,
// which members are current, stale, spare, faulty or missing. Open turns an
// Array into a Volume, an io.ReaderAt over the logical block device.
package raid

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Member is one disk (or image of one) that may belong to an array.
type Member struct {
	Name string      // what the user called it (path), used in reports and errors
	R    io.ReaderAt // read-only access to the member's bytes
	Size int64       // size in bytes
	// Serial is the drive's serial number when known (block devices, or as
	// recorded at acquisition). IMSM metadata identifies members only by it.
	Serial string
}

// Prober recognises one on-disk format.
type Prober interface {
	// Name is the short format name ("md-0.90", "md-1.2", "lvm2", ...).
	Name() string
	// Magic is the format's magic value as documented (for reports and docs).
	Magic() string
	// Probe looks for the format on m. It returns (nil, nil) when the format is
	// absent, a Superblock when found (with Checksum* telling whether it
	// verified), or an error when reading failed.
	Probe(m Member) (*Superblock, error)
}

// Probers lists every format prober, md formats first.
var Probers = []Prober{
	md090Prober{},
	md1Prober{minor: 0},
	md1Prober{minor: 1},
	md1Prober{minor: 2},
	ddfProber{},
	imsmProber{},
	lvm2Prober{},
	zfsProber{},
	btrfsProber{},
	ldmProber{},
}

// Report is the result of Examine.
type Report struct {
	Members []*MemberReport `json:"members"`
	Arrays  []*Array        `json:"arrays"`
}

// MemberReport is what was found on one member.
type MemberReport struct {
	Name   string        `json:"name"`
	Size   int64         `json:"size"`
	Found  []*Superblock `json:"found"`            // every format found, in prober order
	Errors []string      `json:"errors,omitempty"` // read errors while probing
	member Member
}

// Member status within an array.
const (
	StatusActive     = "active"     // current, in sync, holds role Role
	StatusRebuilding = "rebuilding" // current, but recovery had not finished (recovery_offset)
	StatusStale      = "stale"      // event count behind the freshest member
	StatusSpare      = "spare"
	StatusFaulty     = "faulty"
	StatusMissing    = "missing" // a role no supplied member fills
	StatusJournal    = "journal"
	StatusBadSum     = "bad-checksum" // superblock checksum did not verify; not used
	StatusDuplicate  = "duplicate"    // a second current member claiming the same role
	StatusUnplaced   = "unplaced"     // IMSM: drive serial unknown, so its slot is unknown
)

// ArrayMember is one slot of an array: a member we were given, or a missing role.
type ArrayMember struct {
	Name   string `json:"name,omitempty"` // member name; empty when missing
	Role   int    `json:"role"`           // raid role (slot), -1 spare/unknown
	Status string `json:"status"`
	Events uint64 `json:"events"`
	// DataOffset is where the array's data starts on this member, in bytes.
	DataOffset int64 `json:"data_offset"`
	// RecoveryOffset is, for a member being rebuilt, how far (bytes from the
	// data offset) it is in sync.
	RecoveryOffset int64 `json:"recovery_offset,omitempty"`
	sb             *Superblock
	member         Member
}

// Array is one RAID set as described by its freshest superblock.
type Array struct {
	Metadata     string         `json:"metadata"` // "md-0.90", "md-1.2", ...
	UUID         string         `json:"uuid"`     // mdadm's colon form
	Name         string         `json:"name,omitempty"`
	Level        string         `json:"level"` // "raid5", "linear", ...
	LevelNum     int            `json:"level_num"`
	Layout       string         `json:"layout,omitempty"`
	LayoutNum    int            `json:"layout_num"`
	ChunkBytes   int64          `json:"chunk_bytes"`
	RaidDevices  int            `json:"raid_devices"`
	DevSize      int64          `json:"dev_size"` // bytes used per member (component size)
	Size         int64          `json:"size"`     // logical volume size in bytes (0 when unknown)
	Events       uint64         `json:"events"`
	State        string         `json:"state"` // clean, degraded, failed, reshaping
	Reshape      *Reshape       `json:"reshape,omitempty"`
	Members      []*ArrayMember `json:"members"` // by role, then spares/stale/faulty
	Problems     []string       `json:"problems,omitempty"`
	fresh        *Superblock
	raid0Layout  int
	multiZoneRaw bool
}

// Reshape describes a reshape recorded in the superblock.
type Reshape struct {
	Position   int64 `json:"position_sectors"`
	NewLevel   int   `json:"new_level"`
	NewLayout  int   `json:"new_layout"`
	NewChunk   int64 `json:"new_chunk_bytes"`
	DeltaDisks int   `json:"delta_disks"`
	Backwards  bool  `json:"backwards,omitempty"`
}

// ExamineOptions tune ExamineWith.
type ExamineOptions struct {
	// NoDDFSearch skips the scan of the last 32 MiB for a DDF anchor that is
	// not in the last sector (LSI/PERC). The scan reads up to 32 MiB from
	// every member without a DDF anchor at the end; listings may skip it.
	NoDDFSearch bool
}

// Examine probes every member with every prober and groups the members into
// arrays (md by set UUID, DDF by virtual disk GUID, IMSM by family/volume).
func Examine(members []Member) (*Report, error) { return ExamineWith(members, ExamineOptions{}) }

// ExamineWith is Examine with options.
func ExamineWith(members []Member, opt ExamineOptions) (*Report, error) {
	rep := &Report{}
	probers := append([]Prober(nil), Probers...)
	if opt.NoDDFSearch {
		for i, p := range probers {
			if _, ok := p.(ddfProber); ok {
				probers[i] = ddfProber{noSearch: true}
			}
		}
	}
	for _, m := range members {
		mr := &MemberReport{Name: m.Name, Size: m.Size, member: m}
		for _, p := range probers {
			sb, err := p.Probe(m)
			if err != nil {
				mr.Errors = append(mr.Errors, fmt.Sprintf("%s: %v", p.Name(), err))
				continue
			}
			if sb != nil {
				mr.Found = append(mr.Found, sb)
			}
		}
		rep.Members = append(rep.Members, mr)
	}
	groupArrays(rep)
	return rep, nil
}

// mdSuperblock returns the md superblock a member carries, preferring one with a
// good checksum, or nil.
func (mr *MemberReport) mdSuperblock() *Superblock {
	var bad *Superblock
	for _, sb := range mr.Found {
		if !sb.IsMD() {
			continue
		}
		if sb.ChecksumOK {
			return sb
		}
		if bad == nil {
			bad = sb
		}
	}
	return bad
}

func groupArrays(rep *Report) {
	type group struct {
		key     string
		members []*MemberReport
		sbs     []*Superblock
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, mr := range rep.Members {
		sb := mr.mdSuperblock()
		if sb == nil {
			continue
		}
		key := sb.Format + "/" + sb.UUIDString()
		g := byKey[key]
		if g == nil {
			g = &group{key: key}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.members = append(g.members, mr)
		g.sbs = append(g.sbs, sb)
	}
	for _, g := range groups {
		rep.Arrays = append(rep.Arrays, buildArray(g.members, g.sbs))
	}
	groupDDF(rep)
	groupIMSM(rep)
}

// groupDDF builds one Array per DDF virtual disk found on the members.
func groupDDF(rep *Report) {
	type ent struct {
		mr *MemberReport
		sb *Superblock
		vd DDFVD
	}
	var order []string
	byVD := map[string][]ent{}
	for _, mr := range rep.Members {
		for _, sb := range mr.Found {
			if sb.DDF == nil {
				continue
			}
			for _, vd := range sb.DDF.VDs {
				if _, ok := byVD[vd.GUID]; !ok {
					order = append(order, vd.GUID)
				}
				byVD[vd.GUID] = append(byVD[vd.GUID], ent{mr, sb, vd})
			}
		}
	}
	for _, guid := range order {
		es := byVD[guid]
		var fresh *DDFVD
		for i := range es {
			if es[i].vd.Err == "" && es[i].sb.ChecksumOK && (fresh == nil || es[i].vd.Seqnum > fresh.Seqnum) {
				fresh = &es[i].vd
			}
		}
		a := &Array{Metadata: "ddf"}
		if fresh == nil {
			fresh = &es[0].vd
			a.Problems = append(a.Problems, "no member has a valid configuration record for this virtual disk")
		}
		a.UUID, a.Name = fresh.UUID, fresh.Name
		a.LevelNum, a.Level = fresh.Level, LevelName(fresh.Level)
		a.LayoutNum, a.Layout = fresh.Layout, LayoutName(fresh.Level, fresh.Layout, false)
		a.ChunkBytes = fresh.ChunkSectors * 512
		a.RaidDevices = fresh.RaidDisks
		a.DevSize = fresh.Blocks * 512
		a.Events = uint64(fresh.Seqnum)
		a.fresh = &Superblock{Format: "ddf", UUID: fresh.UUID, Level: fresh.Level, Layout: fresh.Layout,
			ChunkSectors: fresh.ChunkSectors, RaidDisks: fresh.RaidDisks, DevSectors: fresh.Blocks,
			Events: uint64(fresh.Seqnum), ChecksumOK: fresh.Err == "", RecoveryOffset: -1}
		nroles := fresh.RaidDisks
		if nroles < 0 || nroles > maxRaidDisks {
			nroles = 0
		}
		roles := make([]*ArrayMember, nroles)
		var extra []*ArrayMember
		for _, e := range es {
			am := &ArrayMember{Name: e.mr.Name, Role: e.vd.Role, Events: uint64(e.vd.Seqnum), DataOffset: e.vd.LBAOffset * 512,
				sb:     &Superblock{Format: "ddf", DataOffset: e.vd.LBAOffset, DataSize: e.vd.Blocks, DevSectors: e.vd.Blocks, RecoveryOffset: -1},
				member: e.mr.member}
			switch {
			case e.vd.Err != "" || !e.sb.ChecksumOK:
				am.Status = StatusBadSum
				a.Problems = append(a.Problems, fmt.Sprintf("%s: DDF metadata not valid: %s %s", e.mr.Name, e.vd.Err, strings.Join(e.sb.DDF.SectionErrors, "; ")))
			case e.vd.Seqnum < fresh.Seqnum:
				am.Status = StatusStale
				a.Problems = append(a.Problems, fmt.Sprintf("%s: stale, VD sequence %d < %d", e.mr.Name, e.vd.Seqnum, fresh.Seqnum))
			case e.sb.DDF.PhysState&2 != 0:
				am.Status = StatusFaulty
			case e.vd.Role >= 0 && e.vd.Role < len(roles) && roles[e.vd.Role] == nil:
				am.Status = StatusActive
				roles[e.vd.Role] = am
				continue
			default:
				am.Status = StatusDuplicate
			}
			extra = append(extra, am)
		}
		finishArray(a, roles, extra)
		if a.Size > 0 && fresh.ArrayBlocks > 0 && a.Size != fresh.ArrayBlocks*512 {
			a.Problems = append(a.Problems, fmt.Sprintf("computed size %d bytes differs from the DDF array_blocks %d", a.Size, fresh.ArrayBlocks*512))
		}
		rep.Arrays = append(rep.Arrays, a)
	}
}

// finishArray fills in missing roles, the state and the size.
func finishArray(a *Array, roles, extra []*ArrayMember) {
	missing := 0
	for i, am := range roles {
		if am == nil {
			roles[i] = &ArrayMember{Role: i, Status: StatusMissing}
			missing++
		} else if am.Status == StatusRebuilding {
			missing++
		}
	}
	sort.SliceStable(extra, func(i, j int) bool { return extra[i].Name < extra[j].Name })
	a.Members = append(roles, extra...)
	a.State = "clean"
	switch {
	case a.Reshape != nil:
		a.State = "reshaping"
	case missing > redundancy(a):
		a.State = "failed"
	case missing > 0:
		a.State = "degraded"
	}
	if err := r6width(a); err != nil {
		a.Problems = append(a.Problems, err.Error())
	}
	a.Size = arraySize(a)
}

func buildArray(mrs []*MemberReport, sbs []*Superblock) *Array {
	// The freshest superblock with a good checksum describes the array.
	var fresh *Superblock
	for _, sb := range sbs {
		if !sb.ChecksumOK {
			continue
		}
		if fresh == nil || sb.Events > fresh.Events {
			fresh = sb
		}
	}
	a := &Array{}
	if fresh == nil {
		// Only bad checksums: describe from the first, but nothing is current.
		fresh = sbs[0]
		a.Problems = append(a.Problems, "no member has a superblock with a valid checksum")
	}
	a.fresh = fresh
	a.Metadata = fresh.Format
	a.UUID = fresh.UUIDString()
	a.Name = fresh.Name
	a.LevelNum = fresh.Level
	a.Level = LevelName(fresh.Level)
	a.LayoutNum = fresh.Layout
	a.Layout = LayoutName(fresh.Level, fresh.Layout, fresh.FeatureMap&mdFeatureRAID0Layout != 0)
	a.ChunkBytes = fresh.ChunkSectors * 512
	a.RaidDevices = fresh.RaidDisks
	a.DevSize = fresh.DevSectors * 512
	a.Events = fresh.Events
	if fresh.ReshapeActive() {
		a.Reshape = &Reshape{
			Position:   int64(fresh.ReshapePosition),
			NewLevel:   fresh.NewLevel,
			NewLayout:  fresh.NewLayout,
			NewChunk:   fresh.NewChunkSectors * 512,
			DeltaDisks: fresh.DeltaDisks,
			Backwards:  fresh.FeatureMap&mdFeatureReshapeBackwards != 0,
		}
	}

	nroles := fresh.RaidDisks
	if nroles < 0 || nroles > maxRaidDisks {
		a.Problems = append(a.Problems, fmt.Sprintf("implausible raid_disks %d in the freshest superblock", nroles))
		nroles = 0
	}
	roles := make([]*ArrayMember, nroles)
	var extra []*ArrayMember
	for i, mr := range mrs {
		sb := sbs[i]
		am := &ArrayMember{
			Name:       mr.Name,
			Role:       -1,
			Events:     sb.Events,
			DataOffset: sb.DataOffset * 512,
			sb:         sb,
			member:     mr.member,
		}
		role := fresh.RoleOf(sb)
		switch {
		case !sb.ChecksumOK:
			am.Status = StatusBadSum
			am.Role = sb.Role
			a.Problems = append(a.Problems, fmt.Sprintf("%s: superblock checksum mismatch (stored %#08x, computed %#08x); member not used",
				mr.Name, sb.Checksum, sb.ChecksumCalc))
		case sb.Events+1 < fresh.Events:
			// The kernel (super_*_validate) and mdadm --assemble accept a
			// member one event behind; more than that is stale.
			am.Status = StatusStale
			am.Role = sb.Role
			a.Problems = append(a.Problems, fmt.Sprintf("%s: stale, events %d < %d", mr.Name, sb.Events, fresh.Events))
		case role == RoleFaulty:
			am.Status = StatusFaulty
		case role == RoleSpare:
			am.Status = StatusSpare
		case role == RoleJournal:
			am.Status = StatusJournal
		case role >= 0 && role < len(roles):
			am.Role = role
			am.Status = StatusActive
			if sb.Events < fresh.Events {
				a.Problems = append(a.Problems, fmt.Sprintf("%s: events %d, one behind %d: accepted, as md does", mr.Name, sb.Events, fresh.Events))
			}
			if sb.RecoveryOffset >= 0 {
				am.Status = StatusRebuilding
				am.RecoveryOffset = sb.RecoveryOffset * 512
			}
			if roles[role] != nil {
				am.Status = StatusDuplicate
				a.Problems = append(a.Problems, fmt.Sprintf("%s: role %d already held by %s", mr.Name, role, roles[role].Name))
			} else {
				roles[role] = am
				continue
			}
		default:
			am.Status = StatusFaulty
			a.Problems = append(a.Problems, fmt.Sprintf("%s: role %d outside 0..%d", mr.Name, role, len(roles)-1))
		}
		extra = append(extra, am)
	}
	finishArray(a, roles, extra)
	return a
}

// maxRaidDisks bounds the raid_disks we believe (md's 1.x dev_roles table
// holds at most 1920 entries in its 4 KiB).
const maxRaidDisks = 4096

// redundancy is how many members may be missing (for RAID1/10 the real
// condition also depends on which; Open checks that).
func redundancy(a *Array) int {
	switch a.LevelNum {
	case 1:
		return a.RaidDevices - 1
	case 4, 5:
		return 1
	case 6:
		return 2
	case 10:
		return a.RaidDevices - 1
	}
	return 0
}

// Active returns the member in role r, or nil when that role is missing.
func (a *Array) Active(r int) *ArrayMember {
	if r < 0 || r >= len(a.Members) || r >= a.RaidDevices {
		return nil
	}
	am := a.Members[r]
	if am.Status != StatusActive {
		return nil
	}
	return am
}

// SourceID names the volume for output folders (CONVENTIONS.md §3:
// md-<set-uuid>, ddf-…, imsm-…). Colons become dashes so the name is valid
// on exFAT, FAT and NTFS targets.
func (a *Array) SourceID() string {
	prefix := "md"
	switch a.Metadata {
	case "ddf", "imsm":
		prefix = a.Metadata
	}
	return prefix + "-" + strings.NewReplacer(":", "-", "/", "-").Replace(a.UUID)
}

// IsSourceID reports whether s has the form SourceID gives a volume:
// md-…, ddf-… or imsm-….
func IsSourceID(s string) bool {
	for _, p := range []string{"md-", "ddf-", "imsm-"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// MemberNames lists the given devices that hold the array's data: active
// members, which the assembly reads, and members still being rebuilt, which
// it treats as missing but which are evidence all the same (never a target,
// opened read-only like the rest).
func (a *Array) MemberNames() []string {
	var out []string
	for _, m := range a.Members {
		if m.Name != "" && (m.Status == StatusActive || m.Status == StatusRebuilding) {
			out = append(out, m.Name)
		}
	}
	return out
}
