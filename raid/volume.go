package raid

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"sync/atomic"

	"github.com/coldimage/coldimage/imager"
)

// Options tune Open.
type Options struct {
	// RAID0Layout forces the multi-zone RAID0 layout when the superblock does
	// not record it (0.90, or 1.x without MD_FEATURE_RAID0_LAYOUT): 1 is the
	// original layout (Linux < 3.14), 2 the alternate one (3.14 – 5.3).
	RAID0Layout int
}

// Volume is the reassembled logical volume of an array, read-only.
type Volume struct {
	arr   *Array
	size  int64
	chunk int64 // bytes
	n     int   // raid devices
	devs  []*volDev
	read  func(v *Volume, p []byte, off int64) error // reads p at off, off+len(p) ≤ size

	// RAID0
	zones []raid0Zone
	r0alt bool
	// RAID10
	nearCopies, farCopies, farSetSize int
	farOffset                         bool
	stride                            int64 // bytes
	// linear
	linStart []int64

	repairs atomic.Int64
}

type volDev struct {
	name string
	r    io.ReaderAt
	off  int64 // data offset, bytes
	size int64 // usable data bytes (per superblock)
}

func (d *volDev) readAt(p []byte, off int64) error {
	n, err := d.r.ReadAt(p, d.off+off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read member %s at byte %d (LBA %d): %w", d.name, d.off+off, (d.off+off)/512, err)
}

// ErrTooManyMissing is wrapped by Open's error when the array lacks more
// members than its redundancy allows.
var ErrTooManyMissing = errors.New("too many members missing")

// ErrReshape is wrapped by Open's error when a reshape was in progress.
var ErrReshape = errors.New("reshape in progress")

// Size is the volume size in bytes.
func (v *Volume) Size() int64 { return v.size }

// Array is the array this volume was opened from.
func (v *Volume) Array() *Array { return v.arr }

// ReadAt implements io.ReaderAt.
func (v *Volume) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("raid volume %s: negative offset %d", v.arr.UUID, off)
	}
	if off >= v.size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(len(p)) > v.size-off {
		p = p[:v.size-off]
	}
	if err := v.read(v, p, off); err != nil {
		return 0, err
	}
	if len(p) < want {
		return len(p), io.EOF
	}
	return len(p), nil
}

// Open reassembles arr's volume with default options.
func Open(arr *Array) (*Volume, error) { return OpenWith(arr, Options{}) }

