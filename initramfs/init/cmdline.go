package main

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/s3"
)

// Config is what the kernel command line asks of the appliance
// (CONVENTIONS §3). Unknown coldimage.* parameters are reported, not fatal.
type Config struct {
	Auto   bool
	Target string // LABEL=X, UUID=X, SERIAL=X or /dev/NAME
	// TargetLabels: file-system label patterns the console UI offers as
	// targets without a typed serial (coldimage.target.labels, comma
	// separated, path.Match syntax; default EVIDENCE*).
	TargetLabels []string
	Sources      []string // nil or ["all"] → all; else names or SERIAL=X
	RAID         string   // members | volumes | both
	Hash         string   // e.g. sha256,blake3
	Case         string
	Examiner     string
	Evidence     string
	UI           string // "" full-screen console UI, "plain" its line mode, "menu" the numbered text menu
	Term         string // coldimage.term=: TERM for the console UI (default vt220 on serial, linux on tty0)
	Console      string // the tty the examiner uses: coldimage.console=, else the last console= (/dev/console)
	Jobs         int    // concurrent acquisitions
	// PieceSize is the window of the piecewise hashes (coldimage.piece-size;
	// 0: the default, 1 GiB, < 0: none). A resume goes on from the end of
	// the last whole piece: smaller pieces lose less on a power cut.
	PieceSize int64
	// Resume: a session cut off on the target (power loss, crash) is
	// continued by the unattended run (coldimage.resume, default 1).
	Resume bool
	// Rescue bounds the rescue of unreadable areas: coldimage.retries,
	// coldimage.rescue-time (e.g. 30m; default none), coldimage.slow-read.
	Rescue imager.RescueSettings
	// HPA is the hidden-area choice (coldimage.hpa=report|image), from the
	// kernel command line only: with image, libata is loaded with
	// ignore_hpa=1 and opens each ATA drive's host protected area when it
	// finds the drive, before the settings file can be read.
	HPA string
	// ReplugWait: an unattended run whose target was pulled while imaging
	// waits this long for it to come back, then resumes the session
	// (coldimage.replug-wait; default 10m, 0 ends at once).
	ReplugWait time.Duration
	Wait       int // seconds to wait for the target to appear
	// Net is how the appliance joins a network (coldimage.net=,
	// coldimage.net.if=); used only when the target is smb:// or nfs://.
	Net NetSettings
	// SMBPassword is the smb:// target's password (coldimage.smb.password,
	// settings file only; never printed or recorded).
	SMBPassword string
	// SMBUnsealed allows an SMB session without encryption
	// (coldimage.smb.seal=0); the record and the console say so in capitals.
	SMBUnsealed bool
	// S3 is how an s3:// target's store is reached (coldimage.s3.*,
	// coldimage.tls.*).
	S3       S3Settings
	Warnings []string
}

// S3Settings are the coldimage.s3.* and coldimage.tls.* settings.
type S3Settings struct {
	Endpoint  string // coldimage.s3.endpoint=https://HOST[:PORT]
	Region    string // coldimage.s3.region
	AccessKey string // coldimage.s3.access-key
	SecretKey string // coldimage.s3.secret-key (settings file only; never printed or recorded)
	Insecure  bool   // coldimage.s3.insecure=1: a plain http:// endpoint is allowed (flagged in capitals)
	CA        string // coldimage.tls.ca=FILE: a PEM file on the stick's settings partition
	CAPEM     []byte // its contents, read with the settings file
	Pin       string // coldimage.tls.pin=sha256:HEX
	// RetryFor is how long a failing request to the store is retried
	// before the source fails (coldimage.s3.retry-for; 0: 5 minutes). An
	// unattended run then waits for the store (coldimage.replug-wait) and
	// continues the session.
	RetryFor time.Duration
}

// DefaultConfig is the configuration with nothing on the command line.
func DefaultConfig() Config {
	return Config{RAID: "both", Hash: "sha256,blake3", Jobs: 2, Wait: 20, Resume: true, ReplugWait: 10 * time.Minute, HPA: imager.HPAReport, Net: NetSettings{Method: "dhcp"}}
}

// AllSources reports whether every eligible disk is to be imaged.
func (c Config) AllSources() bool {
	return len(c.Sources) == 0 || (len(c.Sources) == 1 && c.Sources[0] == "all")
}

