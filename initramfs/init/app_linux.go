package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/s3"
	"github.com/coldimage/coldimage/initramfs/modules"
	"github.com/u-root/u-root/pkg/kmodule"
	"golang.org/x/sys/unix"
)

// App is the running appliance.
type App struct {
	con       *Console
	guard     *Guard
	cfg       Config
	cmdline   string
	settings  []string // lines the boot medium's settings file applied
	version   string
	release   string
	booted    time.Time
	uevents   *UeventSocket
	lastBlock atomic.Int64 // unix nanos of the last block uevent

	tmu          sync.Mutex
	targetNames  map[string]bool   // the running session's target partition and disk
	onTargetGone func(name string) // what the session does when one is removed

	net netState // the network, joined for the first network target
	// netServer is the last network target's server (address:port);
	// netContinue, when set, is the session folder the next network
	// session continues (its server stopped answering).
	netServer, netContinue string
	s3                     *s3.Staging // the s3:// target in use
}

// NewApp prepares an App writing to out until the consoles are open.
func NewApp(out io.Writer, in io.Reader) *App {
	a := &App{con: NewConsole(out, nil), cfg: DefaultConfig(), booted: time.Now(), version: readVersion()}
	a.guard = NewGuard(setReadOnly, a.con.Printf)
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		a.release = unix.ByteSliceToString(u.Release[:])
	}
	return a
}

// readVersion reads the version the build wrote into the initramfs.
func readVersion() string {
	if b, err := os.ReadFile("/etc/coldimage/version"); err == nil {
		if v := strings.TrimSpace(string(b)); v != "" {
			return v
		}
	}
	return "dev"
}

type kmount struct {
	src, dir, fstype string
	flags            uintptr
	data             string
}

