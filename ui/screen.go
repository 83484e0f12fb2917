package ui

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/gdamore/tcell/v2/terminfo"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
)

type page int

const (
	pageSources page = iota
	pageTarget
	pageCase
	pageConfirm
	pageProgress
	pageSummary
	pageShell
)

// app is the full-screen UI's state. Screens read and edit it; the engine
// is reached only through Plan and Session.Execute.
type app struct {
	cfg   Config
	scr   tcell.Screen
	frame *frame
	page  page
	msg   string // one line: the last error or hint, shown until the next key

	devs   []Device
	devErr error
	cur    int // sources list cursor
	top    int // sources list scroll
	sel    map[string]bool

	targets []Target // filtered candidates
	tErr    error
	tcur    int

	ch    Choices
	field int // case form focus
	hcur  int // hash cursor in the hash field
	split string

	session *Session
	board   *board
	done    chan error
	abort   context.CancelCauseFunc // stops the running session
	asking  bool                    // the abort question is open
	aborted bool                    // the operator aborted the running session
	lastGen int
	scroll  int // summary scroll

	out      Outcome
	finished bool

	prepared map[string]string // targets already prepared (mounted): name → dir
}

// hashChoices are the hashes offered, the default set first.
var hashChoices = []string{"sha256", "blake3", "md5", "sha1"}

// Formats offered, in order.
var formats = []string{"raw", "split", "e01"}

func newApp(cfg Config, scr tcell.Screen) *app {
	a := &app{cfg: cfg, scr: scr, sel: map[string]bool{}, split: "2G", prepared: map[string]string{}}
	a.ch = Choices{Case: cfg.Case, Hashes: append([]string(nil), cfg.Hashes...), Format: "raw", Split: DefaultSplit, Verify: true}
	a.rescan()
	return a
}

// lookupTerm finds a compiled-in terminfo entry (no terminfo files are
// needed, so the initramfs carries none); unknown names fall back to vt100.
func lookupTerm(name string) *terminfo.Terminfo {
	for _, n := range []string{name, "vt100"} {
		if ti, err := terminfo.LookupTerminfo(n); err == nil {
			return withoutPadding(ti)
		}
	}
	return nil
}

// padding is terminfo's delay syntax, "$<5>" or "$<2*/>".
var padding = regexp.MustCompile(`\$<[0-9.]+[*/]*>`)

// withoutPadding drops the delays of the vt100 family's entries. tcell
// honours them by sleeping while it composes a frame in memory, which only
// slows drawing (5 ms per cursor move); the bytes leave together anyway,
// and terminals (VT100s included) pace a serial line with XON/XOFF.
func withoutPadding(ti *terminfo.Terminfo) *terminfo.Terminfo {
	c := *ti
	v := reflect.ValueOf(&c).Elem()
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.Kind() == reflect.String && f.CanSet() {
			f.SetString(padding.ReplaceAllString(f.String(), ""))
		}
	}
	return &c
}

func runScreen(ctx context.Context, cfg Config) (Outcome, error) {
	tty := newStreamTty(cfg.In, cfg.Out, cfg.Width, cfg.Height)
	scr, err := tcell.NewTerminfoScreenFromTtyTerminfo(tty, lookupTerm(cfg.Term))
	if err != nil {
		return Outcome{}, fmt.Errorf("ui: terminal %q: %w", cfg.Term, err)
	}
	if err := scr.Init(); err != nil {
		return Outcome{}, fmt.Errorf("ui: terminal %q: %w", cfg.Term, err)
	}
	defer scr.Fini()
	a := newApp(cfg, scr)
	return a.loop(ctx)
}

