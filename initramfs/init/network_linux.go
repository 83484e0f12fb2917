package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/initramfs/modules"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/u-root/u-root/pkg/dhclient"
	"github.com/u-root/u-root/pkg/kmodule"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// netState is the appliance's network, brought up once (for the first
// network target) and kept for later sessions of the same boot.
type netState struct {
	mu  sync.Mutex
	rec *imager.SessionNetwork

	modMu  sync.Mutex
	loaded map[string]bool // module groups loaded: "nic", "smb", "nfs"
}

// loadModules loads one group of modules once.
func (a *App) loadModules(group string, mods []modules.Module) error {
	a.net.modMu.Lock()
	defer a.net.modMu.Unlock()
	if a.net.loaded[group] {
		return nil
	}
	p, err := kmodule.NewProber(kmodule.ProbeOpts{})
	if err != nil {
		return fmt.Errorf("module prober: %w", err)
	}
	var failed []string
	for _, m := range mods {
		if err := p.Probe(m.Name, ""); err != nil {
			if !m.Optional {
				failed = append(failed, m.Name)
				a.con.Printf("coldimage: module %s (%s) not loaded: %v", m.Name, m.Why, err)
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("modules not loaded: %s", strings.Join(failed, ", "))
	}
	if a.net.loaded == nil {
		a.net.loaded = map[string]bool{}
	}
	a.net.loaded[group] = true
	return nil
}

// bringUpNetwork loads the network drivers, picks a port (coldimage.net.if,
// else the first with carrier) and configures it by DHCP or statically.
// Nothing touches a network before this is called for a network target.
func (a *App) bringUpNetwork(ctx context.Context, s NetSettings, wait time.Duration) (*imager.SessionNetwork, error) {
	a.net.mu.Lock()
	defer a.net.mu.Unlock()
	if a.net.rec != nil {
		return a.net.rec, nil
	}
	a.con.Printf("coldimage: network: loading network drivers (networking was off until now: the target is on the network)")
	if err := a.loadModules("nic", modules.Network); err != nil {
		return nil, err
	}
	if lo, err := netlink.LinkByName("lo"); err == nil {
		netlink.LinkSetUp(lo)
	}
	link, err := pickPort(s.If, wait)
	if err != nil {
		return nil, err
	}
	attrs := link.Attrs()
	rec := &imager.SessionNetwork{Interface: attrs.Name, MAC: attrs.HardwareAddr.String(), Driver: netDriver(attrs.Name), Method: s.String()}
	a.con.Printf("coldimage: network: port %s (MAC %s, driver %s), %s", rec.Interface, rec.MAC, orNone(rec.Driver), rec.Method)
	if err := os.MkdirAll(filepath.Dir(dhclient.ResolvConfPath), 0o755); err != nil {
		return nil, err
	}
	switch s.Method {
	case "static":
		if err := configureStatic(link, s); err != nil {
			return nil, fmt.Errorf("network %s: %w", attrs.Name, err)
		}
		rec.Addresses = []string{s.Addr.String()}
		if s.GW.IsValid() {
			rec.Gateway = s.GW.String()
		}
		for _, d := range s.DNS {
			rec.DNS = append(rec.DNS, d.String())
		}
	default:
		if err := dhcp(ctx, link, rec); err != nil {
			return nil, fmt.Errorf("network %s: %w", attrs.Name, err)
		}
	}
	a.con.Printf("coldimage: network: %s is %s (gateway %s, dns %s%s)", rec.Interface, strings.Join(rec.Addresses, " "), orNone(rec.Gateway), orNone(strings.Join(rec.DNS, " ")), dhcpFrom(rec))
	a.net.rec = rec
	return rec, nil
}

// joined is the network the appliance joined, nil before.
func (a *App) joined() *imager.SessionNetwork {
	a.net.mu.Lock()
	defer a.net.mu.Unlock()
	return a.net.rec
}

func dhcpFrom(r *imager.SessionNetwork) string {
	if r.DHCPServer == "" {
		return ""
	}
	return ", from DHCP server " + r.DHCPServer
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// pickPort waits up to wait for the port named by want (an interface name
// or a MAC address) or, with none named, for any Ethernet port to have
// carrier, and returns it up.
func pickPort(want string, wait time.Duration) (netlink.Link, error) {
	deadline := time.Now().Add(wait)
	seen := map[string]bool{}
	for {
		links, err := netlink.LinkList()
		if err != nil {
			return nil, fmt.Errorf("list network ports: %w", err)
		}
		var ports []netlink.Link
		for _, l := range links {
			at := l.Attrs()
			if at.Name == "lo" || len(at.HardwareAddr) != 6 || l.Type() != "device" {
				continue
			}
			if want != "" && at.Name != want && !strings.EqualFold(at.HardwareAddr.String(), want) {
				continue
			}
			ports = append(ports, l)
		}
		sort.Slice(ports, func(i, j int) bool { return ports[i].Attrs().Name < ports[j].Attrs().Name })
		for _, l := range ports {
			if !seen[l.Attrs().Name] {
				seen[l.Attrs().Name] = true
				netlink.LinkSetUp(l) // carrier is only known once up
			}
			if b, err := os.ReadFile("/sys/class/net/" + l.Attrs().Name + "/carrier"); err == nil && strings.TrimSpace(string(b)) == "1" {
				return l, nil
			}
		}
		if time.Now().After(deadline) {
			var names []string
			for n := range seen {
				names = append(names, n)
			}
			sort.Strings(names)
			switch {
			case want != "" && len(ports) == 0:
				return nil, fmt.Errorf("no network port named %q (coldimage.net.if); ports found: %s", want, orNone(strings.Join(names, ", ")))
			case len(seen) == 0:
				return nil, fmt.Errorf("no network port found after %s (no driver for this machine's network card, or its firmware is not on the stick)", wait)
			default:
				return nil, fmt.Errorf("no network port has a link (cable) after %s: %s", wait, strings.Join(names, ", "))
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// netDriver is the kernel driver bound to an interface.
func netDriver(name string) string {
	l, err := os.Readlink("/sys/class/net/" + name + "/device/driver")
	if err != nil {
		return ""
	}
	return filepath.Base(l)
}

// configureStatic sets coldimage.net=static:… on link.
func configureStatic(link netlink.Link, s NetSettings) error {
	ip := net.IP(s.Addr.Addr().AsSlice())
	mask := net.CIDRMask(s.Addr.Bits(), 32)
	if err := netlink.AddrReplace(link, &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: mask}}); err != nil {
		return fmt.Errorf("set address %s: %w", s.Addr, err)
	}
	if s.GW.IsValid() {
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: net.IP(s.GW.AsSlice())}
		if err := netlink.RouteReplace(r); err != nil {
			return fmt.Errorf("set default route via %s: %w", s.GW, err)
		}
	}
	var dns []net.IP
	for _, d := range s.DNS {
		dns = append(dns, net.IP(d.AsSlice()))
	}
	return dhclient.WriteDNSSettings(dns, nil, "", dhclient.ResolvConfPath)
}

// dhcp asks for an IPv4 lease on link with u-root's DHCP client and applies
// it (address, routes, resolv.conf).
func dhcp(ctx context.Context, link netlink.Link, rec *imager.SessionNetwork) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	// u-root's client logs each packet in full; the console gets our
	// summary line instead.
	w := log.Writer()
	log.SetOutput(io.Discard)
	defer log.SetOutput(w)
	var errs []error
	conf := dhclient.Config{Timeout: 5 * time.Second, Retries: 4,
		Modifiers4: []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("coldimage"))}}
	for r := range dhclient.SendRequests(ctx, []netlink.Link{link}, true, false, conf, 10*time.Second) {
		if r.Err != nil {
			errs = append(errs, r.Err)
			continue
		}
		if err := r.Lease.Configure(); err != nil {
			return fmt.Errorf("apply DHCP lease: %w", err)
		}
		m4, _ := r.Lease.Message()
		if m4 == nil {
			continue
		}
		ones, _ := m4.SubnetMask().Size()
		rec.Addresses = []string{fmt.Sprintf("%s/%d", m4.YourIPAddr, ones)}
		if gw := m4.Router(); len(gw) > 0 {
			rec.Gateway = gw[0].String()
		}
		for _, d := range m4.DNS() {
			rec.DNS = append(rec.DNS, d.String())
		}
		if sid := m4.ServerIdentifier(); sid != nil {
			rec.DHCPServer = sid.String()
		}
		return nil
	}
	if err := errors.Join(errs...); err != nil {
		if strings.Contains(err.Error(), "random") {
			return fmt.Errorf("no DHCP lease: %w (the kernel's random pool was not ready: this machine has no RDRAND or hardware RNG the kernel trusts; coldimage.net=static:… needs none)", err)
		}
		return fmt.Errorf("no DHCP lease: %w", err)
	}
	return fmt.Errorf("no DHCP lease (the port did not come up)")
}

// localAddr is the appliance's first address.
func localAddr(rec *imager.SessionNetwork) netip.Addr {
	if len(rec.Addresses) > 0 {
		if p, err := netip.ParsePrefix(rec.Addresses[0]); err == nil {
			return p.Addr()
		}
	}
	return netip.Addr{}
}

// mountNetTarget joins the network, finds the server, checks it answers on
// its port, and mounts the share or export read-write on TargetMount with
// the kernel's client. No source is touched by any of it.
func (a *App) mountNetTarget(ctx context.Context, cfg Config, nt NetTarget) (imager.SessionTarget, error) {
	t := imager.SessionTarget{Device: nt.String(), URL: nt.String(), FSType: nt.FSType(),
		Policy: "a network target named on the kernel command line, in the settings file or typed in the console UI or text menu"}
	wait := max(time.Duration(cfg.Wait)*time.Second, 10*time.Second)
	rec, err := a.bringUpNetwork(ctx, cfg.Net, wait)
	if err != nil {
		return t, fmt.Errorf("target %s: %w", nt, err)
	}
	t.Network = rec
	t.Host = hostID(rec)
	if nt.Scheme == "s3" {
		return a.openS3(ctx, cfg, nt, t)
	}
	addr, err := resolve(ctx, nt.Host)
	if err != nil {
		return t, fmt.Errorf("target %s: %w", nt, err)
	}
	server := net.JoinHostPort(addr.String(), fmt.Sprint(nt.DefaultPort()))
	t.Server = server
	// The kernel's mount errors say little (EHOSTDOWN, EIO): a server that
	// does not answer is named here first.
	if err := answers(ctx, server, 10*time.Second); err != nil {
		return t, fmt.Errorf("target %s: server %s does not answer: %w", nt, server, err)
	}
	if err := a.loadModules(nt.Scheme, modules.NetFS[nt.Scheme]); err != nil {
		return t, fmt.Errorf("target %s: %w", nt, err)
	}
	if nt.Scheme == "smb" && cfg.SMBPassword == "" {
		return t, fmt.Errorf("target %s: no password: set coldimage.smb.password in %s on the stick", nt, "COLDIMAGE.CFG")
	}
	m, err := nt.MountArgs(addr, localAddr(rec), SMBOptions{Password: cfg.SMBPassword, Unsealed: cfg.SMBUnsealed})
	if err != nil {
		return t, fmt.Errorf("target %s: %w", nt, err)
	}
	if err := os.MkdirAll(TargetMount, 0o755); err != nil {
		return t, err
	}
	if err := unix.Mount(m.Source, TargetMount, m.FSType, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, m.Data); err != nil {
		return t, fmt.Errorf("target %s: mount %s (%s, %s): %w%s", nt, m.Source, m.FSType, m.Shown, err, mountHint(nt, err))
	}
	t.MountOptions = kernelMountOptions(TargetMount, m.Shown)
	t.Security = netSecurity(nt, t.MountOptions)
	if cfg.SMBUnsealed && nt.Scheme == "smb" {
		a.con.Printf("COLDIMAGE WARNING target %s: SMB ENCRYPTION NOT REQUIRED (coldimage.smb.seal=0): the image may cross the network in the clear", nt)
	}
	if nt.Path != "" {
		if err := os.MkdirAll(filepath.Join(TargetMount, nt.Path), 0o755); err != nil {
			a.unmountNetTarget(nt)
			return t, fmt.Errorf("target %s: create %s on the share: %w", nt, nt.Path, err)
		}
	}
	a.con.Printf("coldimage: target %s mounted read-write on %s (%s, server %s; %s) at %s", nt, TargetMount, m.FSType, server, t.Security, rfc3339(time.Now()))
	return t, nil
}

// mountHint says what a mount error usually means.
func mountHint(nt NetTarget, err error) string {
	switch {
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		if nt.Scheme == "smb" {
			return fmt.Sprintf(": the server refused user %q with the password given (coldimage.smb.password), or refused encryption (SMB 3 seal)", nt.User)
		}
		return ": the server refused this client for that export"
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENXIO):
		return ": the server has no such share or export, or the kernel lacked a module it needed (see the kernel's lines above)"
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EPROTONOSUPPORT):
		return ": the server does not speak the protocol version asked (SMB 3.1.1 with encryption, or NFS 4.2)"
	}
	return ""
}

