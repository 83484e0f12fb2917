package qemutests

// Network targets: the unattended appliance joins QEMU's user network
// (-netdev user: the guest reaches this machine's 127.0.0.1 at 10.0.2.2 and
// nothing else is served) and images its disks onto an SMB 3 share of
// Debian's smbd, started here on 127.0.0.1. The password comes from
// COLDIMAGE.CFG on a disk labelled as our stick.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coldimage/coldimage/imager/s3/s3test"
	"github.com/coldimage/coldimage/ui/uitest"
)

type netSessionJSON struct {
	Settings []string
	Target   struct {
		Device, URL, FSType, Server, Security, Host string
		Policy                                      string
		MountOptions                                string `json:"mount_options"`
		Network                                     *struct {
			Interface, MAC, Driver, Method, Gateway string
			Addresses, DNS                          []string
			DHCPServer                              string `json:"dhcp_server"`
		}
	}
}

// netRun is one boot of the appliance with a network target.
type netRun struct {
	nic, settings, target string
	files                 map[string][]byte // further files on the settings disk
	wantDone              string            // the COLDIMAGE DONE counts, e.g. "ok=2 failed=0"
	extra                 []string          // further QEMU arguments
}

// nicArgs gives the guest one network card of the model (with a random
// number generator for DHCP's transaction ids), or none at all.
func nicArgs(model string) []string {
	if model == "none" {
		return []string{"-nic", "none"}
	}
	return []string{"-nic", "user,model=" + model + ",mac=52:54:00:c0:1d:01", "-device", "virtio-rng-pci"}
}

// netSources are the evidence disks of the network-target tests, with
// their sha256 before any boot.
type netSources struct {
	dir    string
	disks  []struct{ serial, file string }
	before map[string]string
}

func newNetSources(t *testing.T, dir string) *netSources {
	n := &netSources{dir: dir, before: map[string]string{}}
	for i, serial := range []string{"NETSRC1", "NETSRC2"} {
		f := filepath.Join(dir, strings.ToLower(serial)+".img")
		if err := WritePattern(f, int64(24-8*i)<<20, uint64(77+i)); err != nil {
			t.Fatal(err)
		}
		n.disks = append(n.disks, struct{ serial, file string }{serial, f})
		n.before[serial] = hashOf(t, f)
	}
	return n
}

// boot runs the unattended appliance with a settings disk (our stick) and
// the sources on one NIC model, and checks that no source and not the
// stick changed, and that no secret reached the console.
func (n *netSources) boot(t *testing.T, a *Appliance, r netRun, secrets ...string) string {
	t.Helper()
	cfgDisk := filepath.Join(n.dir, "cfg-"+strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())+".img")
	if err := MakeSettingsDiskFiles(cfgDisk, r.settings, r.files); err != nil {
		t.Fatal(err)
	}
	cfgSHA := hashOf(t, cfgDisk)
	drives := []Drive{{File: cfgDisk, Serial: "STICK"}}
	for _, s := range n.disks {
		drives = append(drives, Drive{File: s.file, Serial: s.serial})
	}
	v := boot(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Drives: drives, Log: consoleLog(t, a, ""),
		ExtraArgs: append(nicArgs(r.nic), r.extra...),
		Append:    baseAppend + " coldimage.auto=1 coldimage.case=NET-1 coldimage.target=" + r.target})
	expect(t, v, `COLDIMAGE READY version=`, 3*time.Minute)
	m := expect(t, v, `COLDIMAGE DONE (ok=\d+ failed=\d+)`, 10*time.Minute)
	if err := v.Wait(2 * time.Minute); err != nil {
		t.Fatalf("power off: %v", err)
	}
	if m[1] != r.wantDone {
		t.Errorf("COLDIMAGE DONE %s; want %s", m[1], r.wantDone)
	}
	for _, s := range n.disks {
		if got := hashOf(t, s.file); got != n.before[s.serial] {
			t.Errorf("source %s changed: sha256 %s, was %s", s.serial, got, n.before[s.serial])
		}
	}
	if hashOf(t, cfgDisk) != cfgSHA {
		t.Errorf("the settings disk (our stick) changed")
	}
	console := strings.Join(v.Lines(), "\n")
	for _, sec := range secrets {
		if strings.Contains(console, sec) {
			t.Errorf("the console shows a secret (%d characters)", len(sec))
		}
	}
	return console
}

// netWant is the network port a session must record.
type netWant struct{ mac, method, addr, dhcp string }

// dhcpPort is the first port's QEMU DHCP lease.
var dhcpPort = netWant{"52:54:00:c0:1d:01", "dhcp", "10.0.2.15/24", GuestHost}

// checkSession checks the one session folder under root: its record
// names the network target, and each source's image hashes as the source.
func (n *netSources) checkSession(t *testing.T, root, url, fstype, server, security string, net netWant) {
	t.Helper()
	sessions, _ := filepath.Glob(filepath.Join(root, "coldimage", "NET-1", "*"))
	if len(sessions) != 1 {
		t.Fatalf("session folders: %v; want one under %s/coldimage/NET-1", sessions, root)
	}
	session := sessions[0]
	var sj sessionJSON
	readJSON(t, filepath.Join(session, "session.json"), &sj)
	checkSessionShape(t, sj, "unattended")
	var nj netSessionJSON
	readJSON(t, filepath.Join(session, "session.json"), &nj)
	tg := nj.Target
	if tg.URL != url || tg.FSType != fstype || tg.Server != server || tg.Security != security {
		t.Errorf("session.json target: %+v; want url %s fstype %s server %s security %q", tg, url, fstype, server, security)
	}
	if nw := tg.Network; nw == nil || nw.MAC != net.mac || nw.Method != net.method ||
		len(nw.Addresses) != 1 || nw.Addresses[0] != net.addr || nw.Gateway != GuestHost || nw.DHCPServer != net.dhcp {
		t.Errorf("session.json target.network: %+v; want %+v", nw, net)
	}
	if sj.OK != len(n.disks) || sj.Failed != 0 {
		t.Errorf("session ok=%d failed=%d; want %d/0", sj.OK, sj.Failed, len(n.disks))
	}
	for _, s := range n.disks {
		found := false
		for _, r := range sj.Sources {
			if r.Serial == s.serial {
				found = true
				rec := checkImage(t, filepath.Join(session, r.Outdir), n.before[s.serial])
				if rec.Result != "ok" || !rec.Complete || r.Verified != "match" {
					t.Errorf("%s: result %q complete %v verified %q", s.serial, rec.Result, rec.Complete, r.Verified)
				}
			}
		}
		if !found {
			t.Errorf("%s not in session.json", s.serial)
		}
	}
	txt, err := os.ReadFile(filepath.Join(session, "session.txt"))
	if err != nil || !strings.Contains(string(txt), "(MAC "+net.mac) || !strings.Contains(string(txt), "target security: "+security) {
		t.Errorf("session.txt lacks the network and security lines: %v\n%s", err, txt)
	}
}

