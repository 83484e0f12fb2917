package ui

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/hinshun/vt10x"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
)

var update = flag.Bool("update", false, "rewrite the golden screen dumps in testdata/screens")

// vterm is a VT100 emulator the screens draw into, counting the bytes sent
// (what a serial line has to carry).
type vterm struct {
	mu     sync.Mutex
	vt     vt10x.Terminal
	bytes  int
	writes []time.Time
}

func (v *vterm) Write(b []byte) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.bytes += len(b)
	v.writes = append(v.writes, time.Now())
	return v.vt.Write(b)
}

func (v *vterm) sent() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.bytes
}

// dump is the 80×24 screen as text, trailing blanks removed.
func (v *vterm) dump() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for _, l := range strings.Split(strings.TrimRight(v.vt.String(), "\n"), "\n") {
		out = append(out, strings.TrimRight(l, " "))
	}
	return strings.Join(out, "\n") + "\n"
}

// testApp is an app drawing into a virtual terminal of the given TERM.
func testApp(t *testing.T, term string, cfg Config) (*app, *vterm) {
	t.Helper()
	v := &vterm{vt: vt10x.New(vt10x.WithSize(80, 24))}
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	tty := newStreamTty(pr, v, 80, 24)
	scr, err := tcell.NewTerminfoScreenFromTtyTerminfo(tty, lookupTerm(term))
	if err != nil {
		t.Fatal(err)
	}
	if err := scr.Init(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(scr.Fini)
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Date(2026, 11, 22, 5, 30, 0, 0, time.UTC) }
	}
	if cfg.Hashes == nil {
		cfg.Hashes = imager.DefaultHashes
	}
	if cfg.Actions == nil {
		cfg.Actions = []Action{ActionPowerOff, ActionReboot, ActionShell}
	}
	cfg.Version = "1.0.0"
	a := newApp(cfg, scr)
	a.drives.waitAll(5 * time.Second) // the fixture's drives answer at once: every dump shows their answers
	a.draw()
	return a, v
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "screens", name+".txt")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./ui -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("screen %s differs from %s:\n--- got ---\n%s--- want ---\n%s", name, path, got, want)
	}
}

// Keys as the terminal would deliver them.
func keys(a *app, ks ...any) {
	for _, k := range ks {
		switch k := k.(type) {
		case tcell.Key:
			a.key(context.Background(), tcell.NewEventKey(k, 0, tcell.ModNone))
		case string:
			for _, r := range k {
				a.key(context.Background(), tcell.NewEventKey(tcell.KeyRune, r, tcell.ModNone))
			}
		}
		a.draw()
	}
}

// fixtureDevices is what disk.List reports on a small server: two SATA
// disks, one partitioned, an md member, our USB boot stick, a card reader
// without a medium.
func fixtureDevices() []Device {
	sda := disk.Info{Path: "/dev/sda", Name: "sda", Kind: disk.KindDisk, Size: 500107862016, LogicalSector: 512, PhysicalSector: 4096,
		Model: "WDC WD5000AAKX-0", Serial: "WD-WCC2EKH12345", Transport: "sata", ReadOnly: true, PartTable: "gpt"}
	sda.Partitions = []disk.Info{
		{Path: "/dev/sda1", Name: "sda1", Kind: disk.KindPart, Parent: "sda", PartNumber: 1, Size: 536870912, LogicalSector: 512, PhysicalSector: 4096,
			Serial: "WD-WCC2EKH12345", ReadOnly: true, FSType: "vfat", FSLabel: "EFI", PartType: "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"},
		{Path: "/dev/sda2", Name: "sda2", Kind: disk.KindPart, Parent: "sda", PartNumber: 2, Size: 499570991104, LogicalSector: 512, PhysicalSector: 4096,
			Serial: "WD-WCC2EKH12345", ReadOnly: true, FSType: "ext4", FSLabel: "root", PartType: "0fc63daf-8483-4772-8e79-3d69d8477de4"},
	}
	sdb := disk.Info{Path: "/dev/sdb", Name: "sdb", Kind: disk.KindDisk, Size: 1000204886016, LogicalSector: 512, PhysicalSector: 512,
		Model: "ST1000DM003-1ER1", Serial: "Z4Y8ABCD", Transport: "sata", ReadOnly: true, FSType: "linux_raid_member",
		RAID: "md-1.2 raid1 degraded 1/2 srv:0 (active)"}
	sdc := disk.Info{Path: "/dev/sdc", Name: "sdc", Kind: disk.KindDisk, Size: 15376318464, LogicalSector: 512, PhysicalSector: 512,
		Model: "Ultra Fit", Serial: "4C530001", Transport: "usb", Removable: true, ReadOnly: true, PartTable: "mbr"}
	sdd := disk.Info{Path: "/dev/sdd", Name: "sdd", Kind: disk.KindDisk, Model: "SD/MMC Reader", Transport: "usb", Removable: true, ReadOnly: true}
	md := disk.Info{Path: "md-5f3c2a1b:90e1d2c3:44556677:8899aabb", Name: "md-5f3c2a1b:90e1d2c3:44556677:8899aabb", Kind: "raid",
		Size: 1000069595136, LogicalSector: 512, PhysicalSector: 512, ReadOnly: true, Model: "raid1 srv:0",
		RAID: "md-1.2 raid1 degraded, members /dev/sdb"}
	return []Device{{Info: sda}, {Info: sdb}, {Info: sdc, Boot: true}, {Info: sdd}, {Info: md, Members: []string{"/dev/sdb"}}}
}

