package raid

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
)

// SNIA DDF (Common RAID Disk Data Format 1.2), as written by mdadm
// --metadata=ddf and by hardware RAID controllers. All numbers are
// big-endian; strings are space padded.
//
// The anchor header sits in the last sector (some LSI/PERC controllers put it
// elsewhere in the last 32 MiB). It points at the primary and secondary
// headers; each header locates its sections in sectors from its own LBA.
//
// Header (512 bytes):
//
//	  0 magic            0xDE11DE11
//	  4 crc              CRC-32 of the 512 bytes with crc = 0xffffffff (see ddfCRC)
//	  8 guid             [24] container GUID
//	 32 revision         [8]  "01.00.00" / "01.02.00"
//	 40 seq              u32  update sequence
//	 44 timestamp        u32  seconds since 1980
//	 48 openflag, foreignflag, enforcegroups, pad0
//	 96 primary_lba      u64
//	104 secondary_lba    u64
//	112 type             u8   0 anchor, 1 primary, 2 secondary
//	116 workspace_len    u32
//	120 workspace_lba    u64
//	128 max_pd_entries   u16
//	130 max_vd_entries   u16
//	132 max_partitions   u16  configuration records per disk
//	134 config_record_len u16 sectors per configuration record
//	136 max_primary_element_entries u16
//	192 controller section offset/length (u32 sectors each), then
//	200 phys, 208 virt, 216 config, 224 data, 232 bbm, 240 diag, 248 vendor
//
// Physical disk records (magic 0x22222222): 64-byte header (8 used_pdes u16,
// 10 max_pdes u16), then 64-byte entries: 0 guid[24], 24 refnum u32, 28 type
// u16, 30 state u16, 32 config_size u64, 40 path[18].
//
// Virtual disk records (0xDDDDDDDD): 64-byte header (8 populated u16, 10 max
// u16), then 64-byte entries: 0 guid[24], 24 unit u16, 28 guid_crc u16, 30
// type u16, 32 state u8, 33 init_state u8, 48 name[16].
//
// Configuration records (config_record_len sectors each; VD config magic
// 0xEEEEEEEE): 8 guid[24] (the VD), 32 timestamp, 36 seqnum, 64
// prim_elmnt_count u16, 66 chunk_shift (chunk = 512 << shift), 67 prl, 68 rlq,
// 69 sec_elmnt_count, 70 sec_elmnt_seq, 71 srl, 72 blocks u64 (per member),
// 80 array_blocks u64, 512 phys_refnum[mppe] u32, then lba_offset[mppe] u64.
//
// Physical disk data (0x33333333): 8 guid[24], 32 refnum u32 — who this disk is.
//
// Every section starts with magic and a CRC computed like the header's, over
// the section's length.
type ddfProber struct{ noSearch bool }

const (
	ddfHeaderMagic = 0xDE11DE11
	ddfPhysMagic   = 0x22222222
	ddfDataMagic   = 0x33333333
	ddfVirtMagic   = 0xDDDDDDDD
	ddfVDConfMagic = 0xEEEEEEEE
	ddfSearch      = 32 << 20
)

// DDF primary RAID levels and qualifiers (SNIA DDF 1.2 §4.3).
const (
	ddfRAID0    = 0x00
	ddfRAID1    = 0x01
	ddfRAID4    = 0x04
	ddfRAID5    = 0x05
	ddfRAID6    = 0x06
	ddfRAID1E   = 0x11
	ddfConcat   = 0x1f
	ddf2Striped = 0x00
	ddf2Spanned = 0x03
)

func (ddfProber) Name() string { return "ddf" }
func (ddfProber) Magic() string {
	return "DE11DE11 (be32) anchor in the last sector (or the last 32 MiB)"
}

// DDFInfo is what a DDF member says about its container and the virtual
// disks it takes part in.
type DDFInfo struct {
	ContainerGUID string   `json:"container_guid"`
	Revision      string   `json:"revision"`
	Sequence      uint32   `json:"sequence"`
	ActiveHeader  string   `json:"active_header"` // primary or secondary
	Refnum        uint32   `json:"refnum"`        // this disk's reference number
	PhysState     uint16   `json:"phys_state"`    // this disk's state bits in the phys records
	SectionErrors []string `json:"section_errors,omitempty"`
	VDs           []DDFVD  `json:"vds"`
}

