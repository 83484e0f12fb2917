package qemutests

// Boot tests of the USB stick image (image-build, make usb): the image is
// attached as a USB stick (qemu-xhci + usb-storage) beside a source disk
// and an ext4 target labelled EVIDENCE; the test picks the unattended
// entry of the boot menu on the serial console and expects the appliance
// to image the source, power off, and leave the stick's bytes unchanged.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coldimage/coldimage/image-build/usbimage"
)

// OVMF firmware and variable stores from Debian's ovmf package.
const (
	ovmfDir       = "/usr/share/OVMF"
	ovmfCode      = ovmfDir + "/OVMF_CODE_4M.fd"
	ovmfVars      = ovmfDir + "/OVMF_VARS_4M.fd"
	ovmfCodeMS    = ovmfDir + "/OVMF_CODE_4M.ms.fd" // Secure Boot capable, needs SMM
	ovmfVarsMS    = ovmfDir + "/OVMF_VARS_4M.ms.fd" // Microsoft keys enrolled, Secure Boot on
	unattendedKey = "u"                             // the unattended entry's hotkey (usbimage.Menu)
)

// usbFirmware is one way of booting the stick.
type usbFirmware struct {
	name string
	// args returns the machine and firmware arguments; dir is the test's
	// scratch directory (variable stores are copied there).
	args func(t *testing.T, dir string) []string
}

var (
	seaBIOS = usbFirmware{"seabios", func(*testing.T, string) []string { return []string{"-machine", "pc"} }}
	ovmf    = usbFirmware{"ovmf", func(t *testing.T, dir string) []string {
		return append([]string{"-machine", "q35"}, pflash(t, dir, ovmfCode, ovmfVars)...)
	}}
	ovmfSecureBoot = usbFirmware{"ovmf-secureboot", func(t *testing.T, dir string) []string {
		return append([]string{"-machine", "q35,smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on"},
			pflash(t, dir, ovmfCodeMS, ovmfVarsMS)...)
	}}
)

// pflash gives the guest the firmware (read-only) and a private copy of
// the variable store.
func pflash(t *testing.T, dir, code, vars string) []string {
	t.Helper()
	for _, f := range []string{code, vars} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("OVMF firmware (Debian package ovmf): %v", err)
		}
	}
	v := filepath.Join(dir, "OVMF_VARS.fd")
	if err := CopyFile(vars, v); err != nil {
		t.Fatal(err)
	}
	return []string{"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + code,
		"-drive", "if=pflash,format=raw,unit=1,file=" + v}
}

// buildUSB makes the stick image from the appliance under test (the same
// code as make usb) into dir. kernel, when set, replaces build/vmlinuz.
func buildUSB(t *testing.T, a *Appliance, dir, kernel string) string {
	t.Helper()
	in, err := usbimage.Prepare(usbimage.Options{ApplianceDir: a.Dir})
	if err != nil {
		t.Fatal(err)
	}
	if kernel != "" {
		if in.Kernel, err = os.ReadFile(kernel); err != nil {
			t.Fatal(err)
		}
	}
	im, err := usbimage.Build(in)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "coldimage-usb.img")
	if err := usbimage.Write(im, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// usbArgs is the QEMU command line: firmware, the stick on an xHCI
// controller (first in the boot order), and the disks on virtio-blk.
func usbArgs(fw []string, stick string, drives []Drive) []string {
	a := []string{"-accel", "tcg", "-m", "1024", "-smp", "2", "-nographic", "-no-reboot",
		"-serial", "stdio", "-monitor", "none"}
	a = append(a, fw...)
	a = append(a, "-device", "qemu-xhci,id=xhci",
		"-drive", "if=none,id=stick,format=raw,cache=writeback,file="+stick,
		"-device", "usb-storage,bus=xhci.0,drive=stick,removable=on,bootindex=0")
	for i, d := range drives {
		a = append(a, "-drive", fmt.Sprintf("if=none,id=d%d,format=raw,cache=writeback,file=%s", i, d.File),
			"-device", fmt.Sprintf("virtio-blk-pci,drive=d%d,serial=%s", i, d.Serial))
	}
	return a
}

// startArgs starts QEMU with a full command line (firmware boot, no
// -kernel) and the harness's console handling. Boot loaders draw their
// menus with cursor addressing, so cursor moves count as line ends.
func startArgs(t *testing.T, args []string, logPath string) *VM {
	t.Helper()
	v := &VM{}
	v.cond = sync.NewCond(&v.mu)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	v.log = f
	fmt.Fprintf(f, "# %s %s\n", QEMU, strings.Join(args, " "))
	v.cmd = exec.Command(QEMU, args...)
	if v.stdin, err = v.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := v.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	v.cmd.Stderr = v.cmd.Stdout
	v.Started = time.Now()
	if err := v.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", QEMU, err)
	}
	go v.read(&cursorLines{r: out}, 0)
	t.Cleanup(v.Kill)
	t.Logf("console log: %s", logPath)
	return v
}