// resolve turns a host name or address into an IPv4 address (DNS from the
// DHCP lease or coldimage.net=static:…,dns=).
func resolve(ctx context.Context, host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap(), nil
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil || len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("resolve server name %q: %v", host, err)
	}
	return ips[0].Unmap(), nil
}

// kernelMountOptions are the options /proc/mounts shows for dir (what the
// kernel agreed to), any password left out; shown when not found.
func kernelMountOptions(dir, shown string) string {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return shown
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 4 && f[1] == dir {
			var keep []string
			for _, o := range strings.Split(f[3], ",") {
				if !strings.HasPrefix(o, "password") && !strings.HasPrefix(o, "pass=") {
					keep = append(keep, o)
				}
			}
			return strings.Join(keep, ",")
		}
	}
	return shown
}

// netSecurity says in words what the mount options mean for the data on
// the wire.
func netSecurity(nt NetTarget, opts string) string {
	has := func(o string) bool {
		for _, x := range strings.Split(opts, ",") {
			if x == o {
				return true
			}
		}
		return false
	}
	vers := ""
	for _, x := range strings.Split(opts, ",") {
		if v, ok := strings.CutPrefix(x, "vers="); ok {
			vers = v
		}
	}
	switch nt.Scheme {
	case "smb":
		if has("seal") {
			return "SMB " + vers + ", encrypted (seal)"
		}
		return "SMB " + vers + ", NOT ENCRYPTED"
	default:
		return "NFS " + vers + ", NOT ENCRYPTED (sec=sys: NFS carries no encryption without Kerberos)"
	}
}