// DDFVD is one virtual disk configuration record that names this member.
type DDFVD struct {
	GUID         string `json:"guid"`
	UUID         string `json:"uuid"` // mdadm's form: SHA-1 of the GUID, first 16 bytes
	Name         string `json:"name,omitempty"`
	State        uint8  `json:"state"`
	InitState    uint8  `json:"init_state"`
	Seqnum       uint32 `json:"seqnum"`
	PRL          uint8  `json:"prl"`
	RLQ          uint8  `json:"rlq"`
	SRL          uint8  `json:"srl"`
	SecCount     int    `json:"sec_elmnt_count"`
	SecSeq       int    `json:"sec_elmnt_seq"`
	PrimCount    int    `json:"prim_elmnt_count"`
	ChunkSectors int64  `json:"chunk_sectors"`
	Blocks       int64  `json:"blocks"`       // sectors per member
	ArrayBlocks  int64  `json:"array_blocks"` // sectors in the volume
	Position     int    `json:"position"`     // this disk's index in the BVD
	LBAOffset    int64  `json:"lba_offset"`   // data start on this disk, sectors
	Level        int    `json:"level"`        // md equivalent
	Layout       int    `json:"layout"`
	RaidDisks    int    `json:"raid_disks"`
	Role         int    `json:"role"` // md role: sec_seq·prim_count + position
	Err          string `json:"error,omitempty"`
}

// ddfCRC is the CRC every DDF structure carries at byte 4: the CRC-32
// (IEEE polynomial, reflected) of the structure with the crc field set to
// 0xffffffff, started from 0 and without the final inversion (mdadm's
// crc32.c has zlib's pre- and post-conditioning commented out).
func ddfCRC(b []byte) uint32 {
	c := bytes.Clone(b)
	binary.BigEndian.PutUint32(c[4:], 0xffffffff)
	return ^crc32.Update(0xffffffff, crc32.IEEETable, c)
}

func ddfString(b []byte) string { return strings.TrimRight(string(bytes.TrimRight(b, "\x00")), " ") }

func (p ddfProber) Probe(m Member) (*Superblock, error) {
	if m.Size < 1<<20 {
		return nil, nil
	}
	sec := make([]byte, 512)
	anchorOff := m.Size&^511 - 512
	if _, err := m.R.ReadAt(sec, anchorOff); err != nil && err != io.EOF {
		return nil, fmt.Errorf("read %s DDF anchor at byte %d (LBA %d): %w", m.Name, anchorOff, anchorOff/512, err)
	}
	if binary.BigEndian.Uint32(sec) != ddfHeaderMagic {
		if p.noSearch {
			return nil, nil
		}
		// LSI/PERC: an anchor elsewhere in the last 32 MiB.
		off, err := ddfSearchAnchor(m)
		if err != nil || off < 0 {
			return nil, err
		}
		anchorOff = off
		if _, err := m.R.ReadAt(sec, anchorOff); err != nil && err != io.EOF {
			return nil, fmt.Errorf("read %s DDF anchor at byte %d: %w", m.Name, anchorOff, err)
		}
	}
	return parseDDF(m, sec, anchorOff)
}

// ddfSearchAnchor scans the last 32 MiB, sector by sector, for an anchor
// header (magic, type 0, valid CRC). It returns -1 when there is none.
func ddfSearchAnchor(m Member) (int64, error) {
	start := max(m.Size&^511-ddfSearch, 0)
	const blk = 1 << 20
	buf := make([]byte, blk)
	for end := m.Size &^ 511; end > start; end -= blk {
		off := max(end-blk, start)
		b := buf[:end-off]
		if _, err := m.R.ReadAt(b, off); err != nil && err != io.EOF {
			return -1, fmt.Errorf("search %s for a DDF anchor at byte %d: %w", m.Name, off, err)
		}
		for i := len(b) - 512; i >= 0; i -= 512 {
			s := b[i : i+512]
			if binary.BigEndian.Uint32(s) == ddfHeaderMagic && s[112] == 0 && ddfCRC(s) == binary.BigEndian.Uint32(s[4:]) {
				return off + int64(i), nil
			}
		}
	}
	return -1, nil
}

