package ui

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
)

// plain is line mode: numbered lists and one question per line, for
// terminals without cursor addressing and for logs. "<" answers any
// question with "go back"; answers given so far are kept and offered as
// the defaults.
type plain struct {
	cfg   Config
	out   io.Writer
	lines chan string
	errc  chan error
	a     *app // the same choices and lists as the full-screen mode
}

var errBack = errors.New("back")

func runPlain(ctx context.Context, cfg Config) (Outcome, error) {
	p := &plain{cfg: cfg, out: cfg.Out, lines: make(chan string), errc: make(chan error, 1)}
	p.a = newApp(cfg, nil)
	go func() {
		br := bufio.NewReader(cfg.In)
		for {
			l, err := br.ReadString('\n')
			if l != "" || err == nil {
				p.lines <- strings.TrimRight(l, "\r\n")
			}
			if err != nil {
				p.errc <- err
				return
			}
		}
	}()
	p.printf("coldimage %s - plain mode: type the names or text asked for, then Enter; < goes back.\n", cfg.Version)
	steps := []func(context.Context) error{p.sources, p.target, p.clock, p.caseDetails, p.confirm}
	for {
		for i := 0; i < len(steps); {
			err := steps[i](ctx)
			switch {
			case errors.Is(err, errBack):
				i = max(0, i-1)
			case errors.Is(err, errQuit):
				i = len(steps)
			case err != nil:
				return p.a.out, err
			default:
				i++
			}
		}
		act, err := p.next(ctx)
		if err != nil {
			return p.a.out, err
		}
		if act != "" {
			p.a.out.Action = act
			return p.a.out, nil
		}
		p.a.imageMore()
	}
}

var errQuit = errors.New("quit")

func (p *plain) printf(format string, a ...any) { fmt.Fprintf(p.out, format, a...) }

// ask prints a question and returns the answer, def for an empty one.
func (p *plain) ask(ctx context.Context, q, def string) (string, error) {
	if def != "" {
		p.printf("%s [%s]: ", q, def)
	} else {
		p.printf("%s: ", q)
	}
	l, err := p.line(ctx)
	switch l = strings.TrimSpace(l); {
	case err != nil:
		return "", err
	case l == "<":
		return "", errBack
	case l == "":
		return def, nil
	}
	return l, nil
}

// line waits for the next line typed.
func (p *plain) line(ctx context.Context) (string, error) {
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case l := <-p.lines:
		return l, nil
	case err := <-p.errc:
		return "", fmt.Errorf("ui: console input ended: %w", err)
	}
}

// plainRow is a source row for line mode: at most 79 columns, so an
// 80-column terminal never wraps it.
func plainRow(d Device, sel, target bool, drive string) string {
	mark, name := rowMark(d, sel, target)
	return strings.TrimRight(fmt.Sprintf("%s %-13s %10s %-10s %-14s %-12s %-3s %s", mark, clip(name, 13), imager.HumanBytes(d.Size),
		clip(orDash(d.Model), 10), clip(orDash(d.Serial), 14), clip(rowType(d, target), 12), rowRO(d), drive), " ")
}

const plainHeader = "SEL NAME                SIZE MODEL      SERIAL         TYPE         RO  DRIVE"

// pick finds the row a typed word names: kernel name, /dev path, source
// path or a disk's serial. Names are stable between screens; numbers are
// not (a rescan or a deselection shifts them).
func pick(rows []Device, word string) (Device, bool) {
	word = strings.TrimSpace(word)
	for _, d := range rows {
		if word == d.Name || word == d.Path || word == "/dev/"+d.Name {
			return d, true
		}
	}
	var found []Device
	for _, d := range rows {
		if d.Kind != disk.KindPart && d.Serial != "" && (strings.EqualFold(word, d.Serial) || strings.EqualFold(word, "SERIAL="+d.Serial)) {
			found = append(found, d)
		}
	}
	if len(found) == 1 {
		return found[0], true
	}
	// A long name (a RAID volume's md-<uuid>) is shortened in the list:
	// its beginning as shown, "..." or not, names it when no other row
	// starts the same way.
	if prefix := strings.TrimSuffix(word, "..."); len(prefix) >= 6 {
		found = nil
		for _, d := range rows {
			if strings.HasPrefix(d.Name, prefix) {
				found = append(found, d)
			}
		}
		if len(found) == 1 {
			return found[0], true
		}
	}
	return Device{}, false
}

