package main

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/coldimage/coldimage/imager/s3"
)

// NetSettings is coldimage.net= and coldimage.net.if=: how the appliance
// joins a network, which it does only for a network target.
type NetSettings struct {
	Method string       // "dhcp" (the default) or "static"
	Addr   netip.Prefix // static: ADDR/PREFIX
	GW     netip.Addr   // static: gw=
	DNS    []netip.Addr // static: dns= (repeatable)
	// If picks the port: an interface name (eno1) or a MAC address;
	// empty: the first port with carrier.
	If string
}

// ParseNet parses coldimage.net=: dhcp, or
// static:ADDR/PREFIX[,gw=GW][,dns=DNS]... .
func ParseNet(v string) (NetSettings, error) {
	if v == "" || v == "dhcp" {
		return NetSettings{Method: "dhcp"}, nil
	}
	rest, ok := strings.CutPrefix(v, "static:")
	if !ok {
		return NetSettings{}, fmt.Errorf("coldimage.net=%q: want dhcp or static:ADDR/PREFIX,gw=GW,dns=DNS", v)
	}
	fields := strings.Split(rest, ",")
	s := NetSettings{Method: "static"}
	var err error
	if s.Addr, err = netip.ParsePrefix(strings.TrimSpace(fields[0])); err != nil || !s.Addr.Addr().Is4() {
		return NetSettings{}, fmt.Errorf("coldimage.net=%q: %q is not an IPv4 ADDR/PREFIX such as 192.0.2.10/24", v, fields[0])
	}
	for _, f := range fields[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(f), "=")
		a, perr := netip.ParseAddr(val)
		if perr != nil || !a.Is4() {
			return NetSettings{}, fmt.Errorf("coldimage.net=%q: %s=%q is not an IPv4 address", v, k, val)
		}
		switch k {
		case "gw":
			if !s.Addr.Masked().Contains(a) {
				return NetSettings{}, fmt.Errorf("coldimage.net=%q: gateway %s is not in %s", v, a, s.Addr.Masked())
			}
			s.GW = a
		case "dns":
			s.DNS = append(s.DNS, a)
		default:
			return NetSettings{}, fmt.Errorf("coldimage.net=%q: unknown field %q (gw=, dns=)", v, k)
		}
	}
	return s, nil
}

// String is the setting as the console and the record show it.
func (s NetSettings) String() string {
	if s.Method != "static" {
		return "dhcp"
	}
	out := "static:" + s.Addr.String()
	if s.GW.IsValid() {
		out += ",gw=" + s.GW.String()
	}
	for _, d := range s.DNS {
		out += ",dns=" + d.String()
	}
	return out
}

// NetTarget is a network target: smb://[USER@]HOST[:PORT]/SHARE[/PATH] or
// nfs://HOST[:PORT]/EXPORT[/PATH]. The share (or export) is mounted with the
// kernel's own client and PATH under it is where the session folders go.
type NetTarget struct {
	Scheme string // "smb", "nfs" or "s3"
	User   string // smb: the account (default guest is refused: encryption needs a session key)
	Host   string // a name or an address as given
	Port   int    // 0: the protocol's default (445, 2049)
	Share  string // smb: the share name; nfs: the export path, with its leading /
	Path   string // folder under the share or export, no leading / ("" for its root)
}

// IsNetTarget reports whether a coldimage.target= value names a network
// target (rather than a local file system).
func IsNetTarget(v string) bool {
	return strings.HasPrefix(v, "smb://") || strings.HasPrefix(v, "nfs://") || strings.HasPrefix(v, "s3://")
}

// ParseNetTarget parses a smb:// or nfs:// target. A password in the URL
// is refused: it would be recorded with the URL (it belongs in
// coldimage.smb.password in the settings file).
func ParseNetTarget(v string) (NetTarget, error) {
	if strings.HasPrefix(v, "s3://") {
		// s3://BUCKET/PREFIX: the server is coldimage.s3.endpoint.
		l, err := s3.ParseURL(v)
		if err != nil {
			return NetTarget{}, fmt.Errorf("target %w", err)
		}
		return NetTarget{Scheme: "s3", Share: l.Bucket, Path: l.Prefix}, nil
	}
	u, err := url.Parse(v)
	if err != nil {
		return NetTarget{}, fmt.Errorf("target %q: %w", v, err)
	}
	t := NetTarget{Scheme: u.Scheme, Host: u.Hostname()}
	switch {
	case u.Scheme != "smb" && u.Scheme != "nfs":
		return NetTarget{}, fmt.Errorf("target %q: not smb:// or nfs://", v)
	case t.Host == "":
		return NetTarget{}, fmt.Errorf("target %q: no server named", v)
	case u.RawQuery != "" || u.Fragment != "":
		return NetTarget{}, fmt.Errorf("target %q: a target URL takes no ?query or #fragment", v)
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			return NetTarget{}, fmt.Errorf("target %q: a password in the URL would be recorded with it; put it in coldimage.smb.password in the settings file", redactURL(u))
		}
		if t.Scheme == "nfs" {
			return NetTarget{}, fmt.Errorf("target %q: nfs:// takes no user", v)
		}
		t.User = u.User.Username()
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return NetTarget{}, fmt.Errorf("target %q: port %q is not 1-65535", v, p)
		}
		t.Port = n
	}
	parts := strings.FieldsFunc(u.Path, func(r rune) bool { return r == '/' })
	for _, p := range parts {
		if p == "." || p == ".." {
			return NetTarget{}, fmt.Errorf("target %q: %q in the path", v, p)
		}
	}
	switch t.Scheme {
	case "smb":
		if len(parts) == 0 {
			return NetTarget{}, fmt.Errorf("target %q: no share named (smb://HOST/SHARE/PATH)", v)
		}
		if t.User == "" {
			return NetTarget{}, fmt.Errorf("target %q: no user named (smb://USER@HOST/SHARE/PATH): SMB 3 encryption needs an authenticated session", v)
		}
		t.Share, t.Path = parts[0], strings.Join(parts[1:], "/")
	case "nfs":
		// The export is the whole path: the server says which part of it
		// is exported, so the mount names all of it.
		if len(parts) == 0 {
			return NetTarget{}, fmt.Errorf("target %q: no export named (nfs://HOST/EXPORT/PATH)", v)
		}
		t.Share = "/" + strings.Join(parts, "/")
	}
	return t, nil
}