// parseDDF reads a DDF member's metadata from its anchor on: the header
// the anchor points at, then the sections that header locates. What does
// not verify is recorded in SectionErrors (and clears ChecksumOK) rather
// than returned as an error.
func parseDDF(m Member, anchor []byte, anchorOff int64) (*Superblock, error) {
	sb := ddfFromAnchor(anchor, anchorOff)
	info := sb.DDF
	if !sb.ChecksumOK || anchor[112] != 0 {
		return sb, nil
	}
	hdr, hdrLBA, ok := ddfActiveHeader(m, anchor, info)
	if !ok {
		sb.ChecksumOK = false
		return sb, nil
	}
	info.Sequence = binary.BigEndian.Uint32(hdr[40:])
	sb.Events = uint64(info.Sequence)
	sr := ddfSectionReader{m: m, hdr: hdr, hdrLBA: hdrLBA, info: info}
	phys := sr.read("physical disk records", 200, ddfPhysMagic, true)
	virt := sr.read("virtual disk records", 208, ddfVirtMagic, true)
	conf := sr.read("configuration records", 216, 0, false)
	data := sr.read("physical disk data", 224, ddfDataMagic, true)
	if data == nil {
		sb.ChecksumOK = false
		return sb, nil
	}
	info.Refnum = binary.BigEndian.Uint32(data[32:])
	sb.DevNumber = int(info.Refnum)
	if st, ok := ddfPhysState(phys, info.Refnum, data[8:32]); ok {
		info.PhysState = st
	}
	info.VDs = ddfConfigRecords(conf, hdr, info.Refnum, ddfVDNames(virt))
	if len(info.VDs) > 0 {
		vd := info.VDs[0]
		sb.Level, sb.Layout, sb.RaidDisks, sb.Role = vd.Level, vd.Layout, vd.RaidDisks, vd.Role
		sb.LevelName, sb.LayoutName = LevelName(vd.Level), LayoutName(vd.Level, vd.Layout, false)
		sb.ChunkSectors, sb.DevSectors, sb.DataOffset, sb.DataSize = vd.ChunkSectors, vd.Blocks, vd.LBAOffset, vd.Blocks
	}
	if len(info.SectionErrors) > 0 {
		sb.ChecksumOK = false
	}
	return sb, nil
}

// ddfFromAnchor is the Superblock as far as the anchor header tells: the
// container GUID and revision, and whether its CRC verified.
func ddfFromAnchor(anchor []byte, anchorOff int64) *Superblock {
	sb := &Superblock{
		Format:         "ddf",
		Offset:         anchorOff,
		Checksum:       binary.BigEndian.Uint32(anchor[4:]),
		ChecksumCalc:   ddfCRC(anchor),
		Role:           RoleSpare,
		DevNumber:      -1,
		RecoveryOffset: -1,
	}
	sb.ChecksumOK = sb.Checksum == sb.ChecksumCalc
	info := &DDFInfo{ContainerGUID: hex.EncodeToString(anchor[8:32]), Revision: ddfString(anchor[32:40])}
	sb.DDF = info
	sb.UUID = ddfUUID(anchor[8:32])
	sb.Detail = fmt.Sprintf("DDF container %s revision %s", info.ContainerGUID, info.Revision)
	if anchor[112] != 0 {
		info.SectionErrors = append(info.SectionErrors, fmt.Sprintf("anchor type %#x, want 0", anchor[112]))
	}
	return sb
}

// ddfActiveHeader reads the primary header (type 1) the anchor points at,
// or the secondary (type 2) when the primary does not verify. ok is false
// when neither does.
func ddfActiveHeader(m Member, anchor []byte, info *DDFInfo) (hdr []byte, hdrLBA uint64, ok bool) {
	hdrLBA = binary.BigEndian.Uint64(anchor[96:])
	hdr, err := ddfReadHeader(m, anchor, hdrLBA, 1)
	info.ActiveHeader = "primary"
	if err == nil {
		return hdr, hdrLBA, true
	}
	info.SectionErrors = append(info.SectionErrors, "primary header: "+err.Error())
	hdrLBA = binary.BigEndian.Uint64(anchor[104:])
	hdr, err = ddfReadHeader(m, anchor, hdrLBA, 2)
	info.ActiveHeader = "secondary"
	if err != nil {
		info.SectionErrors = append(info.SectionErrors, "secondary header: "+err.Error())
		return nil, 0, false
	}
	return hdr, hdrLBA, true
}

// ddfReadHeader reads the header of type typ at lba and checks its magic,
// CRC, and that it belongs to the anchor's container.
func ddfReadHeader(m Member, anchor []byte, lba uint64, typ byte) ([]byte, error) {
	be := binary.BigEndian
	if lba == ^uint64(0) || int64(lba) >= m.Size/512 {
		return nil, fmt.Errorf("LBA %d outside the disk", lba)
	}
	h := make([]byte, 512)
	if _, err := m.R.ReadAt(h, int64(lba)*512); err != nil && err != io.EOF {
		return nil, fmt.Errorf("read %s DDF header at LBA %d: %w", m.Name, lba, err)
	}
	switch {
	case be.Uint32(h) != ddfHeaderMagic:
		return nil, fmt.Errorf("no DDF header magic at LBA %d", lba)
	case ddfCRC(h) != be.Uint32(h[4:]):
		return nil, fmt.Errorf("DDF header at LBA %d: CRC stored %08x, computed %08x", lba, be.Uint32(h[4:]), ddfCRC(h))
	case !bytes.Equal(h[8:32], anchor[8:32]) || h[112] != typ:
		return nil, fmt.Errorf("DDF header at LBA %d does not match the anchor (guid or type)", lba)
	}
	return h, nil
}