// OpenWith reassembles arr's volume.
func OpenWith(arr *Array, opt Options) (*Volume, error) {
	if arr.Reshape != nil {
		return nil, fmt.Errorf("array %s (%s): %w at sector %d (%s → level %d layout %d chunk %d, %+d disks); refusing to guess the geometry",
			arr.UUID, arr.Level, ErrReshape, arr.Reshape.Position, LayoutName(arr.LevelNum, arr.LayoutNum, false),
			arr.Reshape.NewLevel, arr.Reshape.NewLayout, arr.Reshape.NewChunk, arr.Reshape.DeltaDisks)
	}
	if arr.fresh == nil || !arr.fresh.ChecksumOK {
		return nil, fmt.Errorf("array %s: no superblock with a valid checksum", arr.UUID)
	}
	v := &Volume{arr: arr, n: arr.RaidDevices, chunk: arr.ChunkBytes}
	if v.n <= 0 || v.n > maxRaidDisks || len(arr.Members) < v.n {
		return nil, fmt.Errorf("array %s: implausible raid_disks %d", arr.UUID, v.n)
	}
	v.devs = make([]*volDev, v.n)
	missing := 0
	var missingNames []int
	for r := 0; r < v.n; r++ {
		am := arr.Active(r)
		if am == nil {
			missing++
			missingNames = append(missingNames, r)
			continue
		}
		v.devs[r] = &volDev{name: am.Name, r: am.member.R, off: am.DataOffset, size: am.sb.DataSize * 512}
	}
	tooMany := func(allowed int) error {
		return fmt.Errorf("array %s (%s, %d devices): roles %v missing, %d allowed: %w",
			arr.UUID, arr.Level, v.n, missingNames, allowed, ErrTooManyMissing)
	}
	needChunk := func() error {
		if v.chunk <= 0 || v.chunk%512 != 0 || v.chunk > 1<<30 {
			return fmt.Errorf("array %s (%s): bad chunk size %d bytes", arr.UUID, arr.Level, v.chunk)
		}
		return nil
	}
	devSize := arr.fresh.DevSectors * 512
	switch arr.LevelNum {
	case -1: // linear
		if missing > 0 {
			return nil, tooMany(0)
		}
		var pos int64
		for _, d := range v.devs {
			s := d.size
			if v.chunk > 0 {
				s -= s % v.chunk
			}
			v.linStart = append(v.linStart, pos)
			pos += s
		}
		v.linStart = append(v.linStart, pos)
		v.size = pos
		v.read = readLinear
	case 0:
		if missing > 0 {
			return nil, tooMany(0)
		}
		if err := needChunk(); err != nil {
			return nil, err
		}
		if err := v.setupRAID0(opt); err != nil {
			return nil, err
		}
		v.read = readRAID0
	case 1:
		if missing == v.n {
			return nil, tooMany(v.n - 1)
		}
		v.size = devSize
		v.read = readRAID1
	case 4, 5, 6:
		if err := r6width(arr); err != nil {
			return nil, err
		}
		if err := needChunk(); err != nil {
			return nil, err
		}
		par := 1
		if arr.LevelNum == 6 {
			par = 2
		}
		if missing > par {
			return nil, tooMany(par)
		}
		if v.n <= par {
			return nil, fmt.Errorf("array %s: %s with %d devices", arr.UUID, arr.Level, v.n)
		}
		if _, _, _, err := v.r56map(0); err != nil {
			return nil, err
		}
		v.size = (devSize - devSize%v.chunk) * int64(v.n-par)
		v.read = readRAID56
	case 10:
		if err := needChunk(); err != nil {
			return nil, err
		}
		if err := v.setupRAID10(devSize); err != nil {
			return nil, err
		}
		if err := v.r10checkSurvivors(); err != nil {
			return nil, err
		}
		v.read = readRAID10
	default:
		return nil, fmt.Errorf("array %s: level %s is not supported for reassembly", arr.UUID, arr.Level)
	}
	if v.size > 0 {
		for r, d := range v.devs {
			if d == nil {
				continue
			}
			if need := v.devBytesUsed(); need > 0 && d.size > 0 && d.size < need {
				return nil, fmt.Errorf("array %s: member %s (role %d) has %d data bytes, the array needs %d", arr.UUID, d.name, r, d.size, need)
			}
		}
	}
	return v, nil
}

// devBytesUsed is how many data bytes each member must provide (0: varies).
func (v *Volume) devBytesUsed() int64 {
	switch v.arr.LevelNum {
	case 1, 4, 5, 6:
		return v.arr.fresh.DevSectors * 512
	}
	return 0
}

// ---- linear ----

func readLinear(v *Volume, p []byte, off int64) error {
	for len(p) > 0 {
		i := sort.Search(len(v.linStart)-1, func(i int) bool { return v.linStart[i+1] > off })
		rel := off - v.linStart[i]
		n := min(int64(len(p)), v.linStart[i+1]-off)
		if err := v.devs[i].readAt(p[:n], rel); err != nil {
			return err
		}
		p, off = p[n:], off+n
	}
	return nil
}

// ---- RAID0 ----

type raid0Zone struct {
	start, end int64 // array bytes
	devStart   int64 // member bytes
	devs       []int // roles in this zone, in role order
}