func (a *app) loop(ctx context.Context) (Outcome, error) {
	events := make(chan tcell.Event, 16)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		for {
			ev := a.scr.PollEvent()
			if ev == nil {
				close(events)
				return
			}
			select {
			case events <- ev:
			case <-quit:
				return
			}
		}
	}()
	// The progress screen redraws at most once a second, and only when the
	// engine reported something; tcell sends only the cells that changed.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	a.draw()
	var inputErr error
	for !a.finished {
		select {
		case <-ctx.Done():
			if a.done != nil {
				// Cancelled while imaging: the engine stops and writes its
				// records; return only when it has.
				a.sessionDone(<-a.done)
			}
			return a.out, ctx.Err()
		case ev, ok := <-events:
			if !ok {
				inputErr = fmt.Errorf("ui: terminal input closed")
				if a.done == nil {
					return a.out, inputErr
				}
				events = nil // imaging goes on to the end; nobody can answer after it
				continue
			}
			switch ev := ev.(type) {
			case *tcell.EventKey:
				a.key(ctx, ev)
			case *tcell.EventResize:
				a.scr.Sync()
			}
			a.draw()
		case <-tick.C:
			if a.page == pageProgress {
				if _, gen := a.board.snapshot(); gen != a.lastGen {
					a.draw()
				}
			}
		case err := <-a.done:
			a.sessionDone(err)
			a.draw()
			if inputErr != nil {
				return a.out, inputErr
			}
		}
	}
	return a.out, nil
}

// ErrAborted is why the sources of a session the operator aborted stopped.
var ErrAborted = errors.New("aborted by the operator")

// keyProgress: imaging needs no key, but the operator may stop it (a wrong
// source, no time left) without cutting the power: a asks, y stops every
// source. What was imaged stays on the target; records say incomplete.
func (a *app) keyProgress(ev *tcell.EventKey) {
	r := ev.Rune()
	isRune := ev.Key() == tcell.KeyRune
	switch {
	case !a.asking && isRune && (r == 'a' || r == 'A'):
		if a.aborted {
			a.msg = "imaging is stopping; the summary follows"
			return
		}
		a.asking = true
	case a.asking && isRune && (r == 'y' || r == 'Y'):
		a.asking = false
		a.aborted = true
		if err := a.session.Abort(a.cfg.Now(), a.abort); err != nil {
			a.msg = err.Error()
		}
	case a.asking && (isRune && (r == 'n' || r == 'N') || ev.Key() == tcell.KeyEscape):
		a.asking = false
	case !a.asking:
		a.msg = "imaging is running; the summary follows when every source is done (a aborts)"
	}
}

// sessionDone shows the summary once every job of the session ended.
func (a *app) sessionDone(err error) {
	a.done, a.asking = nil, false
	if a.abort != nil {
		a.abort(nil)
		a.abort = nil
	}
	a.out.Sessions = append(a.out.Sessions, a.session)
	if err != nil {
		a.msg = fmt.Sprintf("session record not written: %v", err)
	}
	a.page, a.scroll = pageSummary, 0
}

func (a *app) rescan() {
	a.devs, a.devErr = a.cfg.Devices()
	a.syncSelection()
	if a.cur >= len(a.rows()) {
		a.cur = max(0, len(a.rows())-1)
	}
}

// rows flattens disks and their partitions into the list order.
func (a *app) rows() []Device {
	var out []Device
	for _, d := range a.devs {
		out = append(out, d)
		if d.Kind == disk.KindFile {
			continue // partitions inside an image file have no path of their own
		}
		for _, p := range d.Partitions {
			pd := Device{Info: p, Boot: d.Boot}
			if pd.Path == "" {
				pd.Path = "/dev/" + p.Name
			}
			out = append(out, pd)
		}
	}
	return out
}

// syncSelection rebuilds Choices.Sources from the selection, in list order.
func (a *app) syncSelection() {
	a.ch.Sources = nil
	seen := map[string]bool{}
	for _, d := range a.rows() {
		if a.sel[d.Path] && !seen[d.Path] {
			seen[d.Path] = true
			a.ch.Sources = append(a.ch.Sources, d)
		}
	}
	for p := range a.sel {
		if !seen[p] {
			delete(a.sel, p) // gone since the last scan
		}
	}
}

// refreshTargets asks for the targets again and keeps the eligible ones.
func (a *app) refreshTargets() {
	all, err := a.cfg.Targets()
	a.tErr = err
	for i := range all {
		if d, ok := a.prepared[all[i].Name]; ok {
			all[i].Dir, all[i].Prepare = d, nil
			if free, err := disk.FreeSpace(d); err == nil {
				all[i].Free = free // mounted now: its free space is known
			}
		}
	}
	a.targets = eligibleTargets(all, a.ch.Sources)
	if a.tcur >= len(a.targets) {
		a.tcur = max(0, len(a.targets)-1)
	}
	if a.ch.Target != nil {
		for i, t := range a.targets {
			if t.Name == a.ch.Target.Name {
				a.tcur = i
			}
		}
	}
}

