package ui

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/coldimage/coldimage/imager"
)

// An ETA reads 0:00:00 only when nothing remains: fractions round up, and
// an unknown one (no progress in the rate window) says so.
func TestETAShown(t *testing.T) {
	for _, c := range []struct {
		eta  time.Duration
		text string
		secs int64
	}{
		{0, "0:00:00", 0},
		{300 * time.Millisecond, "0:00:01", 1},
		{7*time.Second + time.Millisecond, "0:00:08", 8},
		{1654 * time.Second, "0:27:34", 1654},
		{imager.ETAUnknown, "unknown", -1},
	} {
		if got := FormatETA(c.eta); got != c.text {
			t.Errorf("FormatETA(%v) = %q, want %q", c.eta, got, c.text)
		}
		b := newBoard()
		b.JobStart("/dev/sda", "sda", 100)
		b.Event(imager.Event{Kind: imager.EventProgress, Phase: imager.PhaseAcquire, Source: "/dev/sda", Bytes: 50, Total: 100, ETA: c.eta})
		if rows, _ := b.snapshot(); rows[0].Acq.ETASec != c.secs || FormatETA(secs(rows[0].Acq.ETASec)) != c.text {
			t.Errorf("board: ETA %v → %d s, shown %q; want %d, %q", c.eta, rows[0].Acq.ETASec, FormatETA(secs(rows[0].Acq.ETASec)), c.secs, c.text)
		}
		var out bytes.Buffer
		NewJSON(&out).Event(imager.Event{Kind: imager.EventProgress, Phase: imager.PhaseAcquire, Source: "/dev/sda", Bytes: 50, Total: 100, ETA: c.eta})
		var m struct {
			ETA int64 `json:"eta_s"`
		}
		if err := json.Unmarshal(out.Bytes(), &m); err != nil || m.ETA != c.secs {
			t.Errorf("JSON %s: eta_s %d, want %d (%v)", out.Bytes(), m.ETA, c.secs, err)
		}
	}
}
