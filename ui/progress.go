// Package ui renders the engine's events for people and machines: a one-line
// progress bar on terminals, plain log lines elsewhere, JSON lines for
// automation (the appliance's init reads those).
package ui

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/session"
)

// Progress is what a session reports through (session.Observer): the
// renderers here and the console UI's board implement it.
type Progress = session.Observer

// ProgressLine is one line of `--json-progress`: the one typed form of a
// progress event on the wire, written by NewJSON and read by ReadProgress.
//
//	{"event":"start","source":P,"id":ID,"size":N}
//	{"event":"progress","phase":"acquire"|"verify"|"resume","source":P,"bytes":N,"total":N,"rate":B_PER_S,"eta_s":S}
//	{"event":"unreadable","phase":…,"source":P,"lba":N,"count":N,"error":T}
//	{"event":"retry","phase":…,"source":P,"lba":N,"count":N,"error":T,"state":S}
//	{"event":"rescue","phase":"acquire","source":P,"pass":NAME,"bytes":LEFT,"total":N,"done":true,"error":T}
//	{"event":"resumed","source":P,"bytes":N,"total":N}   (a resumed acquisition goes on at byte N)
//	{"event":"phase_done","phase":…,"source":P,"bytes":N,"error":T}
//	{"event":"done","source":P,"id":ID,"result":R,"outdir":D,"error":T}
//
// Unreadable and retry lines are merged ranges, at most a batch a second.
// A retry line with a state ("non-tried", "non-trimmed") is an area the
// copy pass set aside for the rescue passes; a rescue line is a rescue
// pass starting or ending ("done"), bytes the bytes not read yet; its
// error says the time limit stopped the rescue. Phase "rescue" progress
// counts the set-aside bytes dealt with.
// "resume" is a resumed acquisition reading its image back from the target
// up to the resume point. In progress lines bytes are hashed and written so far, rate is over the
// last ~10 s (imager.RateWindow), eta_s is whole seconds rounded up: 0 only
// when the phase is done, -1 while unknown (no progress seen in the window).
// Fields a kind does not use are left out.
type ProgressLine struct {
	Event  string `json:"event"`
	Phase  string `json:"phase,omitempty"`
	Source string `json:"source"`
	ID     string `json:"id,omitempty"`
	Size   *int64 `json:"size,omitempty"`
	Bytes  *int64 `json:"bytes,omitempty"`
	Total  *int64 `json:"total,omitempty"`
	Rate   *int64 `json:"rate,omitempty"`
	ETA    *int64 `json:"eta_s,omitempty"`
	LBA    *int64 `json:"lba,omitempty"`
	Count  *int64 `json:"count,omitempty"`
	State  string `json:"state,omitempty"`
	Pass   string `json:"pass,omitempty"`
	Done   bool   `json:"done,omitempty"`
	Result string `json:"result,omitempty"`
	Outdir string `json:"outdir,omitempty"`
	Error  string `json:"error,omitempty"`
	Note   string `json:"note,omitempty"`
}

// ReadProgress reads `--json-progress` output line by line; a line that
// is not a progress line is an error naming it.
func ReadProgress(r io.Reader, each func(ProgressLine) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		var l ProgressLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Event == "" {
			return fmt.Errorf("progress line %d %q: not a progress event (%v)", n, sc.Text(), err)
		}
		if err := each(l); err != nil {
			return err
		}
	}
	return sc.Err()
}

func n64(v int64) *int64 { return &v }

// NewJSON writes one ProgressLine per line (`--json-progress`).
func NewJSON(w io.Writer) Progress { return &jsonProgress{w: w} }

type jsonProgress struct {
	mu sync.Mutex
	w  io.Writer
}

func (j *jsonProgress) line(l ProgressLine) {
	b, _ := json.Marshal(l)
	j.mu.Lock()
	defer j.mu.Unlock()
	j.w.Write(append(b, '\n'))
}

func (j *jsonProgress) JobStart(source, id string, size int64) {
	j.line(ProgressLine{Event: "start", Source: source, ID: id, Size: n64(size)})
}

func (j *jsonProgress) Event(ev imager.Event) {
	switch ev.Kind {
	case imager.EventProgress:
		j.line(ProgressLine{Event: "progress", Phase: ev.Phase, Source: ev.Source, Bytes: n64(ev.Bytes),
			Total: n64(ev.Total), Rate: n64(int64(ev.Rate)), ETA: n64(etaSeconds(ev.ETA))})
	case imager.EventUnreadable, imager.EventRetry:
		j.line(ProgressLine{Event: string(ev.Kind), Phase: ev.Phase, Source: ev.Source,
			LBA: n64(ev.Bad.LBA), Count: n64(ev.Bad.Count), Error: ev.Bad.Error, State: ev.Bad.State})
	case imager.EventRescue:
		l := ProgressLine{Event: "rescue", Phase: ev.Phase, Source: ev.Source, Pass: ev.Pass, Bytes: n64(ev.Bytes), Total: n64(ev.Total), Done: ev.Done}
		if ev.Err != nil {
			l.Error = ev.Err.Error()
		}
		j.line(l)
	case imager.EventResumed:
		j.line(ProgressLine{Event: "resumed", Source: ev.Source, Bytes: n64(ev.Bytes), Total: n64(ev.Total)})
	case imager.EventNotice:
		j.line(ProgressLine{Event: "notice", Source: ev.Source, Note: ev.Note})
	case imager.EventDone:
		l := ProgressLine{Event: "phase_done", Phase: ev.Phase, Source: ev.Source, Bytes: n64(ev.Bytes)}
		if ev.Err != nil {
			l.Error = ev.Err.Error()
		}
		j.line(l)
	}
}