// eligibleTargets drops our boot medium and anything on a chosen source.
func eligibleTargets(all []Target, sources []Device) []Target {
	busy := map[string]bool{}
	for _, s := range sources {
		busy[s.Name] = true
		busy[s.Path] = true
		if s.Parent != "" {
			busy[s.Parent] = true
		}
		for _, p := range s.Partitions {
			busy[p.Name] = true
		}
		for _, m := range s.Members {
			busy[m] = true
			busy[filepath.Base(m)] = true
		}
	}
	var out []Target
	for _, t := range all {
		if t.Boot || busy[t.Name] || busy[strings.TrimPrefix(t.Name, "/dev/")] || (t.Disk != "" && busy[t.Disk]) {
			continue
		}
		out = append(out, t)
	}
	return out
}

// Over serial-over-LAN an arrow key's escape sequence can arrive split and
// the arrows may not work at all: every list also takes j/k and Ctrl-N/P,
// and b goes back where no text is typed.
func isUp(ev *tcell.EventKey) bool {
	return ev.Key() == tcell.KeyUp || ev.Key() == tcell.KeyCtrlP || ev.Key() == tcell.KeyRune && ev.Rune() == 'k'
}

func isDown(ev *tcell.EventKey) bool {
	return ev.Key() == tcell.KeyDown || ev.Key() == tcell.KeyCtrlN || ev.Key() == tcell.KeyRune && ev.Rune() == 'j'
}

func isBack(ev *tcell.EventKey) bool {
	return ev.Key() == tcell.KeyEscape || ev.Key() == tcell.KeyLeft || ev.Key() == tcell.KeyRune && ev.Rune() == 'b'
}

func (a *app) key(ctx context.Context, ev *tcell.EventKey) {
	if ev.Key() == tcell.KeyCtrlL {
		// Kernel or init messages on the same console garble the screen:
		// Ctrl-L repaints every cell.
		a.scr.Sync()
		return
	}
	a.msg = ""
	switch a.page {
	case pageSources:
		a.keySources(ev)
	case pageTarget:
		a.keyTarget(ev)
	case pageCase:
		a.keyCase(ev)
	case pageConfirm:
		a.keyConfirm(ctx, ev)
	case pageProgress:
		a.keyProgress(ev)
	case pageSummary:
		a.keySummary(ev)
	case pageShell:
		a.keyShell(ev)
	}
}

func (a *app) keySources(ev *tcell.EventKey) {
	rows := a.rows()
	switch {
	case isUp(ev):
		a.cur = max(0, a.cur-1)
	case isDown(ev):
		a.cur = max(0, min(len(rows)-1, a.cur+1))
	case ev.Key() == tcell.KeyRune && ev.Rune() == ' ':
		if len(rows) == 0 {
			return
		}
		d := rows[a.cur]
		switch {
		case d.Boot:
			a.msg = fmt.Sprintf("%s is our boot medium: it is never imaged", d.Name)
		case d.Size == 0:
			a.msg = fmt.Sprintf("%s has no medium (size 0): insert one and press r to rescan", d.Name)
		case d.Error != "":
			a.msg = fmt.Sprintf("%s cannot be read (%s): insert a medium or check it, then press r to rescan", d.Name, d.Error)
		default:
			a.sel[d.Path] = !a.sel[d.Path]
			if !a.sel[d.Path] {
				delete(a.sel, d.Path)
			}
		}
		a.syncSelection()
	case ev.Key() == tcell.KeyRune && (ev.Rune() == 'r' || ev.Rune() == 'R'):
		a.rescan()
		a.msg = fmt.Sprintf("rescanned: %d devices", len(a.devs))
	case ev.Key() == tcell.KeyRune && (ev.Rune() == 'q' || ev.Rune() == 'Q'):
		a.page, a.scroll = pageSummary, 0
	case ev.Key() == tcell.KeyEnter:
		if len(a.ch.Sources) == 0 {
			a.msg = "select at least one source with Space first"
			return
		}
		a.refreshTargets()
		a.page = pageTarget
	}
}

