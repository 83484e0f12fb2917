package ui

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
	"github.com/gdamore/tcell/v2"
)

// cutOffTarget is a target holding a session of case C that was cut off
// right after it began (session.json in progress, the source not started),
// as a power cut leaves it; it returns the config and that session folder.
func cutOffTarget(t *testing.T) (Config, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "small.img")
	b := make([]byte, 8<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(p, b, 0o444); err != nil {
		t.Fatal(err)
	}
	info, err := disk.Inspect(p)
	if err != nil {
		t.Skipf("inspect: %v", err)
	}
	target := t.TempDir()
	cfg := Config{
		Devices: func() ([]Device, error) { return []Device{{Info: info}}, nil },
		Targets: func() ([]Target, error) { return []Target{{Name: target, Dir: target, Free: -1, Given: true}}, nil },
		Case:    imager.Case{Case: "C", Examiner: "E"},
		Hashes:  []string{"sha256"},
	}
	first := cfg
	first.Now = func() time.Time { return time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC) }
	ch := &Choices{Sources: []Device{{Info: info}}, Target: &Target{Name: target, Dir: target, Free: -1, Given: true},
		Case: cfg.Case, Hashes: cfg.Hashes, Format: "raw", Verify: true}
	s, err := Plan(context.Background(), first, ch)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Begin(); err != nil { // and then the power went
		t.Fatal(err)
	}
	s.Close()
	return cfg, s.Dir
}

// TestCutOffOffered: a session of the case cut off on the chosen target is
// put to the examiner before anything is imaged. "new" starts a new
// folder; "continue" goes on in the cut-off one, keeping its record as
// session-run1.json; an answer about another folder is asked again.
func TestCutOffOffered(t *testing.T) {
	cfg, cut := cutOffTarget(t)
	cfg.Now = func() time.Time { return time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC) }
	devs, _ := cfg.Devices()
	ts, _ := cfg.Targets()
	ch := &Choices{Sources: devs, Target: &ts[0], Case: cfg.Case, Hashes: cfg.Hashes, Format: "raw", Verify: true}
	rel, _ := filepath.Rel(ts[0].Dir, cut)

	_, err := Plan(context.Background(), cfg, ch)
	var found *CutOffFound
	if !errors.As(err, &found) || found.Folder != rel || !strings.Contains(err.Error(), "cut off") {
		t.Fatalf("Plan: %v; want the cut-off session in %s offered", err, rel)
	}
	ch.CutOff = &CutOffAnswer{Folder: "coldimage/C/20200101T000000Z", Continue: true}
	if _, err := Plan(context.Background(), cfg, ch); !errors.As(err, &found) {
		t.Fatalf("an answer about another folder was taken: %v", err)
	}
	ch.CutOff = &CutOffAnswer{Folder: rel}
	s, err := Plan(context.Background(), cfg, ch)
	if err != nil || s.Dir == cut {
		t.Fatalf("new: %v, folder %v", err, s)
	}
	ch.CutOff.Continue = true
	s, err = Plan(context.Background(), cfg, ch)
	if err != nil || s.Dir != cut {
		t.Fatalf("continue: %v, folder %s, want %s", err, s.Dir, cut)
	}
	if err := s.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	rec, err := imager.ReadSession(cut)
	if err != nil || rec.Result != "ok" || len(rec.Sources) != 1 || !rec.Sources[0].OK {
		t.Fatalf("continued session: %v %+v", err, rec)
	}
	if _, err := os.Stat(filepath.Join(cut, "session-run1.json")); err != nil {
		t.Errorf("the cut-off run's record is not kept: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(cut)); len(ents) != 1 {
		t.Errorf("%d session folders, want the one continued", len(ents))
	}
}