// ddfSectionReader reads the sections the active header locates, recording
// what is wrong with each in info.SectionErrors.
type ddfSectionReader struct {
	m      Member
	hdr    []byte
	hdrLBA uint64
	info   *DDFInfo
}

// read returns the section whose offset and length (sectors from the
// header) are at byte at of the header, or nil when it is absent, outside
// the disk, unreadable, without its magic (0: none to check) or, with
// check, with a wrong CRC.
func (sr ddfSectionReader) read(name string, at int, magic uint32, check bool) []byte {
	be := binary.BigEndian
	fail := func(format string, args ...any) []byte {
		sr.info.SectionErrors = append(sr.info.SectionErrors, fmt.Sprintf(format, args...))
		return nil
	}
	off, n := int64(be.Uint32(sr.hdr[at:])), int64(be.Uint32(sr.hdr[at+4:]))
	if n == 0 || n > 1<<16 {
		return fail("%s section: length %d sectors", name, n)
	}
	pos := (int64(sr.hdrLBA) + off) * 512
	if pos+n*512 > sr.m.Size {
		return fail("%s section at LBA %d: beyond the disk", name, pos/512)
	}
	b := make([]byte, n*512)
	if _, err := sr.m.R.ReadAt(b, pos); err != nil && err != io.EOF {
		return fail("%s section at LBA %d: %v", name, pos/512, err)
	}
	if magic != 0 && be.Uint32(b) != magic {
		return fail("%s section at LBA %d: magic %08x, want %08x", name, pos/512, be.Uint32(b), magic)
	}
	if check {
		if c := ddfCRC(b); c != be.Uint32(b[4:]) {
			return fail("%s section at LBA %d: CRC stored %08x, computed %08x", name, pos/512, be.Uint32(b[4:]), c)
		}
	}
	return b
}

// ddfPhysState finds this disk (refnum and GUID, from the physical disk
// data) in the physical disk records and returns its state bits; ok is
// false when it is not there (or phys is nil).
func ddfPhysState(phys []byte, refnum uint32, guid []byte) (state uint16, ok bool) {
	if phys == nil {
		return 0, false
	}
	be := binary.BigEndian
	n := int(be.Uint16(phys[10:]))
	for i := 0; i < n && 64+64*(i+1) <= len(phys); i++ {
		e := phys[64+64*i : 64+64*(i+1)]
		if be.Uint32(e[24:]) == refnum && bytes.Equal(e[:24], guid) {
			state, ok = be.Uint16(e[30:]), true
		}
	}
	return state, ok
}

// ddfVDNames maps each virtual disk GUID in the virtual disk records to its
// name, state and init state (one byte each as a string).
func ddfVDNames(virt []byte) map[string][3]string {
	names := map[string][3]string{}
	if virt == nil {
		return names
	}
	n := int(binary.BigEndian.Uint16(virt[10:]))
	for i := 0; i < n && 64+64*(i+1) <= len(virt); i++ {
		e := virt[64+64*i : 64+64*(i+1)]
		names[string(e[:24])] = [3]string{ddfString(e[48:64]), string(e[32:33]), string(e[33:34])}
	}
	return names
}

// ddfConfigRecords decodes the VD configuration records that name this disk
// (refnum) among their physical elements; the header gives the record length
// and how many elements a record holds.
func ddfConfigRecords(conf, hdr []byte, refnum uint32, names map[string][3]string) []DDFVD {
	mppe := int(binary.BigEndian.Uint16(hdr[136:]))
	recLen := int64(binary.BigEndian.Uint16(hdr[134:]))
	if conf == nil || recLen <= 0 || mppe <= 0 || 512+12*mppe > int(recLen*512) {
		return nil
	}
	var vds []DDFVD
	for o := int64(0); o+recLen*512 <= int64(len(conf)); o += recLen * 512 {
		if vd, ok := ddfConfigRecord(conf[o:o+recLen*512], mppe, refnum, names); ok {
			vds = append(vds, vd)
		}
	}
	return vds
}