// kernelMounts are the kernel file systems PID 1 mounts first.
var kernelMounts = []kmount{
	{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV, ""},
	{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV, ""},
	{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
	{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
	{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
}

func (a *App) mountKernelFS() error {
	var errs []error
	for _, m := range kernelMounts {
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			errs = append(errs, fmt.Errorf("mkdir %s: %w", m.dir, err))
			continue
		}
		if err := unix.Mount(m.src, m.dir, m.fstype, m.flags, m.data); err != nil && err != unix.EBUSY {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", m.fstype, m.dir, err))
		}
	}
	os.Setenv("PATH", "/bbin:/bin:/ubin:/usr/bin:/sbin")
	os.Setenv("HOME", "/tmp")
	return errors.Join(errs...)
}

func (a *App) openConsole() error {
	return a.con.OpenTTYs("/dev/ttyS0", "/dev/tty0")
}

// openExaminerConsole also opens the tty the command line names (the last
// console=, or coldimage.console=) when it is not ttyS0 or tty0: ttyS1 is
// where iDRAC/iLO serial-over-LAN usually is.
func (a *App) openExaminerConsole() error {
	if a.cfg.Console == "" || a.cfg.Console == "console" {
		return nil
	}
	return a.con.AddTTY("/dev/" + a.cfg.Console)
}

func (a *App) readCmdline() error {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return fmt.Errorf("read /proc/cmdline: %w", err)
	}
	raw := strings.TrimSpace(string(b))
	a.cfg = ParseCmdline(raw)
	a.cmdline = redactCmdline(raw) // what is shown and recorded
	for _, w := range a.cfg.Warnings {
		a.con.Printf("coldimage: warning: %s", w)
	}
	a.con.Printf("coldimage %s on kernel %s: auto=%v target=%q sources=%v hash=%s", a.version, a.release, a.cfg.Auto, a.cfg.Target, a.cfg.Sources, a.cfg.Hash)
	return nil
}

// readSettings applies the settings file on our boot medium (if any) under
// the kernel command line. Its partition was write-blocked by the sweeps
// before this step; it is read through go-diskfs, never mounted.
func (a *App) readSettings() error {
	p, ok := bootPartition(a.guard.ListDevices())
	if !ok {
		return nil // booted some other way (QEMU -kernel, PXE): nothing to read
	}
	b, err := readBootConfig(p.Dev())
	if errors.Is(err, errNoBootConfig) {
		return nil
	}
	if err != nil {
		return err
	}
	a.cfg = ParseSettings(b, a.cmdline)
	a.settings = settingLines(b)
	if len(a.settings) == 0 {
		a.con.Printf("coldimage: %s on %s sets nothing (every line commented out)", disk.BootConfigFile, p.Dev())
		return nil
	}
	if ca := a.cfg.S3.CA; ca != "" {
		// The CA bundle for an https target is a file beside the settings.
		pem, err := readBootFile(p.Dev(), ca, 1<<20)
		if err != nil {
			a.cfg.Warnings = append(a.cfg.Warnings, fmt.Sprintf("coldimage.tls.ca=%s: %v: only the system's authorities (none on the stick) or coldimage.tls.pin can vouch for the server", ca, err))
		}
		a.cfg.S3.CAPEM = pem
	}
	for _, w := range a.cfg.Warnings {
		a.con.Printf("coldimage: warning: %s", w)
	}
	a.con.Printf("coldimage: %d setting(s) from %s on %s (the kernel command line wins): %s", len(a.settings), disk.BootConfigFile, p.Dev(), strings.Join(a.settings, "; "))
	a.con.Printf("coldimage %s: auto=%v target=%q sources=%v hash=%s case=%q examiner=%q", a.version, a.cfg.Auto, a.cfg.Target, a.cfg.Sources, a.cfg.Hash, a.cfg.Case, a.cfg.Examiner)
	return nil
}

// openUevent opens the socket before any driver loads and starts the
// handler that write-blocks every block device the kernel adds.
func (a *App) openUevent() error {
	s, err := OpenUevent()
	if err != nil {
		return err
	}
	a.uevents = s
	go a.watchUevents()
	return nil
}

// watchUevents runs handleUevents behind recover: a panic while handling
// an event (describing a device reads it) is printed, every device is
// swept write-blocked again (events may have been missed) and the handler
// starts over; PID 1 never dies of it. A handler that ends (the socket
// failed) is not restarted: it said so.
func (a *App) watchUevents() {
	for {
		err := imager.Safely("uevent handler", func() error { a.handleUevents(); return nil })
		pe := imager.AsPanic(err)
		if pe == nil {
			return
		}
		a.printCrash(pe)
		if err := imager.Safely("write-block sweep", func() error { a.guard.Sweep(); return nil }); err != nil {
			a.con.Printf("COLDIMAGE ERROR %v", err)
		}
		a.con.Printf("coldimage: uevent handler restarted after the crash; block devices swept write-blocked again")
		time.Sleep(time.Second) // a handler that crashes on every event must not spin
	}
}

func (a *App) handleUevents() {
	for {
		ev, err := a.uevents.Read()
		if errors.Is(err, ErrOverrun) {
			a.con.Printf("coldimage: uevents lost (%v): rescanning sysfs", err)
			a.guard.Sweep()
			continue
		}
		if err != nil {
			a.con.Printf("COLDIMAGE WARNING uevent socket failed: %v; hotplugged disks are no longer write-blocked automatically", err)
			return
		}
		if ev.Env["SUBSYSTEM"] != "block" || ev.Env["DEVNAME"] == "" {
			continue
		}
		a.lastBlock.Store(time.Now().UnixNano())
		name := strings.TrimPrefix(ev.Env["DEVNAME"], "/dev/")
		switch ev.Action {
		case "add":
			a.guard.Protect(name, "uevent add", true)
		case "change":
			a.guard.Protect(name, "uevent change", false)
		case "remove":
			a.guard.Forget(name)
			a.con.Printf("coldimage: /dev/%s removed", name)
			a.targetRemoved(name)
		}
	}
}

func (a *App) sweep() error {
	a.guard.Sweep()
	return nil
}

// loadDrivers loads modules.Boot with u-root's kmodule prober over the
// modules.dep the build generated. Missing hardware is not an error for a
// driver module; a module that fails is reported and skipped.
func (a *App) loadDrivers() error {
	p, err := kmodule.NewProber(kmodule.ProbeOpts{})
	if err != nil {
		return fmt.Errorf("module prober: %w", err)
	}
	a.loadLibata(p)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []string
	sem := make(chan struct{}, 4)
	for _, m := range modules.Boot {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := p.Probe(m.Name, ""); err != nil {
				if m.Optional {
					a.con.Printf("coldimage: optional module %s (%s) not loaded: %v", m.Name, m.Why, err)
					return
				}
				mu.Lock()
				failed = append(failed, m.Name)
				mu.Unlock()
				a.con.Printf("coldimage: module %s (%s) not loaded: %v", m.Name, m.Why, err)
			}
		}()
	}
	wg.Wait()
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d modules not loaded: %s", len(failed), len(modules.Boot), strings.Join(failed, ", "))
	}
	return nil
}

