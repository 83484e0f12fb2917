package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/coldimage/coldimage/imager"
)

// AcquireOpts are the record fields and hash set for one acquisition.
type AcquireOpts struct {
	Bin                        string // the coldimage binary
	Hash, Case, Examiner, Evid string
}

// Args is the coldimage command line for one source.
func (o AcquireOpts) Args(src, outdir string) []string {
	args := []string{"acquire", "--json-progress", "--hash", o.Hash}
	for _, kv := range [][2]string{{"--case", o.Case}, {"--examiner", o.Examiner}, {"--evidence", o.Evid}} {
		if kv[1] != "" {
			args = append(args, kv[0], kv[1])
		}
	}
	return append(args, src, outdir)
}

// Acquire runs `coldimage acquire` for one source, renders its progress on
// con and returns the outcome read back from acquisition.json.
func Acquire(ctx context.Context, o AcquireOpts, d Device, sessionDir string, print func(string, ...any)) (r SourceResult) {
	r = SourceResult{Device: d.Dev(), ID: d.ID(), Size: d.Size, Model: d.Model, Serial: d.Serial, ReadOnly: d.RO, Outdir: d.ID(), Verified: "not run"}
	outdir := filepath.Join(sessionDir, r.ID)
	t0 := time.Now()
	r.Started = imager.RFC3339(t0)
	defer func() {
		r.Finished = imager.RFC3339(time.Now())
		r.Seconds = time.Since(t0).Seconds()
	}()
	cmd := exec.CommandContext(ctx, o.Bin, o.Args(d.Dev(), outdir)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		r.Error = err.Error()
		return r
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		r.Error = err.Error()
		return r
	}
	print("[%s] %s %s", r.ID, o.Bin, strings.Join(o.Args(d.Dev(), outdir), " "))
	if err := cmd.Start(); err != nil {
		r.Error = fmt.Sprintf("start %s: %v", o.Bin, err)
		print("[%s] %s", r.ID, r.Error)
		return r
	}
	ren := &Renderer{Label: r.ID, Every: 3 * time.Second}
	var wg sync.WaitGroup
	var lastErr string
	wg.Add(2)
	go func() {
		defer wg.Done()
		relay(stdout, func(l string) {
			if s := ren.Line(l); s != "" {
				print("%s", s)
			}
		})
	}()
	go func() {
		defer wg.Done()
		relay(stderr, func(l string) {
			lastErr = l
			print("[%s] %s", r.ID, l)
		})
	}()
	wg.Wait()
	werr := cmd.Wait()
	exit := cmd.ProcessState.ExitCode()
	var runErr error
	var ee *exec.ExitError
	switch {
	case werr != nil && !errors.As(werr, &ee):
		runErr = werr
	case exit != 0:
		runErr = fmt.Errorf("coldimage acquire exited %d: %s", exit, lastErr)
	}
	rec, rerr := imager.ReadRecord(outdir)
	if rerr != nil {
		rec = nil
		if runErr == nil {
			runErr = rerr
		} else {
			runErr = fmt.Errorf("%w (and %v)", runErr, rerr)
		}
	}
	r.Outcome(rec, runErr, false)
	if rec == nil && ren.Result != "" {
		r.Result = ren.Result + " (" + r.Result + ")"
	}
	return r
}

func relay(r io.Reader, f func(string)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f(sc.Text())
	}
}