// startSMB starts smbd for one test, stopped when it ends.
func startSMB(t *testing.T, dir string) *SMBServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	smb, err := StartSMB(ctx, filepath.Join(dir, "smbd"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(smb.Stop)
	return smb
}

func TestNetworkTargetSMB(t *testing.T) {
	a := appliance(t)
	dir := t.TempDir()
	smb := startSMB(t, dir)
	n := newNetSources(t, dir)
	target := fmt.Sprintf("smb://%s@%s:%d/%s/lab/2026", smb.User, GuestHost, smb.Port, smb.Share)

	t.Run("virtio-net", func(t *testing.T) {
		// The machine's DMI serial names its session folder on the share.
		console := n.boot(t, a, netRun{nic: "virtio-net-pci", target: target, wantDone: "ok=2 failed=0", extra: []string{"-smbios", "type=1,serial=SRV-0042"},
			settings: "coldimage.smb.password=" + smb.Password + "\r\ncoldimage.examiner=net-test\r\n"}, smb.Password)
		for _, want := range []string{"network: port eth0 (MAC 52:54:00:c0:1d:01, driver virtio_net), dhcp", "target " + target + " mounted read-write", "SMB 3.1.1, encrypted (seal)"} {
			if !strings.Contains(console, want) {
				t.Errorf("console lacks %q", want)
			}
		}
		root := filepath.Join(smb.Dir, "lab", "2026")
		n.checkSession(t, root, target, "cifs", fmt.Sprintf("%s:%d", GuestHost, smb.Port), "SMB 3.1.1, encrypted (seal)", dhcpPort)
		var nj netSessionJSON
		sessions, _ := filepath.Glob(filepath.Join(root, "coldimage", "NET-1", "*", "session.json"))
		if len(sessions) == 1 {
			readJSON(t, sessions[0], &nj)
		}
		if mo := nj.Target.MountOptions; !strings.Contains(mo, "seal") || !strings.Contains(mo, "vers=3.1.1") {
			t.Errorf("mount options %q: want the kernel's own, with vers=3.1.1 and seal", mo)
		}
		if nw := nj.Target.Network; nw == nil || nw.Driver != "virtio_net" {
			t.Errorf("network %+v: want driver virtio_net", nw)
		}
		if len(sessions) != 1 || !strings.HasSuffix(filepath.Dir(sessions[0]), "_SRV-0042") || nj.Target.Host != "SRV-0042" {
			t.Errorf("session %v host %q: want the folder <stamp>_SRV-0042 (the DMI serial)", sessions, nj.Target.Host)
		}
		b, _ := json.Marshal(nj.Settings)
		if !strings.Contains(string(b), "coldimage.smb.password=(set, not recorded)") {
			t.Errorf("session.json settings %s: want the password line redacted", b)
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
	})

	// Two ports; the settings name the second by its MAC and give it a
	// fixed address: no DHCP.
	t.Run("static address on the port named by MAC", func(t *testing.T) {
		const mac2 = "52:54:00:c0:1d:02"
		static := strings.Replace(target, "/2026", "/static", 1)
		console := n.boot(t, a, netRun{nic: "virtio-net-pci", target: static, wantDone: "ok=2 failed=0", extra: []string{"-nic", "user,model=e1000e,mac=" + mac2},
			settings: "coldimage.smb.password=" + smb.Password + "\r\ncoldimage.net=static:10.0.2.20/24,gw=10.0.2.2,dns=10.0.2.3\r\ncoldimage.net.if=" + mac2 + "\r\n"}, smb.Password)
		if !strings.Contains(console, "(MAC "+mac2+", driver e1000e), static:10.0.2.20/24,gw=10.0.2.2,dns=10.0.2.3") {
			t.Errorf("console lacks the static set-up on the e1000e port")
		}
		n.checkSession(t, filepath.Join(smb.Dir, "lab", "static"), static, "cifs", fmt.Sprintf("%s:%d", GuestHost, smb.Port), "SMB 3.1.1, encrypted (seal)",
			netWant{mac2, "static:10.0.2.20/24,gw=10.0.2.2,dns=10.0.2.3", "10.0.2.20/24", ""})
	})

	t.Run("e1000e wrong password", func(t *testing.T) {
		beforeFiles := countFiles(smb.Dir)
		console := n.boot(t, a, netRun{nic: "e1000e", target: strings.Replace(target, "/2026", "/refused", 1), wantDone: "ok=0 failed=2",
			settings: "coldimage.smb.password=not-the-password\r\n"}, "not-the-password")
		for _, want := range []string{"driver e1000e), dhcp", "COLDIMAGE ERROR target smb://", "the server refused user \"root\""} {
			if !strings.Contains(console, want) {
				t.Errorf("console lacks %q", want)
			}
		}
		if n := countFiles(smb.Dir); n != beforeFiles {
			t.Errorf("the share holds %d files after the refused run, %d before", n, beforeFiles)
		}
	})
}

// TestNetworkTargetRefusals: a server that does not answer and a share that
// does not exist end the run before anything is imaged, with the cause on
// the console and every source counted as failed.
func TestNetworkTargetRefusals(t *testing.T) {
	a := appliance(t)
	dir := t.TempDir()
	smb := startSMB(t, dir)
	closed, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	n := newNetSources(t, dir)
	settings := "coldimage.smb.password=" + smb.Password + "\r\n"
	for _, tc := range []struct{ name, nic, target, want string }{
		{"no server", "virtio-net-pci", fmt.Sprintf("smb://root@%s:%d/evidence", GuestHost, closed), fmt.Sprintf("server %s:%d does not answer", GuestHost, closed)},
		{"unknown share", "virtio-net-pci", fmt.Sprintf("smb://root@%s:%d/nosuchshare/x", GuestHost, smb.Port), "the server has no such share or export"},
		{"no network card", "none", fmt.Sprintf("smb://root@%s:%d/evidence", GuestHost, smb.Port), "no network port found after 20s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := countFiles(smb.Dir)
			console := n.boot(t, a, netRun{nic: tc.nic, target: tc.target, wantDone: "ok=0 failed=2", settings: settings}, smb.Password)
			if !strings.Contains(console, "COLDIMAGE ERROR target "+tc.target) || !strings.Contains(console, tc.want) || !strings.Contains(console, "nothing imaged") {
				t.Errorf("console lacks the refusal naming %q", tc.want)
			}
			if after := countFiles(smb.Dir); after != before {
				t.Errorf("files on the share: %d, %d before", after, before)
			}
		})
	}
}

func TestNetworkTargetNFS(t *testing.T) {
	a := appliance(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nfs, err := StartNFS(ctx, filepath.Join(dir, "ganesha"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nfs.Stop)
	n := newNetSources(t, dir)
	target := fmt.Sprintf("nfs://%s:%d%s", GuestHost, nfs.Port, nfs.Pseudo)
	console := n.boot(t, a, netRun{nic: "virtio-net-pci", target: target, wantDone: "ok=2 failed=0", settings: "coldimage.examiner=net-test\r\n"})
	if !strings.Contains(console, "target "+target+" mounted read-write") {
		t.Errorf("console lacks the mount line for %s", target)
	}
	n.checkSession(t, nfs.Dir, target, "nfs4", fmt.Sprintf("%s:%d", GuestHost, nfs.Port), "NFS 4.2, NOT ENCRYPTED (sec=sys: NFS carries no encryption without Kerberos)", dhcpPort)
	if t.Failed() {
		t.Logf("ganesha log:\n%s", nfs.Log())
	}
}

// TestNetworkTargetS3 images two disks unattended into an S3 bucket
// (versitygw over TLS, its CA on the stick): the images, records and
// session record are objects in the store, the hashes the host's, the
// sources and the stick unchanged, and the secret key never shown. Then a
// wrong secret key, an untrusted certificate and an unknown bucket are
// refused before imaging with nothing written.
func TestNetworkTargetS3(t *testing.T) {
	a := appliance(t)
	dir := t.TempDir()
	srv := s3test.Start(t, false, "evidence")
	n := newNetSources(t, dir)
	endpoint := fmt.Sprintf("https://%s:%d", GuestHost, srv.Port)
	settings := func(secret, ca string) string {
		s := "coldimage.examiner=s3-test\r\ncoldimage.s3.endpoint=" + endpoint + "\r\ncoldimage.s3.access-key=" + s3test.AccessKey +
			"\r\ncoldimage.s3.secret-key=" + secret + "\r\n"
		if ca != "" {
			s += "coldimage.tls.ca=" + ca + "\r\n"
		}
		return s
	}
	caPEM, err := os.ReadFile(srv.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"LABCA.PEM": caPEM}
	target := "s3://evidence/lab"
	console := n.boot(t, a, netRun{nic: "virtio-net-pci", target: target, wantDone: "ok=2 failed=0",
		settings: settings(s3test.SecretKey, "LABCA.PEM"), files: files}, s3test.SecretKey)
	if !strings.Contains(console, "target "+target+" ready") || !strings.Contains(console, "every record stored") {
		t.Errorf("console lacks the target's ready or stored line")
	}
	security := fmt.Sprintf("TLS 1.3, certificate verified (CA bundle LABCA.PEM), server certificate %s", srv.Pin)
	n.checkSession(t, srv.Object("evidence", "lab"), target, "s3", fmt.Sprintf("%s:%d", GuestHost, srv.Port), security, dhcpPort)
	sessions, _ := filepath.Glob(filepath.Join(srv.Object("evidence", "lab"), "coldimage", "NET-1", "*", "*", "acquisition.json"))
	for _, p := range sessions {
		var rec struct {
			Image struct {
				Store *struct{ URL, Security string }
			}
			Verification *struct {
				ImageCache string `json:"image_cache"`
			}
		}
		readJSON(t, p, &rec)
		if rec.Image.Store == nil || rec.Image.Store.Security != security || rec.Verification == nil || !strings.Contains(rec.Verification.ImageCache, "object store") {
			t.Errorf("%s: image.store %+v, verification %+v: want the store and a read-back from it", p, rec.Image.Store, rec.Verification)
		}
	}
	if len(sessions) != 2 {
		t.Errorf("acquisition records in the store: %v", sessions)
	}
	// Refusals: nothing is imaged, nothing written under their prefixes.
	for _, tc := range []struct {
		name, target, settings, want string
	}{
		{"wrong secret", "s3://evidence/wrong-key", settings("not-the-secret", "LABCA.PEM"), "refused these credentials"},
		{"no CA", "s3://evidence/no-ca", settings(s3test.SecretKey, ""), "not trusted"},
		{"unknown bucket", "s3://nosuchbucket/lab", settings(s3test.SecretKey, "LABCA.PEM"), "no bucket nosuchbucket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := countFiles(srv.Dir)
			console := n.boot(t, a, netRun{nic: "virtio-net-pci", target: tc.target, wantDone: "ok=0 failed=2", settings: tc.settings, files: files}, s3test.SecretKey, "not-the-secret")
			if !regexp.MustCompile(`COLDIMAGE ERROR target ` + regexp.QuoteMeta(tc.target) + `: .*` + tc.want + `.* — nothing imaged`).MatchString(console) {
				t.Errorf("console lacks the refusal saying %q", tc.want)
			}
			if after := countFiles(srv.Dir); after != before {
				t.Errorf("the store holds %d files, %d before the refused run", after, before)
			}
		})
	}
}

func countFiles(dir string) int {
	n := 0
	filepath.Walk(dir, func(string, os.FileInfo, error) error { n++; return nil })
	return n
}

// TestNetworkTargetServerRestart stops the SMB server while a disk is being
// imaged and starts it again: the run must end (never hang), leave the
// evidence unchanged, and — the server answering again — continue the same
// session folder in the same boot, resuming the source to a verified image.
func TestNetworkTargetServerRestart(t *testing.T) {
	a := appliance(t)
	dir := t.TempDir()
	smb := startSMB(t, dir)
	src := filepath.Join(dir, "big.img")
	if err := WritePattern(src, 160<<20, 99); err != nil {
		t.Fatal(err)
	}
	want := hashOf(t, src)
	cfgDisk := filepath.Join(dir, "cfg.img")
	if err := MakeSettingsDisk(cfgDisk, "coldimage.smb.password="+smb.Password+"\r\ncoldimage.piece-size=16M\r\n"); err != nil {
		t.Fatal(err)
	}
	target := fmt.Sprintf("smb://%s@%s:%d/%s", smb.User, GuestHost, smb.Port, smb.Share)
	v := boot(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Drives: []Drive{{File: cfgDisk, Serial: "STICK"}, {File: src, Serial: "NETBIG"}},
		Log: consoleLog(t, a, ""), ExtraArgs: nicArgs("virtio-net-pci"),
		Append: baseAppend + " coldimage.auto=1 coldimage.case=NET-R coldimage.target=" + target})
	expect(t, v, `COLDIMAGE READY version=`, 3*time.Minute)
	expect(t, v, `NETBIG acquire +([2-9]\d)%`, 5*time.Minute)
	smb.Stop()
	t.Logf("smbd stopped at %s", time.Now().Format(time.TimeOnly))
	time.Sleep(15 * time.Second)
	if err := smb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("smbd started again at %s", time.Now().Format(time.TimeOnly))
	m := expect(t, v, `COLDIMAGE DONE (ok=\d+ failed=\d+)`, 15*time.Minute)
	if err := v.Wait(2 * time.Minute); err != nil {
		t.Fatalf("power off: %v", err)
	}
	if hashOf(t, src) != want {
		t.Error("the source changed")
	}
	console := strings.Join(v.Lines(), "\n")
	for _, w := range []string{"COLDIMAGE WARNING target server " + fmt.Sprintf("%s:%d", GuestHost, smb.Port) + " (" + target + ") stopped answering",
		"the target server answers again: resuming the session"} {
		if !strings.Contains(console, w) {
			t.Errorf("console lacks %q", w)
		}
	}
	if m[1] != "ok=1 failed=0" {
		t.Fatalf("COLDIMAGE DONE %s; want ok=1 failed=0 (the session resumed when the server answered again)", m[1])
	}
	sessions, _ := filepath.Glob(filepath.Join(smb.Dir, "coldimage", "NET-R", "*"))
	if len(sessions) != 1 {
		t.Fatalf("session folders %v; want the one session, continued", sessions)
	}
	if _, err := os.Stat(filepath.Join(sessions[0], "session-run1.json")); err != nil {
		t.Errorf("the first run's session record is not kept: %v", err)
	}
	var sj sessionJSON
	readJSON(t, filepath.Join(sessions[0], "session.json"), &sj)
	if sj.OK != 1 || len(sj.Sources) != 1 {
		t.Fatalf("session.json ok=%d sources=%d", sj.OK, len(sj.Sources))
	}
	rec := checkImage(t, filepath.Join(sessions[0], sj.Sources[0].Outdir), want)
	var runs struct{ Runs []json.RawMessage }
	readJSON(t, filepath.Join(sessions[0], sj.Sources[0].Outdir, "acquisition.json"), &runs)
	if rec.Result != "ok" || len(runs.Runs) < 2 {
		t.Errorf("acquisition.json result %q with %d runs; want ok after 2 or more", rec.Result, len(runs.Runs))
	}
}

// TestConsoleUINetworkTarget drives the full-screen UI with the SMB share
// of COLDIMAGE.CFG offered as a target: choose the source and the share,
// give the clock and case, confirm; the appliance joins the network only
// when the share is chosen, and the image and records land on the share.
func TestConsoleUINetworkTarget(t *testing.T) {
	a := appliance(t)
	dir := t.TempDir()
	t.Run("smb", func(t *testing.T) {
		smb := startSMB(t, dir)
		target := fmt.Sprintf("smb://%s@%s:%d/%s/ui", smb.User, GuestHost, smb.Port, smb.Share)
		uiNetTarget(t, a, dir, target, "coldimage.smb.password="+smb.Password+"\r\n", nil, filepath.Join(smb.Dir, "ui"), "SMB 3.1.1, encrypted (seal)", smb.Password)
	})
	t.Run("s3", func(t *testing.T) {
		srv := s3test.Start(t, false, "evidence")
		caPEM, err := os.ReadFile(srv.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		settings := fmt.Sprintf("coldimage.s3.endpoint=https://%s:%d\r\ncoldimage.s3.access-key=%s\r\ncoldimage.s3.secret-key=%s\r\ncoldimage.tls.ca=LABCA.PEM\r\n",
			GuestHost, srv.Port, s3test.AccessKey, s3test.SecretKey)
		uiNetTarget(t, a, dir, "s3://evidence/ui", settings, map[string][]byte{"LABCA.PEM": caPEM}, srv.Object("evidence", "ui"),
			"TLS 1.3, certificate verified (CA bundle LABCA.PEM), server certificate "+srv.Pin, s3test.SecretKey)
	})
	// The share typed in the UI, its password too: drawn as stars, never
	// on the console or in the records.
	t.Run("smb-typed", func(t *testing.T) {
		smb := startSMB(t, dir)
		target := fmt.Sprintf("smb://%s@%s:%d/%s/typed", smb.User, GuestHost, smb.Port, smb.Share)
		u := startUINet(t, a, dir, "coldimage.jobs=1\r\n", nil)
		u.keys("n")
		u.screen("2/6 Target - network")
		u.keys(target, uitest.Enter, uitest.Enter, uitest.Enter, smb.Password)
		if s := u.screen("> Password      " + strings.Repeat("*", len(smb.Password)) + "_"); strings.Contains(s, smb.Password) {
			t.Fatalf("the password is drawn:\n%s", s)
		}
		u.keys(uitest.Enter)
		u.screen("> Encryption    [x] required (seal)")
		u.keys(uitest.Enter)
		u.clockAndCase()
		u.imageAndCheck(target, filepath.Join(smb.Dir, "typed"), "SMB 3.1.1, encrypted (seal)", "typed in the console UI", smb.Password)
	})
	// Nothing about the store in the settings: the examiner types the
	// bucket, endpoint, keys and the certificate's pin. A wrong secret
	// is refused when the store is checked, after the confirmation, with
	// nothing written; the examiner goes back, types the right one, and
	// the image lands in the store.
	t.Run("s3-typed", func(t *testing.T) {
		srv := s3test.Start(t, false, "evidence")
		const wrong = "not-the-secret-0815"
		target := "s3://evidence/typed"
		u := startUINet(t, a, dir, "coldimage.jobs=1\r\n", nil)
		u.screen("n network (s3/smb/nfs)")
		u.keys("n")
		u.screen("2/6 Target - network")
		u.keys(target, uitest.Enter, uitest.Enter, uitest.Enter)
		u.screen("> S3 endpoint")
		u.keys(fmt.Sprintf("https://%s:%d", GuestHost, srv.Port), uitest.Enter, uitest.Enter, s3test.AccessKey, uitest.Enter, wrong)
		if s := u.screen("> Secret key    " + strings.Repeat("*", len(wrong)) + "_"); strings.Contains(s, wrong) {
			t.Fatalf("the secret is drawn:\n%s", s)
		}
		u.keys(uitest.Enter, srv.Pin, uitest.Enter, uitest.Enter)
		u.clockAndCase()
		u.keys("y")
		u.screen("refused: target " + target)
		if objs, _ := filepath.Glob(filepath.Join(srv.Object("evidence", "typed"), "*")); len(objs) != 0 {
			t.Fatalf("the refused store holds %v", objs)
		}
		if hashOf(t, u.src) != u.want {
			t.Fatal("the source changed")
		}
		// Back to the target list, the form again: the secret field.
		u.keys(uitest.Esc, uitest.Esc)
		u.screen("3/6 Clock check")
		u.keys(uitest.Esc)
		u.screen("2/6 Target")
		u.keys("n")
		u.screen("2/6 Target - network")
		for range 6 {
			u.keys(uitest.Down)
		}
		u.screen("> Secret key")
		u.keys(uitest.CtrlU, s3test.SecretKey, "\x18") // Ctrl-X: use it
		u.screen("3/6 Clock check")                    // the answers given before are kept
		u.keys(uitest.Enter)
		u.screen("4/6 Case details")
		// This time as E01: one object per segment, streamed.
		for range 8 {
			u.keys(uitest.Down)
		}
		u.keys(uitest.Up, uitest.Right, uitest.Right)
		u.screen("(*) E01")
		u.keys("\x18")
		u.screen("5/6 Confirm")
		u.e01 = true
		u.imageAndCheck(target, srv.Object("evidence", "typed"),
			"TLS 1.3, certificate verified (pinned certificate), server certificate "+srv.Pin, "typed in the console UI", s3test.SecretKey, wrong)
	})
}

// uiNet is the console UI of an appliance booted with a settings stick
// and one 8 MiB disk (serial NETUI), on the Target screen with the disk
// chosen as the source.
type uiNet struct {
	t         *testing.T
	v         *VM
	term      *uitest.Terminal
	src, want string
	e01       bool // the image is an E01 set
}

func startUINet(t *testing.T, a *Appliance, dir, settings string, files map[string][]byte) *uiNet {
	src := filepath.Join(dir, "ui-"+filepath.Base(t.Name())+".img")
	if err := WritePattern(src, 8<<20, 31); err != nil {
		t.Fatal(err)
	}
	cfgDisk := filepath.Join(dir, "cfg-"+filepath.Base(t.Name())+".img")
	if err := MakeSettingsDiskFiles(cfgDisk, settings, files); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	v := boot(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Log: consoleLog(t, a, ""), Echo: pw,
		Drives:    []Drive{{File: cfgDisk, Serial: "STICK"}, {File: src, Serial: "NETUI"}},
		ExtraArgs: nicArgs("virtio-net-pci"),
		Append:    baseAppend})
	u := &uiNet{t: t, v: v, term: uitest.New(pr, v, 80, 24), src: src, want: hashOf(t, src)}
	u.term.KeyDelay = 300 * time.Millisecond
	u.screen("1/6 Sources")
	u.screen("selected: 0 source(s)")
	// The rows: sr0, the stick (never selectable), NETUI; move to NETUI.
	var rows []string
	for _, l := range strings.Split(u.term.Screen(), "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "[ ] ") || strings.HasPrefix(l, "- ") {
			rows = append(rows, l)
		}
	}
	for i, r := range rows {
		if strings.Contains(r, "NETUI") {
			for range i {
				u.keys(uitest.Down)
			}
		}
	}
	u.keys(" ")
	u.screen("selected: 1 source(s)")
	if strings.Contains(strings.Join(v.Lines(), "\n"), "network: loading network drivers") {
		t.Fatal("the network was joined before a network target was chosen")
	}
	u.keys(uitest.Enter)
	u.screen("2/6 Target")
	return u
}