func (j *jsonProgress) JobDone(source, id, outdir, result string, err error) {
	l := ProgressLine{Event: "done", Source: source, ID: id, Result: result, Outdir: outdir}
	if err != nil {
		l.Error = err.Error()
	}
	j.line(l)
}

func (j *jsonProgress) Close() {}

// NewText renders for people. On a terminal (tty) it redraws one status line
// at most twice a second; elsewhere it logs a line per source every interval.
func NewText(w io.Writer, tty bool, interval time.Duration) Progress {
	if interval == 0 {
		interval = 10 * time.Second
	}
	return &textProgress{w: w, tty: tty, interval: interval, jobs: map[string]*jobState{}}
}

type jobState struct {
	id, phase    string
	bytes, total int64
	rate         float64
	eta          time.Duration
	bad          int64
	lastLog      time.Time
	// Ranges not yet printed: unreadable, and set aside for the rescue.
	errs, setAside []imager.BadRange
	lastErr        time.Time
}

type textProgress struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	interval time.Duration
	jobs     map[string]*jobState
	lastDraw time.Time
	drawn    bool
}

func (t *textProgress) JobStart(source, id string, size int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.jobs[source] = &jobState{id: id, total: size, phase: imager.PhaseAcquire}
	t.printf("%s: %s: started on %s (%s)\n", time.Now().UTC().Format("15:04:05"), id, source, imager.HumanBytes(size))
}

func (t *textProgress) Event(ev imager.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	j := t.jobs[ev.Source]
	if j == nil {
		j = &jobState{id: ev.Source}
		t.jobs[ev.Source] = j
	}
	switch ev.Kind {
	case imager.EventStart:
		j.phase, j.bytes, j.total, j.rate, j.eta = ev.Phase, 0, ev.Total, 0, 0
		if ev.Phase == imager.PhaseVerify {
			t.printf("%s: %s verify started: re-reading source and image\n", time.Now().UTC().Format("15:04:05"), j.id)
		}
	case imager.EventProgress:
		j.phase, j.bytes, j.total, j.rate, j.eta = ev.Phase, ev.Bytes, ev.Total, ev.Rate, ev.ETA
		now := time.Now()
		if t.tty {
			if now.Sub(t.lastDraw) >= 500*time.Millisecond || ev.Bytes == ev.Total {
				t.draw()
				t.lastDraw = now
			}
		}
		t.flushErrs(j, false)
		if !t.tty && now.Sub(j.lastLog) >= t.interval {
			j.lastLog = now
			t.printf("%s: %s %s %s\n", now.UTC().Format("15:04:05"), j.id, j.phase, statusText(j))
		}
	case imager.EventNotice:
		t.printf("%s: %s: WARNING: %s\n", time.Now().UTC().Format("15:04:05"), j.id, ev.Note)
	case imager.EventResumed:
		t.printf("%s: %s resumes at byte %d of %d (%s): the image before it is read back from the target and checked against its record\n",
			time.Now().UTC().Format("15:04:05"), j.id, ev.Bytes, ev.Total, imager.HumanBytes(ev.Bytes))
	case imager.EventUnreadable:
		if ev.Phase == imager.PhaseAcquire {
			j.bad += ev.Bad.Count
		}
		j.errs = imager.AppendRange(j.errs, *ev.Bad)
		t.flushErrs(j, false)
	case imager.EventRetry:
		if ev.Bad != nil && ev.Bad.State != "" { // in-stream narrowing is not news; areas set aside are
			j.setAside = imager.AppendRange(j.setAside, *ev.Bad)
			t.flushErrs(j, false)
		}
	case imager.EventRescue:
		t.flushErrs(j, true)
		now := time.Now().UTC().Format("15:04:05")
		switch {
		case ev.Err != nil:
			t.printf("%s: %s rescue STOPPED in pass %s: %v\n", now, j.id, ev.Pass, ev.Err)
		case ev.Pass == imager.PassRehash:
			t.printf("%s: %s rescue: re-hashing the image from byte %d (rescued bytes were written into it)\n", now, j.id, ev.Total-ev.Bytes)
		case ev.Done:
			t.printf("%s: %s rescue: pass %s done, %s not read yet\n", now, j.id, ev.Pass, imager.HumanBytes(ev.Bytes))
		default:
			t.printf("%s: %s rescue: pass %s starts on %s not read yet\n", now, j.id, ev.Pass, imager.HumanBytes(ev.Bytes))
		}
	case imager.EventDone:
		t.flushErrs(j, true)
		if ev.Err != nil {
			t.printf("%s: %s %s failed: %v\n", time.Now().UTC().Format("15:04:05"), j.id, ev.Phase, ev.Err)
		}
	}
}

