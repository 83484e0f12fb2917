package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
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

// record is the part of acquisition.json the session needs.
type record struct {
	Result     string            `json:"result"`
	Complete   bool              `json:"complete"`
	Hashes     map[string]string `json:"hashes"`
	Unreadable []json.RawMessage `json:"unreadable"`
}

// Acquire runs `coldimage acquire` for one source, renders its progress on
// con and returns the outcome read back from acquisition.json.
func Acquire(ctx context.Context, o AcquireOpts, d Device, sessionDir string, print func(string, ...any)) (r SourceResult) {
	r = SourceResult{Device: d.Dev(), ID: d.ID(), Size: d.Size, Model: d.Model, Serial: d.Serial, ReadOnly: d.RO, Outdir: d.ID(), Exit: -1}
	outdir := filepath.Join(sessionDir, r.ID)
	t0 := time.Now()
	r.Started = rfc3339(t0)
	defer func() {
		r.Finished = rfc3339(time.Now())
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
	r.Exit = cmd.ProcessState.ExitCode()
	r.MBps = ren.LastRate / 1e6
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		r.Error = werr.Error()
	}
	rec, rerr := readRecord(outdir)
	if rerr != nil {
		if r.Error == "" {
			r.Error = rerr.Error()
		}
	} else {
		r.Result, r.Complete, r.Hashes, r.Unreadable = rec.Result, rec.Complete, rec.Hashes, len(rec.Unreadable)
	}
	if r.Result == "" {
		r.Result = ren.Result
	}
	if r.Exit != 0 && r.Error == "" {
		r.Error = fmt.Sprintf("coldimage acquire exited %d: %s", r.Exit, lastErr)
	}
	r.OK = r.Exit == 0 && rerr == nil && r.Complete && r.Result == "ok"
	return r
}

func readRecord(outdir string) (*record, error) {
	b, err := os.ReadFile(filepath.Join(outdir, "acquisition.json"))
	if err != nil {
		return nil, fmt.Errorf("read record: %w", err)
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("parse %s/acquisition.json: %w", outdir, err)
	}
	return &rec, nil
}

func relay(r io.Reader, f func(string)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f(sc.Text())
	}
}