func redactURL(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User(c.User.Username())
	}
	return c.String()
}

// String is the target's URL (never with a password).
func (t NetTarget) String() string {
	if t.Scheme == "s3" {
		return s3.Location{Bucket: t.Share, Prefix: t.Path}.String()
	}
	host := t.Host
	if t.Port != 0 {
		host = net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	user := ""
	if t.User != "" {
		user = t.User + "@"
	}
	p := t.Share
	if t.Scheme == "smb" {
		p = "/" + t.Share
		if t.Path != "" {
			p += "/" + t.Path
		}
	}
	return t.Scheme + "://" + user + host + p
}

// FSType is the kernel file-system type the target is mounted with.
func (t NetTarget) FSType() string {
	switch t.Scheme {
	case "smb":
		return "cifs"
	case "s3":
		return "s3"
	}
	return "nfs4"
}

// DefaultPort is the protocol's port when the URL names none.
func (t NetTarget) DefaultPort() int {
	if t.Port != 0 {
		return t.Port
	}
	if t.Scheme == "smb" {
		return 445
	}
	return 2049
}

// SMBOptions are the security choices for an smb:// target.
type SMBOptions struct {
	Password string // from the settings file or typed; never recorded
	// Unsealed allows an unencrypted session (coldimage.smb.seal=0); the
	// default is SMB 3 with encryption (seal), which the server must grant.
	Unsealed bool
}

// Mount is what mount(2) is given for a network target: the source, the
// file-system type and the option string. Shown is the option string as
// the console and the record show it (password left out).
type Mount struct {
	Source, FSType, Data, Shown string
}

// MountArgs builds the mount for t at server address addr, from local
// address local (nfs's clientaddr).
func (t NetTarget) MountArgs(addr, local netip.Addr, smb SMBOptions) (Mount, error) {
	port := strconv.Itoa(t.DefaultPort())
	switch t.Scheme {
	case "smb":
		if strings.ContainsAny(smb.Password, ",\n") {
			// The kernel's option parser splits on commas: a comma in a
			// password would need the "pass=" escape mount.cifs does;
			// refused rather than sent wrong.
			return Mount{}, fmt.Errorf("the SMB password holds a comma or a line break, which the kernel's mount options cannot carry")
		}
		// Default: SMB 3.1.1 with encryption required of the server.
		// Unsealed: SMB 3.0 or later, encrypted only if the server wants.
		opts := []string{"vers=3.1.1", "seal"}
		if smb.Unsealed {
			opts = []string{"vers=3"}
		}
		// soft: a server that stops answering fails the I/O (after
		// echo_interval probes) instead of hanging the run for ever.
		opts = append(opts, "username="+t.User, "ip="+addr.String(), "port="+port,
			"uid=0", "gid=0", "file_mode=0644", "dir_mode=0755", "cache=strict", "soft", "echo_interval=10", "nobrl")
		shown := strings.Join(opts, ",")
		data := shown
		if smb.Password != "" {
			data += ",password=" + smb.Password
		}
		return Mount{Source: "//" + addr.String() + "/" + t.Share, FSType: "cifs", Data: data, Shown: shown}, nil
	case "nfs":
		// softerr: a server that stops answering fails writes with
		// ETIMEDOUT after timeo×retrans instead of hanging the run for
		// ever (hard) or losing data silently (soft).
		opts := []string{"vers=4.2", "proto=tcp", "port=" + port, "addr=" + addr.String(), "clientaddr=" + local.String(),
			"softerr", "timeo=150", "retrans=3"}
		s := strings.Join(opts, ",")
		return Mount{Source: addr.String() + ":" + t.Share, FSType: "nfs4", Data: s, Shown: s}, nil
	}
	return Mount{}, fmt.Errorf("target %s: unknown scheme", t)
}

// meaningfulDMI says whether a DMI serial or UUID names a machine: vendors
// leave placeholders ("To be filled by O.E.M.", "Not Specified", zeros,
// ones) that many machines share.
func meaningfulDMI(v string) bool {
	l := strings.ToLower(strings.TrimSpace(v))
	if l == "" || strings.Trim(l, "0-") == "" || strings.Trim(l, "f-") == "" || strings.Trim(l, "1-") == "" {
		return false
	}
	for _, junk := range []string{"to be filled", "not specified", "not applicable", "default string", "system serial", "none", "n/a", "0123456789", "chassis serial", "oem"} {
		if strings.Contains(l, junk) {
			return false
		}
	}
	return true
}