func (p *plain) sources(ctx context.Context) error {
	a := p.a
	for {
		a.drives.waitAll(5 * time.Second) // the DRIVE column: a drive that takes longer shows "..."
		rows := a.rows()
		state, warn := a.writeState()
		if warn {
			state = "WARNING: " + state
		}
		p.printf("\nSources (%s):\n%s\n", state, plainHeader)
		if a.devErr != nil {
			p.printf("  listing devices failed: %v\n", a.devErr)
		}
		flagged := false
		for _, d := range rows {
			f := a.drives.flag(d)
			flagged = flagged || (f != "" && f != "...")
			p.printf("%s\n", plainRow(d, a.sel[d.Path], a.isTarget(d), f))
		}
		for _, d := range rows {
			if len([]rune(d.Name)) > 13 {
				p.printf("  %s is %s\n", clip(d.Name, 13), d.Name) // shortened above
			}
		}
		if len(rows) == 0 {
			p.printf("  no devices found\n")
		}
		if flagged {
			p.printf("  DRIVE HPA: the drive hides sectors, not imaged. LOCK: locked. d NAME: more\n")
		}
		var cur []string
		for _, d := range a.ch.Sources {
			cur = append(cur, d.Name)
		}
		ans, err := p.ask(ctx, "sources: names (e.g. sda sdb1) or serials; r rescan, d NAME details, q quit", strings.Join(cur, " "))
		if err != nil {
			if errors.Is(err, errBack) {
				continue
			}
			return err
		}
		switch {
		case ans == "r":
			a.rescan()
			continue
		case ans == "q":
			return errQuit
		case strings.HasPrefix(ans, "d "):
			if d, ok := pick(rows, ans[2:]); ok {
				for _, l := range append(deviceDetails(d), a.drives.details(d)) {
					for _, part := range wrap(l, 75) {
						p.printf("    %s\n", part)
					}
				}
			} else {
				p.printf("! %q is not a name from the list\n", strings.TrimSpace(ans[2:]))
			}
			continue
		}
		sel, chosen, bad := map[string]bool{}, []Device{}, ""
		for _, f := range strings.FieldsFunc(ans, func(r rune) bool { return r == ' ' || r == ',' }) {
			d, ok := pick(rows, f)
			if !ok {
				bad = fmt.Sprintf("%q is not a name or serial from the list", f)
				break
			}
			if why := a.unselectable(d); why != "" {
				bad = why
				break
			}
			if !sel[d.Path] {
				sel[d.Path] = true
				chosen = append(chosen, d)
			}
		}
		if bad != "" {
			p.printf("! %s\n", bad)
			continue
		}
		if len(sel) == 0 {
			p.printf("! choose at least one source\n")
			continue
		}
		if ok, err := p.nested(ctx, chosen, sel); err != nil {
			return err
		} else if !ok {
			continue
		}
		a.sel = sel
		a.syncSelection()
		return nil
	}
}

// nested asks, for each chosen partition whose disk is chosen too, whether
// to image it separately; "no" drops the partition from the selection.
func (p *plain) nested(ctx context.Context, chosen []Device, sel map[string]bool) (bool, error) {
	for _, d := range chosen {
		if d.Kind != disk.KindPart {
			continue
		}
		for _, x := range chosen {
			if x.Name != d.Parent {
				continue
			}
			ans, err := p.ask(ctx, fmt.Sprintf("%s is inside the image of %s: image it separately too? (yes/no)", d.Name, x.Name), "no")
			if errors.Is(err, errBack) {
				return false, nil
			}
			if err != nil {
				return false, err
			}
			if strings.ToLower(ans) != "yes" && strings.ToLower(ans) != "y" {
				delete(sel, d.Path)
			}
		}
	}
	return true, nil
}

