package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The ACPI power button (and a keyboard's power key) ends the appliance in
// order: every target is synced and unmounted, then the machine powers off,
// whatever screen or shell is open. Without this the button did nothing,
// and an examiner's next step would be to hold it and cut the power.

// Linux input event codes (linux/input-event-codes.h).
const (
	evKey    = 0x01
	keyPower = 116
)

// inputEventSize is struct input_event on 64-bit Linux: struct timeval
// (16 bytes), __u16 type, __u16 code, __s32 value.
const inputEventSize = 24

// isPowerPress reports whether one input_event is the power key going down.
func isPowerPress(ev []byte) bool {
	if len(ev) < inputEventSize {
		return false
	}
	typ := binary.LittleEndian.Uint16(ev[16:])
	code := binary.LittleEndian.Uint16(ev[18:])
	value := int32(binary.LittleEndian.Uint32(ev[20:]))
	return typ == evKey && code == keyPower && value == 1
}

// watchPowerButton reads every input device that reports a power key
// (the ACPI "Power Button" of the button driver, keyboards with a power
// key) and powers off in order when it is pressed.
func (a *App) watchPowerButton() error {
	devs, err := powerKeyDevices("/sys/class/input")
	if err != nil {
		return err
	}
	if len(devs) == 0 {
		return fmt.Errorf("no input device reports a power key: the power button is not watched")
	}
	for _, d := range devs {
		f, err := os.OpenFile(d, os.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			a.con.Printf("coldimage: power button %s: %v", d, err)
			continue
		}
		go a.readPowerKey(d, f)
	}
	a.con.Printf("coldimage: power button watched on %s: pressing it syncs, unmounts the target and powers off", strings.Join(devs, ", "))
	return nil
}

func (a *App) readPowerKey(dev string, r io.Reader) {
	buf := make([]byte, inputEventSize)
	for {
		if _, err := io.ReadFull(r, buf); err != nil {
			a.con.Printf("coldimage: power button %s: %v", dev, err)
			return
		}
		if isPowerPress(buf) {
			a.powerButton(dev)
		}
	}
}

// powerButton syncs, unmounts every target and powers off.
func (a *App) powerButton(dev string) {
	a.con.UnmuteAll() // the console UI or the shell may own the examiner's tty
	a.con.Printf("")  // on a line of its own, after a prompt
	a.con.Printf("COLDIMAGE POWER BUTTON pressed (%s) at %s: syncing, unmounting the target, powering off", dev, rfc3339(time.Now()))
	unix.Sync()
	for _, m := range mountedTargets(mountsFile) {
		if err := unix.Unmount(m.dir, 0); err != nil {
			a.con.Printf("COLDIMAGE ERROR unmount %s: %v (synced; powering off anyway)", m.dir, err)
		} else {
			a.con.Printf("coldimage: %s synced and unmounted", m.dir)
		}
	}
	time.Sleep(200 * time.Millisecond) // let the UART drain
	powerOff(a.con)
}

// powerKeyDevices finds /dev/input/eventN nodes whose key capability
// bitmap (sysfs capabilities/key: hex words, most significant first)
// has KEY_POWER.
func powerKeyDevices(sys string) ([]string, error) {
	evs, err := filepath.Glob(filepath.Join(sys, "event*"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range evs {
		b, err := os.ReadFile(filepath.Join(e, "device", "capabilities", "key"))
		if err != nil {
			continue
		}
		if hasKey(string(b), keyPower) {
			out = append(out, "/dev/input/"+filepath.Base(e))
		}
	}
	return out, nil
}

// hasKey tests bit code of a sysfs capability bitmap: space-separated hex
// longs (64 bits each here), the last one holding bits 0-63.
func hasKey(bitmap string, code int) bool {
	words := strings.Fields(bitmap)
	i := len(words) - 1 - code/64
	if i < 0 {
		return false
	}
	var w uint64
	if _, err := fmt.Sscanf(words[i], "%x", &w); err != nil {
		return false
	}
	return w&(1<<(code%64)) != 0
}
