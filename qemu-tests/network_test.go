package qemutests

// Network targets: the unattended appliance joins QEMU's user network
// (-netdev user: the guest reaches this machine's 127.0.0.1 at 10.0.2.2 and
// nothing else is served) and images its disks onto an SMB 3 share of
// Debian's smbd, started here on 127.0.0.1. The password comes from
// COLDIMAGE.CFG on a disk labelled as our stick.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type netSessionJSON struct {
	Settings []string
	Target   struct {
		Device, URL, FSType, Server, Security string
		MountOptions                          string `json:"mount_options"`
		Network                               *struct {
			Interface, MAC, Driver, Method, Gateway string
			Addresses, DNS                          []string
			DHCPServer                              string `json:"dhcp_server"`
		}
	}
}

// netRun is one boot of the appliance with a network target.
type netRun struct {
	nic, settings, target string
	wantDone              string // the COLDIMAGE DONE counts, e.g. "ok=2 failed=0"
}

func TestNetworkTargetSMB(t *testing.T) {
	a := appliance(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	smb, err := StartSMB(ctx, filepath.Join(dir, "smbd"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(smb.Stop)

	srcs := []struct{ serial, file string }{{"NETSRC1", filepath.Join(dir, "src1.img")}, {"NETSRC2", filepath.Join(dir, "src2.img")}}
	before := map[string]string{}
	for i, s := range srcs {
		if err := WritePattern(s.file, int64(24-8*i)<<20, uint64(77+i)); err != nil {
			t.Fatal(err)
		}
		before[s.serial] = hashOf(t, s.file)
	}
	target := fmt.Sprintf("smb://%s@%s:%d/%s/lab/2026", smb.User, GuestHost, smb.Port, smb.Share)

	run := func(t *testing.T, r netRun) (*VM, string) {
		cfgDisk := filepath.Join(dir, "cfg-"+r.nic+".img")
		if err := MakeSettingsDisk(cfgDisk, r.settings); err != nil {
			t.Fatal(err)
		}
		cfgSHA := hashOf(t, cfgDisk)
		drives := []Drive{{File: cfgDisk, Serial: "STICK"}}
		for _, s := range srcs {
			drives = append(drives, Drive{File: s.file, Serial: s.serial})
		}
		v := boot(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Drives: drives, Log: consoleLog(t, a, ""),
			ExtraArgs: []string{"-nic", "user,model=" + r.nic + ",mac=52:54:00:c0:1d:01", "-device", "virtio-rng-pci"},
			Append:    baseAppend + " coldimage.auto=1 coldimage.case=NET-1 coldimage.target=" + r.target})
		expect(t, v, `COLDIMAGE READY version=`, 3*time.Minute)
		m := expect(t, v, `COLDIMAGE DONE (ok=\d+ failed=\d+)`, 10*time.Minute)
		if err := v.Wait(2 * time.Minute); err != nil {
			t.Fatalf("power off: %v", err)
		}
		if m[1] != r.wantDone {
			t.Errorf("COLDIMAGE DONE %s; want %s", m[1], r.wantDone)
		}
		for _, s := range srcs {
			if got := hashOf(t, s.file); got != before[s.serial] {
				t.Errorf("source %s changed: sha256 %s, was %s", s.serial, got, before[s.serial])
			}
		}
		if hashOf(t, cfgDisk) != cfgSHA {
			t.Errorf("the settings disk (our stick) changed")
		}
		console := strings.Join(v.Lines(), "\n")
		if strings.Contains(console, smb.Password) {
			t.Errorf("the console shows the SMB password")
		}
		return v, console
	}

	t.Run("virtio-net", func(t *testing.T) {
		_, console := run(t, netRun{nic: "virtio-net-pci", target: target, wantDone: "ok=2 failed=0",
			settings: "coldimage.smb.password=" + smb.Password + "\r\ncoldimage.examiner=net-test\r\n"})
		for _, want := range []string{"network: port eth0 (MAC 52:54:00:c0:1d:01, driver virtio_net), dhcp", "target " + target + " mounted read-write", "SMB 3.1.1, encrypted (seal)"} {
			if !strings.Contains(console, want) {
				t.Errorf("console lacks %q", want)
			}
		}
		sessions, _ := filepath.Glob(filepath.Join(smb.Dir, "lab", "2026", "coldimage", "NET-1", "*"))
		if len(sessions) != 1 {
			t.Fatalf("session folders on the share: %v; want one under lab/2026/coldimage/NET-1", sessions)
		}
		session := sessions[0]
		var sj sessionJSON
		readJSON(t, filepath.Join(session, "session.json"), &sj)
		checkSessionShape(t, sj, "unattended")
		var nj netSessionJSON
		readJSON(t, filepath.Join(session, "session.json"), &nj)
		tg := nj.Target
		if tg.URL != target || tg.FSType != "cifs" || tg.Server != fmt.Sprintf("%s:%d", GuestHost, smb.Port) || tg.Security != "SMB 3.1.1, encrypted (seal)" {
			t.Errorf("session.json target: %+v", tg)
		}
		if !strings.Contains(tg.MountOptions, "seal") || !strings.Contains(tg.MountOptions, "vers=3.1.1") {
			t.Errorf("mount options %q: want the kernel's own, with vers=3.1.1 and seal", tg.MountOptions)
		}
		if n := tg.Network; n == nil || n.Interface != "eth0" || n.MAC != "52:54:00:c0:1d:01" || n.Driver != "virtio_net" || n.Method != "dhcp" ||
			len(n.Addresses) != 1 || n.Addresses[0] != "10.0.2.15/24" || n.Gateway != GuestHost || n.DHCPServer != GuestHost {
			t.Errorf("session.json target.network: %+v", n)
		}
		if sj.OK != 2 || sj.Failed != 0 {
			t.Errorf("session ok=%d failed=%d; want 2/0", sj.OK, sj.Failed)
		}
		for _, s := range srcs {
			found := false
			for _, r := range sj.Sources {
				if r.Serial == s.serial {
					found = true
					rec := checkImage(t, filepath.Join(session, r.Outdir), before[s.serial])
					if rec.Result != "ok" || !rec.Complete || r.Verified != "match" {
						t.Errorf("%s: result %q complete %v verified %q", s.serial, rec.Result, rec.Complete, r.Verified)
					}
				}
			}
			if !found {
				t.Errorf("%s not in session.json", s.serial)
			}
		}
		// The password is in no file the appliance wrote.
		filepath.Walk(smb.Dir, func(p string, fi os.FileInfo, err error) error {
			if err != nil || fi.IsDir() || fi.Size() > 1<<20 {
				return nil
			}
			if b, _ := os.ReadFile(p); strings.Contains(string(b), smb.Password) {
				t.Errorf("%s holds the SMB password", p)
			}
			return nil
		})
		b, _ := json.Marshal(nj.Settings)
		if !strings.Contains(string(b), "coldimage.smb.password=(set, not recorded)") {
			t.Errorf("session.json settings %s: want the password line redacted", b)
		}
	})

	t.Run("e1000e wrong password", func(t *testing.T) {
		beforeFiles := countFiles(smb.Dir)
		_, console := run(t, netRun{nic: "e1000e", target: strings.Replace(target, "/2026", "/refused", 1), wantDone: "ok=0 failed=2",
			settings: "coldimage.smb.password=not-the-password\r\n"})
		for _, want := range []string{"driver e1000e), dhcp", "COLDIMAGE ERROR target smb://", "the server refused user \"root\""} {
			if !strings.Contains(console, want) {
				t.Errorf("console lacks %q", want)
			}
		}
		if strings.Contains(console, "not-the-password") {
			t.Errorf("the console shows the (wrong) password")
		}
		if n := countFiles(smb.Dir); n != beforeFiles {
			t.Errorf("the share holds %d files after the refused run, %d before", n, beforeFiles)
		}
	})
}

func countFiles(dir string) int {
	n := 0
	filepath.Walk(dir, func(string, os.FileInfo, error) error { n++; return nil })
	return n
}