func (p *plain) target(ctx context.Context) error {
	a := p.a
	a.refreshTargets()
	for {
		need := a.ch.Need()
		p.printf("\nTargets: file systems labelled %s or confirmed by serial (need %s):\n", strings.Join(orDefault(a.cfg.TargetLabels), " or "), imager.HumanBytes(need))
		if a.tErr != nil {
			p.printf("  listing targets failed: %v\n", a.tErr)
		}
		p.printTargets(a.targets, need)
		for _, t := range a.targets {
			if t.Room(need) == RoomIfCutOff {
				p.printf("  SHORT: too little free room for new images, but large enough to go on with a session cut off on it; the room is checked once it is mounted\n")
				break
			}
		}
		if len(a.targets) == 0 {
			p.printf("  none offered: attach a disk with a file system labelled %s, then type r\n", strings.Join(orDefault(a.cfg.TargetLabels), " or "))
		}
		if len(a.others) > 0 {
			p.printf("  %s: type o to see them\n", plural(len(a.others), "other file system"))
		}
		def := ""
		if a.ch.Target != nil {
			def = strings.TrimPrefix(a.ch.Target.Name, "/dev/")
		}
		if a.cfg.NetTarget != nil {
			p.printf("  network targets (s3://, smb://, nfs://): type n\n")
		}
		ans, err := p.ask(ctx, "target name (r rescan, o others, < back)", def)
		if err != nil {
			return err
		}
		switch ans {
		case "r":
			a.refreshTargets()
			continue
		case "n":
			if a.cfg.NetTarget == nil {
				break
			}
			switch chosen, err := p.netForm(ctx); {
			case errors.Is(err, errBack):
			case err != nil:
				return err
			case chosen:
				return nil
			}
			continue
		case "o":
			if err := p.confirmOther(ctx); err != nil {
				return err
			}
			continue
		}
		t, ok := findTarget(a.targets, ans)
		if !ok {
			if _, other := findTarget(a.others, ans); other {
				p.printf("! %s has no target label: type o and confirm its disk by serial first\n", ans)
			} else {
				p.printf("! %q is not a target name from the list\n", ans)
			}
			continue
		}
		note, err := a.chooseTarget(t)
		if err != nil {
			p.printf("! %v\n", err)
			continue
		}
		if note != "" {
			p.printf("! %s\n", note)
		}
		return nil
	}
}

func (p *plain) printTargets(ts []Target, need int64) {
	if len(ts) == 0 {
		return
	}
	p.printf("TARGET           FS     LABEL            FREE             DISK\n")
	for _, t := range ts {
		free := freeText(t.Free)
		switch t.Room(need) {
		case RoomNone:
			free += " NO FIT"
		case RoomIfCutOff:
			free += " SHORT"
		}
		p.printf("%s\n", strings.TrimRight(fmt.Sprintf("%-16s %-6s %-16s %-16s %s", clip(strings.TrimPrefix(t.Name, "/dev/"), 16), clip(orDash(t.FSType), 6),
			clip(orDash(t.Label), 16), clip(free, 16), clip(strings.TrimSpace(orDash(t.DiskModel)+" "+t.DiskSerial), 26)), " "))
	}
}

// findTarget finds a target by its name, with or without /dev/.
func findTarget(ts []Target, word string) (Target, bool) {
	word = strings.TrimPrefix(strings.TrimSpace(word), "/dev/")
	for _, t := range ts {
		if strings.TrimPrefix(t.Name, "/dev/") == word {
			return t, true
		}
	}
	return Target{}, false
}

