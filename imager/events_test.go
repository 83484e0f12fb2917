package imager

import (
	"testing"
	"time"
)

// RateWindow with synthetic timestamps: the rate follows the last Span, not
// the start of the pass nor the last sample alone; the ETA is whole seconds,
// rounded up, never 0 while work remains.
func TestRateWindow(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	const MB = 1e6
	type sample struct {
		t float64 // seconds from t0
		n int64
	}
	for _, c := range []struct {
		name    string
		span    time.Duration
		samples []sample
		total   int64
		rate    float64
		eta     time.Duration
	}{
		{"no sample", 0, nil, 100, 0, ETAUnknown},
		{"start only", 0, []sample{{0, 0}}, 100 * MB, 0, ETAUnknown},
		{"steady", 0, []sample{{0, 0}, {1, 100 * MB}, {2, 200 * MB}}, 1000 * MB, 100 * MB, 8 * time.Second},
		{"steady, rounds up", 0, []sample{{0, 0}, {1, 100 * MB}}, 100*MB + 1, 100 * MB, time.Second},
		{"done", 0, []sample{{0, 0}, {1, 100 * MB}}, 100 * MB, 100 * MB, 0},
		// A burst (page cache, the buffer pool filling) then 10 MB/s: after
		// the span the burst has left the window.
		{"burst ages out", 5 * time.Second, []sample{{0, 0}, {0.5, 500 * MB}, {1, 505 * MB}, {2, 515 * MB}, {3, 525 * MB}, {4, 535 * MB}, {5, 545 * MB}, {6, 555 * MB}, {7, 565 * MB}},
			1000 * MB, 10 * MB, 44 * time.Second},
		// Inside the span the window is the whole history.
		{"burst inside span", 10 * time.Second, []sample{{0, 0}, {0.5, 500 * MB}, {1, 505 * MB}, {2, 515 * MB}}, 1000 * MB, 257.5 * MB, 2 * time.Second},
		// Slowing down: the last span counts, not the average since start.
		{"slows down", 2 * time.Second, []sample{{0, 0}, {10, 1000 * MB}, {11, 1001 * MB}, {12, 1002 * MB}}, 2000 * MB, 1 * MB, 998 * time.Second},
		{"stalled for the span", 2 * time.Second, []sample{{0, 0}, {1, 10 * MB}, {2, 10 * MB}, {3, 10 * MB}, {4, 10 * MB}}, 20 * MB, 0, ETAUnknown},
		{"stalled within the span", 10 * time.Second, []sample{{0, 0}, {1, 10 * MB}, {2, 10 * MB}, {3, 10 * MB}, {4, 10 * MB}}, 20 * MB, 2.5 * MB, 4 * time.Second},
		{"same instant", 0, []sample{{1, 0}, {1, 10}}, 20, 0, ETAUnknown},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := RateWindow{Span: c.span}
			for _, s := range c.samples {
				w.Add(at(s.t), s.n)
			}
			if r := w.Rate(); r < c.rate*0.999 || r > c.rate*1.001 {
				t.Errorf("Rate() = %.0f B/s, want %.0f", r, c.rate)
			}
			if eta := w.ETA(c.total); eta != c.eta {
				t.Errorf("ETA(%d) = %v, want %v", c.total, eta, c.eta)
			}
			if span := c.span; span > 0 && len(w.samples) > 2 {
				// Only the first sample may lie at or before last-span.
				if last := w.samples[len(w.samples)-1].t; !w.samples[1].t.After(last.Add(-span)) {
					t.Errorf("samples %v, span %v: not trimmed to the span", w.samples, span)
				}
			}
		})
	}
}
