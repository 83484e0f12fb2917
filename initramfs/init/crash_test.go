package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/ui"
)

// TestRunUIRecovers: a panic out of the console UI is its crash ("console
// UI crashed: panic: …"), not PID 1's end.
func TestRunUIRecovers(t *testing.T) {
	out, err := runUI(context.Background(), ui.Config{}, func(context.Context, ui.Config) (ui.Outcome, error) {
		var rows []ui.Device
		_ = rows[3].Serial // a screen indexing past its rows
		return ui.Outcome{}, nil
	})
	pe := uiCrash(context.Background(), err)
	if pe == nil || out.Action != "" {
		t.Fatalf("runUI: %v", err)
	}
	if l := crashLine(pe); !strings.HasPrefix(l, "console UI crashed: panic: runtime error: index out of range [3] with length 0 [at ") || !strings.Contains(l, "TestRunUIRecovers") {
		t.Errorf("crash line %q", l)
	}
	// Without a panic the outcome and error pass through.
	want := errors.New("ui: terminal input closed")
	out, err = runUI(context.Background(), ui.Config{}, func(context.Context, ui.Config) (ui.Outcome, error) {
		return ui.Outcome{Action: ui.ActionPowerOff}, want
	})
	if err != want || out.Action != ui.ActionPowerOff || uiCrash(context.Background(), err) != nil {
		t.Errorf("runUI: %v %v", out, err)
	}
}

// TestGuardProvider: a listing that panics returns the panic as its error
// and ends the UI (the context's cause is the crash); one that does not
// passes its devices and errors through and leaves the UI running.
func TestGuardProvider(t *testing.T) {
	ctx, crash := context.WithCancelCause(context.Background())
	defer crash(nil)
	list := guardProvider("device listing", crash, func() ([]ui.Device, error) {
		imager.FaultHook(imager.FaultListing, "/dev/vdz", "X") // a no-op here, as in shipped builds
		return []ui.Device{{Note: "a"}}, errors.New("partial")
	})
	devs, err := list()
	if len(devs) != 1 || err == nil || err.Error() != "partial" || ctx.Err() != nil {
		t.Fatalf("listing: %v %v (ctx %v)", devs, err, ctx.Err())
	}
	crashing := guardProvider("device listing", crash, func() ([]ui.Device, error) {
		var m map[string]*ui.Device
		return []ui.Device{*m["vda"]}, nil // RAID annotation trusting a member it did not find
	})
	devs, err = crashing()
	if devs != nil || imager.AsPanic(err) == nil || ctx.Err() == nil {
		t.Fatalf("crashing listing: %v %v (ctx %v)", devs, err, ctx.Err())
	}
	pe := uiCrash(ctx, context.Canceled) // ui.Run returned ctx.Err()
	if pe == nil {
		t.Fatal("the provider's crash is not the UI's crash")
	}
	if l := crashLine(pe); !strings.HasPrefix(l, "console UI crashed: in the device listing: panic: runtime error: invalid memory address or nil pointer dereference [at ") || !strings.Contains(l, "TestGuardProvider") {
		t.Errorf("crash line %q", l)
	}
}

// TestKeepUp: a crash of the menu (or of the unattended run) is printed
// with its stack, every disk is write-blocked again, and the text menu
// takes over; it is never returned to main (which would power off).
func TestKeepUp(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	var protected []string
	fakeSysfs(t, map[string]string{"zzcrash": "", "zzcrash1": "zzcrash"})
	mountsFile = filepath.Join(t.TempDir(), "mounts") // none: nothing of the host's is unmounted
	t.Cleanup(func() { mountsFile = "/proc/self/mounts" })
	a := &App{con: NewConsole(&out, nil)}
	a.guard = NewGuard(func(dev string) error {
		mu.Lock()
		protected = append(protected, dev)
		mu.Unlock()
		return nil
	}, a.con.Printf)
	var fellBack bool
	err := a.keepUp(context.Background(), "menu", func(context.Context) error {
		panic("menu bug")
	}, func(context.Context) error {
		fellBack = true
		return nil
	})
	if err != nil || !fellBack {
		t.Fatalf("keepUp: %v, fell back %v", err, fellBack)
	}
	s := out.String()
	for _, want := range []string{
		"COLDIMAGE ERROR menu crashed: panic: menu bug [at ",
		"crash_test.go:",
		"  goroutine ",
		"coldimage: menu crashed: back to the text menu (the appliance does not power off or reboot by itself)",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("console lacks %q:\n%s", want, s)
		}
	}
	if strings.Join(protected, ",") != "/dev/zzcrash,/dev/zzcrash1" {
		t.Errorf("write-blocked after the crash: %v", protected)
	}
}

func TestMountedTargets(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mounts")
	os.WriteFile(p, []byte("proc /proc proc rw 0 0\n/dev/vdc1 /run/coldimage/target-vdc1 ext4 rw 0 0\n/dev/vdd1 /run/coldimage/target ext4 rw 0 0\n"), 0o644)
	got := mountedTargets(p)
	if len(got) != 2 || got[0] != (targetMount{"/dev/vdd1", "/run/coldimage/target"}) || got[1] != (targetMount{"/dev/vdc1", "/run/coldimage/target-vdc1"}) {
		t.Errorf("mountedTargets = %v", got)
	}
}
