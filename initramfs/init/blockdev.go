package main

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coldimage/coldimage/disk"
	"golang.org/x/sys/unix"
)

// Device is one block device: package disk's description of it (from
// sysfs; the file system probed by package disk's probers once the
// write-blocker confirmed the device read-only), with the write-blocker's
// state beside it.
type Device struct {
	disk.Info
	RO    bool   // BLKROGET said 1 after our BLKROSET
	ROErr string // why it could not be made read-only
	// Members, for a RAID volume assembled in user space: the kernel names
	// of its member devices. Name is then the volume's source-id.
	Members []string
}

// Disk is the kernel name of the whole disk holding d (d itself for a disk).
func (d Device) Disk() string {
	if d.IsPart() && d.Parent != "" {
		return d.Parent
	}
	return d.Name
}

// IsPart reports whether d is a partition.
func (d Device) IsPart() bool { return d.Kind == disk.KindPart }

// Dev is the device node, or for a RAID volume its source-id.
func (d Device) Dev() string {
	if len(d.Members) > 0 {
		return d.Name
	}
	return "/dev/" + d.Name
}

// ID is the source-id of CONVENTIONS §3 (kernel name + serial when known).
func (d Device) ID() string {
	if len(d.Members) > 0 {
		return d.Name
	}
	return disk.ID(d.Info)
}

// Guard is the write-blocker: it sets every block device read-only and
// remembers the outcome. Safe for concurrent use (uevent goroutine + main).
type Guard struct {
	mu     sync.Mutex
	state  map[string]*guardState
	setRO  func(dev string) error // BLKROSET 1 + BLKROGET check
	report func(format string, args ...any)
	cond   *sync.Cond
}

type guardState struct {
	ro  bool
	err error
	at  time.Time
	why string // "coldplug" / "uevent add"
}

// NewGuard returns a write-blocker using setRO on /dev nodes.
func NewGuard(setRO func(string) error, report func(string, ...any)) *Guard {
	g := &Guard{state: map[string]*guardState{}, setRO: setRO, report: report}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// Protect sets name read-only (idempotent; a device that was re-added by
// the kernel is protected again). It reports the outcome on the console.
func (g *Guard) Protect(name, why string, again bool) error {
	g.mu.Lock()
	if s, ok := g.state[name]; ok && !again && s.err == nil {
		g.mu.Unlock()
		return nil
	}
	g.mu.Unlock()
	err := g.setRO("/dev/" + name)
	g.mu.Lock()
	g.state[name] = &guardState{ro: err == nil, err: err, at: time.Now(), why: why}
	g.cond.Broadcast()
	g.mu.Unlock()
	if errors.Is(err, unix.ENOMEDIUM) {
		g.report("coldimage: %s /dev/%s: no medium (write-blocked when one is inserted)", why, name)
	} else if err != nil {
		g.report("COLDIMAGE WARNING /dev/%s is NOT read-only: %v — it will not be imaged without the operator's explicit consent", name, err)
	} else {
		g.report("coldimage: %s /dev/%s read-only (BLKROGET=1)", why, name)
	}
	return err
}

// Forget drops a removed device.
func (g *Guard) Forget(name string) {
	g.mu.Lock()
	delete(g.state, name)
	g.mu.Unlock()
}

// Checked reports whether name went through BLKROSET/BLKROGET, and the result.
func (g *Guard) Checked(name string) (checked, ro bool, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.state[name]
	if !ok {
		return false, false, nil
	}
	return true, s.ro, s.err
}

// Allow marks the target writable in our books after the operator/command
// line chose it and RO was cleared.
func (g *Guard) Allow(name string) {
	g.mu.Lock()
	g.state[name] = &guardState{ro: false, at: time.Now(), why: "target"}
	g.mu.Unlock()
}

// Sweep protects every block device sysfs shows that we have not yet
// checked: devices that existed before the uevent socket, or whose events
// were lost.
func (g *Guard) Sweep() {
	for _, n := range sysBlockNames() {
		if ok, _, _ := g.Checked(n); !ok {
			g.Protect(n, "coldplug", false)
		}
	}
}

// sysBlockNames lists /sys/class/block, disks before their partitions.
func sysBlockNames() []string {
	ents, _ := os.ReadDir(filepath.Join(disk.SysRoot, "class", "block"))
	var n []string
	for _, e := range ents {
		n = append(n, e.Name())
	}
	sort.Strings(n)
	return n
}

// ListDevices describes every block device in sysfs, with the guard's
// read-only state and, for devices already checked, the file system.
// (Swap for disk.List once package disk is committed.)
func (g *Guard) ListDevices() []Device {
	var out []Device
	for _, n := range sysBlockNames() {
		out = append(out, g.describe(n))
	}
	return out
}

func (g *Guard) describe(name string) Device {
	info, err := disk.Describe(name)
	d := Device{Info: info}
	if err != nil {
		d.Name = name
	}
	if d.Kind == "" {
		d.Kind = disk.KindDisk
	}
	checked, ro, rerr := g.Checked(name)
	d.RO = ro
	if rerr != nil {
		d.ROErr = rerr.Error()
	}
	if checked && d.Size > 0 {
		// Only a device the write-blocker went through is opened.
		if f, err := os.Open(d.Dev()); err == nil {
			d.ProbeFS(f, d.Size)
			f.Close()
		}
	}
	return d
}

// isVirtual reports kernel devices that are never evidence disks.
func isVirtual(name string) bool {
	for _, p := range []string{"loop", "ram", "zram", "md", "dm-", "nbd"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
