package qemutests

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// GuestHost is the address a QEMU guest on -netdev user reaches the host's
// loopback at (slirp's built-in gateway).
const GuestHost = "10.0.2.2"

// SMBServer is Debian's smbd serving one share from a temporary folder, on
// 127.0.0.1 only, SMB 3 with encryption required, one account (root, the
// share's files belong to the test's user).
type SMBServer struct {
	Port     int
	Share    string // share name
	Dir      string // the share's folder on the host
	User     string
	Password string
	cmd      *exec.Cmd
	log      string
	conf     string
}

// StartSMB starts smbd with its configuration, state and share under dir.
func StartSMB(ctx context.Context, dir string) (*SMBServer, error) {
	for _, b := range []string{"smbd", "smbpasswd"} {
		if _, err := exec.LookPath(b); err != nil {
			return nil, fmt.Errorf("%s not installed (Debian package samba): %w", b, err)
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &SMBServer{Port: port, Share: "evidence", Dir: filepath.Join(dir, "share"), User: "root", Password: "Evid3nce-Pw!", log: filepath.Join(dir, "smbd.log")}
	for _, d := range []string{"run", "lock", "state", "cache", "private", "ncalrpc", "bind", "share"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	conf := filepath.Join(dir, "smb.conf")
	c := fmt.Sprintf(`[global]
 server role = standalone server
 smb ports = %d
 interfaces = 127.0.0.1
 bind interfaces only = yes
 server min protocol = SMB3
 server smb encrypt = required
 map to guest = never
 pid directory = %[2]s/run
 lock directory = %[2]s/lock
 state directory = %[2]s/state
 cache directory = %[2]s/cache
 private dir = %[2]s/private
 ncalrpc dir = %[2]s/ncalrpc
 binddns dir = %[2]s/bind
 passdb backend = tdbsam:%[2]s/private/passdb.tdb
 log file = %[2]s/log.smbd
 load printers = no
 printing = bsd
 printcap name = /dev/null
 disable spoolss = yes
[%[3]s]
 path = %[4]s
 read only = no
 valid users = %[5]s
 force user = %[5]s
`, port, dir, s.Share, s.Dir, s.User)
	if err := os.WriteFile(conf, []byte(c), 0o644); err != nil {
		return nil, err
	}
	pw := exec.CommandContext(ctx, "smbpasswd", "-c", conf, "-s", "-a", s.User)
	pw.Stdin = strings.NewReader(s.Password + "\n" + s.Password + "\n")
	if out, err := pw.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("smbpasswd: %v: %s", err, out)
	}
	s.conf = conf
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// Start (re)starts smbd on its port with its configuration and state.
func (s *SMBServer) Start() error {
	logf, err := os.OpenFile(s.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	s.cmd = exec.Command("smbd", "--foreground", "--no-process-group", "--debug-stdout", "-s", s.conf)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	// smbd forks a child per connection: its own process group lets Stop
	// end them all, as a server going down does.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start smbd: %w", err)
	}
	if err := waitPort(s.Port, 20*time.Second); err != nil {
		s.Stop()
		return fmt.Errorf("smbd: %w\n%s", err, s.Log())
	}
	return nil
}

// Stop ends smbd and every child it forked.
func (s *SMBServer) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		s.cmd.Wait()
		s.cmd = nil
	}
}

// Log is smbd's log so far.
func (s *SMBServer) Log() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

// freePort is a TCP port free on 127.0.0.1 now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitPort waits until something listens on 127.0.0.1:port.
func waitPort(port int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on 127.0.0.1:%d after %s: %w", port, d, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// MakeSettingsDisk writes a disk image whose one partition is a FAT32 file
// system labelled COLDIMAGE (as our stick's) holding COLDIMAGE.CFG with
// settings: the appliance reads the file from it and never images or
// writes that disk.
func MakeSettingsDisk(path, settings string) error {
	return MakeSettingsDiskFiles(path, settings, nil)
}

// MakeSettingsDiskFiles is MakeSettingsDisk with further files in the
// partition's root (name → contents), e.g. a CA bundle for coldimage.tls.ca.
func MakeSettingsDiskFiles(path, settings string, files map[string][]byte) error {
	const partStart, partMiB = 1 << 20, 40
	part := path + ".part"
	defer os.Remove(part)
	if out, err := exec.Command("mkfs.vfat", "-F", "32", "-s", "1", "-n", "COLDIMAGE", "-C", part, fmt.Sprint(partMiB*1024)).CombinedOutput(); err != nil {
		return fmt.Errorf("mkfs.vfat: %v: %s", err, out)
	}
	cfg := path + ".cfg"
	defer os.Remove(cfg)
	if err := os.WriteFile(cfg, []byte(settings), 0o644); err != nil {
		return err
	}
	if out, err := exec.Command("mcopy", "-i", part, cfg, "::/COLDIMAGE.CFG").CombinedOutput(); err != nil {
		return fmt.Errorf("mcopy: %v: %s", err, out)
	}
	for name, b := range files {
		if err := os.WriteFile(cfg, b, 0o644); err != nil {
			return err
		}
		if out, err := exec.Command("mcopy", "-o", "-i", part, cfg, "::/"+name).CombinedOutput(); err != nil {
			return fmt.Errorf("mcopy %s: %v: %s", name, err, out)
		}
	}
	if err := Zero(path, partStart+partMiB<<20+1<<20); err != nil {
		return err
	}
	sf := exec.Command("sfdisk", "--quiet", path)
	sf.Stdin = strings.NewReader(fmt.Sprintf("label: dos\nstart=%d, size=%d, type=c\n", partStart/512, partMiB<<20/512))
	if out, err := sf.CombinedOutput(); err != nil {
		return fmt.Errorf("sfdisk: %v: %s", err, out)
	}
	return Splice(path, part, partStart)
}

// NFSServer is Debian's nfs-ganesha (a user-space NFS server: this
// machine's kernel has no nfsd) exporting one folder over NFS 4 on
// 127.0.0.1 only, root not squashed.
type NFSServer struct {
	Port   int
	Pseudo string // the export's path in the NFS 4 pseudo file system
	Dir    string // the exported folder on the host
	cmd    *exec.Cmd
	log    string
}

// StartNFS starts ganesha.nfsd with its configuration, state and export
// under dir.
func StartNFS(ctx context.Context, dir string) (*NFSServer, error) {
	if _, err := exec.LookPath("ganesha.nfsd"); err != nil {
		return nil, fmt.Errorf("ganesha.nfsd not installed (Debian packages nfs-ganesha nfs-ganesha-vfs): %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &NFSServer{Port: port, Pseudo: "/evidence", Dir: filepath.Join(dir, "export"), log: filepath.Join(dir, "ganesha.log")}
	for _, d := range []string{"export", "recovery"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	conf := filepath.Join(dir, "ganesha.conf")
	c := fmt.Sprintf(`NFS_CORE_PARAM {
  NFS_Port = %d;
  Protocols = 4;
  Bind_addr = 127.0.0.1;
  Enable_NLM = false;
  Enable_RQUOTA = false;
}
NFSV4 {
  Graceless = true;
  RecoveryRoot = %s;
}
EXPORT {
  Export_Id = 1;
  Path = %s;
  Pseudo = %s;
  Access_Type = RW;
  Squash = No_Root_Squash;
  SecType = sys;
  Protocols = 4;
  Transports = TCP;
  FSAL { Name = VFS; }
}
`, port, filepath.Join(dir, "recovery"), s.Dir, s.Pseudo)
	if err := os.WriteFile(conf, []byte(c), 0o644); err != nil {
		return nil, err
	}
	s.cmd = exec.Command("ganesha.nfsd", "-F", "-L", s.log, "-f", conf, "-p", filepath.Join(dir, "ganesha.pid"), "-N", "NIV_EVENT")
	out, err := os.Create(filepath.Join(dir, "ganesha.out"))
	if err != nil {
		return nil, err
	}
	defer out.Close()
	s.cmd.Stdout, s.cmd.Stderr = out, out
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start ganesha.nfsd: %w", err)
	}
	if err := waitPort(port, 30*time.Second); err != nil {
		s.Stop()
		return nil, fmt.Errorf("ganesha.nfsd: %w\n%s", err, s.Log())
	}
	return s, nil
}

// Stop ends ganesha.nfsd.
func (s *NFSServer) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}

// Log is ganesha's log so far.
func (s *NFSServer) Log() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}