// unmountNetTarget syncs and unmounts a network target; a server that no
// longer answers is detached.
func (a *App) unmountNetTarget(nt NetTarget) {
	if nt.Scheme == "s3" {
		a.closeS3(nt)
		return
	}
	boundedSync(a.con)
	done := make(chan error, 1)
	go func() { done <- unix.Unmount(TargetMount, 0) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		err = fmt.Errorf("the server did not answer for 30 s")
	}
	if err != nil {
		a.con.Printf("COLDIMAGE ERROR unmount target %s: %v: detaching it", nt, err)
		unix.Unmount(TargetMount, unix.MNT_FORCE|unix.MNT_DETACH)
		return
	}
	a.con.Printf("coldimage: target %s synced and unmounted", nt)
}

// watchServer probes the target server's port every few seconds until the
// returned function is called, and says whether the server stopped
// answering at some point (said once on the console).
func (a *App) watchServer(server string, nt NetTarget) (lost func() bool) {
	var down atomic.Bool
	stop := make(chan struct{})
	a.netServer = server
	go func() {
		t := time.NewTicker(3 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			err := answers(context.Background(), server, 3*time.Second)
			if err == nil {
				continue
			}
			if !down.Swap(true) {
				a.con.Printf("COLDIMAGE WARNING target server %s (%s) stopped answering at %s (%v): writes fail until it is back; an unattended run then resumes the session", server, nt, rfc3339(time.Now()), err)
			}
		}
	}()
	var once sync.Once
	return func() bool {
		once.Do(func() { close(stop) })
		return down.Load()
	}
}

