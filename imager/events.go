package imager

import (
	"math"
	"time"
)

// EventKind says what happened.
type EventKind string

const (
	EventStart      EventKind = "start"      // a phase begins: Total is known
	EventProgress   EventKind = "progress"   // periodic: Bytes (done: hashed and written), Rate, ETA
	EventUnreadable EventKind = "unreadable" // Bad holds the range given up on
	EventRetry      EventKind = "retry"      // a read failed; Bad is set aside for the rescue (State set) or re-read in smaller pieces now
	// EventRescue: a rescue pass (Pass) starts, or ends (Done); Bytes is
	// what is still not read. Err says the time limit stopped the rescue.
	EventRescue EventKind = "rescue"
	EventDone   EventKind = "done" // the phase ended (Err set when it failed)
	// EventResumed: a resumed acquisition goes on at byte Bytes of Total;
	// the image before it is read back from the target and checked.
	EventResumed EventKind = "resumed"
	// EventNotice: Note is a sentence the examiner must see before the
	// image is taken away (sectors the drive holds that are not imaged).
	EventNotice EventKind = "notice"
)

// Phase names a pass over the data.
const (
	PhaseAcquire = "acquire"
	PhaseVerify  = "verify"
	// PhaseResume is a resumed acquisition reading its image back from
	// the target (up to the resume point) to re-establish its hashes;
	// progress events only, the pass itself is an acquisition.
	PhaseResume = "resume"
	// PhaseRescue is an acquisition's rescue passes, after its copy pass:
	// progress events only; Bytes of Total are the bytes of the areas set
	// aside that were dealt with.
	PhaseRescue = "rescue"
)

// Event is everything the engine tells the outside world. It never prints.
type Event struct {
	Kind   EventKind     `json:"event"`
	Phase  string        `json:"phase,omitempty"`
	Source string        `json:"source,omitempty"`
	Bytes  int64         `json:"bytes"`
	Total  int64         `json:"total"`
	Rate   float64       `json:"rate"`           // bytes per second over the last RateWindow span
	ETA    time.Duration `json:"-"`              // remaining time at Rate, whole seconds; ETAUnknown (< 0) when no progress was seen
	Bad    *BadRange     `json:"bad,omitempty"`  // for unreadable and retry
	Pass   string        `json:"pass,omitempty"` // for rescue
	Done   bool          `json:"done,omitempty"` // for rescue: the pass ended
	Note   string        `json:"note,omitempty"` // for notice
	Err    error         `json:"-"`              // for done
	Time   time.Time     `json:"-"`
}

// Emitter receives events. It is called from engine goroutines and must not block for long.
type Emitter func(Event)

// Emit sends ev when e is set (a nil Emitter drops it), stamping its time.
func (e Emitter) Emit(ev Event) { e.emit(ev) }

func (e Emitter) emit(ev Event) {
	if e != nil {
		if ev.Time.IsZero() {
			ev.Time = time.Now()
		}
		e(ev)
	}
}

// DefaultRateSpan is how far back RateWindow looks.
const DefaultRateSpan = 10 * time.Second

// ETAUnknown is Event.ETA while work remains but the rate window saw no
// progress (a stalled source, the first instant of a pass).
const ETAUnknown time.Duration = -1

// RateWindow turns a growing byte count into a rate and an ETA over a moving
// window: the samples of the last Span (the newest sample at or before
// now-Span is kept as the window's start). Neither the average since the
// start (which a fast or slow first minute would bias for hours) nor one
// instantaneous sample (which jumps with every buffer). Every progress
// producer uses it; not safe for concurrent use.
type RateWindow struct {
	Span    time.Duration // DefaultRateSpan when 0
	samples []rateSample
}

type rateSample struct {
	t time.Time
	n int64
}

// Add records that n bytes (a running total) were done at t. Samples must
// come in time order.
func (w *RateWindow) Add(t time.Time, n int64) {
	span := w.Span
	if span <= 0 {
		span = DefaultRateSpan
	}
	w.samples = append(w.samples, rateSample{t, n})
	cut, i := t.Add(-span), 0
	for i+1 < len(w.samples) && !w.samples[i+1].t.After(cut) {
		i++
	}
	if i > 0 {
		w.samples = append(w.samples[:0], w.samples[i:]...)
	}
}

// Rate is bytes per second over the window; 0 until two samples lie apart.
func (w *RateWindow) Rate() float64 {
	if len(w.samples) < 2 {
		return 0
	}
	first, last := w.samples[0], w.samples[len(w.samples)-1]
	dt := last.t.Sub(first.t).Seconds()
	if dt <= 0 {
		return 0
	}
	return float64(last.n-first.n) / dt
}

// ETA is the time the rest of total takes at Rate, rounded up to a whole
// second, so it is never 0 while work remains: 0 once the last sample
// reached total, ETAUnknown while the window saw no progress.
func (w *RateWindow) ETA(total int64) time.Duration {
	if len(w.samples) == 0 {
		return ETAUnknown
	}
	left := total - w.samples[len(w.samples)-1].n
	if left <= 0 {
		return 0
	}
	r := w.Rate()
	if r <= 0 {
		return ETAUnknown
	}
	secs := math.Ceil(float64(left) / r)
	if secs > float64(math.MaxInt64/int64(time.Second)) {
		return ETAUnknown
	}
	return time.Duration(secs) * time.Second
}