// TestPlainCutOffQuestion: line mode asks before imaging; a wrong word is
// asked again, < goes back to the questions with nothing written, and
// "continue" images into the cut-off session's folder.
func TestPlainCutOffQuestion(t *testing.T) {
	cfg, cut := cutOffTarget(t)
	cfg.Now = func() time.Time { return time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC) }
	term, _, answer, done := runPlainTerm(t, cfg)
	answer("sources", "small.img")
	ts, _ := cfg.Targets()
	answer("target name", ts[0].Name)
	answer("real time", "")
	caseDefaults(answer)
	answer("type yes to start imaging", "yes")
	answer("type continue, new", "maybe")
	answer("type continue, new", "<")
	if ents, _ := os.ReadDir(filepath.Dir(cut)); len(ents) != 1 {
		t.Fatalf("going back left %d session folders", len(ents))
	}
	caseDefaults(answer)
	answer("type yes to start imaging", "yes")
	answer("type continue, new", "continue")
	answer("type one of", "quit")
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("Run: %v\n%s", r.err, term.Output())
		}
	case <-time.After(time.Minute):
		t.Fatalf("Run did not end:\n%s", term.Output())
	}
	rec, err := imager.ReadSession(cut)
	if err != nil || rec.Result != "ok" {
		t.Fatalf("continued session: %v %+v\n%s", err, rec, term.Output())
	}
	for _, want := range []string{"was cut off on this target", "type continue (the whole word)", "continue: the session goes on in its folder"} {
		if !strings.Contains(term.Output(), want) {
			t.Errorf("output lacks %q:\n%s", want, term.Output())
		}
	}
}

// TestScreenCutOffQuestion: the full-screen console asks on the confirm
// page; other keys do not start anything, Esc goes back, c continues the
// cut-off session.
func TestScreenCutOffQuestion(t *testing.T) {
	cfg, cut := cutOffTarget(t)
	cfg.Now = func() time.Time { return time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC) }
	a, v := testApp(t, "vt100", cfg)
	keys(a, " ", tcell.KeyEnter, tcell.KeyDown, tcell.KeyEnter, tcell.KeyEnter, tcell.KeyF10)
	keys(a, "y")
	a.draw()
	if a.page != pageConfirm || a.offer == nil || !strings.Contains(v.dump(), "A session of this case was cut off on this target") || !strings.Contains(v.dump(), "c continue the cut-off session") {
		t.Fatalf("no question (page %v, msg %q):\n%s", a.page, a.msg, v.dump())
	}
	keys(a, "y")
	if a.session != nil || a.offer == nil {
		t.Fatal("y started imaging while the question was open")
	}
	keys(a, tcell.KeyEscape)
	if a.offer != nil || a.page != pageCase {
		t.Fatalf("Esc: offer %v page %v", a.offer, a.page)
	}
	keys(a, tcell.KeyF10, "y", "c")
	if a.page != pageProgress || a.session == nil || a.session.Dir != cut {
		t.Fatalf("c did not continue the cut-off session (page %v, msg %q)", a.page, a.msg)
	}
	select {
	case err := <-a.done:
		a.sessionDone(err)
	case <-time.After(time.Minute):
		t.Fatal("the continued session did not end")
	}
	if rec, err := imager.ReadSession(cut); err != nil || rec.Result != "ok" {
		t.Fatalf("continued session: %v %+v", err, rec)
	}
}