// waitServer waits up to d for the last network target's server to answer.
func (a *App) waitServer(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		err := answers(ctx, a.netServer, 3*time.Second)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s: %w", a.netServer, err)
		}
		time.Sleep(2 * time.Second)
	}
}

// hostID names this machine for a shared target: the DMI system serial,
// else the system UUID, else the board's serial, else the network port's
// MAC, as a folder-name-safe word.
func hostID(rec *imager.SessionNetwork) string {
	for _, f := range []string{"product_serial", "product_uuid", "board_serial"} {
		b, err := os.ReadFile("/sys/class/dmi/id/" + f)
		if v := strings.TrimSpace(string(b)); err == nil && meaningfulDMI(v) {
			return imager.CaseFolder(v)
		}
	}
	if rec != nil && rec.MAC != "" {
		return "mac-" + strings.ReplaceAll(rec.MAC, ":", "")
	}
	return ""
}

// answers says whether something accepts a TCP connection at server
// (address:port) within d: the one probe of a target server, before the
// mount, while the session runs and while waiting for it to come back.
func answers(ctx context.Context, server string, d time.Duration) error {
	dl := net.Dialer{Timeout: d}
	c, err := dl.DialContext(ctx, "tcp", server)
	if err != nil {
		return err
	}
	return c.Close()
}
