package main

import (
	"testing"
	"time"
)

func TestRenderer(t *testing.T) {
	clock := time.Unix(0, 0)
	r := &Renderer{Label: "sda_X", Every: 2 * time.Second, Now: func() time.Time { return clock }}
	for _, tc := range []struct {
		advance time.Duration
		in      string
		want    string
	}{
		{0, `{"event":"start","source":"/dev/sda","id":"sda_X","size":1000000}`, "[sda_X] start /dev/sda (976.6 KiB)"},
		{0, `{"event":"progress","phase":"acquire","source":"/dev/sda","bytes":250000,"total":1000000,"rate":5000000,"eta_s":3}`, "[sda_X] acquire  25.0%  244.1 KiB / 976.6 KiB  5.0 MB/s  ETA 3s"},
		{time.Second, `{"event":"progress","phase":"acquire","bytes":500000,"total":1000000,"rate":5000000,"eta_s":2}`, ""},
		{2 * time.Second, `{"event":"progress","phase":"acquire","bytes":750000,"total":1000000,"rate":5000000,"eta_s":1}`, "[sda_X] acquire  75.0%  732.4 KiB / 976.6 KiB  5.0 MB/s  ETA 1s"},
		{0, `{"event":"progress","phase":"acquire","bytes":1000000,"total":1000000,"rate":5000000,"eta_s":0}`, "[sda_X] acquire 100.0%  976.6 KiB / 976.6 KiB  5.0 MB/s  ETA 0s"},
		{0, `{"event":"unreadable","lba":8,"count":2,"error":"input/output error"}`, "[sda_X] UNREADABLE LBA 8 (+2 sectors): input/output error"},
		{0, `{"bytes":1000000,"event":"phase_done","phase":"acquire","source":"/dev/sda"}`, "[sda_X] acquire finished"},
		{0, `{"event":"progress","phase":"verify","bytes":10,"total":1000000,"rate":1,"eta_s":0}`, "[sda_X] verify    0.0%  10 B / 976.6 KiB  0.0 MB/s  ETA 0s"},
		{0, `{"event":"unreadable","lba":8,"count":2,"error":"input/output error"}`, "[sda_X] unreadable again on re-read: LBA 8 (+2 sectors): input/output error"},
		{0, `{"event":"done","result":"incomplete","outdir":"/x"}`, "[sda_X] done: incomplete (2 unreadable sectors zero-filled)"},
		{0, `plain text`, "[sda_X] plain text"},
	} {
		clock = clock.Add(tc.advance)
		if got := r.Line(tc.in); got != tc.want {
			t.Errorf("Line(%s)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
	if r.Result != "incomplete" || r.LastRate != 5e6 {
		t.Errorf("result %q rate %v", r.Result, r.LastRate)
	}
}