func (a *app) keyTarget(ev *tcell.EventKey) {
	switch {
	case isBack(ev):
		a.page = pageSources
	case isUp(ev):
		a.tcur = max(0, a.tcur-1)
	case isDown(ev):
		a.tcur = max(0, min(len(a.targets)-1, a.tcur+1))
	case ev.Key() == tcell.KeyRune && (ev.Rune() == 'r' || ev.Rune() == 'R'):
		a.refreshTargets()
		a.msg = fmt.Sprintf("rescanned: %d target candidates", len(a.targets))
	case ev.Key() == tcell.KeyEnter:
		if len(a.targets) == 0 {
			a.msg = "no target available: attach a disk with ext4, exFAT or vfat and press r"
			return
		}
		t := a.targets[a.tcur]
		if need := a.ch.Need(); t.Free >= 0 && t.Free < need {
			a.msg = fmt.Sprintf("%s: %s free, %s needed; choose another target or fewer sources (Esc)", t.Name, imager.HumanBytes(t.Free), imager.HumanBytes(need))
			return
		}
		a.ch.Target = &t
		a.page = pageCase
	}
}

// Case form fields.
const (
	fCase = iota
	fExaminer
	fEvidence
	fNotes
	fHashes
	fFormat
	fSplit
	fVerify
	nFields
)

func (a *app) textField(f int) *string {
	switch f {
	case fCase:
		return &a.ch.Case.Case
	case fExaminer:
		return &a.ch.Case.Examiner
	case fEvidence:
		return &a.ch.Case.Evidence
	case fNotes:
		return &a.ch.Case.Notes
	case fSplit:
		return &a.split
	}
	return nil
}

func (a *app) keyCase(ev *tcell.EventKey) {
	next := func() {
		a.field++
		if a.field == fSplit && a.ch.Format != "split" {
			a.field++
		}
	}
	prev := func() {
		a.field--
		if a.field == fSplit && a.ch.Format != "split" {
			a.field--
		}
		a.field = max(0, a.field)
	}
	switch ev.Key() {
	case tcell.KeyEscape:
		a.page = pageTarget
		return
	case tcell.KeyUp, tcell.KeyBacktab, tcell.KeyCtrlP:
		prev()
		return
	case tcell.KeyDown, tcell.KeyTab, tcell.KeyCtrlN:
		if a.field < nFields-1 {
			next()
		}
		return
	case tcell.KeyEnter:
		if a.field < nFields-1 {
			next()
			return
		}
		a.caseDone()
		return
	case tcell.KeyF10, tcell.KeyCtrlX:
		a.caseDone()
		return
	}
	if p := a.textField(a.field); p != nil {
		switch ev.Key() {
		case tcell.KeyBackspace, tcell.KeyBackspace2:
			if r := []rune(*p); len(r) > 0 {
				*p = string(r[:len(r)-1])
			}
		case tcell.KeyCtrlU:
			*p = ""
		case tcell.KeyRune:
			if len([]rune(*p)) < 60 && ev.Rune() >= ' ' && ev.Rune() < 0x7f {
				*p += string(ev.Rune())
			}
		}
		return
	}
	switch a.field {
	case fHashes:
		switch {
		case ev.Key() == tcell.KeyLeft:
			a.hcur = max(0, a.hcur-1)
		case ev.Key() == tcell.KeyRight:
			a.hcur = min(len(hashChoices)-1, a.hcur+1)
		case ev.Key() == tcell.KeyRune && ev.Rune() == ' ':
			alg := hashChoices[a.hcur]
			if i := slices.Index(a.ch.Hashes, alg); i >= 0 {
				a.ch.Hashes = slices.Delete(a.ch.Hashes, i, i+1)
			} else {
				a.ch.Hashes = imager.SortAlgs(append(a.ch.Hashes, alg))
			}
		}
	case fFormat:
		i := slices.Index(formats, a.ch.Format)
		switch {
		case ev.Key() == tcell.KeyLeft:
			i = max(0, i-1)
		case ev.Key() == tcell.KeyRight:
			i = min(len(formats)-1, i+1)
		case ev.Key() == tcell.KeyRune && ev.Rune() == ' ':
			i = (i + 1) % len(formats)
		}
		a.ch.Format = formats[i]
	case fVerify:
		if ev.Key() == tcell.KeyRune && ev.Rune() == ' ' {
			a.ch.Verify = !a.ch.Verify
		}
	}
}