// confirmOther lists the file systems outside the target policy and lets
// the examiner confirm one by its disk's serial (or size).
func (p *plain) confirmOther(ctx context.Context) error {
	a := p.a
	if len(a.others) == 0 {
		p.printf("! no other file systems\n")
		return nil
	}
	p.printf("\nOther file systems - no target label; they may belong to the seized machine:\n")
	p.printTargets(a.others, a.ch.Need())
	ans, err := p.ask(ctx, "name of the one to confirm as target (Enter: none)", "")
	if err != nil || ans == "" {
		if errors.Is(err, errBack) {
			return nil
		}
		return err
	}
	t, ok := findTarget(a.others, ans)
	if !ok {
		p.printf("! %q is not a name from that list\n", ans)
		return nil
	}
	code, what := t.ConfirmCode()
	p.printf("\nUse %s as the TARGET? It will be made writable and written to.\n", t.Name)
	p.printf("  disk %s, model %s, serial %s, %s (%s GiB)\n", orDash(t.Disk), orDash(t.DiskModel), orDash(t.DiskSerial), imager.HumanBytes(t.DiskSize), SizeGiB(t.DiskSize))
	p.printf("  file system %s %s, %s free, %s\n", orDash(t.FSType), orDash(t.Label), freeText(t.Free), orDash(t.State))
	for _, l := range t.DiskParts {
		p.printf("  partition %s\n", l)
	}
	ans, err = p.ask(ctx, "to confirm, type "+what+" (Enter: cancel)", "")
	if err != nil && !errors.Is(err, errBack) {
		return err
	}
	if !strings.EqualFold(strings.TrimSpace(ans), code) {
		p.printf("! not confirmed: %s stays unoffered\n", t.Name)
		return nil
	}
	a.cfg.confirmed[t.confirmKey()] = true
	p.cfg.confirmed = a.cfg.confirmed
	a.refreshTargets()
	p.printf("! %s confirmed by the examiner; it is now offered\n", t.Name)
	return nil
}

// clock is the clock check: both clocks shown, the examiner's reading of
// the real time recorded as typed.
func (p *plain) clock(ctx context.Context) error {
	a := p.a
	a.rtcNote = a.clockLine()
	p.printf("\nClock check: %s\n", a.rtcNote)
	ans, err := p.ask(ctx, "real time from your watch/phone, with zone (Enter: no reading)", a.clock)
	if err != nil {
		return err
	}
	a.clock = ans
	a.ch.ClockCheck = clockCheck(ans, a.rtcNote)
	return nil
}

func (p *plain) caseDetails(ctx context.Context) error {
	c := &p.a.ch
	p.printf("\nCase details (Enter keeps the value in brackets):\n")
	type q struct {
		label string
		get   func() string
		set   func(string) error
	}
	qs := []q{
		{"1) case number", func() string { return c.Case.Case }, func(s string) error { c.Case.Case = s; return nil }},
		{"2) examiner", func() string { return c.Case.Examiner }, func(s string) error { c.Case.Examiner = s; return nil }},
		{"3) evidence number", func() string { return c.Case.Evidence }, func(s string) error { c.Case.Evidence = s; return nil }},
		{"4) notes", func() string { return c.Case.Notes }, func(s string) error { c.Case.Notes = s; return nil }},
		{"5) hashes (sha256,blake3,md5,sha1)", func() string { return strings.Join(c.Hashes, ",") }, func(s string) error {
			h, err := imager.ParseHashes(s)
			if err == nil {
				c.Hashes = h
			}
			return err
		}},
		{"6) format (raw, split, e01)", func() string { return c.Format }, func(s string) error {
			for _, f := range formats {
				if s == f {
					c.Format = f
					return nil
				}
			}
			return fmt.Errorf("%q: type raw, split or e01", s)
		}},
		{"7) split size", func() string { return p.a.split }, func(s string) error {
			n, err := imager.ParseSize(s)
			if err != nil || n < 1<<20 || n%512 != 0 {
				return fmt.Errorf("%q: give a size of at least 1M, a multiple of 512 bytes (e.g. 2G)", s)
			}
			p.a.split, c.Split = s, n
			return nil
		}},
		{"8) verify after imaging (yes/no)", func() string {
			if c.Verify {
				return "yes"
			}
			return "no"
		}, func(s string) error {
			switch strings.ToLower(s) {
			case "y", "yes":
				c.Verify = true
			case "n", "no":
				c.Verify = false
			default:
				return fmt.Errorf("%q: type yes or no", s)
			}
			return nil
		}},
	}
	for i := 0; i < len(qs); {
		if i == 6 && c.Format != "split" {
			i++
			continue
		}
		ans, err := p.ask(ctx, qs[i].label, qs[i].get())
		if errors.Is(err, errBack) {
			if i == 0 {
				return errBack
			}
			i--
			if i == 6 && c.Format != "split" {
				i--
			}
			continue
		}
		if err != nil {
			return err
		}
		if err := qs[i].set(ans); err != nil {
			p.printf("! %v\n", err)
			continue
		}
		if (i == 0 || i == 1) && strings.TrimSpace(ans) == "" {
			p.printf("! this field is required\n")
			continue
		}
		i++
	}
	return nil
}

