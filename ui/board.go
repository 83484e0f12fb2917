package ui

import (
	"fmt"
	"sync"

	"github.com/coldimage/coldimage/imager"
)

// board is a Progress that only remembers: the progress screen reads it
// once a second and draws what changed.
type board struct {
	mu    sync.Mutex
	order []string // sources in start order
	rows  map[string]*boardRow
	gen   int // bumped on every change
}

type boardRow struct {
	ID            string
	Size          int64
	Phase         string // acquire, verify
	Acq, Ver      phaseState
	Bad           int64  // unreadable sectors so far
	Rescue        string // what the rescue of unreadable areas is doing, once it runs
	Done          bool
	Result, Error string
}

type phaseState struct {
	Bytes, Total int64
	Rate         float64
	ETASec       int64 // whole seconds, rounded up; -1 unknown
	Started      bool
	Done         bool
	Err          string
}

func newBoard() *board { return &board{rows: map[string]*boardRow{}} }

func (b *board) JobStart(source, id string, size int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rows[source] == nil {
		b.order = append(b.order, source)
	}
	b.rows[source] = &boardRow{ID: id, Size: size, Phase: imager.PhaseAcquire, Acq: phaseState{Total: size}}
	b.gen++
}

func (b *board) Event(ev imager.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.rows[ev.Source]
	if r == nil {
		return
	}
	if ev.Kind == imager.EventRescue {
		switch {
		case ev.Err != nil:
			r.Rescue = fmt.Sprintf("rescue STOPPED by its time limit: %s NOT READ", imager.HumanBytes(ev.Bytes))
		case ev.Pass == imager.PassRehash:
			r.Rescue = "rescue done; re-hashing the image"
		case !ev.Done:
			r.Rescue = fmt.Sprintf("rescue pass %s: %s not read yet", ev.Pass, imager.HumanBytes(ev.Bytes))
		}
		b.gen++
		return
	}
	var p *phaseState
	switch ev.Phase {
	case imager.PhaseAcquire, imager.PhaseResume: // reading the image back counts toward the acquisition
		p = &r.Acq
	case imager.PhaseVerify:
		p = &r.Ver
	default:
		return // sidecar hashing and the like: not shown
	}
	switch ev.Kind {
	case imager.EventStart:
		r.Phase = ev.Phase
		p.Started, p.Total = true, ev.Total
	case imager.EventProgress:
		r.Phase = ev.Phase
		p.Started = true
		p.Bytes, p.Total, p.Rate, p.ETASec = ev.Bytes, ev.Total, ev.Rate, etaSeconds(ev.ETA)
	case imager.EventUnreadable:
		if ev.Bad != nil && ev.Phase == imager.PhaseAcquire {
			r.Bad += ev.Bad.Count
		}
	case imager.EventDone:
		p.Done = true
		p.Bytes = max(p.Bytes, ev.Bytes)
		p.ETASec = 0
		if ev.Err != nil {
			p.Err = ev.Err.Error()
		}
	}
	b.gen++
}

func (b *board) JobDone(source, id, outdir, result string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r := b.rows[source]; r != nil {
		r.Done, r.Result = true, result
		if err != nil {
			r.Error = err.Error()
		}
	}
	b.gen++
}

func (b *board) Close() {}

// snapshot copies the rows for drawing.
func (b *board) snapshot() ([]boardRow, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]boardRow, 0, len(b.order))
	for _, s := range b.order {
		out = append(out, *b.rows[s])
	}
	return out, b.gen
}
