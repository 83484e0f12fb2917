package ui

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/gdamore/tcell/v2"
	"github.com/gdamore/tcell/v2/terminfo"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/session"
)

type page int

const (
	pageSources page = iota
	pageTarget
	pageOther  // file systems outside the target policy
	pageSerial // confirm one of them by typing its disk's serial
	pageClock  // clock check
	pageCase
	pageConfirm
	pageProgress
	pageSummary
	pageShell
	pageNet // type a network target
)

// app is the full-screen UI's state. Screens read and edit it; the engine
// is reached only through Plan and Session.Run (package session).
type app struct {
	cfg   Config
	scr   tcell.Screen
	frame *frame
	page  page
	msg   string // one line: the last error or hint, shown until the next key

	devs   []Device
	devErr error
	drives *drives // what each disk's drive says of itself, asked once in the background
	cur    int     // sources list cursor
	top    int     // sources list scroll
	sel    map[string]bool

	targets []Target // offered: eligible and passing the target policy (or confirmed)
	others  []Target // eligible, but neither labelled nor confirmed yet
	tErr    error
	tcur    int // -1: no row (Enter chooses nothing)
	ocur    int // cursor on the others page, -1: no row
	serial  string
	clock   string // the examiner's reading of the real time
	rtcNote string // what the clock screen showed when the examiner answered

	q *question // an open yes/no question

	ch    Choices
	field int // case form focus
	hcur  int // hash cursor in the hash field
	split string

	session *Session
	board   *board
	done    chan error
	abort   context.CancelCauseFunc // stops the running session
	asking  bool                    // the abort question is open
	offer   *CutOffFound            // the cut-off session question is open (confirm page)
	aborted bool                    // the operator aborted the running session
	lastGen int
	scroll  int // summary scroll

	out      Outcome
	finished bool

	prepared map[string]*Target // targets already prepared (mounted): name → the target, with its Release

	net    NetForm // the network target form
	nfield int     // its focus
	typed  *Target // the network target made of it, offered in the target list
}

// question is a yes/no question shown in place of the key help; only y
// answers yes, n or Esc answers no, every other key is refused.
type question struct {
	lines   [2]string
	yes, no func()
}

func (a *app) ask(l1, l2 string, yes, no func()) {
	a.q = &question{lines: [2]string{l1, l2}, yes: yes, no: no}
}

// hashChoices are the hashes offered, the default set first.
var hashChoices = []string{"sha256", "blake3", "md5", "sha1"}

// Formats offered, in order.
var formats = []string{"raw", "split", "e01"}

