package main

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coldimage/coldimage/disk"
	"golang.org/x/sys/unix"
)

// Device is one block device as sysfs and our write-blocker see it.
type Device struct {
	Name      string // kernel name: sda, sda1, nvme0n1
	Disk      string // whole disk holding it (== Name for a disk)
	Partition bool
	Size      int64 // bytes
	Model     string
	Serial    string
	Removable bool
	PartName  string // GPT partition name (sysfs uevent PARTNAME), partitions only
	RO        bool   // BLKROGET said 1 after our BLKROSET
	ROErr     string // why it could not be made read-only
	FS        *FS    // probed file system, after RO was checked
	// Members, for a RAID volume assembled in user space: the kernel names
	// of its member devices. Name is then the volume's source-id.
	Members []string
}

// Dev is the device node, or for a RAID volume its source-id (what
// `coldimage acquire` takes).
func (d Device) Dev() string {
	if len(d.Members) > 0 {
		return d.Name
	}
	return "/dev/" + d.Name
}

// ID is the source-id of CONVENTIONS §3 (kernel name + serial when known),
// as package disk computes it for `coldimage acquire`.
func (d Device) ID() string {
	if len(d.Members) > 0 {
		return d.Name
	}
	kind := disk.KindDisk
	if d.Partition {
		kind = disk.KindPart
	}
	return disk.ID(disk.Info{Name: d.Name, Kind: kind, Serial: d.Serial})
}

func sanitizeID(s string) string {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

// Guard is the write-blocker: it sets every block device read-only and
// remembers the outcome. Safe for concurrent use (uevent goroutine + main).
type Guard struct {
	mu     sync.Mutex
	state  map[string]*guardState
	setRO  func(dev string) error // BLKROSET 1 + BLKROGET check
	report func(format string, args ...any)
	sysfs  string
	cond   *sync.Cond
}

type guardState struct {
	ro  bool
	err error
	at  time.Time
	why string // "coldplug" / "uevent add"
}

// NewGuard returns a write-blocker using setRO on /dev nodes.
func NewGuard(sysfs string, setRO func(string) error, report func(string, ...any)) *Guard {
	g := &Guard{state: map[string]*guardState{}, setRO: setRO, report: report, sysfs: sysfs}
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
	for _, n := range sysBlockNames(g.sysfs) {
		if ok, _, _ := g.Checked(n); !ok {
			g.Protect(n, "coldplug", false)
		}
	}
}

// sysBlockNames lists /sys/class/block, disks before their partitions.
func sysBlockNames(sysfs string) []string {
	ents, _ := os.ReadDir(filepath.Join(sysfs, "class", "block"))
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
	for _, n := range sysBlockNames(g.sysfs) {
		out = append(out, g.describe(n))
	}
	return out
}

func (g *Guard) describe(name string) Device {
	base := filepath.Join(g.sysfs, "class", "block", name)
	d := Device{Name: name, Disk: name}
	if _, err := os.Stat(filepath.Join(base, "partition")); err == nil {
		d.Partition = true
		d.PartName = ueventValue(base, "PARTNAME")
		if p, err := filepath.EvalSymlinks(base); err == nil {
			d.Disk = filepath.Base(filepath.Dir(p))
		}
	}
	disk := filepath.Join(g.sysfs, "class", "block", d.Disk)
	if n, err := strconv.ParseInt(readSys(base, "size"), 10, 64); err == nil {
		d.Size = n * 512
	}
	d.Model = readSys(disk, "device/model")
	d.Serial = diskSerial(disk)
	d.Removable = readSys(disk, "removable") == "1"
	checked, ro, err := g.Checked(name)
	d.RO = ro
	if err != nil {
		d.ROErr = err.Error()
	}
	if checked {
		if f, err := os.Open(d.Dev()); err == nil {
			d.FS, _ = ProbeFS(f)
			f.Close()
		}
	}
	return d
}

func readSys(dir, f string) string {
	b, err := os.ReadFile(filepath.Join(dir, f))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// ueventValue reads KEY=value from a sysfs device's uevent file.
func ueventValue(dir, key string) string {
	for _, l := range strings.Split(readSys(dir, "uevent"), "\n") {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			return v
		}
	}
	return ""
}

// diskSerial: virtio-blk and NVMe expose "serial"; SCSI/SATA disks carry
// it in VPD page 0x80 (4-byte header, then the serial).
func diskSerial(disk string) string {
	for _, f := range []string{"serial", "device/serial"} {
		if s := readSys(disk, f); s != "" {
			return s
		}
	}
	if b, err := os.ReadFile(filepath.Join(disk, "device", "vpd_pg80")); err == nil && len(b) > 4 {
		return strings.TrimSpace(strings.Trim(string(b[4:]), "\x00"))
	}
	return ""
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