func fixtureTargets() []Target {
	return []Target{
		{Name: "/dev/sde1", Disk: "sde", FSType: "ext4", Label: "EVIDENCE", Free: 3 << 40, Dir: "/mnt/target", State: "clean",
			DiskModel: "Expansion Desk", DiskSerial: "NAAB1234", DiskSize: 4 << 40},
		{Name: "/dev/sdf1", Disk: "sdf", FSType: "exfat", Label: "EVIDENCE-SMALL", Free: 64 << 30, Dir: "/mnt/small", State: "clean",
			DiskModel: "Cruzer", DiskSerial: "4C5300099", DiskSize: 64 << 30},
		{Name: "/dev/sdg1", Disk: "sdg", FSType: "ext4", Label: "DATA", Free: 2 << 40, Dir: "/mnt/sdg1", State: "clean",
			DiskModel: "WDC WD20EZRZ", DiskSerial: "WD-WCC4M0XYZ987", DiskSize: 2 << 40, DiskParts: []string{"sdg1        2.0 TiB ext4 DATA"}},
		{Name: "/dev/sda2", Disk: "sda", FSType: "ext4", Label: "root", Free: 1 << 30, Dir: "/mnt/sda2"},
		{Name: "/dev/sdc1", Disk: "sdc", FSType: "vfat", Label: "COLDIMAGE", Free: 1 << 30, Boot: true},
		{Name: "/dev/sdb", Disk: "sdb", FSType: "", Free: -1}, // the md member: offered only when neither it nor its volume is a source
	}
}

func fixtureIdentify(dev string) *imager.DeviceIdentity {
	none, hidden := int64(0), int64(4096)
	switch dev {
	case "/dev/sda":
		return &imager.DeviceIdentity{Transport: "ata", HPAHidden: &none, HiddenArea: "no host protected area (native max = accessible max)"}
	case "/dev/sdb":
		return &imager.DeviceIdentity{Transport: "ata", HPAHidden: &hidden, HiddenArea: "HPA: 4096 sectors hidden (accessible 1953521072, native 1953525168)"}
	}
	return nil
}

func fixtureConfig() Config {
	return Config{
		Devices: func() ([]Device, error) { return fixtureDevices(), nil },
		Targets: func() ([]Target, error) { return fixtureTargets(), nil },
		Case:    imager.Case{Examiner: "J. Doe"},
		// The fixture's disks are not this machine's: their drives answer
		// as a disk without a hidden area (sda) and one with a host
		// protected area (sdb) would; the others answer nothing.
		Identify: fixtureIdentify,
	}
}