func (v *Volume) setupRAID0(opt Options) error {
	sizes := make([]int64, v.n)
	for r, d := range v.devs {
		sizes[r] = d.size - d.size%v.chunk
	}
	uniq := append([]int64(nil), sizes...)
	sort.Slice(uniq, func(i, j int) bool { return uniq[i] < uniq[j] })
	var prev, pos int64
	for _, s := range uniq {
		if s <= prev {
			continue
		}
		z := raid0Zone{start: pos, devStart: prev}
		for r := range sizes {
			if sizes[r] >= s {
				z.devs = append(z.devs, r)
			}
		}
		pos += (s - prev) * int64(len(z.devs))
		z.end = pos
		v.zones = append(v.zones, z)
		prev = s
	}
	v.size = pos
	// drivers/md/raid0.c raid0_size sums each member's size masked with
	// ~(chunk_sectors-1): for chunks that are not a power of two this cuts
	// the volume short of its zones, and the kernel's device ends there.
	cs := v.chunk / 512
	var quirk int64
	for _, sz := range sizes {
		quirk += (sz / 512) &^ (cs - 1)
	}
	if quirk*512 < v.size {
		v.size = quirk * 512
	}
	if len(v.zones) > 1 && len(v.zones[1].devs) > 1 {
		layout := -1
		if v.arr.fresh.FeatureMap&mdFeatureRAID0Layout != 0 || v.arr.fresh.Format == "md-0.90" {
			layout = v.arr.LayoutNum
		}
		if layout != 1 && layout != 2 {
			layout = opt.RAID0Layout
		}
		switch layout {
		case 1:
		case 2:
			v.r0alt = true
		default:
			return fmt.Errorf("array %s: multi-zone RAID0 (members of unequal size) without a recorded layout; "+
				"choose the original (Linux < 3.14) or alternate (3.14–5.3) layout explicitly", v.arr.UUID)
		}
		v.arr.raid0Layout = layout
	}
	return nil
}

func readRAID0(v *Volume, p []byte, off int64) error {
	var ps []piece
	for len(p) > 0 {
		zi := sort.Search(len(v.zones), func(i int) bool { return v.zones[i].end > off })
		z := &v.zones[zi]
		zoff := off - z.start
		sel := off
		if v.r0alt {
			sel = zoff
		}
		nb := int64(len(z.devs))
		inChunk := sel % v.chunk
		dev := z.devs[(sel/v.chunk)%nb]
		devOff := z.devStart + zoff/(v.chunk*nb)*v.chunk + inChunk
		n := min(int64(len(p)), v.chunk-inChunk, z.end-off)
		ps = append(ps, piece{dev: dev, off: devOff, buf: p[:n]})
		p, off = p[n:], off+n
	}
	return v.readPieces(ps)
}

// ---- RAID1 ----