// cursorLines turns VT100 cursor positioning (ESC [ row ; col H) into line
// ends, so a menu drawn by GRUB on a serial terminal arrives as lines.
type cursorLines struct {
	r    io.Reader
	hold []byte
}

func (c *cursorLines) Read(p []byte) (int, error) {
	buf := make([]byte, len(p))
	n, err := c.r.Read(buf)
	data := append(c.hold, buf[:n]...)
	c.hold = nil
	if err == nil {
		// Keep an escape sequence cut off at the end for the next read.
		if i := bytes.LastIndexByte(data, 0x1b); i >= 0 && len(data)-i < 16 && !escDone(data[i:]) {
			c.hold = append([]byte(nil), data[i:]...)
			data = data[:i]
		}
	}
	var out []byte
	for i := 0; i < len(data); i++ {
		if data[i] == 0x1b && i+1 < len(data) && data[i+1] == '[' {
			j := i + 2
			for j < len(data) && (data[j] >= '0' && data[j] <= '9' || data[j] == ';') {
				j++
			}
			if j < len(data) && data[j] == 'H' {
				out = append(out, '\n')
				i = j
				continue
			}
		}
		out = append(out, data[i])
	}
	if len(out) > len(p) { // cannot happen: one byte out per sequence of three or more in
		out = out[:len(p)]
	}
	return copy(p, out), err
}

func escDone(s []byte) bool {
	if len(s) < 2 || s[1] != '[' {
		return len(s) >= 2
	}
	for _, b := range s[2:] {
		if b >= 0x40 && b <= 0x7e {
			return true
		}
	}
	return false
}

// usbRun is one unattended run from the stick.
type usbRun struct {
	vm            *VM
	stick, source string
	target        string
	stickSHA      string
	sourceSHA     string
	ready, done   time.Duration
}