// ddfConfigRecord decodes one configuration record r (mppe physical
// elements) as seen from this disk; ok is false when r is not a VD
// configuration record or does not name the disk. A record whose CRC or
// geometry is wrong is returned with Err set.
func ddfConfigRecord(r []byte, mppe int, refnum uint32, names map[string][3]string) (vd DDFVD, ok bool) {
	be := binary.BigEndian
	if be.Uint32(r) != ddfVDConfMagic {
		return DDFVD{}, false
	}
	pos := -1
	for i := 0; i < mppe; i++ {
		if be.Uint32(r[512+4*i:]) == refnum {
			pos = i
			break
		}
	}
	if pos < 0 {
		return DDFVD{}, false
	}
	vd = DDFVD{
		GUID:         hex.EncodeToString(r[8:32]),
		UUID:         ddfUUID(r[8:32]),
		Seqnum:       be.Uint32(r[36:]),
		PrimCount:    int(be.Uint16(r[64:])),
		ChunkSectors: ddfChunk(r[66]),
		PRL:          r[67],
		RLQ:          r[68],
		SecCount:     int(r[69]),
		SecSeq:       int(r[70]),
		SRL:          r[71],
		Blocks:       int64(be.Uint64(r[72:])),
		ArrayBlocks:  int64(be.Uint64(r[80:])),
		Position:     pos,
		LBAOffset:    int64(be.Uint64(r[512+4*mppe+8*pos:])),
	}
	if nm, ok := names[string(r[8:32])]; ok {
		vd.Name, vd.State, vd.InitState = nm[0], nm[1][0], nm[2][0]
	}
	if c := ddfCRC(r); c != be.Uint32(r[4:]) {
		vd.Err = fmt.Sprintf("configuration record CRC stored %08x, computed %08x", be.Uint32(r[4:]), c)
	} else if err := vd.mdGeometry(); err != nil {
		vd.Err = err.Error()
	}
	return vd, true
}

// ddfUUID is mdadm's UUID for a DDF GUID: the first 16 bytes of its SHA-1.
func ddfUUID(guid []byte) string {
	s := sha1.Sum(guid)
	return mdUUIDString(s[:16])
}

// mdGeometry maps the DDF level/qualifier to md's level and layout the way
// mdadm does (super-ddf.c layout_ddf2md).
func (vd *DDFVD) mdGeometry() error {
	n := vd.PrimCount
	vd.RaidDisks = n
	vd.Role = vd.Position
	bad := func() error {
		return fmt.Errorf("DDF VD %s: unsupported level %#x qualifier %#x (secondary %#x ×%d) on %d disks", vd.GUID, vd.PRL, vd.RLQ, vd.SRL, vd.SecCount, n)
	}
	if vd.SecCount > 1 {
		if vd.PRL != ddfRAID1 || (vd.SRL != ddf2Striped && vd.SRL != ddf2Spanned) {
			return bad()
		}
		switch {
		case n == 2 && vd.RLQ == 0:
			vd.Layout = 0x102
		case n == 3 && vd.RLQ == 1:
			vd.Layout = 0x103
		default:
			return bad()
		}
		vd.Level = 10
		vd.RaidDisks = n * vd.SecCount
		vd.Role = vd.SecSeq*n + vd.Position
		return nil
	}
	switch vd.PRL {
	case ddfConcat:
		vd.Level = -1
	case ddfRAID0:
		vd.Level = 0
	case ddfRAID1:
		vd.Level = 1
	case ddfRAID1E:
		vd.Level = 10
		switch vd.RLQ {
		case 0:
			vd.Layout = 0x102
		case 1:
			vd.Layout = 0x201
		default:
			return bad()
		}
	case ddfRAID4:
		vd.Level, vd.Layout = 4, algParityN
	case ddfRAID5:
		vd.Level = 5
		switch vd.RLQ {
		case 2:
			vd.Layout = algLeftAsymmetric
		case 0:
			vd.Layout = algRightAsymmetric
		case 3:
			vd.Layout = algLeftSymmetric
		default:
			return bad()
		}
	case ddfRAID6:
		vd.Level = 6
		switch vd.RLQ {
		case 2:
			vd.Layout = algRotatingNRestart
		case 1:
			vd.Layout = algRotatingZeroRestart
		case 3:
			vd.Layout = algRotatingNContinue
		default:
			return bad()
		}
	default:
		return bad()
	}
	return nil
}

// ddfChunk is the chunk size in sectors for a chunk_shift (512 << shift
// bytes); mirrors without striping may carry 0xff, which means none.
func ddfChunk(shift uint8) int64 {
	if shift > 24 {
		return 0
	}
	return 1 << shift
}