// ParseCmdline parses /proc/cmdline. Values may be double-quoted.
func ParseCmdline(s string) Config { return ParseSettings(nil, s) }

// ParseSettings applies the examiner's settings file (lines of
// coldimage.KEY=VALUE; # comments; values may hold spaces), then the kernel
// command line, which wins where both set a key. The file cannot choose the
// console: it is read after the consoles are open.
func ParseSettings(file []byte, cmdline string) Config {
	c := DefaultConfig()
	for _, fl := range fileLines(file) {
		n, l := fl.n, fl.text
		k, v, ok := strings.Cut(l, "=")
		k, v = strings.TrimSpace(k), strings.Trim(strings.TrimSpace(v), `"`)
		switch {
		case !ok || !strings.HasPrefix(k, "coldimage."):
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s line %d: %q is not coldimage.KEY=VALUE; ignored", disk.BootConfigFile, n, redactLine(l)))
		case k == "coldimage.console":
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s line %d: coldimage.console is taken from the kernel command line only; ignored", disk.BootConfigFile, n))
		case k == "coldimage.hpa":
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s line %d: coldimage.hpa is taken from the kernel command line only (the kernel opens a hidden area when it first finds a drive, before this file can be read); ignored here", disk.BootConfigFile, n))
		default:
			c.set(k, v)
		}
	}
	for _, f := range splitCmdline(cmdline) {
		k, v, _ := strings.Cut(f, "=")
		if k == "console" {
			if dev, _, _ := strings.Cut(v, ","); dev == "tty0" || strings.HasPrefix(dev, "ttyS") {
				c.Console = dev
			}
			continue
		}
		switch {
		case slices.Contains(secretKeys, k):
			c.Warnings = append(c.Warnings, k+" is taken from the settings file only (the kernel command line is readable by every process and is recorded); ignored")
		case strings.HasPrefix(k, "coldimage."):
			c.set(k, v)
		}
	}
	return c
}

// fileLine is one setting line of a settings file, numbered from 1.
type fileLine struct {
	n    int
	text string
}

// fileLines are a settings file's lines, trimmed (CRLF files too), without
// blank lines and # comments.
func fileLines(b []byte) []fileLine {
	var out []fileLine
	for i, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(strings.TrimSuffix(l, "\r")); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, fileLine{i + 1, l})
		}
	}
	return out
}

