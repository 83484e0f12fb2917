package ui

import (
	"bytes"
	"encoding/json"
	"strings"
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

// TestTextErrorLines: unreadable ranges reported a sector at a time (a
// scrape finds them so) are one merged range on the console, at most one
// line per 30 s on a log, plus one when the phase ends.
func TestTextErrorLines(t *testing.T) {
	var b strings.Builder
	p := NewText(&b, false, time.Hour)
	p.JobStart("/dev/sda", "sda_X", 1<<30)
	for l := int64(1000); l < 1050; l++ {
		p.Event(imager.Event{Kind: imager.EventUnreadable, Phase: imager.PhaseAcquire, Source: "/dev/sda", Bad: &imager.BadRange{LBA: l, Count: 1, Error: "EIO"}})
	}
	p.Event(imager.Event{Kind: imager.EventUnreadable, Phase: imager.PhaseAcquire, Source: "/dev/sda", Bad: &imager.BadRange{LBA: 5000, Count: 1, Error: "EIO"}})
	p.Event(imager.Event{Kind: imager.EventDone, Phase: imager.PhaseAcquire, Source: "/dev/sda"})
	var lines []string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, "UNREADABLE") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 || !strings.Contains(lines[0], "1 sector(s) in 1 range(s), LBA 1000+1") ||
		!strings.Contains(lines[1], "50 sector(s) in 2 range(s), LBA 1001+49, 5000+1") {
		t.Errorf("error lines:\n%s", strings.Join(lines, "\n"))
	}
}