// TestScreens walks the flow as an examiner would and compares every
// screen with its golden dump.
func TestScreens(t *testing.T) {
	a, v := testApp(t, "vt220", fixtureConfig())
	golden(t, "1-sources", v.dump())

	keys(a, " ")                                              // sda
	keys(a, tcell.KeyDown, tcell.KeyDown, tcell.KeyDown, " ") // sdb
	keys(a, tcell.KeyDown, " ")                               // sdc: boot medium, refused
	golden(t, "1-sources-boot-refused", v.dump())
	if len(a.ch.Sources) != 2 || a.ch.Sources[0].Name != "sda" || a.ch.Sources[1].Name != "sdb" {
		t.Fatalf("sources = %+v, want sda and sdb", a.ch.Sources)
	}

	keys(a, tcell.KeyEnter)
	golden(t, "2-target", v.dump())
	keys(a, tcell.KeyEnter) // the cursor starts on no row: Enter chooses nothing
	if a.page != pageTarget || a.ch.Target != nil {
		t.Fatalf("Enter with the cursor on no row chose %+v", a.ch.Target)
	}
	for _, tg := range a.targets {
		if tg.Name == "/dev/sdg1" || tg.Name == "/dev/sda2" {
			t.Fatalf("%s (no target label, not confirmed) is offered", tg.Name)
		}
	}
	keys(a, tcell.KeyDown, tcell.KeyDown) // EVIDENCE-SMALL: 64 GiB for 1.4 TiB
	golden(t, "2-target-will-not-fit", v.dump())
	keys(a, tcell.KeyEnter)
	if a.page != pageTarget || !strings.Contains(a.msg, "needed") {
		t.Fatalf("a target that does not fit was accepted (page %d, msg %q)", a.page, a.msg)
	}
	// The other file systems: sdg1 is offered only after its serial is typed.
	keys(a, "o")
	golden(t, "2-target-others", v.dump())
	keys(a, tcell.KeyEnter)
	if a.page != pageOther {
		t.Fatalf("Enter on no row left the others page (page %d)", a.page)
	}
	keys(a, tcell.KeyDown, tcell.KeyEnter)
	golden(t, "2-target-serial", v.dump())
	keys(a, "WD-W", tcell.KeyEnter) // the first characters, not the last
	if a.page != pageSerial || len(a.cfg.confirmed) != 0 || !strings.Contains(a.msg, "not the last 4 characters") {
		t.Fatalf("a wrong code confirmed the disk: page %d, %v, %q", a.page, a.cfg.confirmed, a.msg)
	}
	keys(a, "z987", tcell.KeyEnter)
	if a.page != pageTarget || a.tcur < 0 || a.targets[a.tcur].Name != "/dev/sdg1" || a.ch.Target != nil {
		t.Fatalf("after the confirmation: page %d cursor %d targets %+v chosen %+v", a.page, a.tcur, a.targets, a.ch.Target)
	}
	keys(a, tcell.KeyEscape) // back: the selection must survive
	if a.page != pageSources || len(a.ch.Sources) != 2 {
		t.Fatalf("Esc lost the selection: page %d, %d sources", a.page, len(a.ch.Sources))
	}
	keys(a, tcell.KeyEnter, tcell.KeyUp, tcell.KeyUp, tcell.KeyEnter)
	if a.ch.Target == nil || a.ch.Target.Name != "/dev/sde1" || a.page != pageClock {
		t.Fatalf("target = %+v, page %d", a.ch.Target, a.page)
	}
	golden(t, "3-clock", v.dump())
	keys(a, "2026-11-22 06:31 CET Müller", tcell.KeyEnter)
	if !strings.Contains(a.ch.ClockCheck, "examiner says 2026-11-22 06:31 CET Müller; appliance clock 2026-11-22 05:30:00 UTC") {
		t.Fatalf("clock check %q", a.ch.ClockCheck)
	}

	keys(a, "2026-0042", tcell.KeyEnter)
	keys(a, tcell.KeyEnter) // examiner default kept
	keys(a, "HDD-01", tcell.KeyEnter, "seized at office 3", tcell.KeyEnter)
	keys(a, tcell.KeyRight, tcell.KeyRight, " ") // md5 on
	golden(t, "4-case", v.dump())
	keys(a, tcell.KeyEnter, tcell.KeyEnter) // format raw, verify
	keys(a, tcell.KeyEnter)
	golden(t, "5-confirm", v.dump())

	keys(a, tcell.KeyEscape, tcell.KeyUp, tcell.KeyUp, tcell.KeyUp, tcell.KeyUp, tcell.KeyCtrlU, "HDD-02")
	if a.ch.Case.Case != "2026-0042" || a.ch.Case.Notes != "seized at office 3" || a.ch.Case.Evidence != "HDD-02" {
		t.Fatalf("case details after Esc and edit: %+v", a.ch.Case)
	}
	if got := strings.Join(a.ch.Hashes, ","); got != "md5,sha256,blake3" {
		t.Errorf("hashes %s, want md5,sha256,blake3", got)
	}
}

func TestNothingWrittenWithoutSources(t *testing.T) {
	a, v := testApp(t, "vt100", fixtureConfig())
	keys(a, tcell.KeyEnter)
	if a.page != pageSources {
		t.Fatal("went on without a source")
	}
	if !strings.Contains(v.dump(), "select at least one source") {
		t.Fatalf("no hint shown:\n%s", v.dump())
	}
}

// Every terminal type the appliance meets renders the same screen.
func TestTerminals(t *testing.T) {
	var first string
	for _, term := range []string{"vt100", "vt220", "linux", "xterm", "xterm-256color", "unknown-terminal"} {
		t.Run(term, func(t *testing.T) {
			a, v := testApp(t, term, fixtureConfig())
			keys(a, " ", tcell.KeyDown, tcell.KeyDown)
			d := v.dump()
			if first == "" {
				first = d
				golden(t, "1-sources-selected", d)
			} else if d != first {
				t.Errorf("TERM=%s renders differently:\n%s\nvt100:\n%s", term, d, first)
			}
		})
	}
}

// progressFixture fills a board as two running jobs would.
func progressFixture(b *board) {
	b.JobStart("/dev/sda", "sda_WD-WCC2EKH12345", 500107862016)
	b.JobStart("/dev/sdb", "sdb_Z4Y8ABCD", 1000204886016)
	b.Event(imager.Event{Kind: imager.EventProgress, Phase: imager.PhaseAcquire, Source: "/dev/sda", Bytes: 250053931008, Total: 500107862016, Rate: 151.2e6, ETA: 1654 * time.Second})
	b.Event(imager.Event{Kind: imager.EventUnreadable, Phase: imager.PhaseAcquire, Source: "/dev/sda", Bad: &imager.BadRange{LBA: 123456, Count: 8, Error: "input/output error"}})
	b.Event(imager.Event{Kind: imager.EventProgress, Phase: imager.PhaseAcquire, Source: "/dev/sdb", Bytes: 100020488601, Total: 1000204886016, Rate: 98.7e6, ETA: 9120 * time.Second})
}

