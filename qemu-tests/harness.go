// Package qemutests boots the real appliance (build/vmlinuz +
// build/initramfs.cpio*) under QEMU (TCG) and checks what it does to
// virtual disks. This file is the small harness: start a guest, read its
// serial console line by line, wait for lines, talk to the monitor, keep the
// console log as an artifact (build/qemu-logs/<test>.log).
package qemutests

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// QEMU is the emulator binary.
const QEMU = "qemu-system-x86_64"

// Drive is one disk of a guest.
type Drive struct {
	File   string // raw image; or the blkdebug config with Image set
	Serial string
	// Bus: "virtio" (virtio-blk-pci, default), "scsi" (scsi-hd on
	// virtio-scsi), "ahci" (a SATA ide-hd on an ICH9 AHCI controller) or
	// "nvme" (a namespace of the NVMe controller named by Ctrl, with
	// Serial as the controller's serial).
	Bus string
	// Props are further properties of the device: model=, wwn=,
	// vendor=, product=, rotation_rate=, eui64=, detached=on (nvme).
	Props string
	// Ctrl groups nvme namespaces on one controller (default: one each).
	Ctrl string
	// BlkdebugConf, when set, puts QEMU's blkdebug error injector between
	// the guest and File.
	BlkdebugConf string
	// NBD, when set, is the unix socket of an NBD server (StartNBD)
	// serving the disk instead of File.
	NBD string
}

// Config describes one guest.
type Config struct {
	Kernel, Initrd string
	Append         string
	Drives         []Drive
	MemMB          int // default 1024
	SMP            int // default 2
	Log            string
	Monitor        bool      // HMP monitor on a unix socket
	Echo           io.Writer // optional live copy of the console
	ExtraArgs      []string  // further QEMU arguments (e.g. a second serial port)
	// ConsoleRate, when > 0, is how many bytes per second of console
	// output the test reads (11520 for a real 115200-baud UART): QEMU's
	// serial port then waits for the reader, as a real UART's FIFO does.
	ConsoleRate int
}

// VM is a running guest.
type VM struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	echo    io.Writer
	mon     string
	log     *os.File
	mu      sync.Mutex
	cond    *sync.Cond
	lines   []string
	partial string // console output after the last newline
	// partialUsed: bytes of partial already consumed by a match
	partialUsed int
	cursor      int
	exited      bool
	killed      bool
	exitErr     error
	Started     time.Time
}

// Args is the QEMU command line for c (TCG only: /dev/kvm hangs here).
func (c Config) Args(monSock string) []string {
	mem, smp := c.MemMB, c.SMP
	if mem == 0 {
		mem = 1024
	}
	if smp == 0 {
		smp = 2
	}
	a := []string{"-accel", "tcg", "-m", fmt.Sprint(mem), "-smp", fmt.Sprint(smp),
		"-nographic", "-no-reboot", "-serial", "stdio",
		"-kernel", c.Kernel, "-initrd", c.Initrd, "-append", c.Append,
		"-device", "virtio-scsi-pci,id=scsi0"}
	if monSock != "" {
		a = append(a, "-monitor", "unix:"+monSock+",server=on,wait=off")
	} else {
		a = append(a, "-monitor", "none")
	}
	ahciPorts, nvmeNS := 0, map[string]int{}
	for i, d := range c.Drives {
		id := fmt.Sprintf("d%d", i)
		file := "file=" + d.File
		if d.BlkdebugConf != "" {
			file = fmt.Sprintf("file.driver=blkdebug,file.config=%s,file.image.filename=%s", d.BlkdebugConf, d.File)
		}
		if d.NBD != "" {
			file = "readonly=on,file.driver=nbd,file.server.type=unix,file.server.path=" + d.NBD // the server is read-only
		}
		a = append(a, "-drive", fmt.Sprintf("if=none,id=%s,format=raw,cache=writeback,%s", id, file))
		dev := "virtio-blk-pci"
		serial := d.Serial
		switch d.Bus {
		case "scsi":
			dev = "scsi-hd,bus=scsi0.0"
		case "ahci":
			if ahciPorts == 0 {
				a = append(a, "-device", "ich9-ahci,id=ahci0")
			}
			dev = fmt.Sprintf("ide-hd,bus=ahci0.%d", ahciPorts)
			ahciPorts++
		case "nvme":
			ctrl := d.Ctrl
			if ctrl == "" {
				ctrl = fmt.Sprintf("nvme%d", i)
			}
			if nvmeNS[ctrl] == 0 {
				a = append(a, "-device", fmt.Sprintf("nvme-subsys,id=sub%s,nqn=%s", ctrl, ctrl),
					"-device", fmt.Sprintf("nvme,id=%s,serial=%s,subsys=sub%s", ctrl, d.Serial, ctrl))
			}
			nvmeNS[ctrl]++
			dev = fmt.Sprintf("nvme-ns,bus=%s,nsid=%d", ctrl, nvmeNS[ctrl])
			serial = "" // the controller's
		}
		dev += fmt.Sprintf(",id=dev%d,drive=%s", i, id) // dev<i>: what device_del names
		if serial != "" {
			dev += ",serial=" + serial
		}
		if d.Props != "" {
			dev += "," + d.Props
		}
		a = append(a, "-device", dev)
	}
	return append(a, c.ExtraArgs...)
}

