package ui

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/disk/passthru"
	"github.com/coldimage/coldimage/imager"
)

// drives asks each listed disk's drive who it is (read-only passthrough:
// identity, hidden areas, security state), once per disk and in the
// background: a failing drive may take the kernel's command timeout per
// command, and the lists never wait for it. notify tells the screen that
// an answer came.
type drives struct {
	ask    func(dev string) *imager.DeviceIdentity
	notify func()

	mu      sync.Mutex
	got     map[string]*imager.DeviceIdentity
	pending map[string]chan struct{}
}

func newDrives(ask func(string) *imager.DeviceIdentity) *drives {
	if ask == nil {
		ask = passthru.Identify
	}
	return &drives{ask: ask, got: map[string]*imager.DeviceIdentity{}, pending: map[string]chan struct{}{}}
}

// driveName is the disk whose drive answers for d ("" for files, RAID
// volumes and the like, which have none).
func driveName(d Device) string {
	switch {
	case d.Volume != nil:
		return ""
	case d.Kind == disk.KindDisk:
		return d.Name
	case d.Kind == disk.KindPart:
		return d.Parent
	}
	return ""
}

// start asks the drive of disk name, unless it was asked already.
func (b *drives) start(name string) chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.got[name]; ok {
		return nil
	}
	if ch, ok := b.pending[name]; ok {
		return ch
	}
	ch := make(chan struct{})
	b.pending[name] = ch
	go func() {
		id := b.ask(filepath.Join("/dev", name))
		b.mu.Lock()
		b.got[name] = id
		delete(b.pending, name)
		notify := b.notify
		b.mu.Unlock()
		close(ch)
		if notify != nil {
			notify()
		}
	}()
	return ch
}

// startAll asks every disk of devs that has a drive (not our boot medium).
func (b *drives) startAll(devs []Device) {
	for _, d := range devs {
		if n := driveName(d); n != "" && !d.Boot {
			b.start(n)
		}
	}
}

// peek is what the drive of disk name said, if it has answered; asking
// says an answer is still awaited.
func (b *drives) peek(name string) (id *imager.DeviceIdentity, asking bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id = b.got[name]
	_, asking = b.pending[name]
	return id, asking
}

// answered is what the drive of d said, if it answered already (nil for
// devices without a drive, and while it is being asked).
func (b *drives) answered(d Device) *imager.DeviceIdentity {
	_, id, _ := b.of(d)
	return id
}

// wait is the drive's answer, asking it first when nobody has.
func (b *drives) wait(name string) *imager.DeviceIdentity {
	if ch := b.start(name); ch != nil {
		<-ch
	}
	id, _ := b.peek(name)
	return id
}

// waitAll waits up to d for the answers being awaited.
func (b *drives) waitAll(d time.Duration) {
	deadline := time.After(d)
	for {
		b.mu.Lock()
		var ch chan struct{}
		for _, c := range b.pending {
			ch = c
			break
		}
		b.mu.Unlock()
		if ch == nil {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			return
		}
	}
}

// flag is a source row's DRIVE column: HPA (sectors hidden by a host
// protected area or a configuration overlay: not imaged), LOCK (a locked
// drive), H+L both, ... while the drive is being asked, empty otherwise.
func (b *drives) flag(d Device) string {
	_, id, asking := b.of(d)
	if id == nil {
		if asking {
			return "..."
		}
		return ""
	}
	switch hidden := hiddenSectors(id); {
	case hidden && id.Locked:
		return "H+L"
	case hidden:
		return "HPA"
	case id.Locked:
		return "LOCK"
	}
	return ""
}

// of is the disk whose drive answers for d and what it said, if it has
// answered (asking: an answer is still awaited; "" and nil for a device
// without a drive).
func (b *drives) of(d Device) (name string, id *imager.DeviceIdentity, asking bool) {
	if name = driveName(d); name == "" {
		return "", nil, false
	}
	id, asking = b.peek(name)
	return name, id, asking
}

// lockedWhy is what says a drive is locked: its ATA security state, its
// TCG locking state.
func lockedWhy(id *imager.DeviceIdentity) string {
	return strings.Join(nonEmpty(id.ATASecurity, id.TCG), "; ")
}

// hiddenSectors says whether the drive hides sectors from the kernel (a
// host protected area or a configuration overlay), size known or not.
func hiddenSectors(id *imager.DeviceIdentity) bool {
	return (id.HPAHidden != nil && *id.HPAHidden > 0) || (id.DCOHidden != nil && *id.DCOHidden > 0) || strings.Contains(id.HiddenArea, "PRESENT")
}

// details is the source details' line about the drive of d ("" when it has
// none or has not answered yet).
func (b *drives) details(d Device) string {
	n, id, asking := b.of(d)
	if id == nil {
		if asking {
			return fmt.Sprintf("drive %s: being asked who it is (read-only passthrough)", n)
		}
		return ""
	}
	var l []string
	if id.HiddenArea != "" {
		l = append(l, id.HiddenArea)
	}
	if hiddenSectors(id) {
		l = append(l, "THOSE SECTORS ARE NOT IMAGED")
	}
	if id.Locked {
		l = append(l, "LOCKED: "+lockedWhy(id))
	}
	if len(l) == 0 {
		l = append(l, "no hidden area or lock reported")
	}
	return fmt.Sprintf("drive %s says: %s", n, strings.Join(l, "; "))
}

// warnings are the confirm screen's lines about the drive of d under the
// hidden-area choice mode: hidden sectors not imaged, a hidden area the
// kernel opened, and a locked drive. It waits for the drive's answer.
func (b *drives) warnings(d Device, mode string) []string {
	n := driveName(d)
	if n == "" {
		return nil
	}
	id := b.wait(n)
	if id == nil {
		return nil
	}
	var out []string
	h := imager.DecideHPA(mode, id, disk.LibataIgnoreHPA(), false)
	switch {
	case hiddenSectors(id) && mode == imager.HPAImage:
		out = append(out, fmt.Sprintf("    WARNING %s: %s: those sectors are not imaged: coldimage.hpa=image asked, but the kernel did not open the area (libata ignore_hpa=%s; a drive may refuse, e.g. when the BIOS froze it)", n, id.HiddenArea, h.IgnoreHPA))
	case hiddenSectors(id):
		out = append(out, fmt.Sprintf("    WARNING %s: %s: those sectors are not imaged", n, id.HiddenArea))
	case h.NotImaged != "":
		out = append(out, fmt.Sprintf("    WARNING %s: %s", n, h.NotImaged))
	}
	if id.Locked {
		out = append(out, fmt.Sprintf("    WARNING %s: LOCKED: %s", n, lockedWhy(id)))
	}
	if id.KernelUnlockedHPA() {
		what := "the kernel unlocked a host protected area on this drive at boot"
		if h.Imaged {
			what = h.Outcome
		}
		out = append(out, fmt.Sprintf("    WARNING %s: %s (kernel log: %s); recorded", n, what, strings.Join(id.KernelHPA, "; ")))
	}
	return out
}