func TestProgressScreen(t *testing.T) {
	a, v := testApp(t, "vt100", fixtureConfig())
	a.ch.Sources = fixtureDevices()[:2]
	a.ch.Verify = true
	a.board, a.page = newBoard(), pageProgress
	progressFixture(a.board)
	a.draw()
	golden(t, "6-progress", v.dump())

	// One more second of imaging: only the changed cells go out, few
	// enough bytes for a 9600-baud line (960 bytes/s) with room to spare.
	before := v.sent()
	a.board.Event(imager.Event{Kind: imager.EventProgress, Phase: imager.PhaseAcquire, Source: "/dev/sda", Bytes: 250205131008, Total: 500107862016, Rate: 151.2e6, ETA: 1653 * time.Second})
	a.board.Event(imager.Event{Kind: imager.EventProgress, Phase: imager.PhaseAcquire, Source: "/dev/sdb", Bytes: 100119188601, Total: 1000204886016, Rate: 98.7e6, ETA: 9119 * time.Second})
	a.draw()
	n := v.sent() - before
	t.Logf("one refresh of two progress lines: %d bytes", n)
	if n == 0 || n > 480 {
		t.Errorf("a one-second refresh sent %d bytes; want 1..480 (half of what 9600 baud carries)", n)
	}
	before = v.sent()
	a.draw()
	if n := v.sent() - before; n > 16 {
		t.Errorf("redrawing an unchanged screen sent %d bytes", n)
	}

	// Verify phase after acquisition.
	a.board.Event(imager.Event{Kind: imager.EventDone, Phase: imager.PhaseAcquire, Source: "/dev/sda", Bytes: 500107862016})
	a.board.Event(imager.Event{Kind: imager.EventProgress, Phase: imager.PhaseVerify, Source: "/dev/sda", Bytes: 50010786201, Total: 500107862016, Rate: 160e6, ETA: 2813 * time.Second})
	a.draw()
	golden(t, "6-progress-verify", v.dump())
}

// The loop draws the progress screen at most once a second however fast
// the engine reports.
func TestProgressRefreshRate(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 3 s")
	}
	a, v := testApp(t, "vt100", fixtureConfig())
	a.ch.Sources = fixtureDevices()[:2]
	a.board, a.page = newBoard(), pageProgress
	progressFixture(a.board)
	ctx, cancel := context.WithTimeout(context.Background(), 3200*time.Millisecond)
	defer cancel()
	stop, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		var b int64
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				b += 1 << 20
				a.board.Event(imager.Event{Kind: imager.EventProgress, Phase: imager.PhaseAcquire, Source: "/dev/sda", Bytes: b, Total: 500107862016, Rate: 150e6})
			}
		}
	}()
	v.mu.Lock()
	v.writes = nil
	v.mu.Unlock()
	a.loop(ctx)
	close(stop)
	<-exited
	// Writes less than 100 ms apart belong to one redraw.
	v.mu.Lock()
	draws := 0
	for i, w := range v.writes {
		if i == 0 || w.Sub(v.writes[i-1]) > 100*time.Millisecond {
			draws++
		}
	}
	v.mu.Unlock()
	// The initial draw plus one per second.
	if draws < 2 || draws > 4 {
		t.Errorf("%d redraws in 3.2 s; want 2..4", draws)
	}
}

func TestSummaryAndShell(t *testing.T) {
	a, v := testApp(t, "linux", fixtureConfig())
	dir := t.TempDir()
	s := &Session{Dir: dir, Session: imager.Session{OK: 1, Failed: 1, Sources: []SourceResult{
		{ID: "sda_WD-WCC2EKH12345", OK: true, Result: "ok", Verified: "match",
			Hashes:     map[string]string{"sha256": strings.Repeat("ab", 32), "blake3": strings.Repeat("cd", 32)},
			Unreadable: []imager.BadRange{}, Record: "sda_WD-WCC2EKH12345/acquisition.json"},
		{ID: "sdb_Z4Y8ABCD", Result: "incomplete", Verified: "match", Hashes: map[string]string{"sha256": strings.Repeat("01", 32), "blake3": strings.Repeat("23", 32)},
			Unreadable: []imager.BadRange{{LBA: 123456, Count: 8, Error: "input/output error"}},
			Error:      "incomplete: 8 unreadable sector(s) in 1 range(s) zero-filled (listed in the record)",
			Record:     "sdb_Z4Y8ABCD/acquisition.json"},
	}}}
	a.session, a.page = s, pageSummary
	a.out.Sessions = []*Session{s}
	a.draw()
	golden(t, "7-summary", strings.ReplaceAll(v.dump(), dir, "/T"))

	// Power off and reboot ask first; reboot warns about the server's own OS.
	keys(a, "p")
	if a.finished || a.q == nil {
		t.Fatal("p powered off without asking")
	}
	golden(t, "7-poweroff-ask", strings.ReplaceAll(v.dump(), dir, "/T"))
	keys(a, "x", "n")
	keys(a, "r")
	if a.finished || a.q == nil || !strings.Contains(a.q.lines[0], "its own operating system") {
		t.Fatalf("r did not warn: %+v", a.q)
	}
	keys(a, tcell.KeyEscape)
	if a.finished || a.q != nil {
		t.Fatal("Esc did not cancel the reboot")
	}
	keys(a, "s")
	golden(t, "8-shell-confirm", v.dump())
	keys(a, tcell.KeyEscape)
	if a.finished || a.page != pageSummary {
		t.Fatal("Esc on the shell question did not go back")
	}
	keys(a, "s", "y")
	if !a.finished || a.out.Action != ActionShell {
		t.Fatalf("finished %v action %q", a.finished, a.out.Action)
	}
	b, err := os.ReadFile(filepath.Join(dir, "session.json"))
	if err != nil || !strings.Contains(string(b), "emergency shell opened by the operator") {
		t.Fatalf("shell not logged in session.json: %v\n%s", err, b)
	}
}