func (p *plain) confirm(ctx context.Context) error {
	p.printf("\nConfirm - nothing has been written or unlocked yet:\n")
	for _, l := range p.a.choiceLines() {
		for _, part := range wrap(l, 77) {
			p.printf("  %s\n", part)
		}
	}
	for {
		ans, err := p.ask(ctx, "type yes to start imaging, < to go back", "")
		if err != nil {
			return err
		}
		if ans != "yes" {
			p.printf("! type yes (the whole word) to start, or < to change something\n")
			continue
		}
		p.a.releaseOthers()
		logged := len(p.a.ch.Log)
		s, err := runSession(ctx, p.a.cfg, &p.a.ch, p.watchAbort)
		p.a.notePrepared()
		var found *CutOffFound
		if errors.As(err, &found) {
			again, err := p.cutOff(ctx, found)
			if err != nil {
				return err
			}
			if !again {
				return errBack
			}
			s, err = runSession(ctx, p.a.cfg, &p.a.ch, p.watchAbort)
			p.a.notePrepared()
			if errors.As(err, &found) {
				err = fmt.Errorf("a cut-off session is still found after the answer: %w", err)
			}
		}
		if s == nil {
			for _, e := range p.a.ch.Log[min(logged, len(p.a.ch.Log)):] {
				p.printf("  %s %s\n", e.Time, e.What) // recorded in the next session's record
			}
			p.printf("! refused: %v\n", err)
			return errBack
		}
		p.a.session = s
		p.a.out.Sessions = append(p.a.out.Sessions, s)
		if err != nil {
			p.printf("! %v\n", err)
		}
		return nil
	}
}

// cutOff asks what to do with a cut-off session of the case found on the
// target: continue it or start a new one (true: plan again), or go back
// (false: the target is released again).
func (p *plain) cutOff(ctx context.Context, f *CutOffFound) (bool, error) {
	p.printf("\nA session of this case was cut off on this target:\n")
	for _, l := range cutOffLines(f, "continue", "new") {
		p.printf("  %s\n", l)
	}
	for {
		ans, err := p.ask(ctx, "type continue, new, or < to go back", "")
		if errors.Is(err, errBack) {
			if err := p.a.ch.GoBack(p.cfg); err != nil {
				p.printf("! %v\n", err)
			}
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if ans == "continue" || ans == "new" {
			p.a.ch.CutOff = &CutOffAnswer{Folder: f.Folder, Continue: ans == "continue"}
			return true, nil
		}
		p.printf("! type continue (the whole word), new, or <\n")
	}
}

// runSession plans and runs a session. While it runs, watch (if set) may
// abort it through its cancel function; it must return when stop closes.
func runSession(ctx context.Context, cfg Config, c *Choices, watch func(s *Session, abort context.CancelCauseFunc, stop <-chan struct{})) (*Session, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LogEvery == 0 {
		cfg.LogEvery = 10 * time.Second
	}
	s, err := Plan(ctx, cfg, c)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Out, "imaging %d source(s) into %s\n", len(s.Jobs), imager.Where(s.Dir))
	jctx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	stop, watching := make(chan struct{}), make(chan struct{})
	if watch != nil {
		fmt.Fprintf(cfg.Out, "type abort and Enter to stop imaging (asks first)\n")
		go func() { defer close(watching); watch(s, abort, stop) }()
	} else {
		close(watching)
	}
	prog := NewText(cfg.Out, false, cfg.LogEvery)
	err = s.Run(jctx, prog)
	close(stop)
	<-watching
	prog.Close()
	fmt.Fprintf(cfg.Out, "\nSummary:\n")
	for _, l := range summaryLines(s, 0) {
		fmt.Fprintf(cfg.Out, "  %s\n", l)
	}
	if err != nil {
		return s, fmt.Errorf("session record not written: %w", err)
	}
	return s, nil
}

