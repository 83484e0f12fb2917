//go:build linux

package disk

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// accessLog records accessHook events for the test's duration.
type accessLog struct {
	mu  sync.Mutex
	evs []string // "setro loop0", "read loop0p1", …
}

func recordAccess(t *testing.T) *accessLog {
	l := &accessLog{}
	accessHook = func(op, name string) {
		l.mu.Lock()
		l.evs = append(l.evs, op+" "+name)
		l.mu.Unlock()
	}
	t.Cleanup(func() { accessHook = nil })
	return l
}

// check fails the test when a device of devs is read before it was set
// read-only, or not read at all; it clears the log.
func (l *accessLog) check(t *testing.T, what string, devs ...string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	set := map[string]bool{}
	read := map[string]bool{}
	for _, e := range l.evs {
		op, name, _ := strings.Cut(e, " ")
		switch op {
		case "setro":
			set[name] = true
		case "read":
			if !set[name] && !read[name] {
				t.Errorf("%s: %s read before BLKROSET (events %v)", what, name, l.evs)
			}
			read[name] = true
		}
	}
	for _, d := range devs {
		if !read[filepath.Base(d)] {
			t.Errorf("%s: no read of %s recorded (events %v)", what, d, l.evs)
		}
	}
	l.evs = nil
}

func setRW(t *testing.T, devs ...string) {
	t.Helper()
	for _, d := range devs {
		run(t, "blockdev", "--setrw", d)
	}
}

// TestWriteBlockOrder: OpenSource and WriteBlocker.Block set a device, the
// disk holding a partition and a disk's partitions read-only before this
// package reads any of them (the hook sees every read and BLKROSET here);
// a plain Inspect of a writable device is seen reading without, so the
// hook does watch.
func TestWriteBlockOrder(t *testing.T) {
	needRoot(t)
	needTool(t, "blockdev")
	img := partitionedImage(t, gptScript)
	dev, parts := loopDisk(t, img)
	if len(parts) < 2 {
		t.Fatalf("partitions of %s: %v", dev, parts)
	}
	all := append([]string{dev}, parts...)
	log := recordAccess(t)

	setRW(t, all...)
	if _, err := Inspect(dev); err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	unblocked := slices.Contains(log.evs, "read "+filepath.Base(dev)) && !slices.ContainsFunc(log.evs, func(e string) bool { return strings.HasPrefix(e, "setro") })
	log.evs = nil
	log.mu.Unlock()
	if !unblocked {
		t.Fatalf("Inspect of writable %s: the hook saw no read", dev)
	}

	for _, tc := range []struct {
		name string
		src  string
		read []string // devices this package reads for it
	}{
		{"disk", dev, all},
		{"partition", parts[0], []string{parts[0], dev}},
	} {
		t.Run("OpenSource/"+tc.name, func(t *testing.T) {
			setRW(t, all...)
			s, err := OpenSource(tc.src, OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			buf := AlignedBuffer(4096)
			if _, err := s.ReadAt(buf, 0); err != nil {
				t.Fatal(err)
			}
			s.Close()
			log.check(t, "OpenSource "+tc.src, tc.read...)
		})
		t.Run("Block/"+tc.name, func(t *testing.T) {
			setRW(t, all...)
			w := NewWriteBlocker()
			defer w.Close()
			if err := w.Block(tc.src); err != nil {
				t.Fatal(err)
			}
			if _, err := Inspect(tc.src); err != nil {
				t.Fatal(err)
			}
			log.check(t, "Block+Inspect "+tc.src, tc.read...)
			got := w.Blocked()
			for _, d := range tc.read {
				if !slices.Contains(got, d) {
					t.Errorf("Blocked() = %v, lacks %s", got, d)
				}
				if ro := run(t, "blockdev", "--getro", d); strings.TrimSpace(ro) != "1" {
					t.Errorf("BLKROGET %s = %s", d, ro)
				}
			}
		})
	}

	t.Run("BlockReadOnlyDisks", func(t *testing.T) {
		setRW(t, all...)
		w := NewWriteBlocker()
		disks, notSearched, err := w.BlockReadOnlyDisks()
		w.Close()
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(disks, dev) || !slices.Contains(notSearched, filepath.Base(dev)+": writable") {
			t.Errorf("writable %s: searched %v, not searched %v", dev, disks, notSearched)
		}
		for _, d := range all {
			if ro := strings.TrimSpace(run(t, "blockdev", "--getro", d)); ro != "0" {
				t.Errorf("writable %s set read-only (%s) though nobody named it", d, ro)
			}
		}
		run(t, "blockdev", "--setro", dev)
		w = NewWriteBlocker()
		disks, _, err = w.BlockReadOnlyDisks()
		w.Close()
		if err != nil || !slices.Contains(disks, dev) {
			t.Fatalf("read-only %s not searched: %v %v", dev, disks, err)
		}
		for _, p := range parts {
			if ro := strings.TrimSpace(run(t, "blockdev", "--getro", p)); ro != "1" {
				t.Errorf("partition %s of read-only %s not write-blocked (%s)", p, dev, ro)
			}
		}
	})

	// A regular file needs no flag; a character device is refused.
	w := NewWriteBlocker()
	defer w.Close()
	if err := w.Block(img); err != nil || len(w.Blocked()) != 0 {
		t.Errorf("Block(regular file) = %v, blocked %v", err, w.Blocked())
	}
	if err := w.Block("/dev/null"); err == nil {
		t.Errorf("Block(/dev/null) accepted")
	}
}

// A file whose O_DIRECT alignment the kernel does not report is probed
// with one 512-byte read of sector 1: a file system that takes it reads
// sector by sector (a rescue narrows to the sector, not the page); a file
// too small to probe keeps the page.
func TestTakesSectorReads(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		size int64
		want bool
	}{{1 << 20, true}, {512, false}} {
		p := filepath.Join(dir, fmt.Sprint(c.size))
		if err := os.WriteFile(p, make([]byte, c.size), 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := openRO(p, unix.O_DIRECT)
		if err != nil {
			t.Skipf("no O_DIRECT here: %v", err)
		}
		if got := takesSectorReads(d, c.size); got != c.want {
			t.Errorf("%d-byte file: takesSectorReads %v, want %v", c.size, got, c.want)
		}
		d.Close()
	}
}