// Start boots a guest. The caller must Wait or Kill it (Kill is also
// registered with the test's cleanup by the test helpers).
func Start(c Config) (*VM, error) {
	if _, err := exec.LookPath(QEMU); err != nil {
		return nil, err
	}
	v := &VM{echo: c.Echo}
	v.cond = sync.NewCond(&v.mu)
	if c.Monitor {
		dir, err := os.MkdirTemp("", "qemu-mon-")
		if err != nil {
			return nil, err
		}
		v.mon = filepath.Join(dir, "mon.sock")
	}
	if c.Log != "" {
		if err := os.MkdirAll(filepath.Dir(c.Log), 0o755); err != nil {
			return nil, err
		}
		f, err := os.Create(c.Log)
		if err != nil {
			return nil, err
		}
		v.log = f
		fmt.Fprintf(f, "# %s %s\n", QEMU, strings.Join(c.Args(v.mon), " "))
	}
	v.cmd = exec.Command(QEMU, c.Args(v.mon)...)
	var err error
	if v.stdin, err = v.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := v.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	v.cmd.Stderr = v.cmd.Stdout
	v.Started = time.Now()
	if err := v.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", QEMU, err)
	}
	go v.read(out, c.ConsoleRate)
	return v, nil
}

// read splits the console into lines. A full-screen UI may draw for a
// long time without a newline, so the unterminated tail (partial) is
// searched too; escape sequences are removed before matching.
func (v *VM) read(r io.Reader, rate int) {
	buf := make([]byte, 4096)
	if rate > 0 {
		buf = buf[:64] // small reads, paced: a UART drains a byte at a time
	}
	start, got := time.Now(), 0
	for {
		n, err := r.Read(buf)
		if rate > 0 && n > 0 {
			got += n
			if ahead := time.Duration(got)*time.Second/time.Duration(rate) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
		}
		if n > 0 {
			v.mu.Lock()
			if v.log != nil {
				v.log.Write(buf[:n])
			}
			if v.echo != nil {
				v.echo.Write(buf[:n])
			}
			v.partial += string(buf[:n])
			for {
				i := strings.IndexByte(v.partial, '\n')
				if i < 0 {
					break
				}
				l := strings.TrimRight(v.partial[:i], "\r")
				if v.partialUsed > 0 {
					l = l[min(v.partialUsed, len(l)):]
					v.partialUsed = 0
				}
				v.lines = append(v.lines, l)
				v.partial = v.partial[i+1:]
			}
			v.cond.Broadcast()
			v.mu.Unlock()
		}
		if err != nil {
			break
		}
	}
	err := v.cmd.Wait()
	v.mu.Lock()
	v.exited, v.exitErr = true, err
	if v.log != nil {
		fmt.Fprintf(v.log, "\n# qemu exited after %.1fs: %v\n", time.Since(v.Started).Seconds(), err)
		v.log.Close()
		v.log = nil
	}
	v.cond.Broadcast()
	v.mu.Unlock()
}

