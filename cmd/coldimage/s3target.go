package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/debug"
	"strings"

	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/acquire"
	"github.com/coldimage/coldimage/imager/s3"
)

// s3MemoryLimit is the soft memory limit of an acquisition into S3: the
// Go runtime's own memory (stacks, collector) comes on top, so the process
// stays within 256 MiB. Eight sources as E01 hold about 190 MiB live.
const s3MemoryLimit = 224 << 20

// isS3 says whether an OUTDIR is an s3:// target.
func isS3(outdir string) bool { return strings.HasPrefix(outdir, "s3://") }

// s3Target prepares an s3:// OUTDIR before anything is read: the store must
// answer, take the credentials, hold the bucket and nothing under the
// prefix (else a refusal, exit 5). A local staging folder then stands for
// the prefix: the records written there are put into the store as they
// are written, and a.outdir becomes that folder. done removes the staging
// folder once every record reached the store, else keeps it and says where.
func s3Target(ctx context.Context, a *acquireArgs, stderr io.Writer) (done func(), err error) {
	url := a.outdir
	cfg := s3.ConfigFromEnv(os.Getenv)
	cfg.Insecure, cfg.Pin = a.s3Insecure, a.tlsPin
	st, err := s3.Open(ctx, url, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: target %s: %v", acquire.ErrRefused, url, err)
	}
	if err := st.Check(ctx, !a.resume); err != nil {
		return nil, fmt.Errorf("%w: target %s: %v", acquire.ErrRefused, url, err)
	}
	if a.s3Insecure {
		fmt.Fprintf(stderr, "coldimage: WARNING: %s over PLAIN HTTP: the image and its records travel unencrypted\n", url)
	}
	g, err := st.Stage(ctx, "", "coldimage-s3-staging-", a.resume, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: target %s: %v", acquire.ErrRefused, url, err)
	}
	if a.resume {
		// The records came back into the staging folder; the image
		// files stay in the store (read back from there).
		rec, err := imager.ReadRecord(g.Dir)
		if err != nil {
			g.Close()
			return nil, fmt.Errorf("%w: nothing to resume in %s: %v", acquire.ErrRefused, url, err)
		}
		if len(a.sources) == 0 {
			a.sources = []string{rec.Source.Path}
		}
		a.algs = rec.HashAlgorithms
	}
	a.outdir = g.Dir
	// The store's part buffers are bounded (s3.Config.Budget); a soft
	// memory limit keeps the collector from letting the heap grow to twice
	// what is live when many sources stream at once (a server imaging a
	// dozen disks into a bucket). The runtime caps the collector's CPU
	// share, so a larger live heap slows it, never stops it.
	if debug.SetMemoryLimit(-1) == math.MaxInt64 {
		debug.SetMemoryLimit(s3MemoryLimit)
	}
	return func() {
		if n := g.Close(); n > 0 {
			fmt.Fprintf(stderr, "coldimage: %d record write(s) did not reach %s; the records are kept in %s\n", n, url, g.Dir)
		}
	}, nil
}