// screen waits for text on the screen and returns the screen.
func (u *uiNet) screen(text string) string {
	u.t.Helper()
	s, err := u.term.WaitScreen(text, 3*time.Minute)
	if err != nil {
		u.t.Fatalf("%v; the screen shows:\n%s", err, u.term.Screen())
	}
	u.t.Logf("screen with %q:\n%s", text, s)
	return s
}

// keys types each string, pausing between them.
func (u *uiNet) keys(k ...string) {
	for _, s := range k {
		if _, err := io.WriteString(u.v, s); err != nil {
			u.t.Fatal(err)
		}
		time.Sleep(u.term.KeyDelay)
	}
}

// clockAndCase answers the clock and case screens (case UI-NET) and stops
// on the confirm screen.
func (u *uiNet) clockAndCase() {
	u.screen("3/6 Clock check")
	u.keys("2026-12-01 14:00 UTC (watch)", uitest.Enter)
	u.screen("4/6 Case details")
	for _, f := range []string{"UI-NET", "Net Examiner", "EV-NET", "over the network"} {
		u.keys(f, uitest.Enter)
	}
	u.keys(uitest.Down, uitest.Down, uitest.Down, uitest.Down, uitest.Down, uitest.Down, uitest.Down)
	u.screen("> Verify")
	u.keys(uitest.Enter)
	u.screen("5/6 Confirm")
}