func (t *textProgress) JobDone(source, id, outdir, result string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if j := t.jobs[source]; j != nil {
		t.flushErrs(j, true)
	}
	msg := fmt.Sprintf("%s: %s done: result %s, record in %s", time.Now().UTC().Format("15:04:05"), id, result, outdir)
	if err != nil {
		msg += fmt.Sprintf(" (%v)", err)
	}
	t.printf("%s\n", msg)
	delete(t.jobs, source)
}

func (t *textProgress) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.drawn {
		fmt.Fprint(t.w, "\r\033[K")
		t.drawn = false
	}
}

// printf writes a log line, clearing the status line first on a terminal.
func (t *textProgress) printf(format string, a ...any) {
	if t.tty && t.drawn {
		fmt.Fprint(t.w, "\r\033[K")
		t.drawn = false
	}
	fmt.Fprintf(t.w, format, a...)
	if t.tty && len(t.jobs) > 0 {
		t.draw()
	}
}

func (t *textProgress) draw() {
	var names []string
	for s := range t.jobs {
		names = append(names, s)
	}
	sort.Strings(names)
	var parts []string
	for _, s := range names {
		j := t.jobs[s]
		if len(names) == 1 {
			parts = append(parts, fmt.Sprintf("%s %s %s %s", j.id, j.phase, bar(j.bytes, j.total, 20), statusText(j)))
		} else {
			parts = append(parts, fmt.Sprintf("%s %s %3d%%", j.id, j.phase[:1], pct(j.bytes, j.total)))
		}
	}
	line := strings.Join(parts, " | ")
	if len(line) > 200 {
		line = line[:200]
	}
	fmt.Fprintf(t.w, "\r\033[K%s", line)
	t.drawn = true
}

// flushErrs prints what the job's unreadable and set-aside ranges add up
// to since the last such line: one line each, at most every 30 s (1 s on a
// terminal) unless forced — a failing drive is a few lines on a 115200-baud
// console, not one per sector. The record lists every range.
func (t *textProgress) flushErrs(j *jobState, force bool) {
	every := 30 * time.Second
	if t.tty {
		every = time.Second
	}
	if len(j.errs)+len(j.setAside) == 0 || (!force && time.Since(j.lastErr) < every) {
		return
	}
	j.lastErr = time.Now()
	now := j.lastErr.UTC().Format("15:04:05")
	if len(j.setAside) > 0 {
		var n int64
		for _, r := range j.setAside {
			n += r.Count
		}
		t.printf("%s: %s read errors: %d area(s), %d sector(s) from LBA %d set aside for the rescue passes (%s)\n",
			now, j.id, len(j.setAside), n, j.setAside[0].LBA, j.setAside[0].Error)
		j.setAside = nil
	}
	if len(j.errs) > 0 {
		var n int64
		var list []string
		for i, r := range j.errs {
			n += r.Count
			if i < 4 {
				list = append(list, fmt.Sprintf("%d+%d", r.LBA, r.Count))
			}
		}
		if len(j.errs) > 4 {
			list = append(list, fmt.Sprintf("and %d more", len(j.errs)-4))
		}
		t.printf("%s: %s UNREADABLE %d sector(s) in %d range(s), LBA %s: %s (zero-filled)\n",
			now, j.id, n, len(j.errs), strings.Join(list, ", "), j.errs[0].Error)
		j.errs = nil
	}
}

func statusText(j *jobState) string {
	s := fmt.Sprintf("%3d%% %s/%s %.1f MB/s ETA %s", pct(j.bytes, j.total), imager.HumanBytes(j.bytes), imager.HumanBytes(j.total), j.rate/1e6, FormatETA(j.eta))
	if j.bad > 0 {
		s += fmt.Sprintf(" unreadable %d", j.bad)
	}
	return s
}

func pct(a, b int64) int {
	if b <= 0 {
		return 100
	}
	return int(a * 100 / b)
}

func bar(a, b int64, width int) string {
	n := pct(a, b) * width / 100
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

// FormatETA renders a duration as h:mm:ss, rounded up to the second (never
// 0:00:00 while time remains); a negative one (imager.ETAUnknown) is
// "unknown".
func FormatETA(d time.Duration) string {
	if d < 0 {
		return "unknown"
	}
	s := etaSeconds(d)
	return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
}
