package raid

import (
	"bytes"
	"context"
	"fmt"
)

// Mismatch is one stripe (RAID4/5/6) or chunk (RAID1/10) whose redundancy
// disagrees with its data.
type Mismatch struct {
	Stripe    int64  `json:"stripe"`     // stripe (or chunk) number
	DevOffset int64  `json:"dev_offset"` // bytes from the members' data offset
	What      string `json:"what"`       // "P", "Q", "copy on role N"
}

// CheckResult summarises a CheckParity run.
type CheckResult struct {
	Checked    int64      `json:"checked"` // stripes or chunks compared
	Mismatches []Mismatch `json:"mismatches"`
}

// CheckParity reads every stripe of a RAID4/5/6 volume and recomputes P (and
// Q), or compares the copies of a RAID1/10 volume, reporting each stripe that
// disagrees to fn (which may be nil). All members must be present.
func (v *Volume) CheckParity(ctx context.Context, fn func(Mismatch)) (*CheckResult, error) {
	for r, d := range v.devs {
		if d == nil {
			return nil, fmt.Errorf("array %s: role %d missing: redundancy cannot be checked on a degraded array", v.arr.UUID, r)
		}
	}
	res := &CheckResult{}
	report := func(m Mismatch) {
		res.Mismatches = append(res.Mismatches, m)
		if fn != nil {
			fn(m)
		}
	}
	switch v.arr.LevelNum {
	case 4, 5, 6:
		return res, v.checkR56(ctx, res, report)
	case 1:
		return res, v.checkMirror(ctx, res, report)
	case 10:
		return res, v.checkR10(ctx, res, report)
	}
	return nil, fmt.Errorf("array %s: %s has no redundancy to check", v.arr.UUID, v.arr.Level)
}

func (v *Volume) checkR56(ctx context.Context, res *CheckResult, report func(Mismatch)) error {
	data := int64(v.n - 1)
	if v.arr.LevelNum == 6 {
		data = int64(v.n - 2)
	}
	stripes := v.size / data / v.chunk
	bufs := make([][]byte, v.n)
	for i := range bufs {
		bufs[i] = make([]byte, v.chunk)
	}
	p := make([]byte, v.chunk)
	q := make([]byte, v.chunk)
	for s := int64(0); s < stripes; s++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		_, g, _, err := v.r56map(s * data)
		if err != nil {
			return err
		}
		off := s * v.chunk
		for i, d := range v.devs {
			if err := d.readAt(bufs[i], off); err != nil {
				return err
			}
		}
		clear(p)
		clear(q)
		var slots []int
		if g.qd >= 0 {
			slots, _ = r6slots(v.n, g.pd, g.qd, g.ddf)
		}
		for i := 0; i < v.n; i++ {
			if i == g.pd || i == g.qd {
				continue
			}
			xorInto(p, bufs[i])
			if g.qd >= 0 {
				gfMulAdd(q, bufs[i], gfPow2(slots[i]))
			}
		}
		if !bytes.Equal(p, bufs[g.pd]) {
			report(Mismatch{Stripe: s, DevOffset: off, What: fmt.Sprintf("P (role %d)", g.pd)})
		}
		if g.qd >= 0 && !bytes.Equal(q, bufs[g.qd]) {
			report(Mismatch{Stripe: s, DevOffset: off, What: fmt.Sprintf("Q (role %d)", g.qd)})
		}
		res.Checked++
	}
	return nil
}

func (v *Volume) checkMirror(ctx context.Context, res *CheckResult, report func(Mismatch)) error {
	const block = 1 << 20
	a := make([]byte, block)
	b := make([]byte, block)
	for off := int64(0); off < v.size; off += block {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(int64(block), v.size-off)
		if err := v.devs[0].readAt(a[:n], off); err != nil {
			return err
		}
		for r := 1; r < v.n; r++ {
			if err := v.devs[r].readAt(b[:n], off); err != nil {
				return err
			}
			if !bytes.Equal(a[:n], b[:n]) {
				report(Mismatch{Stripe: off / block, DevOffset: off, What: fmt.Sprintf("copy on role %d differs from role 0", r)})
			}
		}
		res.Checked++
	}
	return nil
}

func (v *Volume) checkR10(ctx context.Context, res *CheckResult, report func(Mismatch)) error {
	a := make([]byte, v.chunk)
	b := make([]byte, v.chunk)
	for c := int64(0); c < v.size/v.chunk; c++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		cps := v.r10copies(c * v.chunk)
		if err := v.devs[cps[0].dev].readAt(a, cps[0].addr); err != nil {
			return err
		}
		for _, cp := range cps[1:] {
			if err := v.devs[cp.dev].readAt(b, cp.addr); err != nil {
				return err
			}
			if !bytes.Equal(a, b) {
				report(Mismatch{Stripe: c, DevOffset: cp.addr, What: fmt.Sprintf("copy on role %d differs from role %d", cp.dev, cps[0].dev)})
			}
		}
		res.Checked++
	}
	return nil
}