// imageAndCheck confirms, waits for the session, powers off and checks
// the session under root, its recorded security and the source; no
// secret may reach the console or the target's records.
func (u *uiNet) imageAndCheck(target, root, security, policy string, secrets ...string) {
	t := u.t
	u.keys("y")
	u.screen("1 ok, 0 failed")
	u.screen("records and session.txt are written and synced")
	if s := u.term.Screen(); strings.HasPrefix(target, "s3://") && !strings.Contains(s, target+"/coldimage/UI-NET/") {
		t.Errorf("the summary does not name the session folder in the store:\n%s", s)
	}
	u.keys("p")
	u.screen("Power off now?")
	u.keys("y")
	if err := u.v.Wait(3 * time.Minute); err != nil {
		t.Fatalf("power off: %v; the screen shows:\n%s", err, u.term.Screen())
	}
	if hashOf(t, u.src) != u.want {
		t.Error("the source changed")
	}
	sessions, _ := filepath.Glob(filepath.Join(root, "coldimage", "UI-NET", "*"))
	if len(sessions) != 1 {
		t.Fatalf("session folders on the target: %v", sessions)
	}
	var nj netSessionJSON
	readJSON(t, filepath.Join(sessions[0], "session.json"), &nj)
	if nj.Target.URL != target || nj.Target.Security != security || nj.Target.Network == nil || !strings.Contains(nj.Target.Policy, policy) {
		t.Errorf("session.json target %+v", nj.Target)
	}
	folder := sourceFolder(t, sessions[0], "vd?_NETUI")
	if u.e01 {
		checkE01(t, folder, u.want)
	} else if rec := checkImage(t, folder, u.want); rec.Result != "ok" {
		t.Errorf("result %q", rec.Result)
	}
	console := strings.Join(u.v.Lines(), "\n")
	if strings.Contains(console, "COLDIMAGE ERROR") {
		t.Errorf("the console shows an error:\n%s", console)
	}
	if strings.HasPrefix(target, "s3://") {
		if _, err := os.Stat(filepath.Join(sessions[0], "console.log")); err != nil || !strings.Contains(console, "every record stored") {
			t.Errorf("console.log did not reach the store (%v), or the staging folder was not closed", err)
		}
	}
	for _, secret := range secrets {
		if strings.Contains(console, secret) {
			t.Errorf("the console shows the secret %q", secret)
		}
		filepath.Walk(sessions[0], func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() && !strings.HasSuffix(p, ".raw") {
				if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(secret)) {
					t.Errorf("%s holds the secret %q", p, secret)
				}
			}
			return nil
		})
	}
}