func (a *app) caseDone() {
	if a.ch.Format == "split" {
		n, err := parseSize(a.split)
		if err != nil || n < 1<<20 || n%512 != 0 {
			a.field = fSplit
			a.msg = fmt.Sprintf("split size %q: give a size of at least 1M, a multiple of 512 bytes (e.g. 2G)", a.split)
			return
		}
		a.ch.Split = n
	}
	if m := a.ch.Missing(); m != "" {
		a.msg = m
		switch {
		case strings.TrimSpace(a.ch.Case.Case) == "":
			a.field = fCase
		case strings.TrimSpace(a.ch.Case.Examiner) == "":
			a.field = fExaminer
		case len(a.ch.Hashes) == 0:
			a.field = fHashes
		}
		return
	}
	a.page = pageConfirm
}

func (a *app) keyConfirm(ctx context.Context, ev *tcell.EventKey) {
	switch {
	case isBack(ev):
		a.page = pageCase
	case ev.Key() == tcell.KeyRune && (ev.Rune() == 'y' || ev.Rune() == 'Y'):
		s, jobs, err := Plan(ctx, a.cfg, &a.ch)
		a.notePrepared()
		if err != nil {
			a.msg = "refused, nothing written: " + err.Error()
			return
		}
		a.session, a.board, a.lastGen = s, newBoard(), -1
		for _, j := range jobs {
			a.board.JobStart(j.Req.Source, j.ID, j.Dev.Size) // rows in order before the first draw
		}
		done := make(chan error, 1)
		a.done = done
		jctx, abort := context.WithCancelCause(ctx)
		a.abort, a.asking, a.aborted = abort, false, false
		go func() { done <- s.Execute(jctx, jobs, a.board) }()
		a.page = pageProgress
	}
}

func (a *app) keySummary(ev *tcell.EventKey) {
	if isUp(ev) {
		a.scroll = max(0, a.scroll-1)
		return
	}
	if isDown(ev) {
		a.scroll++
		return
	}
	if isBack(ev) && a.session == nil {
		a.page = pageSources
		return
	}
	if ev.Key() != tcell.KeyRune {
		return
	}
	r := ev.Rune()
	if r == 'm' || r == 'M' {
		a.imageMore()
		return
	}
	for _, act := range a.cfg.Actions {
		if k, _ := actionText(act); string(r) == k {
			if act == ActionShell {
				a.page = pageShell
				return
			}
			a.out.Action, a.finished = act, true
			return
		}
	}
}

// notePrepared remembers a target Plan prepared, even when Plan then refused.
func (a *app) notePrepared() {
	if t := a.ch.Target; t != nil && t.Prepare == nil && t.Dir != "" {
		a.prepared[t.Name] = t.Dir
	}
}

// imageMore starts over with the same case details; sources and the
// target are chosen again, and the evidence number usually changes.
func (a *app) imageMore() {
	a.session, a.board, a.sel, a.ch.Target = nil, nil, map[string]bool{}, nil
	a.rescan()
	a.cur, a.top, a.field, a.page = 0, 0, fEvidence, pageSources
}

func (a *app) keyShell(ev *tcell.EventKey) {
	switch {
	case isBack(ev), ev.Key() == tcell.KeyRune && (ev.Rune() == 'n' || ev.Rune() == 'N'):
		a.page = pageSummary
	case ev.Key() == tcell.KeyRune && (ev.Rune() == 'y' || ev.Rune() == 'Y'):
		now := a.cfg.Now()
		for _, s := range a.out.Sessions {
			if err := s.Log(now, "emergency shell opened by the operator"); err != nil {
				a.msg = fmt.Sprintf("could not log the shell in %s: %v", s.Dir, err)
				return
			}
		}
		a.out.Action, a.finished = ActionShell, true
	}
}
