package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/coldimage/coldimage/imager"
)

// ProgressEvent is one line of `coldimage acquire --json-progress`.
type ProgressEvent struct {
	Event  string  `json:"event"` // start, progress, unreadable, done
	Phase  string  `json:"phase"` // acquire, verify
	Source string  `json:"source"`
	ID     string  `json:"id"`
	Size   int64   `json:"size"`
	Bytes  int64   `json:"bytes"`
	Total  int64   `json:"total"`
	Rate   float64 `json:"rate"`
	ETA    float64 `json:"eta_s"`
	LBA    int64   `json:"lba"`
	Count  int64   `json:"count"`
	Error  string  `json:"error"`
	Result string  `json:"result"`
	Outdir string  `json:"outdir"`
}

// Renderer turns progress events of one source into console lines,
// throttled to one progress line per Every (phase changes always print).
type Renderer struct {
	Label string
	Every time.Duration
	Now   func() time.Time

	last       time.Time
	phase      string
	unreadable int64
	Result     string
	LastRate   float64 // acquire phase bytes/s as last reported
}

// Line renders one stdout line of the child; "" means print nothing.
// Lines that are not JSON are passed through.
func (r *Renderer) Line(line string) string {
	var ev ProgressEvent
	if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Event == "" {
		return fmt.Sprintf("[%s] %s", r.Label, line)
	}
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	switch ev.Event {
	case "start":
		return fmt.Sprintf("[%s] start %s (%s)", r.Label, ev.Source, imager.HumanBytes(ev.Size))
	case "progress":
		if ev.Phase == "acquire" && ev.Rate > 0 {
			r.LastRate = ev.Rate
		}
		final := ev.Total > 0 && ev.Bytes >= ev.Total
		if ev.Phase == r.phase && !final && now.Sub(r.last) < r.Every {
			return ""
		}
		r.phase, r.last = ev.Phase, now
		pct := 100.0
		if ev.Total > 0 {
			pct = 100 * float64(ev.Bytes) / float64(ev.Total)
		}
		eta := "unknown"
		if ev.ETA >= 0 {
			eta = time.Duration(ev.ETA * float64(time.Second)).Round(time.Second).String()
		}
		return fmt.Sprintf("[%s] %-7s %5.1f%%  %s / %s  %.1f MB/s  ETA %s", r.Label, ev.Phase, pct, imager.HumanBytes(ev.Bytes), imager.HumanBytes(ev.Total), ev.Rate/1e6, eta)
	case "phase_done":
		return fmt.Sprintf("[%s] %s finished", r.Label, ev.Phase)
	case "unreadable":
		if r.phase == "verify" {
			return fmt.Sprintf("[%s] unreadable again on re-read: LBA %d (+%d sectors): %s", r.Label, ev.LBA, ev.Count, ev.Error)
		}
		r.unreadable += ev.Count
		return fmt.Sprintf("[%s] UNREADABLE LBA %d (+%d sectors): %s", r.Label, ev.LBA, ev.Count, ev.Error)
	case "done":
		r.Result = ev.Result
		s := fmt.Sprintf("[%s] done: %s", r.Label, ev.Result)
		if r.unreadable > 0 {
			s += fmt.Sprintf(" (%d unreadable sectors zero-filled)", r.unreadable)
		}
		return s
	}
	return fmt.Sprintf("[%s] %s", r.Label, line)
}