// checkE01 checks an E01 set in dir (a store's objects as files) with
// libewf's ewfverify: its media hash to want, as its record says, and the
// verification read it back from the store.
func checkE01(t *testing.T, dir, want string) {
	t.Helper()
	var rec acquisitionJSON
	readJSON(t, filepath.Join(dir, "acquisition.json"), &rec)
	if rec.Result != "ok" || rec.Hashes["sha256"] != want {
		t.Errorf("%s: result %q sha256 %s, want ok %s", dir, rec.Result, rec.Hashes["sha256"], want)
	}
	out, err := exec.Command("ewfverify", "-q", "-d", "sha256", filepath.Join(dir, "image.E01")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), want) {
		t.Errorf("ewfverify of the E01 in the store: %v\n%s", err, out)
	}
}

// uiNetTarget drives the console UI to image one disk onto the network
// target named in the settings (chosen from the target list).
func uiNetTarget(t *testing.T, a *Appliance, dir, target, settings string, files map[string][]byte, root, security, secret string) {
	u := startUINet(t, a, dir, "coldimage.target="+target+"\r\n"+settings, files)
	u.screen(target[:min(len(target), 14)]) // the list's column is narrower than the URL
	u.keys("j", uitest.Enter)
	u.clockAndCase()
	u.imageAndCheck(target, root, security, "chosen in the console UI", secret)
}

