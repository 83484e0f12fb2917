package ui

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

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
	p.printf("coldimage %s - plain mode: type the number or text asked for and press Enter; < goes back.\n", cfg.Version)
	steps := []func(context.Context) error{p.sources, p.target, p.caseDetails, p.confirm}
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
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case l := <-p.lines:
		l = strings.TrimSpace(l)
		if l == "<" {
			return "", errBack
		}
		if l == "" {
			return def, nil
		}
		return l, nil
	case err := <-p.errc:
		return "", fmt.Errorf("ui: console input ended: %w", err)
	}
}

func (p *plain) sources(ctx context.Context) error {
	a := p.a
	for {
		rows := a.rows()
		p.printf("\nSources (every disk is read-only):\n")
		if a.devErr != nil {
			p.printf("  listing devices failed: %v\n", a.devErr)
		}
		for i, d := range rows {
			n := fmt.Sprintf("%3d)", i+1)
			if d.Boot {
				n = "  -)"
			}
			p.printf("%s %s\n", n, strings.TrimRight(deviceRow(d, a.sel[d.Path])[4:], " "))
		}
		if len(rows) == 0 {
			p.printf("  no devices found\n")
		}
		var cur []string
		for i, d := range rows {
			if a.sel[d.Path] {
				cur = append(cur, strconv.Itoa(i+1))
			}
		}
		ans, err := p.ask(ctx, "sources: numbers separated by spaces (r rescan, d N details, q power off/reboot/shell)", strings.Join(cur, " "))
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
			if n, err := strconv.Atoi(strings.TrimSpace(ans[2:])); err == nil && n >= 1 && n <= len(rows) {
				for _, l := range deviceDetails(rows[n-1]) {
					p.printf("    %s\n", l)
				}
			}
			continue
		}
		sel := map[string]bool{}
		bad := ""
		for _, f := range strings.FieldsFunc(ans, func(r rune) bool { return r == ' ' || r == ',' }) {
			n, err := strconv.Atoi(f)
			switch {
			case err != nil || n < 1 || n > len(rows):
				bad = fmt.Sprintf("%q is not a number from the list", f)
			case rows[n-1].Boot:
				bad = fmt.Sprintf("%s is our boot medium: it is never imaged", rows[n-1].Name)
			case rows[n-1].Size == 0:
				bad = fmt.Sprintf("%s has no medium: insert one and type r", rows[n-1].Name)
			case rows[n-1].Error != "":
				bad = fmt.Sprintf("%s cannot be read (%s): insert a medium or check it, then type r", rows[n-1].Name, rows[n-1].Error)
			default:
				sel[rows[n-1].Path] = true
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
		a.sel = sel
		a.syncSelection()
		return nil
	}
}

func (p *plain) target(ctx context.Context) error {
	a := p.a
	for {
		a.refreshTargets()
		need := a.ch.Need()
		p.printf("\nTargets (need %s; sources and the boot medium are not offered):\n", imager.HumanBytes(need))
		if a.tErr != nil {
			p.printf("  listing targets failed: %v\n", a.tErr)
		}
		def := ""
		for i, t := range a.targets {
			free := "free space unknown until mounted"
			if t.Free >= 0 {
				free = imager.HumanBytes(t.Free) + " free"
				if t.Free < need {
					free += " - WILL NOT FIT"
				}
			}
			p.printf("%3d) %s %s %s, %s\n", i+1, t.Name, orDash(t.FSType), t.Label, free)
			if a.ch.Target != nil && a.ch.Target.Name == t.Name {
				def = strconv.Itoa(i + 1)
			}
		}
		if len(a.targets) == 0 {
			p.printf("  no target candidates: attach a disk with ext4, exFAT or vfat, then type r\n")
		}
		ans, err := p.ask(ctx, "target number (r rescan, < back)", def)
		if err != nil {
			return err
		}
		if ans == "r" {
			continue
		}
		n, err := strconv.Atoi(ans)
		if err != nil || n < 1 || n > len(a.targets) {
			p.printf("! %q is not a number from the list\n", ans)
			continue
		}
		t := a.targets[n-1]
		if t.Free >= 0 && t.Free < need {
			p.printf("! %s: %s free, %s needed; choose another target, or < to choose fewer sources\n", t.Name, imager.HumanBytes(t.Free), imager.HumanBytes(need))
			continue
		}
		a.ch.Target = &t
		return nil
	}
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
			n, err := parseSize(s)
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
	p.printf("\nConfirm - nothing has been written yet:\n")
	for _, l := range p.a.choiceLines() {
		p.printf("  %s\n", l)
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
		s, err := runSession(ctx, p.cfg, &p.a.ch, p.watchAbort)
		p.a.notePrepared()
		if s == nil {
			p.printf("! refused, nothing written: %v\n", err)
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

// Unattended runs the chosen jobs without questions, printing the same
// progress lines and summary as plain mode to cfg.Out (coldimage.auto=1).
// A nil session means Plan refused and nothing was written.
func Unattended(ctx context.Context, cfg Config, c *Choices) (*Session, error) {
	return runSession(ctx, cfg, c, nil)
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
	s, jobs, err := Plan(ctx, cfg, c)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Out, "imaging %d source(s) into %s\n", len(jobs), s.Dir)
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
	err = s.Execute(jctx, jobs, prog)
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

// next asks what to do after a session: "" means image more.
func (p *plain) next(ctx context.Context) (Action, error) {
	for {
		p.printf("\nNext:\n  1) image more\n")
		for i, act := range p.cfg.Actions {
			_, t := actionText(act)
			p.printf("  %d) %s\n", i+2, t)
		}
		ans, err := p.ask(ctx, "choice", "")
		if errors.Is(err, errBack) {
			continue
		}
		if err != nil {
			return "", err
		}
		n, err := strconv.Atoi(ans)
		if err != nil || n < 1 || n > len(p.cfg.Actions)+1 {
			p.printf("! %q is not a number from the list\n", ans)
			continue
		}
		if n == 1 {
			return "", nil
		}
		act := p.cfg.Actions[n-2]
		if act == ActionShell {
			ans, err := p.ask(ctx, "type SHELL to open the emergency shell (logged in the session record)", "")
			if err != nil && !errors.Is(err, errBack) {
				return "", err
			}
			if ans != "SHELL" {
				continue
			}
			for _, s := range p.a.out.Sessions {
				if err := s.Log(p.cfg.Now(), "emergency shell opened by the operator"); err != nil {
					p.printf("! could not log the shell in %s: %v\n", s.Dir, err)
				}
			}
		}
		return act, nil
	}
}
