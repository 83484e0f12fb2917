package session

import (
	"sync"

	"github.com/coldimage/coldimage/imager"
)

// maxQueued bounds what waits for a slow observer beyond progress (which
// is superseded, not queued) and merged unreadable ranges.
const maxQueued = 10000

// decoupled hands what the jobs report to an observer on a goroutine of
// its own, so a slow display (a 9600-baud serial console, a terminal that
// stopped reading) never holds up the engine. A progress event replaces
// the one of its source and phase still waiting; an unreadable or retry
// event that continues the range still waiting is merged into it; start
// and done are never dropped. What the record says does not depend on any
// of this: the engine keeps the unreadable ranges itself.
type decoupled struct {
	obs     Observer
	mu      sync.Mutex
	q       []func()
	last    map[string]int // source|phase → index in q of its waiting progress event
	badEv   *imager.Event  // that event, merged into while it waits
	dropped int            // events dropped because maxQueued were waiting
	wake    chan struct{}
	done    chan struct{}
	closed  bool
}

func decouple(obs Observer) *decoupled {
	d := &decoupled{obs: obs, last: map[string]int{}, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go d.deliver()
	return d
}

func (d *decoupled) push(f func()) {
	d.q = append(d.q, f)
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *decoupled) JobStart(source, id string, size int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.push(func() { d.obs.JobStart(source, id, size) })
}

func (d *decoupled) JobDone(source, id, outdir, result string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.push(func() { d.obs.JobDone(source, id, outdir, result, err) })
}

func (d *decoupled) Event(ev imager.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch ev.Kind {
	case imager.EventProgress:
		key := ev.Source + "|" + ev.Phase
		if i, ok := d.last[key]; ok {
			d.q[i] = func() { d.obs.Event(ev) } // the newer one supersedes it
			return
		}
		d.last[key] = len(d.q)
		d.push(func() { d.obs.Event(ev) })
		return
	case imager.EventUnreadable, imager.EventRetry:
		if b := d.badEv; b != nil && ev.Bad != nil && b.Bad != nil && b.Kind == ev.Kind && b.Source == ev.Source && b.Phase == ev.Phase &&
			b.Bad.Extend(*ev.Bad) {
			return // one line for the range, not one per sector
		}
		if len(d.q) >= maxQueued {
			d.dropped++
			return
		}
		e := ev
		if ev.Bad != nil {
			r := *ev.Bad
			e.Bad = &r
		}
		d.badEv = &e
		d.push(func() { d.obs.Event(e) })
		return
	}
	if len(d.q) >= maxQueued {
		d.dropped++
		return
	}
	d.push(func() { d.obs.Event(ev) })
}

// deliver runs the waiting calls in order, each behind recover: a display
// that crashes must not take the session (PID 1 on the appliance) down.
func (d *decoupled) deliver() {
	defer close(d.done)
	for {
		<-d.wake
		d.mu.Lock()
		q := d.q
		d.q, d.last, d.badEv = nil, map[string]int{}, nil
		closed := d.closed
		d.mu.Unlock()
		for _, f := range q {
			imager.Safely("progress display", func() error { f(); return nil })
		}
		if closed {
			d.mu.Lock()
			empty := len(d.q) == 0
			d.mu.Unlock()
			if empty {
				return
			}
		}
	}
}

// flush delivers everything still waiting and stops the goroutine; it
// returns how many events were dropped because too many waited.
func (d *decoupled) flush() int {
	d.mu.Lock()
	d.closed = true
	select {
	case d.wake <- struct{}{}:
	default:
	}
	d.mu.Unlock()
	<-d.done
	return d.dropped
}