// TestPowerCutResumeS3 cuts the power while the unattended appliance
// uploads a disk into S3, once the store holds a checkpoint, and boots it
// again: it finds its cut-off session among the store's records, settles
// the open upload, resumes from the checkpoint and finishes; the object is
// the disk's bytes and the record lists both runs.
func TestPowerCutResumeS3(t *testing.T) {
	a := appliance(t)
	dir := t.TempDir()
	srv := s3test.Start(t, false, "evidence")
	src, want, cfgDisk := s3Fixture(t, srv, dir, "cut", 41, "", 320<<20) // past the first checkpoint (256 MiB)
	cfg := func(log string) Config {
		return Config{Kernel: a.Kernel, Initrd: a.Initrd, Log: consoleLog(t, a, log), ExtraArgs: append(nicArgs("virtio-net-pci"), "-smbios", "type=1,serial=CUT-S3-7"),
			Drives: []Drive{{File: cfgDisk, Serial: "STICK"}, {File: src, Serial: "S3CUT"}},
			Append: baseAppend + " coldimage.auto=1 coldimage.case=CUT-S3 coldimage.target=s3://evidence/lab"}
	}
	v := boot(t, cfg("cut"))
	expect(t, v, `COLDIMAGE READY version=`, 3*time.Minute)
	durable := storeCheckpoint(t, srv, "lab", "CUT-S3")
	v.Kill() // the power cut
	t.Logf("power cut with %d bytes durable in the store", durable)
	if hashOf(t, src) != want {
		t.Fatal("the evidence changed")
	}
	v = boot(t, cfg("resume"))
	expectResumed(t, v, `/coldimage/CUT-S3/\d{8}T\d{6}Z_CUT-S3-7`, 15*time.Minute, src, want)
	sessions, _ := filepath.Glob(filepath.Join(srv.Object("evidence", "lab"), "coldimage", "CUT-S3", "*"))
	if len(sessions) != 1 {
		t.Fatalf("session folders in the store: %v; want the one, continued", sessions)
	}
	folder := sourceFolder(t, sessions[0], "vd?_S3CUT")
	rec := checkImage(t, folder, want)
	var runs struct {
		Runs []struct {
			From int64 `json:"from_byte"`
		}
	}
	readJSON(t, filepath.Join(folder, "acquisition.json"), &runs)
	if rec.Result != "ok" || len(runs.Runs) != 2 || runs.Runs[1].From == 0 {
		t.Errorf("record after the resume: result %s, runs %+v", rec.Result, runs.Runs)
	}
}