// A target that cannot be prepared (mount fails) is named on the confirm
// screen with what to do; nothing is started and the choices stay.
func TestConfirmRefusalNamesDevice(t *testing.T) {
	cfg := fixtureConfig()
	cfg.Targets = func() ([]Target, error) {
		return []Target{{Name: "/dev/sde1", Disk: "sde", FSType: "ntfs", Label: "EVIDENCE", Free: -1,
			Prepare: func(context.Context) (string, error) {
				return "", errors.New("mount /dev/sde1 (ntfs) read-write: invalid argument")
			}}}, nil
	}
	a, v := testApp(t, "vt100", cfg)
	keys(a, " ", tcell.KeyEnter, tcell.KeyDown, tcell.KeyEnter, tcell.KeyEnter, "2026-0043", tcell.KeyEnter, tcell.KeyF10, "y")
	if a.page != pageConfirm || a.session != nil {
		t.Fatalf("page %d session %v after a refused start", a.page, a.session)
	}
	golden(t, "5-confirm-refused", v.dump())
	keys(a, tcell.KeyEscape)
	if a.page != pageCase || a.ch.Case.Case != "2026-0043" || len(a.ch.Sources) != 1 {
		t.Fatalf("Esc after refusal: page %d, choices %+v", a.page, a.ch)
	}
}

// TestSerialBudget keeps what each action sends small enough for a 9600-baud
// line (960 bytes/s): a whole screen under ~2 s, a cursor move under ~0.6 s.
func TestSerialBudget(t *testing.T) {
	for _, term := range []string{"vt100", "vt220", "linux", "xterm"} {
		t.Run(term, func(t *testing.T) {
			a, v := testApp(t, term, fixtureConfig())
			cost := func(ks ...any) int {
				n := v.sent()
				keys(a, ks...)
				return v.sent() - n
			}
			first := v.sent()
			move := cost(tcell.KeyDown)
			sel := cost(" ")
			page := cost(tcell.KeyEnter)
			t.Logf("first paint %d B, cursor move %d B, select %d B, page change %d B", first, move, sel, page)
			for _, c := range []struct {
				what      string
				got, want int
			}{{"first paint", first, 2000}, {"cursor move", move, 600}, {"select", sel, 200}, {"page change", page, 2000}} {
				if c.got == 0 || c.got > c.want {
					t.Errorf("%s sent %d bytes; want 1..%d", c.what, c.got, c.want)
				}
			}
		})
	}
}

