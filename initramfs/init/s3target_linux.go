package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/s3"
)

// s3Staging is where the folder standing for an s3:// target lives: in
// memory (the initramfs), holding only the records until they are put.
const s3Staging = "/run/coldimage/s3"

// openS3 opens an s3:// target once the network is up: the endpoint must
// answer, the store take the credentials and hold the bucket with nothing
// under the prefix — else nothing is imaged. A staging folder in memory
// then stands for the prefix (imager.Remote): the records written there are
// put into the store, the images are streamed to it.
func (a *App) openS3(ctx context.Context, cfg Config, nt NetTarget, t imager.SessionTarget) (imager.SessionTarget, error) {
	c := cfg.S3
	if c.Endpoint == "" {
		return t, fmt.Errorf("target %s: no endpoint: set coldimage.s3.endpoint=https://HOST[:PORT] in COLDIMAGE.CFG", nt)
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil || u.Hostname() == "" {
		return t, fmt.Errorf("target %s: coldimage.s3.endpoint=%q is not https://HOST[:PORT]", nt, c.Endpoint)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80"}[u.Scheme]
		if port == "" {
			port = "443"
		}
	}
	addr, err := resolve(ctx, u.Hostname())
	if err != nil {
		return t, fmt.Errorf("target %s: %w", nt, err)
	}
	t.Server = net.JoinHostPort(addr.String(), port)
	if err := answers(ctx, t.Server, 10*time.Second); err != nil {
		return t, fmt.Errorf("target %s: server %s does not answer: %w", nt, t.Server, err)
	}
	// The store outlives the ctx of whoever chose it (the console UI's
	// ends before the last records, console.log, are put).
	st, err := s3.Open(context.WithoutCancel(ctx), nt.String(), s3.Config{Endpoint: c.Endpoint, Region: c.Region, AccessKey: c.AccessKey, SecretKey: c.SecretKey,
		CABundle: c.CA, CAPEM: c.CAPEM, Pin: c.Pin, Insecure: c.Insecure, RetryFor: c.RetryFor})
	if err != nil {
		return t, fmt.Errorf("target %s: %w", nt, err)
	}
	if err := st.Check(ctx, false); err != nil {
		return t, fmt.Errorf("target %s: %w", nt, err)
	}
	if err := os.MkdirAll(s3Staging, 0o700); err != nil {
		return t, fmt.Errorf("target %s: staging folder: %w", nt, err)
	}
	// With resume on, this machine's sessions come back into the staging
	// folder, so that one cut off (power loss) is found and continued:
	// their records only, the images stay in the store.
	mine := func(rel string) bool { return sessionOf(rel, t.Host) }
	g, err := st.Stage(ctx, s3Staging, "target-", cfg.Resume, mine)
	if err != nil {
		return t, fmt.Errorf("target %s: %w", nt, err)
	}
	a.s3 = g
	t.Security = st.Security()
	if c.Insecure && u.Scheme == "http" {
		a.con.Printf("COLDIMAGE WARNING target %s: PLAIN HTTP (coldimage.s3.insecure=1): THE IMAGE CROSSES THE NETWORK UNENCRYPTED", nt)
	}
	a.con.Printf("coldimage: target %s ready (endpoint %s, server %s; %s) at %s", nt, c.Endpoint, t.Server, t.Security, rfc3339(time.Now()))
	return t, nil
}

// sessionOf says whether rel (under the target's prefix) is in a session
// folder of host: coldimage/<case>/<stamp>_<host>/….
func sessionOf(rel, host string) bool {
	parts := strings.Split(rel, "/")
	return host != "" && len(parts) >= 4 && parts[0] == "coldimage" && strings.HasSuffix(parts[2], "_"+host)
}

// closeS3 ends the use of the s3:// target: the staging folder is removed
// once every record reached the store; else the console says what is lost.
func (a *App) closeS3(nt NetTarget) {
	o := a.s3
	if o == nil {
		return
	}
	a.s3 = nil
	if n := o.Close(); n > 0 {
		a.con.Printf("COLDIMAGE ERROR %d record write(s) did not reach %s: the records exist only in this machine's memory (%s) until it powers off", n, nt, o.Dir)
		return
	}
	a.con.Printf("coldimage: target %s: every record stored; staging folder removed", nt)
}

// netTargetDir is the folder a network target's session goes into: the
// mounted share's path, or the staging folder of an s3:// target.
func (a *App) netTargetDir(nt NetTarget) string {
	if nt.Scheme == "s3" && a.s3 != nil {
		return a.s3.Dir
	}
	return filepath.Join(TargetMount, nt.Path)
}