// TestS3OutageContinues stops the S3 server while the unattended appliance
// uploads a disk, for longer than coldimage.s3.retry-for: the source fails
// (never hangs), the run waits for the store and, when it answers again,
// continues the same session in the same boot from the records the store
// holds; the object is the disk's bytes and the record lists both runs.
func TestS3OutageContinues(t *testing.T) {
	a := appliance(t)
	dir := t.TempDir()
	srv := s3test.Start(t, false, "evidence")
	src, want, cfgDisk := s3Fixture(t, srv, dir, "outage", 47, "coldimage.s3.retry-for=10s\r\n", 320<<20) // past the first checkpoint
	v := boot(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Log: consoleLog(t, a, ""), ExtraArgs: append(nicArgs("virtio-net-pci"), "-smbios", "type=1,serial=OUTAGE-9"),
		Drives: []Drive{{File: cfgDisk, Serial: "STICK"}, {File: src, Serial: "S3OUT"}},
		Append: baseAppend + " coldimage.auto=1 coldimage.case=OUT-S3 coldimage.replug-wait=5m coldimage.target=s3://evidence/lab"})
	expect(t, v, `COLDIMAGE READY version=`, 3*time.Minute)
	durable := storeCheckpoint(t, srv, "lab", "OUT-S3")
	srv.Stop()
	t.Logf("versitygw stopped at %s with %d bytes durable in the store", time.Now().Format(time.TimeOnly), durable)
	expect(t, v, `COLDIMAGE WAITING for the target server \(s3://evidence/lab\) to answer again`, 5*time.Minute)
	if hashOf(t, src) != want {
		t.Fatal("the evidence changed")
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("versitygw started again at %s", time.Now().Format(time.TimeOnly))
	expect(t, v, `the target server answers again: resuming the session in /coldimage/OUT-S3/\d{8}T\d{6}Z_OUTAGE-9`, 2*time.Minute)
	if m := expect(t, v, `vdb_S3OUT resumes at byte (\d+) `, 2*time.Minute); m[1] == "0" {
		t.Errorf("the source resumed at byte 0; the store held a checkpoint of %d bytes", durable)
	}
	m := expect(t, v, `COLDIMAGE DONE (ok=\d+ failed=\d+)`, 15*time.Minute)
	if err := v.Wait(2 * time.Minute); err != nil {
		t.Fatalf("power off: %v", err)
	}
	if hashOf(t, src) != want {
		t.Error("the source changed")
	}
	if m[1] != "ok=1 failed=0" {
		t.Fatalf("COLDIMAGE DONE %s; want ok=1 failed=0 (the session continued when the store answered again)", m[1])
	}
	sessions, _ := filepath.Glob(filepath.Join(srv.Object("evidence", "lab"), "coldimage", "OUT-S3", "*"))
	if len(sessions) != 1 {
		t.Fatalf("session folders in the store: %v; want the one, continued", sessions)
	}
	folder := sourceFolder(t, sessions[0], "vd?_S3OUT")
	rec := checkImage(t, folder, want)
	var runs struct{ Runs []json.RawMessage }
	readJSON(t, filepath.Join(folder, "acquisition.json"), &runs)
	if rec.Result != "ok" || len(runs.Runs) < 2 {
		t.Errorf("acquisition.json result %q with %d runs; want ok after 2 or more", rec.Result, len(runs.Runs))
	}
}