// bootUSBUnattended boots the stick with fw beside a 16 MiB source disk
// and an EVIDENCE target, chooses the unattended menu entry and waits for
// the run to finish and the guest to power off. With settings, the stick's
// COLDIMAGE.CFG is replaced first, as an examiner edits it on a workstation
// (mtools writes the FAT, not our code).
func bootUSBUnattended(t *testing.T, fw usbFirmware, settings string) {
	a := appliance(t)
	dir := t.TempDir()
	r := usbRun{stick: buildUSB(t, a, dir, ""), source: filepath.Join(dir, "source.img"), target: filepath.Join(dir, "target.img")}
	if settings != "" {
		cfg := filepath.Join(dir, "COLDIMAGE.CFG")
		if err := os.WriteFile(cfg, []byte(settings), 0o644); err != nil {
			t.Fatal(err)
		}
		img := fmt.Sprintf("%s@@%d", r.stick, usbimage.ESPLBA*512)
		if out, err := exec.Command("mcopy", "-o", "-i", img, cfg, "::/COLDIMAGE.CFG").CombinedOutput(); err != nil {
			t.Fatalf("mcopy (Debian package mtools): %v\n%s", err, out)
		}
	}
	if err := WritePattern(r.source, 16<<20, 61); err != nil {
		t.Fatal(err)
	}
	if err := MakeGPTExt4(r.target, 64, "EVIDENCE"); err != nil {
		t.Fatal(err)
	}
	r.stickSHA, r.sourceSHA = hashOf(t, r.stick), hashOf(t, r.source)
	args := usbArgs(fw.args(t, dir), r.stick, []Drive{{File: r.source, Serial: "USBSRC1"}, {File: r.target, Serial: "TARGET"}})
	v := startArgs(t, args, consoleLog(t, a, ""))
	expect(t, v, `coldimage unattended`, 4*time.Minute)
	if _, err := io.WriteString(v.stdin, unattendedKey); err != nil {
		t.Fatal(err)
	}
	expect(t, v, `COLDIMAGE READY version=`, 5*time.Minute)
	r.ready = time.Since(v.Started)
	m := expect(t, v, `COLDIMAGE DONE ok=(\d+) failed=(\d+)`, 5*time.Minute)
	r.done = time.Since(v.Started)
	if err := v.Wait(2 * time.Minute); err != nil {
		t.Fatalf("power off: %v", err)
	}
	t.Logf("%s: READY after %.0fs, DONE after %.0fs", fw.name, r.ready.Seconds(), r.done.Seconds())
	if m[1] != "1" || m[2] != "0" {
		t.Errorf("DONE ok=%s failed=%s, want ok=1 failed=0 (the stick itself must not be imaged)", m[1], m[2])
	}
	if got := hashOf(t, r.stick); got != r.stickSHA {
		t.Errorf("the USB stick image changed: sha256 %s, was %s", got, r.stickSHA)
	}
	if got := hashOf(t, r.source); got != r.sourceSHA {
		t.Errorf("the source changed: sha256 %s, was %s", got, r.sourceSHA)
	}
	session := readTarget(t, r.target)
	var sj sessionJSON
	readJSON(t, filepath.Join(session, "session.json"), &sj)
	if len(sj.Sources) != 1 || sj.Sources[0].Serial != "USBSRC1" {
		t.Fatalf("session sources %+v, want only the USBSRC1 disk", sj.Sources)
	}
	rec := checkImage(t, filepath.Join(session, sj.Sources[0].Outdir), r.sourceSHA)
	if settings != "" {
		// The file's values apply (spaces kept); the menu entry's
		// coldimage.target wins over the file's.
		if sj.Case.Case != "USB-CFG-1" || sj.Case.Examiner != "Lab Examiner" || len(sj.Settings) != 3 {
			t.Errorf("session case %+v settings %q: the stick's settings did not apply", sj.Case, sj.Settings)
		}
		if rec.Hashes["md5"] == "" {
			t.Errorf("coldimage.hash from the settings file not used: hashes %v", rec.Hashes)
		}
	} else if len(sj.Settings) != 0 {
		t.Errorf("the stick's template settings file applied settings: %q", sj.Settings)
	}
}

// usbSettings is what an examiner might put in COLDIMAGE.CFG (CRLF, as
// Notepad saves it); its target is overridden by the menu entry's.
const usbSettings = "# lab defaults\r\ncoldimage.case=USB-CFG-1\r\ncoldimage.examiner=Lab Examiner\r\ncoldimage.hash=sha256,blake3,md5\r\n"

// TestUSBSeaBIOS: legacy BIOS boots GRUB i386-pc from the stick's MBR and
// BIOS boot partition.
// The stick carries an examiner's settings file.
func TestUSBSeaBIOS(t *testing.T) { bootUSBUnattended(t, seaBIOS, usbSettings) }

// TestUSBOVMF: UEFI, Secure Boot off: shim → GRUB → kernel.
func TestUSBOVMF(t *testing.T) { bootUSBUnattended(t, ovmf, "") }