// ErrExited: the guest stopped before the expected line appeared.
var ErrExited = errors.New("guest exited")

// Expect waits for a console line matching re, after the previous match,
// and returns its submatches.
func (v *VM) Expect(re string, timeout time.Duration) ([]string, error) {
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() { v.mu.Lock(); v.cond.Broadcast(); v.mu.Unlock() })
	defer timer.Stop()
	v.mu.Lock()
	defer v.mu.Unlock()
	for {
		for ; v.cursor < len(v.lines); v.cursor++ {
			if m := rx.FindStringSubmatch(stripANSI(v.lines[v.cursor])); m != nil {
				v.cursor++
				return m, nil
			}
		}
		// Only full-screen output (cursor addressing) is matched before its
		// newline: a plain line could match while half-received.
		if tail := v.partial[min(v.partialUsed, len(v.partial)):]; strings.Contains(tail, "\x1b[") {
			if m := rx.FindStringSubmatch(stripANSI(tail)); m != nil {
				v.partialUsed = len(v.partial)
				return m, nil
			}
		}
		if v.exited {
			return nil, fmt.Errorf("waiting for %q: %w (%v)", re, ErrExited, v.exitErr)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no console line matching %q within %v", re, timeout)
		}
		v.cond.Wait()
	}
}

// Lines returns every console line so far.
func (v *VM) Lines() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.lines...)
}

// Send types a line on the serial console.
func (v *VM) Send(line string) error {
	_, err := io.WriteString(v.stdin, line+"\n")
	return err
}

// Write types raw bytes on the serial console (keys and escape sequences,
// for the full-screen UI); it makes a VM an io.Writer for a terminal emulator.
func (v *VM) Write(b []byte) (int, error) {
	return v.stdin.Write(b)
}

// Monitor runs one HMP command and returns its output.
func (v *VM) Monitor(cmd string) (string, error) {
	if v.mon == "" {
		return "", errors.New("guest started without a monitor")
	}
	c, err := net.DialTimeout("unix", v.mon, 5*time.Second)
	if err != nil {
		return "", fmt.Errorf("monitor: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	readPrompt := func() (string, error) {
		var b strings.Builder
		buf := make([]byte, 4096)
		for !strings.HasSuffix(b.String(), "(qemu) ") {
			n, err := c.Read(buf)
			if err != nil {
				return b.String(), fmt.Errorf("monitor read: %w", err)
			}
			b.Write(buf[:n])
		}
		return b.String(), nil
	}
	if _, err := readPrompt(); err != nil {
		return "", err
	}
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return "", err
	}
	out, err := readPrompt()
	// HMP echoes the command with terminal escapes; keep the text after it.
	out = strings.TrimSuffix(out, "(qemu) ")
	if i := strings.LastIndex(out, "\n"+cmd); i >= 0 {
		out = out[i+len(cmd)+1:]
	}
	return strings.TrimSpace(stripANSI(out)), err
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*[A-Za-z]|\r")

func stripANSI(s string) string { return ansi.ReplaceAllString(s, "") }

// Wait waits for QEMU to exit (the guest powered off), killing it after
// timeout.
func (v *VM) Wait(timeout time.Duration) error {
	timer := time.AfterFunc(timeout, func() {
		v.mu.Lock()
		v.killed = true
		v.mu.Unlock()
		v.Kill()
	})
	defer timer.Stop()
	v.mu.Lock()
	defer v.mu.Unlock()
	for !v.exited {
		v.cond.Wait()
	}
	if v.killed {
		return fmt.Errorf("guest did not power off within %v (killed)", timeout)
	}
	return v.exitErr
}

// Kill stops QEMU.
func (v *VM) Kill() {
	if v.cmd != nil && v.cmd.Process != nil {
		v.cmd.Process.Kill()
	}
	if v.mon != "" {
		os.RemoveAll(filepath.Dir(v.mon))
	}
}