// set applies one coldimage.KEY=VALUE.
func (c *Config) set(k, v string) {
	switch strings.TrimPrefix(k, "coldimage.") {
	case "auto":
		c.Auto = v == "1" || v == "yes" || v == "true"
	case "target":
		c.Target = v
	case "target.labels":
		c.TargetLabels = nil
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			if _, err := path.Match(p, ""); err != nil || p == "" {
				c.Warnings = append(c.Warnings, fmt.Sprintf("coldimage.target.labels: %q is not a label pattern; ignored", p))
				continue
			}
			c.TargetLabels = append(c.TargetLabels, p)
		}
	case "sources":
		c.Sources = nil
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				c.Sources = append(c.Sources, strings.TrimPrefix(s, "/dev/"))
			}
		}
	case "raid":
		switch v {
		case "members", "volumes", "both":
			c.RAID = v
		default:
			c.Warnings = append(c.Warnings, fmt.Sprintf("coldimage.raid=%q is not members|volumes|both; using %s", v, c.RAID))
		}
	case "hash":
		if v != "" {
			c.Hash = v
		}
	case "case":
		c.Case = v
	case "examiner":
		c.Examiner = v
	case "evidence":
		c.Evidence = v
	case "ui":
		switch v {
		case "", "plain", "menu", "tui":
			c.UI = strings.TrimPrefix(v, "tui")
		default:
			c.Warnings = append(c.Warnings, fmt.Sprintf("coldimage.ui=%q is not plain|menu; using the full-screen UI", v))
		}
	case "term":
		c.Term = v
	case "console":
		c.Console = strings.TrimPrefix(v, "/dev/")
	case "jobs":
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			c.Jobs = n
		} else {
			c.Warnings = append(c.Warnings, fmt.Sprintf("coldimage.jobs=%q is not a positive number", v))
		}
	case "piece-size":
		n, err := imager.ParseSize(v)
		switch {
		case err == nil && n == 0:
			c.PieceSize = -1 // no piecewise hashes
		case err == nil && n >= 1<<20:
			c.PieceSize = n
		default:
			c.Warnings = append(c.Warnings, fmt.Sprintf("coldimage.piece-size=%q: want 0 or a size of at least 1M; using the default", v))
		}
	case "retries":
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			c.Rescue.Retries = imager.ZeroOff(n)
		} else {
			c.Warnings = append(c.Warnings, fmt.Sprintf("coldimage.retries=%q is not 0 or more; using %d", v, imager.DefaultRetries))
		}
	case "replug-wait":
		if d, err := time.ParseDuration(v); err == nil && d >= 0 {
			c.ReplugWait = d
		} else {
			c.Warnings = append(c.Warnings, fmt.Sprintf("coldimage.replug-wait=%q is not a duration such as 10m; using %s", v, c.ReplugWait))
		}
	case "rescue-time", "slow-read", "device-timeout":
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			c.Warnings = append(c.Warnings, fmt.Sprintf("coldimage.%s=%q is not a duration such as 30m or 5s; using the default", strings.TrimPrefix(k, "coldimage."), v))
			break
		}
		switch {
		case strings.HasSuffix(k, "rescue-time"):
			c.Rescue.Time = d
		case strings.HasSuffix(k, "device-timeout"):
			c.Rescue.DeviceTimeout = imager.ZeroOff(d)
		default:
			c.Rescue.SlowRead = imager.ZeroOff(d)
		}
	case "resume":
		c.Resume = c.flag(k, v, true, "resuming")
	case "hpa":
		if m, err := imager.ParseHPA(v); err == nil {
			c.HPA = m
		} else {
			c.Warnings = append(c.Warnings, fmt.Sprintf("coldimage.hpa=%q is not report or image; hidden areas are reported, not imaged", v))
			c.HPA = imager.HPAReport
		}
	case "net":
		n, err := ParseNet(v)
		if err != nil {
			c.Warnings = append(c.Warnings, err.Error()+"; using dhcp")
			n = NetSettings{Method: "dhcp"}
		}
		n.If = c.Net.If
		c.Net = n
	case "net.if":
		c.Net.If = v
	case "smb.password":
		c.SMBPassword = v
	case "smb.seal":
		c.SMBUnsealed = !c.flag(k, v, true, "SMB encryption stays required")
	case "s3.endpoint":
		c.S3.Endpoint = v
	case "s3.region":
		c.S3.Region = v
	case "s3.access-key":
		c.S3.AccessKey = v
	case "s3.secret-key":
		c.S3.SecretKey = v
	case "s3.insecure":
		c.S3.Insecure = c.flag(k, v, false, "plain http stays refused")
	case "s3.retry-for":
		if d, err := time.ParseDuration(v); err == nil && d >= time.Second {
			c.S3.RetryFor = d
		} else {
			c.Warnings = append(c.Warnings, fmt.Sprintf("coldimage.s3.retry-for=%q is not a duration of 1s or more such as 5m; using %s", v, s3.DefaultRetryFor))
		}
	case "tls.ca":
		c.S3.CA = v
	case "tls.pin":
		c.S3.Pin = v
	case "wait":
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			c.Wait = n
		} else {
			c.Warnings = append(c.Warnings, fmt.Sprintf("coldimage.wait=%q is not a number of seconds", v))
		}
	default:
		c.Warnings = append(c.Warnings, fmt.Sprintf("unknown kernel parameter %s", k))
	}
}

// flag reads a 1/0 (yes/no, true/false) setting; anything else warns and
// gives def.
func (c *Config) flag(k, v string, def bool, meaning string) bool {
	switch v {
	case "1", "yes", "true":
		return true
	case "0", "no", "false":
		return false
	}
	c.Warnings = append(c.Warnings, fmt.Sprintf("%s=%q is not 1 or 0; %s", k, v, meaning))
	return def
}

// splitCmdline splits on spaces outside double quotes and drops the quotes,
// as the kernel does for parameter values.
func splitCmdline(s string) []string {
	var out []string
	var b strings.Builder
	inQ, have := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQ = !inQ
			have = true
		case (r == ' ' || r == '\n' || r == '\t') && !inQ:
			if have {
				out = append(out, b.String())
				b.Reset()
				have = false
			}
		default:
			b.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, b.String())
	}
	return out
}