// storeCheckpoint waits until the store holds an in-progress record of the
// case under prefix with image bytes durable, and returns their count.
func storeCheckpoint(t *testing.T, srv *s3test.Server, prefix, caseName string) int64 {
	t.Helper()
	deadline := time.Now().Add(8 * time.Minute)
	for time.Now().Before(deadline) {
		recs, _ := filepath.Glob(filepath.Join(srv.Object("evidence", prefix), "coldimage", caseName, "*", "*", "acquisition.json"))
		for _, p := range recs {
			var rec struct {
				Result string
				Image  struct{ Size int64 }
			}
			if b, err := os.ReadFile(p); err == nil && json.Unmarshal(b, &rec) == nil && rec.Result == "in-progress" && rec.Image.Size > 0 {
				return rec.Image.Size
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("no checkpoint reached the store within 8 minutes")
	return 0
}

// s3Fixture makes a source of size bytes and a settings stick reaching
// srv over TLS with its CA, 16 MiB pieces and the extra settings; it
// returns the source, its sha256 and the stick.
func s3Fixture(t *testing.T, srv *s3test.Server, dir, name string, seed uint64, extra string, size int64) (src, want, cfgDisk string) {
	t.Helper()
	src = filepath.Join(dir, name+".img")
	if err := WritePattern(src, size, seed); err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(srv.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	cfgDisk = filepath.Join(dir, name+"-cfg.img")
	settings := fmt.Sprintf("coldimage.s3.endpoint=https://%s:%d\r\ncoldimage.s3.access-key=%s\r\ncoldimage.s3.secret-key=%s\r\ncoldimage.tls.ca=LABCA.PEM\r\ncoldimage.piece-size=16M\r\n",
		GuestHost, srv.Port, s3test.AccessKey, s3test.SecretKey) + extra
	if err := MakeSettingsDiskFiles(cfgDisk, settings, map[string][]byte{"LABCA.PEM": caPEM}); err != nil {
		t.Fatal(err)
	}
	return src, hashOf(t, src), cfgDisk
}

// TestS3Fleet boots two appliances at once, two seized servers (DMI
// serials SRV-A and SRV-B) whose disks carry the same serial, from copies
// of one stick: both write into one bucket and prefix without meeting,
// each session folder named by its host, and `coldimage sessions` on the
// examiner's host lists both, ok.
func TestS3Fleet(t *testing.T) {
	a := appliance(t)
	dir := t.TempDir()
	srv := s3test.Start(t, false, "evidence")
	hosts := []string{"SRV-A", "SRV-B"}
	vms := make([]*VM, len(hosts))
	srcs, wants := make([]string, len(hosts)), make([]string, len(hosts))
	for i, host := range hosts {
		var cfgDisk string
		srcs[i], wants[i], cfgDisk = s3Fixture(t, srv, dir, strings.ToLower(host), uint64(60+i), "", 16<<20)
		vms[i] = boot(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Log: consoleLog(t, a, host), ExtraArgs: append(nicArgs("virtio-net-pci"), "-smbios", "type=1,serial="+host),
			Drives: []Drive{{File: cfgDisk, Serial: "STICK"}, {File: srcs[i], Serial: "DISK0"}},
			Append: baseAppend + " coldimage.auto=1 coldimage.case=FLEET coldimage.target=s3://evidence/fleet"})
	}
	for i, v := range vms {
		if m := expect(t, v, `COLDIMAGE DONE (ok=\d+ failed=\d+)`, 10*time.Minute); m[1] != "ok=1 failed=0" {
			t.Errorf("%s: COLDIMAGE DONE %s", hosts[i], m[1])
		}
		if err := v.Wait(2 * time.Minute); err != nil {
			t.Fatalf("%s: power off: %v", hosts[i], err)
		}
		if hashOf(t, srcs[i]) != wants[i] {
			t.Errorf("%s: the evidence changed", hosts[i])
		}
	}
	for i, host := range hosts {
		sessions, _ := filepath.Glob(filepath.Join(srv.Object("evidence", "fleet"), "coldimage", "FLEET", "*_"+host))
		if len(sessions) != 1 {
			t.Fatalf("%s: session folders %v", host, sessions)
		}
		checkImage(t, filepath.Join(sessions[0], "vdb_DISK0"), wants[i])
	}
	// The examiner's host lists the store's sessions.
	bin := filepath.Join(dir, "coldimage")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/coldimage/coldimage/cmd/coldimage").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "sessions", "--json", "s3://evidence/fleet")
	cmd.Env = append(os.Environ(), srv.Env()...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("coldimage sessions: %v\n%s", err, out)
	}
	var listed []struct{ State, Kind, Case, Host string }
	if err := json.Unmarshal(out, &listed); err != nil {
		t.Fatalf("coldimage sessions --json: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, e := range listed {
		if e.Kind == "session" && e.Case == "FLEET" {
			got[e.Host] = e.State
		}
	}
	if len(listed) != 2 || got["SRV-A"] != "ok" || got["SRV-B"] != "ok" {
		t.Errorf("coldimage sessions lists %s", out)
	}
}

// TestPlainCutOffContinueE01S3 cuts the power while line mode images a
// disk as E01 into S3 (the store named on the stick), boots again and
// answers "continue": the appliance finds the cut-off session among the
// store's records and resumes the set after its last whole stored segment
// (here none: the disk is smaller than one 2 GiB segment, so the set is
// written anew, and the cut-off upload of image.E01 is dropped), in the
// same session folder. The set in the store passes ewfverify, the record
// lists both runs, no open upload is left, the evidence never changed.
func TestPlainCutOffContinueE01S3(t *testing.T) {
	a := appliance(t)
	dir := t.TempDir()
	srv := s3test.Start(t, false, "evidence")
	src, want, cfgDisk := s3Fixture(t, srv, dir, "cute01s3", 95, "coldimage.target=s3://evidence/lab\r\n", 96<<20)
	boot1 := func() (*VM, func(prompt, line string)) {
		pr, pw := io.Pipe()
		t.Cleanup(func() { pw.Close() })
		v := boot(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Log: consoleLog(t, a, ""), Echo: pw, ExtraArgs: nicArgs("virtio-net-pci"),
			Drives: []Drive{{File: cfgDisk, Serial: "STICK"}, {File: src, Serial: "CUTS3"}}, Append: baseAppend + " coldimage.ui=plain"})
		term := uitest.New(pr, v, 80, 24)
		term.KeyDelay = 20 * time.Millisecond
		answer := plainAnswer(t, term)
		answer("sources: names", "CUTS3")
		answer("target name", "s3://evidence/lab")
		plainE01Questions(answer, "CUT-S3E")
		return v, answer
	}
	v, _ := boot1()
	powerCutAt(t, v, "CUTS3", 30, src, want)
	cutOff, err := srv.OpenUploads("evidence", "lab/")
	if err != nil {
		t.Fatal(err)
	}
	v, answer := boot1()
	answer("type continue, new", "continue")
	answer("type one of", "poweroff")
	answer("power off now?", "yes")
	if err := v.Wait(5 * time.Minute); err != nil {
		t.Fatal(err)
	}
	if hashOf(t, src) != want {
		t.Fatal("the evidence changed")
	}
	sessions, _ := filepath.Glob(srv.Object("evidence", "lab/coldimage/CUT-S3E/*"))
	if len(sessions) != 1 {
		t.Fatalf("session folders in the store: %v (one: continued)", sessions)
	}
	folder := sourceFolder(t, sessions[0], "vd?_CUTS3")
	checkE01(t, folder, want)
	var rec struct {
		Runs []struct {
			From int64 `json:"from_byte"`
			To   int64 `json:"to_byte"`
		}
	}
	readJSON(t, filepath.Join(folder, "acquisition.json"), &rec)
	if len(rec.Runs) != 2 || rec.Runs[1].To != 96<<20 {
		t.Errorf("continued record: runs %+v", rec.Runs)
	}
	// The cut-off segment's upload was dropped by the resume.
	if left, err := srv.OpenUploads("evidence", "lab/"); err != nil || len(left) > 0 {
		t.Errorf("open uploads left in the store: %v, %v (after the cut: %v)", left, err, cutOff)
	}
	t.Logf("runs %+v; open uploads after the cut %v", rec.Runs, cutOff)
}
