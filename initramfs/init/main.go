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
)

func main() {
	err := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "coldimage init:", err)
	}
	if os.Getpid() == 1 {
		// PID 1 never returns: returning panics the kernel.
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
		err := s.Run(a)
		if err != nil {
			a.con.Printf("coldimage: step %q: %v", s.Name, err)
			if s.Fatal {
				return fmt.Errorf("boot step %q: %w", s.Name, err)
			}
			continue
		}
		a.con.Printf("coldimage: %s (%.1fs)", s.Name, time.Since(t0).Seconds())
	}
	if a.cfg.Auto {
		return a.unattended(ctx)
	}
	return a.menu(ctx)
}
