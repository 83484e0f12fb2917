package imager

import "time"

// EventKind says what happened.
type EventKind string

const (
	EventStart      EventKind = "start"      // a phase begins: Total is known
	EventProgress   EventKind = "progress"   // periodic: Bytes, Rate, ETA
	EventUnreadable EventKind = "unreadable" // Bad holds the range given up on
	EventRetry      EventKind = "retry"      // a read failed; the region is re-read in smaller pieces
	EventDone       EventKind = "done"       // the phase ended (Err set when it failed)
)

// Phase names a pass over the data.
const (
	PhaseAcquire = "acquire"
	PhaseVerify  = "verify"
)

// Event is everything the engine tells the outside world. It never prints.
type Event struct {
	Kind   EventKind     `json:"event"`
	Phase  string        `json:"phase,omitempty"`
	Source string        `json:"source,omitempty"`
	Bytes  int64         `json:"bytes"`
	Total  int64         `json:"total"`
	Rate   float64       `json:"rate"`          // bytes per second, recent
	ETA    time.Duration `json:"-"`             // remaining time at Rate
	Bad    *BadRange     `json:"bad,omitempty"` // for unreadable and retry
	Err    error         `json:"-"`             // for done
	Time   time.Time     `json:"-"`
}

// Emitter receives events. It is called from engine goroutines and must not block for long.
type Emitter func(Event)

func (e Emitter) emit(ev Event) {
	if e != nil {
		if ev.Time.IsZero() {
			ev.Time = time.Now()
		}
		e(ev)
	}
}

// rateMeter turns byte counts into a smoothed rate and an ETA.
type rateMeter struct {
	start, last time.Time
	lastBytes   int64
	rate        float64
}

func (m *rateMeter) update(now time.Time, bytes, total int64) (float64, time.Duration) {
	if m.start.IsZero() {
		m.start, m.last = now, now
	}
	dt := now.Sub(m.last).Seconds()
	if dt > 0 {
		inst := float64(bytes-m.lastBytes) / dt
		if m.rate == 0 {
			m.rate = inst
		} else {
			// Exponential smoothing over roughly the last few seconds.
			a := dt / (dt + 3)
			m.rate = a*inst + (1-a)*m.rate
		}
		m.last, m.lastBytes = now, bytes
	}
	var eta time.Duration
	if m.rate > 0 && total > bytes {
		eta = time.Duration(float64(total-bytes) / m.rate * float64(time.Second))
	}
	return m.rate, eta
}