// TestUSBOVMFSecureBoot: UEFI with Secure Boot enforced (Microsoft's keys
// enrolled): Microsoft-signed shim → Debian-signed GRUB → Debian-signed
// kernel.
func TestUSBOVMFSecureBoot(t *testing.T) { bootUSBUnattended(t, ovmfSecureBoot, "") }

// TestUSBDefaultEntry: nobody at the keyboard, the menu times out into
// the first entry (interactive, serial ttyS0 + screen); the stick stays
// unchanged.
func TestUSBDefaultEntry(t *testing.T) {
	a := appliance(t)
	dir := t.TempDir()
	stick := buildUSB(t, a, dir, "")
	before := hashOf(t, stick)
	v := startArgs(t, usbArgs(seaBIOS.args(t, dir), stick, nil), consoleLog(t, a, ""))
	expect(t, v, `coldimage unattended`, 4*time.Minute)
	expect(t, v, `The highlighted entry will be executed automatically`, time.Minute)
	expect(t, v, `COLDIMAGE READY version=`, 5*time.Minute)
	if _, err := v.Expect(`COLDIMAGE DONE`, 10*time.Second); err == nil {
		t.Error("the default entry ran unattended")
	}
	v.Kill()
	v.Wait(time.Minute)
	if got := hashOf(t, stick); got != before {
		t.Errorf("the USB stick image changed: sha256 %s, was %s", got, before)
	}
}

// TestUSBSecureBootRefusesUnsignedKernel proves Secure Boot is enforced on
// the same firmware: a stick whose kernel lost its signature does not boot.
func TestUSBSecureBootRefusesUnsignedKernel(t *testing.T) {
	a := appliance(t)
	dir := t.TempDir()
	unsigned := filepath.Join(dir, "vmlinuz.unsigned")
	if err := stripPESignature(a.Kernel, unsigned); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sbverify", "--list", unsigned).CombinedOutput(); err == nil && !strings.Contains(string(out), "No signature table present") {
		t.Fatalf("the stripped kernel still lists a signature: %s", out)
	}
	stick := buildUSB(t, a, dir, unsigned)
	v := startArgs(t, usbArgs(ovmfSecureBoot.args(t, dir), stick, nil), consoleLog(t, a, ""))
	expect(t, v, `coldimage unattended`, 4*time.Minute)
	if _, err := io.WriteString(v.stdin, unattendedKey); err != nil {
		t.Fatal(err)
	}
	expect(t, v, `coldimage: loading vmlinuz`, time.Minute)
	expect(t, v, `(?i)bad shim signature|signature verification failed|invalid signature|security violation`, 2*time.Minute)
	// Nothing may start after the refusal.
	if _, err := v.Expect(`COLDIMAGE READY|Linux version`, 20*time.Second); err == nil {
		t.Fatal("the unsigned kernel started under Secure Boot")
	}
}

// stripPESignature copies a PE image without its Authenticode signature:
// the certificate table (data directory 4) is cleared and cut off.
func stripPESignature(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if len(b) < 0x40 || string(b[:2]) != "MZ" {
		return fmt.Errorf("%s: not a PE image", src)
	}
	pe := int(binary.LittleEndian.Uint32(b[0x3c:]))
	if pe+24 > len(b) || string(b[pe:pe+4]) != "PE\x00\x00" {
		return fmt.Errorf("%s: no PE header at 0x%x", src, pe)
	}
	opt := pe + 24
	var dirs int
	switch binary.LittleEndian.Uint16(b[opt:]) {
	case 0x20b: // PE32+
		dirs = opt + 112
	case 0x10b:
		dirs = opt + 96
	default:
		return fmt.Errorf("%s: unknown optional header magic", src)
	}
	sec := dirs + 4*8
	off := binary.LittleEndian.Uint32(b[sec:])
	size := binary.LittleEndian.Uint32(b[sec+4:])
	if off == 0 || size == 0 || int(off)+int(size) > len(b) {
		return fmt.Errorf("%s: no certificate table", src)
	}
	binary.LittleEndian.PutUint64(b[sec:], 0)
	return os.WriteFile(dst, b[:off], 0o644)
}