func readRAID1(v *Volume, p []byte, off int64) error {
	var firstErr error
	for _, d := range v.devs {
		if d == nil {
			continue
		}
		err := d.readAt(p, off)
		if err == nil {
			if firstErr != nil {
				v.repairs.Add(1)
			}
			return nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// ---- RAID4/5/6 ----

// r56geom is where one chunk of a stripe lives.
type r56geom struct {
	dd, pd, qd int
	ddf        bool // DDF rotating layouts: Q slots count every device from 0
}

// r56map maps logical chunk number c to its stripe and devices
// (drivers/md/raid5.c raid5_compute_sector).
func (v *Volume) r56map(c int64) (stripe int64, g r56geom, ok bool, err error) {
	level, alg := v.arr.LevelNum, v.arr.LayoutNum
	data := v.n - 1
	if level == 6 {
		data = v.n - 2
	}
	dd := int(c % int64(data))
	stripe = c / int64(data)
	switch level {
	case 4:
		g, ok = r56geom{dd: dd, pd: data, qd: -1}, true
	case 5:
		g, ok = r5geom(alg, v.n, stripe, dd)
	case 6:
		g, ok = r6geom(alg, v.n, stripe, dd)
	default: // only RAID4/5/6 volumes ask
		g, ok = r56geom{dd: dd, pd: -1, qd: -1}, true
	}
	if !ok {
		return 0, r56geom{}, false, fmt.Errorf("array %s: %s layout %d (%s) is not supported", v.arr.UUID, v.arr.Level, alg, LayoutName(level, alg, false))
	}
	return stripe, g, true, nil
}

// r5geom places data chunk dd of a stripe of n devices in the RAID5 layout
// alg: P on one device, the n-1 data chunks on the others.
func r5geom(alg, n int, stripe int64, dd int) (r56geom, bool) {
	data, ni := n-1, int64(n)
	pd := -1
	switch alg {
	case algLeftAsymmetric:
		pd = data - int(stripe%ni)
		if dd >= pd {
			dd++
		}
	case algRightAsymmetric:
		pd = int(stripe % ni)
		if dd >= pd {
			dd++
		}
	case algLeftSymmetric:
		pd = data - int(stripe%ni)
		dd = (pd + 1 + dd) % n
	case algRightSymmetric:
		pd = int(stripe % ni)
		dd = (pd + 1 + dd) % n
	case algParity0:
		pd = 0
		dd++
	case algParityN:
		pd = data
	default:
		return r56geom{}, false
	}
	return r56geom{dd: dd, pd: pd, qd: -1}, true
}

// r6geom places data chunk dd of a stripe of n devices in the RAID6 layout
// alg: md's own layouts, DDF's rotating ones, or a RAID5 layout with Q on
// the last device.
func r6geom(alg, n int, stripe int64, dd int) (r56geom, bool) {
	switch alg {
	case algLeftAsymmetric, algRightAsymmetric, algLeftSymmetric, algRightSymmetric, algParity0, algParityN:
		return r6mdGeom(alg, n, stripe, dd), true
	case algRotatingZeroRestart, algRotatingNRestart, algRotatingNContinue:
		return r6ddfGeom(alg, n, stripe, dd), true
	case algLeftAsymmetric6, algRightAsymmetric6, algLeftSymmetric6, algRightSymmetric6, algParity0_6:
		// The RAID5 layout over the first n-1 devices (the -6 layouts are
		// numbered 16 on from the RAID5 ones), Q on the last.
		g, _ := r5geom(alg-algLeftAsymmetric6, n-1, stripe, dd)
		g.qd = n - 1
		return g, true
	}
	return r56geom{}, false
}

// r6mdGeom is md's RAID6 layouts: P and Q on neighbouring devices.
func r6mdGeom(alg, n int, stripe int64, dd int) r56geom {
	ni := int64(n)
	switch alg {
	case algLeftAsymmetric:
		return r6asym(n, n-1-int(stripe%ni), dd)
	case algRightAsymmetric:
		return r6asym(n, int(stripe%ni), dd)
	case algLeftSymmetric:
		pd := n - 1 - int(stripe%ni)
		return r56geom{dd: (pd + 2 + dd) % n, pd: pd, qd: (pd + 1) % n}
	case algRightSymmetric:
		pd := int(stripe % ni)
		return r56geom{dd: (pd + 2 + dd) % n, pd: pd, qd: (pd + 1) % n}
	case algParity0:
		return r56geom{dd: dd + 2, pd: 0, qd: 1}
	default: // algParityN
		return r56geom{dd: dd, pd: n - 2, qd: n - 1}
	}
}

// r6ddfGeom is DDF's rotating RAID6 layouts, whose Q syndrome counts every
// device (r6slots).
func r6ddfGeom(alg, n int, stripe int64, dd int) r56geom {
	ni := int64(n)
	var g r56geom
	switch alg {
	case algRotatingZeroRestart:
		g = r6asym(n, int(stripe%ni), dd)
	case algRotatingNRestart:
		g = r6asym(n, n-1-int((stripe+1)%ni), dd)
	default: // algRotatingNContinue
		pd := n - 1 - int(stripe%ni)
		g = r56geom{dd: (pd + 1 + dd) % n, pd: pd, qd: (pd + n - 1) % n}
	}
	g.ddf = true
	return g
}

// r6asym is the asymmetric placement: Q after P (on device 0 when P is the
// last device), data in device order skipping both.
func r6asym(n, pd, dd int) r56geom {
	qd := pd + 1
	if pd == n-1 {
		dd++
		qd = 0
	} else if dd >= pd {
		dd += 2
	}
	return r56geom{dd: dd, pd: pd, qd: qd}
}

// ddfRotating reports whether a RAID6 layout is one of DDF's rotating
// ones (r6ddfGeom), whose Q syndrome gives P and Q slots of their own.
func ddfRotating(alg int) bool {
	return alg == algRotatingZeroRestart || alg == algRotatingNRestart || alg == algRotatingNContinue
}

// maxQSlots is how many distinct Q syndrome coefficients g^0..g^254 GF(2^8)
// has; g^255 = g^0.
const maxQSlots = 255

// r6width refuses a RAID6 set whose Q syndrome needs more slots than GF(2^8)
// has coefficients: two of its data disks would share one (g^a = g^b for
// a ≡ b mod 255), and two data disks missing together could not be told
// apart. md's layouts give the data disks n-2 slots, so 255 data disks fit;
// DDF's rotating layouts give every device one (P's and Q's unused), so 253.
// Metadata may claim far more: md 1.x role tables hold 1920 entries, DDF
// records up to 65535 elements, and Open believes up to maxRaidDisks.
func r6width(a *Array) error {
	if a.LevelNum != 6 {
		return nil
	}
	n := a.RaidDevices
	slots, limit := n-2, maxQSlots
	if ddfRotating(a.LayoutNum) {
		slots, limit = n, maxQSlots-2
	}
	if slots <= maxQSlots {
		return nil
	}
	return fmt.Errorf("array %s: %s (%s) with %d devices has %d data disks; at most %d fit its Q syndrome (GF(2^8) has %d coefficients): refusing to assemble",
		a.UUID, a.Level, LayoutName(a.LevelNum, a.LayoutNum, false), n, n-2, limit, maxQSlots)
}

// r6slots gives, for each device of a RAID6 stripe, its slot in the Q
// syndrome (drivers/md/raid5.c set_syndrome_sources): data devices get
// 0..k-1, P gets k and Q k+1 where k is the number of syndrome slots.
func r6slots(n, pd, qd int, ddf bool) (slots []int, k int) {
	slots = make([]int, n)
	k = n - 2
	d0 := 0
	if ddf {
		k = n
	} else if qd != n-1 {
		d0 = qd + 1
	}
	count := 0
	i := d0
	for j := 0; j < n; j++ {
		slot := count
		if ddf {
			count++
		}
		switch i {
		case pd:
			slot = k
		case qd:
			slot = k + 1
		default:
			if !ddf {
				count++
			}
		}
		slots[i] = slot
		i = (i + 1) % n
	}
	return slots, k
}

func readRAID56(v *Volume, p []byte, off int64) error {
	data := int64(v.n - 1)
	if v.arr.LevelNum == 6 {
		data = int64(v.n - 2)
	}
	var direct []piece
	for len(p) > 0 {
		c := off / v.chunk
		inChunk := off % v.chunk
		n := min(int64(len(p)), v.chunk-inChunk)
		stripe, g, _, err := v.r56map(c)
		if err != nil {
			return err
		}
		devOff := stripe*v.chunk + inChunk
		if v.devs[g.dd] != nil {
			direct = append(direct, piece{dev: g.dd, off: devOff, buf: p[:n], g: g, stripe: stripe})
		} else if err := v.reconstruct(p[:n], devOff, g, stripe, data, -1); err != nil {
			return err
		}
		p, off = p[n:], off+n
	}
	if err := v.readPieces(direct); err != nil {
		// A member did not give up a piece (a bad sector, say): read piece
		// by piece and rebuild the unreadable ones from the redundancy.
		for _, pc := range direct {
			rerr := v.devs[pc.dev].readAt(pc.buf, pc.off)
			if rerr == nil {
				continue
			}
			if err := v.reconstruct(pc.buf, pc.off, pc.g, pc.stripe, data, pc.dev); err != nil {
				return fmt.Errorf("%w; rebuilding it from the other members failed too: %v", rerr, err)
			}
			v.repairs.Add(1)
		}
	}
	return nil
}

// Repairs is how many reads a member failed that were served from the
// redundancy instead (rebuilt from parity, or read from another copy).
func (v *Volume) Repairs() int64 { return v.repairs.Load() }

// piece is one contiguous read from one member.
type piece struct {
	dev int
	off int64
	buf []byte
	// RAID4/5/6: where the piece sits, to rebuild it when the member fails
	// to read it.
	g      r56geom
	stripe int64
}

// readPieces reads the pieces, one goroutine per member when the request
// spans several members, so that members are read in parallel.
func (v *Volume) readPieces(ps []piece) error {
	if len(ps) <= 1 {
		for _, pc := range ps {
			if err := v.devs[pc.dev].readAt(pc.buf, pc.off); err != nil {
				return err
			}
		}
		return nil
	}
	byDev := make(map[int][]piece)
	for _, pc := range ps {
		byDev[pc.dev] = append(byDev[pc.dev], pc)
	}
	if len(byDev) == 1 {
		for _, pc := range ps {
			if err := v.devs[pc.dev].readAt(pc.buf, pc.off); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make(chan error, len(byDev))
	for dev, list := range byDev {
		// Behind imager.Go: a member read that panics (malformed metadata
		// making a bad geometry) fails this read, not the process — PID 1
		// reads volumes for the console UI.
		imager.Go(fmt.Sprintf("RAID member %d reader of array %s", dev, v.arr.UUID), func() error {
			for _, pc := range list {
				if err := v.devs[dev].readAt(pc.buf, pc.off); err != nil {
					return err
				}
			}
			return nil
		}, func(err error) { errs <- err })
	}
	var first error
	for range byDev {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// reconstruct computes the data device g.dd's bytes at devOff into out from
// the other members; bad (or -1) is a present member to treat as missing.
func (v *Volume) reconstruct(out []byte, devOff int64, g r56geom, stripe, data int64, bad int) error {
	tmp := make([]byte, len(out))
	absent := func(i int) bool { return v.devs[i] == nil || i == bad }
	var missingData []int
	for i := 0; i < v.n; i++ {
		if i != g.pd && i != g.qd && absent(i) {
			missingData = append(missingData, i)
		}
	}
	pOK := !absent(g.pd)
	qOK := g.qd >= 0 && !absent(g.qd)
	if len(missingData) == 1 && pOK {
		// XOR of P and every other data device.
		clear(out)
		for i := 0; i < v.n; i++ {
			if i == g.dd || i == g.qd {
				continue
			}
			if err := v.devs[i].readAt(tmp, devOff); err != nil {
				return err
			}
			xorInto(out, tmp)
		}
		return nil
	}
	if g.qd < 0 || !qOK {
		return fmt.Errorf("array %s: stripe %d: data role %d cannot be rebuilt: %w", v.arr.UUID, stripe, g.dd, ErrTooManyMissing)
	}
	slots, _ := r6slots(v.n, g.pd, g.qd, g.ddf)
	// Q' = Q ⊕ Σ g^slot·D over the present data devices; P' likewise.
	qx := make([]byte, len(out))
	if err := v.devs[g.qd].readAt(qx, devOff); err != nil {
		return err
	}
	var px []byte
	if pOK {
		px = make([]byte, len(out))
		if err := v.devs[g.pd].readAt(px, devOff); err != nil {
			return err
		}
	}
	for i := 0; i < v.n; i++ {
		if i == g.pd || i == g.qd || absent(i) {
			continue
		}
		if err := v.devs[i].readAt(tmp, devOff); err != nil {
			return err
		}
		gfMulAdd(qx, tmp, gfPow2(slots[i]))
		if px != nil {
			xorInto(px, tmp)
		}
	}
	switch {
	case len(missingData) == 1: // P missing too: D = Q' / g^a
		copy(out, qx)
		gfMulBuf(out, gfInv(gfPow2(slots[g.dd])))
		return nil
	case len(missingData) == 2 && pOK:
		// D_a ⊕ D_b = P', g^a·D_a ⊕ g^b·D_b = Q'  ⇒  D_a = (Q' ⊕ g^b·P') / (g^a ⊕ g^b).
		a := slots[g.dd]
		other := missingData[0]
		if other == g.dd {
			other = missingData[1]
		}
		b := slots[other]
		den := gfPow2(a) ^ gfPow2(b)
		if den == 0 { // a ≡ b mod 255: a set wider than r6width allows
			return fmt.Errorf("array %s: stripe %d: data roles %d and %d share the Q coefficient g^%d and cannot be rebuilt together: %w",
				v.arr.UUID, stripe, g.dd, other, a%maxQSlots, ErrTooManyMissing)
		}
		copy(out, qx)
		gfMulAdd(out, px, gfPow2(b))
		gfMulBuf(out, gfInv(den))
		return nil
	}
	return fmt.Errorf("array %s: stripe %d: data role %d cannot be rebuilt: %w", v.arr.UUID, stripe, g.dd, ErrTooManyMissing)
}

// ---- RAID10 ----

func (v *Volume) setupRAID10(devSize int64) error {
	layout := v.arr.LayoutNum
	nc, fc := layout&0xff, (layout>>8)&0xff
	v.nearCopies, v.farCopies = nc, fc
	v.farOffset = layout&(1<<16) != 0
	switch layout >> 17 {
	case 0:
		v.farSetSize = v.n
	case 1:
		v.farSetSize = v.n / max(fc, 1)
	case 2:
		v.farSetSize = fc * nc
	default:
		return fmt.Errorf("array %s: raid10 layout %#x is not valid", v.arr.UUID, layout)
	}
	if nc < 1 || fc < 1 || nc*fc > v.n || v.farSetSize < 1 {
		return fmt.Errorf("array %s: raid10 layout %#x (near %d, far %d) does not fit %d devices", v.arr.UUID, layout, nc, fc, v.n)
	}
	// drivers/md/raid10.c calc_sectors / raid10_size, in chunks.
	chunks := devSize / v.chunk
	chunks /= int64(fc)
	chunks *= int64(v.n)
	chunks /= int64(nc)                                         // chunks in the array
	used := (chunks*int64(nc*fc) + int64(v.n) - 1) / int64(v.n) // chunks used per device
	if v.farOffset {
		v.stride = v.chunk
	} else {
		v.stride = used / int64(fc) * v.chunk
	}
	arr := used / int64(fc) * int64(v.n) / int64(nc)
	v.size = arr * v.chunk
	return nil
}

type r10copy struct {
	dev  int
	addr int64 // bytes from data offset
}

// r10copies lists every copy of the chunk-aligned array byte offset off
// (drivers/md/raid10.c __raid10_find_phys).
func (v *Volume) r10copies(off int64) []r10copy {
	n := v.n
	lastFarSetStart := (n/v.farSetSize - 1) * v.farSetSize
	lastFarSetSize := v.farSetSize + n%v.farSetSize
	chunk := off / v.chunk
	sector := off % v.chunk
	chunk *= int64(v.nearCopies)
	stripe := chunk / int64(n)
	dev := int(chunk % int64(n))
	if v.farOffset {
		stripe *= int64(v.farCopies)
	}
	sector += stripe * v.chunk
	out := make([]r10copy, 0, v.nearCopies*v.farCopies)
	for k := 0; k < v.nearCopies; k++ {
		d := dev
		s := sector
		out = append(out, r10copy{d, s})
		for f := 1; f < v.farCopies; f++ {
			set := d / v.farSetSize
			d += v.nearCopies
			if n%v.farSetSize != 0 && d > lastFarSetStart {
				d -= lastFarSetStart
				d %= lastFarSetSize
				d += lastFarSetStart
			} else {
				d %= v.farSetSize
				d += v.farSetSize * set
			}
			s += v.stride
			out = append(out, r10copy{d, s})
		}
		dev++
		if dev >= n {
			dev = 0
			sector += v.chunk
		}
	}
	return out
}

// r10checkSurvivors checks that every chunk position keeps a copy. Which
// devices hold chunk c depends only on (c·near) mod n, so the first n chunks
// cover every pattern.
func (v *Volume) r10checkSurvivors() error {
	limit := int64(v.n)
	if total := v.size / v.chunk; total < limit {
		limit = total
	}
	for c := int64(0); c < limit; c++ {
		ok := false
		for _, cp := range v.r10copies(c * v.chunk) {
			if v.devs[cp.dev] != nil {
				ok = true
				break
			}
		}
		if !ok {
			var missing []int
			for r, d := range v.devs {
				if d == nil {
					missing = append(missing, r)
				}
			}
			return fmt.Errorf("array %s (raid10 %s): roles %v missing, chunk %d has no surviving copy: %w",
				v.arr.UUID, v.arr.Layout, missing, c, ErrTooManyMissing)
		}
	}
	return nil
}

func readRAID10(v *Volume, p []byte, off int64) error {
	for len(p) > 0 {
		inChunk := off % v.chunk
		n := min(int64(len(p)), v.chunk-inChunk)
		var firstErr error
		done := false
		for _, cp := range v.r10copies(off - inChunk) {
			d := v.devs[cp.dev]
			if d == nil {
				continue
			}
			err := d.readAt(p[:n], cp.addr+inChunk)
			if err == nil {
				if firstErr != nil {
					v.repairs.Add(1)
				}
				done = true
				break
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		if !done {
			if firstErr == nil {
				firstErr = fmt.Errorf("array %s: byte %d: no surviving copy: %w", v.arr.UUID, off, ErrTooManyMissing)
			}
			return firstErr
		}
		p, off = p[n:], off+n
	}
	return nil
}

// arraySize computes the volume size from the freshest superblock and the
// present members (0 when it cannot be known, e.g. a linear member missing).
func arraySize(a *Array) int64 {
	v, err := OpenWith(a, Options{RAID0Layout: 1})
	if err != nil {
		return 0
	}
	return v.size
}