func newApp(cfg Config, scr tcell.Screen) *app {
	if cfg.confirmed == nil {
		cfg.confirmed = map[string]bool{}
	}
	a := &app{cfg: cfg, scr: scr, sel: map[string]bool{}, split: "2G", prepared: map[string]*Target{}, tcur: -1, ocur: -1, drives: newDrives(cfg.Identify)}
	if scr != nil {
		a.drives.notify = func() { scr.PostEvent(tcell.NewEventInterrupt(nil)) } // redraw with the answer
	}
	a.net = cfg.NetForm
	if a.net.Net == "" {
		a.net.Net = "dhcp"
	}
	a.ch = Choices{Case: cfg.Case, Hashes: append([]string(nil), cfg.Hashes...), Format: "raw", Split: DefaultSplit, Verify: true, Drive: a.drives.answered}
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
				if w, h := ev.Size(); a.frame == nil || w != a.frame.w || h != a.frame.h {
					a.scr.Sync() // a full repaint only when the size changed
				}
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
var ErrAborted = session.ErrAborted

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
	a.drives.startAll(a.rows())
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

// refreshTargets asks for the targets again and keeps the eligible ones:
// those passing the target policy (or confirmed by serial) are offered,
// the others are listed apart, to be confirmed first.
func (a *app) refreshTargets() {
	all, err := a.cfg.Targets()
	a.tErr = err
	if a.typed != nil {
		// The typed network target stands in for one of the same name.
		all = slices.DeleteFunc(all, func(t Target) bool { return t.Name == a.typed.Name })
		all = append(all, *a.typed)
	}
	for i := range all {
		if p, ok := a.prepared[all[i].Name]; ok {
			all[i].Dir, all[i].Release = p.Dir, p.Release
			if all[i].FSType == "s3" {
				continue // its folder stages records in memory: statfs would tell the memory's room
			}
			if free, err := disk.FreeSpace(p.Dir); err == nil {
				all[i].Free = free // mounted now: statfs knows
			}
		}
	}
	var prevName string
	if a.tcur >= 0 && a.tcur < len(a.targets) {
		prevName = a.targets[a.tcur].Name
	}
	a.targets, a.others = nil, nil
	for _, t := range eligibleTargets(all, a.ch.Sources) {
		if t.PolicyLabel(a.cfg.TargetLabels) != "" || a.cfg.confirmed[t.confirmKey()] {
			a.targets = append(a.targets, t)
		} else {
			a.others = append(a.others, t)
		}
	}
	a.tcur = -1 // the cursor starts on no row: Enter chooses nothing by itself
	for i, t := range a.targets {
		if prevName != "" && t.Name == prevName || a.ch.Target != nil && t.Name == a.ch.Target.Name {
			a.tcur = i
		}
	}
	if a.ch.Target != nil && a.tcur < 0 {
		a.ch.Target = nil // gone or no longer eligible: choose again
	}
	a.ocur = min(a.ocur, len(a.others)-1)
}

// eligibleTargets drops our boot medium and anything on a chosen source.
func eligibleTargets(all []Target, sources []Device) []Target {
	busy := busyNames(sources)
	var out []Target
	for _, t := range all {
		if t.Boot || t.onBusy(busy) {
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
		// Ctrl-L repaints every cell, and asks the terminal its size again.
		if tty, ok := a.scr.Tty(); ok {
			if st, ok := tty.(*streamTty); ok {
				st.Resize()
			}
		}
		a.scr.Sync()
		return
	}
	a.msg = ""
	if q := a.q; q != nil {
		switch {
		case ev.Key() == tcell.KeyRune && (ev.Rune() == 'y' || ev.Rune() == 'Y'):
			a.q = nil
			if q.yes != nil {
				q.yes()
			}
		case ev.Key() == tcell.KeyEscape || ev.Key() == tcell.KeyRune && (ev.Rune() == 'n' || ev.Rune() == 'N'):
			a.q = nil
			if q.no != nil {
				q.no()
			}
		default:
			a.msg = "answer the question first: y yes, n or Esc no"
		}
		return
	}
	switch a.page {
	case pageSources:
		a.keySources(ev)
	case pageTarget:
		a.keyTarget(ev)
	case pageOther:
		a.keyOther(ev)
	case pageSerial:
		a.keySerial(ev)
	case pageClock:
		a.keyClock(ev)
	case pageCase:
		a.keyCase(ev)
	case pageConfirm:
		a.keyConfirm(ctx, ev)
	case pageProgress:
		a.keyProgress(ev)
	case pageSummary:
		a.keySummary(ev)
	case pageShell:
		a.keyShell(ctx, ev)
	case pageNet:
		a.keyNet(ev)
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
		if why := a.unselectable(d); why != "" && !a.sel[d.Path] {
			a.msg = why
			return
		}
		if a.sel[d.Path] {
			delete(a.sel, d.Path)
			a.syncSelection()
			return
		}
		if q := a.nestedQuestion(d); q != "" {
			a.ask(q, "y image it separately too   n or Esc leave it unselected", func() {
				a.sel[d.Path] = true
				a.syncSelection()
			}, nil)
			return
		}
		a.sel[d.Path] = true
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

// unselectable says why a row cannot be a source ("" when it can).
func (a *app) unselectable(d Device) string {
	switch {
	case d.Boot:
		return fmt.Sprintf("%s is our boot medium: it is never imaged", d.Name)
	case a.isTarget(d):
		return fmt.Sprintf("%s holds the mounted target (writable): it is never a source", d.Name)
	case d.Size == 0:
		return fmt.Sprintf("%s has no medium (size 0): insert one and press r to rescan", d.Name)
	case d.Error != "":
		return fmt.Sprintf("%s cannot be read (%s): insert a medium or check it, then press r to rescan", d.Name, d.Error)
	}
	return ""
}

// isTarget reports a device that is, or holds, a prepared (mounted) target.
func (a *app) isTarget(d Device) bool {
	for _, t := range a.prepared {
		if t.Disk != "" && (d.Name == t.Disk || d.Parent == t.Disk || "/dev/"+d.Name == t.Name) {
			return true
		}
	}
	return false
}

// nestedQuestion asks before a disk and one of its own partitions are both
// selected: the partition is inside the disk's image already.
func (a *app) nestedQuestion(d Device) string {
	for _, s := range a.ch.Sources {
		switch {
		case d.Kind == disk.KindPart && s.Name == d.Parent:
			return fmt.Sprintf("%s is inside the image of %s (selected). Image it separately too?", d.Name, s.Name)
		case s.Kind == disk.KindPart && s.Parent == d.Name:
			return fmt.Sprintf("%s holds %s (selected): that partition is inside this disk's image. Image both?", d.Name, s.Name)
		}
	}
	return ""
}

func (a *app) keyTarget(ev *tcell.EventKey) {
	switch {
	case isBack(ev):
		a.page = pageSources
	case isUp(ev):
		a.tcur = max(0, a.tcur-1)
		if len(a.targets) == 0 {
			a.tcur = -1
		}
	case isDown(ev):
		a.tcur = min(len(a.targets)-1, a.tcur+1)
	case ev.Key() == tcell.KeyRune && (ev.Rune() == 'r' || ev.Rune() == 'R'):
		a.refreshTargets()
		a.msg = fmt.Sprintf("rescanned: %d target(s) offered, %d other file system(s)", len(a.targets), len(a.others))
	case ev.Key() == tcell.KeyRune && (ev.Rune() == 'o' || ev.Rune() == 'O'):
		if len(a.others) == 0 {
			a.msg = "no other file systems: every candidate is offered above"
			return
		}
		a.ocur, a.page = -1, pageOther
	case ev.Key() == tcell.KeyRune && (ev.Rune() == 'n' || ev.Rune() == 'N') && a.cfg.NetTarget != nil:
		a.nfield, a.page = nfURL, pageNet
	case ev.Key() == tcell.KeyEnter:
		if len(a.targets) == 0 {
			a.msg = fmt.Sprintf("no target offered: attach a disk with a file system labelled %s and press r, or o to confirm another disk", strings.Join(orDefault(a.cfg.TargetLabels), " or "))
			return
		}
		if a.tcur < 0 {
			a.msg = "no target chosen: move to one with Up/Down (j/k), then Enter"
			return
		}
		note, err := a.chooseTarget(a.targets[a.tcur])
		if err != nil {
			a.msg = err.Error()
			return
		}
		a.msg = note
		a.enterClock()
	}
}

// chooseTarget makes t the target when every check that needs nothing
// unlocked passes; a FAT target too small in file size for a raw image
// switches the format to split raw at the largest FAT-safe size, and note
// says so. Both modes choose a target through it.
func (a *app) chooseTarget(t Target) (note string, err error) {
	c := a.ch
	c.Target = &t
	err = CheckTarget(&c, a.cfg.TargetLabels, a.cfg.confirmed)
	if err != nil && !errors.Is(err, errNeedSplit) {
		return "", fmt.Errorf("%w (nothing was unlocked)", err)
	}
	a.ch.Target = &t
	if errors.Is(err, errNeedSplit) && a.ch.Format == "raw" {
		a.ch.Format, a.ch.Split, a.split = "split", session.FATSplit, fmt.Sprint(session.FATSplit)
		return fmt.Sprintf("%s (%s) cannot hold files of 4 GiB: the images will be split into files of %s", t.Name, t.FSType, imager.HumanBytes(session.FATSplit)), nil
	}
	return "", nil
}

// keyOther: the file systems outside the target policy. One can become a
// target only through the serial confirmation.
func (a *app) keyOther(ev *tcell.EventKey) {
	switch {
	case isBack(ev):
		a.page = pageTarget
	case isUp(ev):
		a.ocur = max(0, a.ocur-1)
	case isDown(ev):
		a.ocur = min(len(a.others)-1, a.ocur+1)
	case ev.Key() == tcell.KeyEnter:
		if a.ocur < 0 || a.ocur >= len(a.others) {
			a.msg = "move to a file system with Up/Down (j/k) first"
			return
		}
		a.serial, a.page = "", pageSerial
	}
}

// keySerial: typing the code confirms the disk; anything else confirms
// nothing.
func (a *app) keySerial(ev *tcell.EventKey) {
	t := a.others[a.ocur]
	switch ev.Key() {
	case tcell.KeyEscape:
		a.page = pageOther
	case tcell.KeyEnter:
		code, what := t.ConfirmCode()
		if !strings.EqualFold(strings.TrimSpace(a.serial), code) {
			a.msg = fmt.Sprintf("%q is not %s: %s stays unconfirmed", a.serial, what, t.Name)
			a.serial = ""
			return
		}
		a.cfg.confirmed[t.confirmKey()] = true
		a.ch.Target = nil
		a.refreshTargets()
		for i, x := range a.targets {
			if x.Name == t.Name {
				a.tcur = i
			}
		}
		a.page = pageTarget
		a.msg = fmt.Sprintf("%s confirmed by the examiner; it is now offered as a target (Enter chooses it)", t.Name)
	default:
		editText(&a.serial, ev, 40)
	}
}

// enterClock opens the clock check with the clocks read now.
func (a *app) enterClock() {
	a.rtcNote = a.clockLine()
	a.page = pageClock
}

// clockLine is what the clock screen says of the two clocks.
func (a *app) clockLine() string {
	now := a.cfg.Now().UTC()
	s := "appliance clock " + now.Format("2006-01-02 15:04:05") + " UTC"
	if a.cfg.RTC == nil {
		return s + ", no hardware clock read"
	}
	rtc, err := a.cfg.RTC()
	if err != nil {
		return s + ", hardware clock unreadable: " + err.Error()
	}
	return s + ", hardware clock (RTC) " + rtc.UTC().Format("2006-01-02 15:04:05") + fmt.Sprintf(" (RTC minus appliance %+.0f s)", rtc.Sub(now).Seconds())
}

func (a *app) keyClock(ev *tcell.EventKey) {
	switch ev.Key() {
	case tcell.KeyEscape:
		a.page = pageTarget
	case tcell.KeyEnter:
		a.ch.ClockCheck = clockCheck(a.clock, a.rtcNote)
		a.page = pageCase
	default:
		editText(&a.clock, ev, 60)
	}
}

// clockCheck is the record's note of the clock screen.
func clockCheck(examiner, clocks string) string {
	if strings.TrimSpace(examiner) == "" {
		return "clock check: the examiner gave no reading; " + clocks
	}
	return fmt.Sprintf("clock check: examiner says %s; %s", strings.TrimSpace(examiner), clocks)
}

// editText applies a typing key to a text field of at most limit runes:
// any printable character (UTF-8 included), Backspace, Ctrl-U.
func editText(p *string, ev *tcell.EventKey, limit int) {
	switch ev.Key() {
	case tcell.KeyBackspace, tcell.KeyBackspace2:
		if r := []rune(*p); len(r) > 0 {
			*p = string(r[:len(r)-1])
		}
	case tcell.KeyCtrlU:
		*p = ""
	case tcell.KeyRune:
		if r := ev.Rune(); len([]rune(*p)) < limit && unicode.IsPrint(r) {
			*p += string(r)
		}
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
		a.page = pageClock
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
		limit := 200
		if a.field == fNotes {
			limit = 2000
		}
		editText(p, ev, limit)
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
		n, err := imager.ParseSize(a.split)
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
	a.page, a.scroll = pageConfirm, 0
}

func (a *app) keyConfirm(ctx context.Context, ev *tcell.EventKey) {
	switch {
	case isUp(ev):
		a.scroll = max(0, a.scroll-1)
	case isDown(ev):
		a.scroll++ // drawConfirm keeps it within the lines
	case a.offer != nil && isBack(ev):
		a.offer = nil
		if err := a.ch.GoBack(a.cfg); err != nil {
			a.msg = err.Error()
		}
		a.page = pageCase
	case a.offer != nil && ev.Key() == tcell.KeyRune && (ev.Rune() == 'c' || ev.Rune() == 'n'):
		a.ch.CutOff = &CutOffAnswer{Folder: a.offer.Folder, Continue: ev.Rune() == 'c'}
		a.offer = nil
		a.start(ctx)
	case a.offer != nil:
		a.msg = "answer first: c continues the cut-off session, n starts a new one, Esc goes back"
	case isBack(ev):
		a.page = pageCase
	case ev.Key() == tcell.KeyRune && (ev.Rune() == 'y' || ev.Rune() == 'Y'):
		a.start(ctx)
	}
}

// start plans the session and runs it; a cut-off session of the case on
// the target opens the question first (a.offer).
func (a *app) start(ctx context.Context) {
	a.releaseOthers()
	s, err := Plan(ctx, a.cfg, &a.ch)
	a.notePrepared()
	var found *CutOffFound
	if errors.As(err, &found) {
		a.offer, a.scroll = found, 0
		return
	}
	if err != nil {
		a.msg = "refused: " + err.Error()
		return
	}
	if err := s.Begin(); err != nil {
		s.Close()
		a.msg = "refused: the session record cannot be written on the target: " + err.Error()
		return
	}
	a.session, a.board, a.lastGen = s, newBoard(), -1
	for _, j := range s.Jobs {
		a.board.JobStart(j.Req.Source, j.ID, j.Source.Size) // rows in order before the first draw
	}
	done := make(chan error, 1)
	a.done = done
	jctx, abort := context.WithCancelCause(ctx)
	a.abort, a.asking, a.aborted = abort, false, false
	go func() { done <- s.Run(jctx, a.board) }()
	a.page = pageProgress
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
		if k, _ := actionText(act); string(r) != k {
			continue
		}
		switch act {
		case ActionShell:
			a.page = pageShell
		case ActionPowerOff:
			a.ask("Power off now? Every record is written and synced.", "y power off   n or Esc stay here", func() { a.out.Action, a.finished = act, true }, nil)
		case ActionReboot:
			a.ask("Reboot? WARNING: the server may then start its own operating system from its disks and change the evidence.",
				"y reboot anyway   n or Esc stay here (p powers off: the safe choice)", func() { a.out.Action, a.finished = act, true }, nil)
		default:
			a.out.Action, a.finished = act, true
		}
		return
	}
}

// notePrepared keeps track of the target Plan prepared (mounted and
// writable) and forgets one Plan released again after a refusal.
func (a *app) notePrepared() {
	t := a.ch.Target
	if t == nil || t.Disk == "" && t.Network == nil {
		return // a host directory: nothing to prepare or release
	}
	if t.Dir != "" && t.Prepare != nil {
		p := *t
		a.prepared[t.Name] = &p
	} else {
		delete(a.prepared, t.Name)
	}
}

// releaseOthers makes every prepared target but the chosen one read-only
// again before another is prepared: only the chosen target is writable.
func (a *app) releaseOthers() {
	for name, t := range a.prepared {
		if a.ch.Target != nil && a.ch.Target.Name == name {
			continue
		}
		if t.Release == nil {
			delete(a.prepared, name)
			continue
		}
		if err := a.ch.relock(a.cfg.Now(), t, fmt.Sprintf("another target (%s) was chosen", targetName(a.ch.Target))); err != nil {
			a.msg = fmt.Sprintf("%s could not be made read-only again: %v", name, err)
			continue
		}
		delete(a.prepared, name)
	}
}

func targetName(t *Target) string {
	if t == nil {
		return "none"
	}
	return t.Name
}

// imageMore starts over with the same case details; sources and the
// target are chosen again, and the evidence number usually changes.
func (a *app) imageMore() {
	a.session, a.board, a.sel, a.ch.Target, a.tcur = nil, nil, map[string]bool{}, nil, -1
	a.rescan()
	a.cur, a.top, a.field, a.page = 0, 0, fEvidence, pageSources
}

func (a *app) keyShell(ctx context.Context, ev *tcell.EventKey) {
	switch {
	case isBack(ev), ev.Key() == tcell.KeyRune && (ev.Rune() == 'n' || ev.Rune() == 'N'):
		a.page = pageSummary
	case ev.Key() == tcell.KeyRune && (ev.Rune() == 'y' || ev.Rune() == 'Y'):
		if err := a.logSessions("emergency shell opened by the operator"); err != nil {
			a.msg = err.Error()
			return
		}
		if a.cfg.Shell == nil {
			a.out.Action, a.finished = ActionShell, true
			return
		}
		a.scr.Suspend()
		err := a.cfg.Shell(ctx)
		a.scr.Resume()
		a.scr.Sync()
		a.page = pageSummary
		if lerr := a.logSessions("emergency shell closed"); lerr != nil {
			a.msg = lerr.Error()
		}
		if err != nil {
			a.msg = "emergency shell: " + err.Error()
		}
	}
}

// logSessions records an operator action in every session of this boot
// (none: nothing to record it in).
func (a *app) logSessions(what string) error {
	now := a.cfg.Now()
	for _, s := range a.out.Sessions {
		if err := s.Log(now, what); err != nil {
			return fmt.Errorf("could not log %q in %s: %v", what, s.Dir, err)
		}
	}
	return nil
}