// loadLibata loads libata, which every ATA host driver sits on, before
// them: with coldimage.hpa=image its ignore_hpa=1 makes the kernel open each
// ATA drive's host protected area when it finds the drive (a volatile SET
// MAX ADDRESS to the native max, logged "HPA unlocked"; the drive reverts at
// power-off). It is the only way a drive's settings change, and only when
// the kernel command line asks. The parameter is read back and shown.
func (a *App) loadLibata(p *kmodule.Prober) {
	params := ""
	if a.cfg.HPA == imager.HPAImage {
		params = "ignore_hpa=1"
	}
	if err := p.Probe("libata", params); err != nil {
		a.con.Printf("coldimage: module libata (%s) not loaded: %v", params, err)
	}
	switch v := disk.LibataIgnoreHPA(); {
	case v == "1":
		a.con.Printf("coldimage: hidden areas: libata ignore_hpa=1: the kernel opens each ATA drive's host protected area as it finds the drive (volatile: undone at power-off); each record says what came of it")
	case a.cfg.HPA == imager.HPAImage:
		a.con.Printf("coldimage: WARNING: coldimage.hpa=image asked, but libata's ignore_hpa reads %q: host protected areas stay closed and are NOT imaged", v)
	}
}

// settle waits until no block device has appeared for a while (SCSI and
// USB scan asynchronously), at most 10 seconds.
func (a *App) settle() error {
	const quiet, max = 1500 * time.Millisecond, 10 * time.Second
	start := time.Now()
	a.lastBlock.CompareAndSwap(0, start.UnixNano())
	for time.Since(start) < max {
		if time.Since(time.Unix(0, a.lastBlock.Load())) >= quiet {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// powerOff syncs and powers the machine off. It does not return when PID 1.
func powerOff(con *Console) {
	boundedSync(con)
	if os.Getpid() != 1 {
		return
	}
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil && con != nil {
		con.Printf("coldimage: power off: %v", err)
	}
}

func reboot(con *Console) {
	boundedSync(con)
	if os.Getpid() != 1 {
		return
	}
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART); err != nil && con != nil {
		con.Printf("coldimage: reboot: %v", err)
	}
}

// boundedSync flushes every file system, waiting at most 20 s: a sync can
// block for ever on a file system whose disk was unplugged, and the
// appliance must still power off.
func boundedSync(con *Console) {
	done := make(chan struct{})
	go func() { unix.Sync(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		if con != nil {
			con.Printf("COLDIMAGE WARNING sync did not finish within 20 s (a target that is gone?): powering off anyway")
		}
	}
}

// watchTarget names the target the running session writes to (its
// partition and disk) and what to do when the kernel removes either;
// an empty Device stops watching.
func (a *App) watchTarget(t Device, gone func(name string)) {
	a.tmu.Lock()
	defer a.tmu.Unlock()
	a.targetNames, a.onTargetGone = nil, gone
	if t.Name != "" {
		a.targetNames = map[string]bool{t.Name: true, t.Disk(): true}
	}
}

// targetRemoved runs the session's reaction when name is its target.
func (a *App) targetRemoved(name string) {
	a.tmu.Lock()
	gone := a.onTargetGone
	hit := a.targetNames[name]
	a.tmu.Unlock()
	if hit && gone != nil {
		gone(name)
	}
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