// watchAbort reads the console while a session runs: "abort", then "yes",
// stops every source (what was imaged stays, recorded as incomplete) and
// logs it in the session record. Other lines are answered with a hint.
func (p *plain) watchAbort(s *Session, abort context.CancelCauseFunc, stop <-chan struct{}) {
	asking := false
	for {
		select {
		case <-stop:
			return
		case l := <-p.lines:
			l = strings.ToLower(strings.TrimSpace(l))
			switch {
			case !asking && l == "abort":
				asking = true
				p.printf("! abort imaging? every source stops; what was imaged stays, recorded as incomplete. type yes to abort, anything else keeps imaging\n")
			case asking && l == "yes":
				if err := s.Abort(p.cfg.Now(), abort); err != nil {
					p.printf("! %v\n", err)
				}
				p.printf("! aborted: every source is stopping and writing its record\n")
				asking = false
			case asking:
				asking = false
				p.printf("! imaging goes on\n")
			case l != "":
				p.printf("! imaging is running; the summary follows (type abort to stop it)\n")
			}
		case err := <-p.errc:
			p.errc <- err // for the next question
			return
		}
	}
}

// next asks what to do after a session: "" means image more. Choices are
// words, not numbers; power off and reboot ask again.
func (p *plain) next(ctx context.Context) (Action, error) {
	for {
		words := []string{"more"}
		p.printf("\nNext: more (image more)")
		for _, act := range p.cfg.Actions {
			w := plainWord(act)
			words = append(words, w)
			p.printf(", %s", w)
		}
		p.printf("\n")
		ans, err := p.ask(ctx, "type one of: "+strings.Join(words, ", "), "")
		if errors.Is(err, errBack) {
			continue
		}
		if err != nil {
			return "", err
		}
		ans = strings.ToLower(strings.TrimSpace(ans))
		if ans == "more" {
			return "", nil
		}
		var act Action
		for _, x := range p.cfg.Actions {
			if plainWord(x) == ans {
				act = x
			}
		}
		if act == "" {
			p.printf("! %q is not one of: %s\n", ans, strings.Join(words, ", "))
			continue
		}
		switch act {
		case ActionPowerOff:
			if !p.yes(ctx, "power off now? (yes/no)") {
				continue
			}
		case ActionReboot:
			p.printf("! WARNING: after a reboot the server may start its own operating system from its disks and change the evidence. poweroff is the safe choice.\n")
			if !p.yes(ctx, "reboot anyway? (yes/no)") {
				continue
			}
		case ActionShell:
			if !p.yes(ctx, "open the emergency shell? (yes/no; logged when a session exists)") {
				continue
			}
			if err := p.a.logSessions("emergency shell opened by the operator"); err != nil {
				p.printf("! %v\n", err)
			}
			if p.cfg.Shell == nil {
				return act, nil
			}
			p.shell(ctx)
			continue
		}
		return act, nil
	}
}

// shell runs the emergency shell in place: the console's input goes to the
// shell until it exits, then plain mode asks again.
func (p *plain) shell(ctx context.Context) {
	p.printf("emergency shell: type exit to come back here\n")
	if err := p.cfg.Shell(ctx); err != nil {
		p.printf("! emergency shell: %v\n", err)
	}
	if err := p.a.logSessions("emergency shell closed"); err != nil {
		p.printf("! %v\n", err)
	}
}

// yes asks a yes/no question; only yes (or y) is yes.
func (p *plain) yes(ctx context.Context, q string) bool {
	ans, err := p.ask(ctx, q, "no")
	if err != nil {
		return false
	}
	ans = strings.ToLower(ans)
	return ans == "yes" || ans == "y"
}

// plainWord is the word typed for an action.
func plainWord(a Action) string {
	switch a {
	case ActionPowerOff:
		return "poweroff"
	case ActionReboot:
		return "reboot"
	case ActionShell:
		return "shell"
	case ActionQuit:
		return "quit"
	}
	return string(a)
}
