// Command init is the appliance's PID 1: it mounts the kernel file systems,
// opens the uevent socket, loads storage drivers, makes every block device
// read-only the moment it appears, and then either runs an unattended
// acquisition (coldimage.auto=1) or shows a menu.
//
// The boot sequence is data (steps, below); main is one call into run.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/coldimage/coldimage/imager"
)

func main() {
	// run recovers every panic of the boot steps, the menu and the
	// unattended run; this is the last net (a panic in run's own code).
	err := imager.Safely("init", func() error {
		return run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "coldimage init:", err)
		if pe := imager.AsPanic(err); pe != nil {
			fmt.Fprintln(os.Stderr, pe.Stack)
		}
	}
	if os.Getpid() == 1 {
		// PID 1 never returns: returning panics the kernel. Only a fatal
		// boot step (printed above) gets here: power off, never reboot.
		fmt.Fprintln(os.Stderr, "coldimage init: powering off")
		powerOff(nil)
		for {
			time.Sleep(time.Hour)
		}
	}
	if err != nil {
		os.Exit(1)
	}
}

// Step is one stage of the boot sequence.
type Step struct {
	Name string
	Run  func(a *App) error
	// Fatal steps stop the sequence (the appliance then powers off).
	Fatal bool
}

// bootSteps is the order of the boot sequence; TestBootOrder pins it.
var bootSteps = []Step{
	{"mount proc, sysfs, devtmpfs, tmpfs", (*App).mountKernelFS, true},
	{"console on ttyS0 and tty0", (*App).openConsole, false},
	{"read kernel command line", (*App).readCmdline, false},
	{"console on the tty console= names", (*App).openExaminerConsole, false},
	{"open uevent socket", (*App).openUevent, true},
	{"write-block devices present at boot", (*App).sweep, false},
	{"load storage and file-system drivers", (*App).loadDrivers, false},
	{"watch the power button", (*App).watchPowerButton, false},
	{"wait for devices to settle", (*App).settle, false},
	{"write-block every device seen", (*App).sweep, false},
	{"read the examiner's settings from the boot medium", (*App).readSettings, false},
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	a := NewApp(stdout, stdin)
	for _, s := range bootSteps {
		t0 := time.Now()
		// A step that panics (the settings file is read from a disk) is
		// printed and skipped like a failing one; a fatal one ends the
		// sequence with its reason printed.
		err := imager.Safely(fmt.Sprintf("boot step %q", s.Name), func() error { return s.Run(a) })
		if err != nil {
			if pe := imager.AsPanic(err); pe != nil {
				a.printCrash(pe)
			}
			a.con.Printf("coldimage: step %q: %v", s.Name, err)
			if s.Fatal {
				return fmt.Errorf("boot step %q: %w", s.Name, err)
			}
			continue
		}
		a.con.Printf("coldimage: %s (%.1fs)", s.Name, time.Since(t0).Seconds())
	}
	if imager.FaultHookCompiled {
		a.con.Printf("COLDIMAGE WARNING test build: a fault hook is compiled in (it panics on purpose for disks whose serial holds %s or %s); never use this build on evidence",
			imager.FaultSerialJob, imager.FaultSerialList)
	}
	return a.serve(ctx)
}

// serve runs the unattended acquisition or the menu behind recover (keepUp).
func (a *App) serve(ctx context.Context) error {
	if a.cfg.Auto {
		return a.keepUp(ctx, "unattended run", a.unattended, a.textMenu)
	}
	return a.keepUp(ctx, "menu", a.menu, a.textMenu)
}

// textMenu is the numbered text menu alone (no console UI).
func (a *App) textMenu(ctx context.Context) error {
	a.cfg.UI = "menu"
	return a.menu(ctx)
}

// keepUp runs mode behind recover. PID 1 never dies of a panic there and
// never powers off or reboots because of one: the crash is printed, every
// target is synced, unmounted and write-blocked again with every other
// disk (lockDown), and fallback (the text menu: it reads no RAID metadata
// to list disks, and its sessions run each job behind recover) takes
// over, behind recover too.
func (a *App) keepUp(ctx context.Context, what string, mode, fallback func(context.Context) error) error {
	var last time.Time
	for {
		err := imager.Safely(what, func() error { return mode(ctx) })
		pe := imager.AsPanic(err)
		if pe == nil {
			return err
		}
		a.con.UnmuteAll()
		a.printCrash(pe)
		a.lockDown()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		a.con.Printf("coldimage: %s crashed: back to the text menu (the appliance does not power off or reboot by itself)", what)
		if time.Since(last) < 5*time.Second {
			time.Sleep(time.Second) // a menu that crashes at once must not spin
		}
		last = time.Now()
		mode, what = fallback, "text menu"
	}
}