// TestConfirmWarnsOfEncryption: the confirm screen warns, per source, of
// what its content tells about encryption (its own and its partitions'),
// of sectors its drive hides and of a locked drive; each drive is asked once.
func TestConfirmWarnsOfEncryption(t *testing.T) {
	hidden := int64(2048)
	drives := map[string]*imager.DeviceIdentity{
		"/dev/sda": {Transport: "ata", HPAHidden: &hidden, HiddenArea: "HPA: 2048 sectors hidden (accessible 1000, native 3048)", Locked: true, ATASecurity: "ATA SECURITY ENABLED AND LOCKED",
			KernelHPA: []string{"kernel: ata1.00: HPA unlocked: 1000 -> 3048, native 3048"}},
	}
	var asked atomic.Int32
	a := &app{drives: newDrives(func(dev string) *imager.DeviceIdentity { asked.Add(1); return drives[dev] }),
		ch: Choices{Case: imager.Case{Case: "C", Examiner: "E"}, Format: "raw", Hashes: []string{"sha256"},
			Sources: []Device{{Info: disk.Info{Name: "sda", Kind: disk.KindDisk, Size: 1 << 30}}, {Info: disk.Info{Name: "sdb", Kind: disk.KindDisk, Size: 1 << 30, Encryption: "possibly encrypted: no file system found"}}}},
		devs: []Device{{Info: disk.Info{Name: "sda2", Kind: disk.KindPart, Parent: "sda", Encryption: "BitLocker: encrypted volume"}}}}
	got := strings.Join(a.choiceLines(), "\n")
	for _, w := range []string{"WARNING sda2: BitLocker: encrypted volume: the image will hold ciphertext", "WARNING sdb: possibly encrypted",
		"WARNING sda: HPA: 2048 sectors hidden (accessible 1000, native 3048): those sectors are not imaged", "WARNING sda: LOCKED: ATA SECURITY ENABLED AND LOCKED",
		"WARNING sda: the kernel unlocked a host protected area on this drive at boot (kernel log: kernel: ata1.00: HPA unlocked: 1000 -> 3048, native 3048); recorded"} {
		if !strings.Contains(got, w) {
			t.Errorf("confirm lines lack %q:\n%s", w, got)
		}
	}
	if strings.Contains(got, "WARNING sdb: HPA") {
		t.Error("a drive without a hidden area was warned about")
	}
	a.choiceLines() // redrawn: the drives are not asked again
	if asked.Load() != 2 {
		t.Errorf("the drives were asked %d times for 2 sources over two draws", asked.Load())
	}
}

// The confirm screen says what the hidden-area choice (coldimage.hpa=)
// comes to for each drive.
func TestConfirmHPAChoice(t *testing.T) {
	hidden, none := int64(2048), int64(0)
	closed := &imager.DeviceIdentity{Transport: "ata", HPAHidden: &hidden, HiddenArea: "HPA: 2048 sectors hidden (accessible 1000, native 3048)"}
	opened := &imager.DeviceIdentity{Transport: "ata", HPAHidden: &none, HiddenArea: "no host protected area (native 3048)",
		KernelHPA: []string{"kernel: ata1.00: HPA detected: current 1000, native 3048", "kernel: ata1.00: HPA unlocked: 1000 -> 3048, native 3048"}}
	plain := &imager.DeviceIdentity{Transport: "ata", HPAHidden: &none, HiddenArea: "no host protected area"}
	for _, c := range []struct {
		name, mode string
		id         *imager.DeviceIdentity
		want, not  string
	}{
		{"report, closed", imager.HPAReport, closed, "WARNING sda: HPA: 2048 sectors hidden (accessible 1000, native 3048): those sectors are not imaged", "opened"},
		{"image, closed", imager.HPAImage, closed, "those sectors are not imaged: coldimage.hpa=image asked, but the kernel did not open the area", "kernel opened"},
		{"image, opened", imager.HPAImage, opened, "WARNING sda: the kernel opened a host protected area of 2048 sectors: 1000 -> 3048 of native 3048 (volatile SET MAX ADDRESS: the drive reverts at power-off); imaged", "not imaged"},
		{"image, none", imager.HPAImage, plain, "", "WARNING sda"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := &app{cfg: Config{HPA: c.mode}, drives: newDrives(func(string) *imager.DeviceIdentity { return c.id }),
				ch: Choices{Case: imager.Case{Case: "C", Examiner: "E"}, Format: "raw", Hashes: []string{"sha256"},
					Sources: []Device{{Info: disk.Info{Name: "sda", Kind: disk.KindDisk, Size: 1 << 30}}}}}
			got := strings.Join(a.choiceLines(), "\n")
			if !strings.Contains(got, c.want) {
				t.Errorf("confirm lines lack %q:\n%s", c.want, got)
			}
			if strings.Contains(got, c.not) {
				t.Errorf("confirm lines hold %q:\n%s", c.not, got)
			}
		})
	}
}