// TestImageTwoSessions images two real files, reads the summary, chooses
// "image more" and images one again: the case details are kept, the target
// is prepared (mounted) once, and each session has its own folder.
func TestImageTwoSessions(t *testing.T) {
	devs := twoSources(t)
	// A short mount point, so the session folder fits one summary line.
	base, err := os.MkdirTemp("", "ui")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	mnt := filepath.Join(base, "mnt")
	prepared := 0
	cfg := Config{
		Devices: func() ([]Device, error) { return devs, nil },
		Targets: func() ([]Target, error) {
			return []Target{{Name: "/dev/sdz1", Disk: "sdz", FSType: "ext4", Label: "EVIDENCE", Free: -1,
				Prepare: func(context.Context) (string, error) {
					prepared++
					return mnt, os.MkdirAll(mnt, 0o755)
				}}}, nil
		},
		Case: imager.Case{Examiner: "J. Doe"},
	}
	cfg.Now = stepClock()
	a, v := testApp(t, "vt220", cfg)
	wait := func() { t.Helper(); waitSession(t, a) }
	keys(a, " ", tcell.KeyDown, " ", tcell.KeyEnter, tcell.KeyDown, tcell.KeyEnter, tcell.KeyEnter)
	keys(a, "C-9", tcell.KeyEnter, tcell.KeyEnter, "E-1", tcell.KeyF10, "y")
	if a.page != pageProgress {
		t.Fatalf("not imaging: page %d, message %q", a.page, a.msg)
	}
	wait()
	golden(t, "7-summary-files", strings.ReplaceAll(v.dump(), mnt, "/M"))

	keys(a, "m")
	if a.page != pageSources || len(a.ch.Sources) != 0 || a.ch.Case.Case != "C-9" {
		t.Fatalf("image more: page %d, %d sources, case %+v", a.page, len(a.ch.Sources), a.ch.Case)
	}
	keys(a, " ", tcell.KeyEnter, tcell.KeyDown, tcell.KeyEnter, tcell.KeyEnter, tcell.KeyCtrlU, "E-2", tcell.KeyF10, "y")
	wait()
	if prepared != 1 {
		t.Errorf("target prepared %d times, want once", prepared)
	}
	if tg := a.ch.Target; tg == nil || tg.Free <= 0 {
		t.Errorf("the mounted target's free space is not shown the second time: %+v", tg)
	}
	if len(a.out.Sessions) != 2 {
		t.Fatalf("%d sessions", len(a.out.Sessions))
	}
	for i, s := range a.out.Sessions {
		if s.Failed != 0 || s.OK != []int{2, 1}[i] {
			t.Errorf("session %d: ok %d failed %d: %+v", i, s.OK, s.Failed, s.Sources)
		}
		if _, err := os.Stat(filepath.Join(s.Dir, "session.json")); err != nil {
			t.Error(err)
		}
	}
	if a.out.Sessions[0].Dir == a.out.Sessions[1].Dir || a.out.Sessions[1].Case.Evidence != "E-2" {
		t.Errorf("second session: dir %s, case %+v", a.out.Sessions[1].Dir, a.out.Sessions[1].Case)
	}
}

// twoSources are two 3 MiB image files as sources.
func twoSources(t *testing.T) []Device {
	dir := t.TempDir()
	var devs []Device
	for i, name := range []string{"a.img", "b.img"} {
		b := make([]byte, 3<<20)
		for j := range b {
			b[j] = byte(j*7 + i*13 + j>>9)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o444); err != nil {
			t.Fatal(err)
		}
		info, err := disk.Inspect(p)
		if err != nil {
			t.Skipf("inspect: %v", err)
		}
		devs = append(devs, Device{Info: info})
	}
	return devs
}

// stepClock is a clock a minute further each time it is read.
func stepClock() func() time.Time {
	clock := time.Date(2026, 11, 22, 5, 30, 0, 0, time.UTC)
	return func() time.Time { clock = clock.Add(time.Minute); return clock }
}

// waitSession waits for the running session and shows its summary.
func waitSession(t *testing.T, a *app) {
	t.Helper()
	select {
	case err := <-a.done:
		a.sessionDone(err)
		a.draw()
	case <-time.After(60 * time.Second):
		t.Fatal("imaging did not finish")
	}
}

// A typed network target serves a second session as it is: prepared
// (network joined, store checked) once, and the record says what was
// prepared without speaking of write-blocking.
func TestImageTwoSessionsNetwork(t *testing.T) {
	devs := twoSources(t)
	dir := t.TempDir()
	prepared, released := 0, 0
	cfg := Config{
		Devices: func() ([]Device, error) { return devs, nil },
		Targets: func() ([]Target, error) { return nil, nil },
		Case:    imager.Case{Examiner: "J. Doe"},
		Now:     stepClock(),
		NetTarget: func(f NetForm) (Target, error) {
			return Target{Name: f.URL, FSType: "s3", Free: -1,
				Prepare: func(context.Context) (string, error) { prepared++; return dir, nil },
				Release: func() error { released++; return nil },
				Network: func() *imager.SessionTarget {
					return &imager.SessionTarget{Device: f.URL, URL: f.URL, FSType: "s3", Security: "TLS 1.3"}
				}}, nil
		},
	}
	a, _ := testApp(t, "vt220", cfg)
	keys(a, " ", tcell.KeyEnter, "n", "s3://evidence/lab", tcell.KeyF10)
	if a.page != pageClock {
		t.Fatalf("the typed target was not chosen: page %d, %q", a.page, a.msg)
	}
	keys(a, tcell.KeyEnter, "C-9", tcell.KeyEnter, tcell.KeyEnter, "E-1", tcell.KeyF10, "y")
	if a.page != pageProgress {
		t.Fatalf("not imaging: page %d, message %q", a.page, a.msg)
	}
	waitSession(t, a)
	keys(a, "m", tcell.KeyDown, " ", tcell.KeyEnter, tcell.KeyDown, tcell.KeyEnter, tcell.KeyEnter, tcell.KeyCtrlU, "E-2", tcell.KeyF10, "y")
	if a.page != pageProgress {
		t.Fatalf("second session not imaging: page %d, message %q", a.page, a.msg)
	}
	waitSession(t, a)
	if prepared != 1 || released != 0 {
		t.Errorf("prepared %d times, released %d: want once, never", prepared, released)
	}
	if len(a.out.Sessions) != 2 || a.out.Sessions[1].OK != 1 || a.out.Sessions[1].Target.URL != "s3://evidence/lab" {
		t.Fatalf("sessions %+v", a.out.Sessions)
	}
	b, err := os.ReadFile(filepath.Join(a.out.Sessions[0].Dir, "session.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "network target s3://evidence/lab reached and prepared") || strings.Contains(string(b), "write-blocking lifted") {
		t.Errorf("the first session's record does not say what was prepared:\n%s", b)
	}
}

// Messages written onto the console behind the UI's back are repaired by Ctrl-L.
func TestCtrlLRepaints(t *testing.T) {
	a, v := testApp(t, "vt220", fixtureConfig())
	want := v.dump()
	v.Write([]byte("\x1b[5;1H[  12.345678] sd 2:0:0:0: [sdg] Attached SCSI disk\r\n"))
	if v.dump() == want {
		t.Fatal("the injected message did not change the screen")
	}
	keys(a, tcell.KeyCtrlL)
	if got := v.dump(); got != want {
		t.Errorf("after Ctrl-L:\n%s\nwant:\n%s", got, want)
	}
}

// A long device list scrolls with the cursor; the details follow it.
func TestSourcesScroll(t *testing.T) {
	cfg := fixtureConfig()
	cfg.Devices = func() ([]Device, error) {
		var devs []Device
		for i := 0; i < 30; i++ {
			n := fmt.Sprintf("sd%c", 'a'+i%26)
			if i >= 26 {
				n = "sda" + n[2:]
			}
			devs = append(devs, Device{Info: disk.Info{Path: "/dev/" + n, Name: n, Kind: disk.KindDisk, Size: int64(i+1) << 30, ReadOnly: true, Serial: fmt.Sprintf("SER%02d", i)}})
		}
		return devs, nil
	}
	a, v := testApp(t, "vt100", cfg)
	for i := 0; i < 20; i++ {
		keys(a, "j")
	}
	keys(a, " ")
	golden(t, "1-sources-scrolled", v.dump())
	if len(a.ch.Sources) != 1 || a.ch.Sources[0].Serial != "SER20" {
		t.Fatalf("selected %+v, want the 21st device", a.ch.Sources)
	}
	for i := 0; i < 40; i++ {
		keys(a, "k")
	}
	if a.cur != 0 || a.top != 0 {
		t.Errorf("cursor %d top %d after going back up", a.cur, a.top)
	}
}

func TestNoPadding(t *testing.T) {
	for _, term := range []string{"vt100", "vt102", "vt220", "linux", "xterm"} {
		ti := lookupTerm(term)
		if ti == nil {
			t.Fatalf("%s: no terminfo compiled in", term)
		}
		for _, s := range []string{ti.SetCursor, ti.Clear, ti.AttrOff, ti.Bold, ti.Reverse} {
			if strings.Contains(s, "$<") {
				t.Errorf("%s: padding left in %q", term, s)
			}
		}
	}
	if ti := lookupTerm("vt100"); ti.SetCursor != "\x1b[%i%p1%d;%p2%dH" {
		t.Errorf("vt100 cup = %q", ti.SetCursor)
	}
}

func TestVolumeDetails(t *testing.T) {
	a, v := testApp(t, "vt220", fixtureConfig())
	keys(a, "G") // not a key: nothing happens
	for i := 0; i < 6; i++ {
		keys(a, tcell.KeyDown)
	}
	keys(a, " ")
	golden(t, "1-sources-volume", v.dump())
	if len(a.ch.Sources) != 1 || a.ch.Sources[0].Kind != "raid" {
		t.Fatalf("sources %+v", a.ch.Sources)
	}
	keys(a, tcell.KeyEnter)
	for _, tg := range a.targets {
		if tg.Disk == "sdb" {
			t.Errorf("target %s is on the volume's member sdb", tg.Name)
		}
	}
	if len(a.targets) != 2 || len(a.others) != 2 {
		t.Errorf("targets %+v others %+v, want sde1, sdf1 offered and sdg1, sda2 to confirm", a.targets, a.others)
	}
}

// Cancelled while imaging, the UI returns only after the engine has stopped
// and the session record is written.
func TestCancelWhileImaging(t *testing.T) {
	a, _ := testApp(t, "vt100", bigSourceConfig(t))
	ctx, cancel := context.WithCancel(context.Background())
	keys(a, " ", tcell.KeyEnter, tcell.KeyDown, tcell.KeyEnter, tcell.KeyEnter, tcell.KeyF10)
	a.key(ctx, tcell.NewEventKey(tcell.KeyRune, 'y', tcell.ModNone))
	if a.page != pageProgress {
		t.Fatalf("not imaging: %q", a.msg)
	}
	cancel()
	if _, err := a.loop(ctx); err == nil {
		t.Fatal("loop returned no error after cancel")
	}
	if len(a.out.Sessions) != 1 {
		t.Fatalf("%d sessions after cancel", len(a.out.Sessions))
	}
	if _, err := os.Stat(filepath.Join(a.out.Sessions[0].Dir, "session.json")); err != nil {
		t.Errorf("no session record after cancel: %v", err)
	}
	t.Logf("result after cancel: %s", a.out.Sessions[0].Sources[0].Result)
}

// The operator aborts imaging from the progress screen: a asks, n keeps
// imaging, a then y stops every source; records and the session record are
// written, the abort is logged, and the summary follows.
func TestAbortWhileImaging(t *testing.T) {
	a, v := testApp(t, "vt100", bigSourceConfig(t))
	ctx := context.Background()
	keys(a, " ", tcell.KeyEnter, tcell.KeyDown, tcell.KeyEnter, tcell.KeyEnter, tcell.KeyF10)
	a.key(ctx, tcell.NewEventKey(tcell.KeyRune, 'y', tcell.ModNone))
	if a.page != pageProgress {
		t.Fatalf("not imaging: %q", a.msg)
	}
	// The session record is on the target from the start, saying so.
	if s, err := imager.ReadSession(a.session.Dir); err != nil || s.Result != imager.SessionInProgress || len(s.Sources) != 1 {
		t.Fatalf("session.json while imaging: %+v %v", s, err)
	}
	keys(a, "a")
	a.draw()
	if !strings.Contains(v.dump(), "Abort imaging?") {
		t.Fatalf("a did not ask:\n%s", v.dump())
	}
	keys(a, "n")
	if a.asking || a.aborted {
		t.Fatal("n did not keep imaging")
	}
	keys(a, "a", "y")
	if !a.aborted {
		t.Fatal("a, y did not abort")
	}
	a.draw()
	if !strings.Contains(v.dump(), "Aborted: every source is stopping") {
		t.Errorf("no abort notice:\n%s", v.dump())
	}
	select {
	case err := <-a.done:
		a.sessionDone(err)
	case <-time.After(time.Minute):
		t.Fatal("imaging did not stop within a minute of the abort")
	}
	if a.page != pageSummary {
		t.Errorf("page %d after the abort, want the summary", a.page)
	}
	s, err := imager.ReadSession(a.out.Sessions[0].Dir)
	if err != nil {
		t.Fatal(err)
	}
	r := s.Sources[0]
	if s.Result != imager.SessionFailed {
		t.Errorf("session result %q after the abort", s.Result)
	}
	if r.OK || r.Result != imager.ResultIncomplete || !strings.Contains(r.Error, "aborted by the operator") || s.Failed != 1 {
		t.Errorf("after abort: ok %v result %q error %q failed %d", r.OK, r.Result, r.Error, s.Failed)
	}
	if len(s.Events) != 1 || s.Events[0].What != "imaging aborted by the operator" {
		t.Errorf("events %+v", s.Events)
	}
	rec, err := imager.ReadRecord(filepath.Join(a.out.Sessions[0].Dir, r.ID))
	if err != nil {
		t.Fatalf("no acquisition record after the abort: %v", err)
	}
	if rec.Complete || rec.Result != imager.ResultIncomplete {
		t.Errorf("record: complete %v result %q", rec.Complete, rec.Result)
	}
}

// bigSourceConfig offers one source, a sparse 4 GiB file that takes long
// enough to image for a cancel or an abort to land while it runs, and a
// target folder.
func bigSourceConfig(t *testing.T) Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), "big.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(4 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	info, err := disk.Inspect(p)
	if err != nil {
		t.Skipf("inspect: %v", err)
	}
	target := t.TempDir()
	return Config{
		Devices: func() ([]Device, error) { return []Device{{Info: info}}, nil },
		Targets: func() ([]Target, error) { return []Target{{Name: target, Dir: target, Free: -1, Given: true}}, nil },
		Case:    imager.Case{Case: "C", Examiner: "E"},
	}
}

// TestBoardRescue: the progress board says what the rescue of unreadable
// areas is doing, and in capitals when its time limit stopped it.
func TestBoardRescue(t *testing.T) {
	b := newBoard()
	b.JobStart("/dev/sda", "sda_X", 1<<30)
	for _, tc := range []struct {
		ev   imager.Event
		want string
	}{
		{imager.Event{Kind: imager.EventRescue, Pass: imager.PassTrim, Bytes: 12 << 20}, "rescue pass trim: 12.0 MiB not read yet"},
		{imager.Event{Kind: imager.EventRescue, Pass: imager.PassTrim, Bytes: 8 << 20, Done: true}, "rescue pass trim: 12.0 MiB not read yet"},
		{imager.Event{Kind: imager.EventRescue, Pass: imager.PassScrape, Bytes: 8 << 20, Err: errors.New("rescue time limit reached")}, "rescue STOPPED by its time limit: 8.0 MiB NOT READ"},
	} {
		tc.ev.Source = "/dev/sda"
		b.Event(tc.ev)
		rows, _ := b.snapshot()
		if rows[0].Rescue != tc.want {
			t.Errorf("after %+v: %q, want %q", tc.ev, rows[0].Rescue, tc.want)
		}
	}
}
