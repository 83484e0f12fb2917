package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/acquire"
	"github.com/coldimage/coldimage/verify"
)

func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	source := fs.String("source", "", "also re-read this source and compare it with the image")
	jsonProgress := fs.Bool("json-progress", false, "report progress as JSON lines on stdout")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: coldimage verify OUTDIR [--source SOURCE]")
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return usageError("verify needs exactly one OUTDIR")
	}
	dir := pos[0]
	rec, err := imager.ReadRecord(dir)
	if err != nil {
		return err
	}
	prog := newProgress(*jsonProgress, stdout, stderr)
	defer prog.Close()
	hs, err := hashersFor(1)
	if err != nil {
		return err
	}
	o := verify.Options{Emit: prog.Event, Hashers: hs}
	name := dir
	if *source != "" {
		src, err := acquire.OpenSource(*source)
		if err != nil {
			return fmt.Errorf("open source: %w", err)
		}
		defer src.Close()
		if src.Info.Size != rec.Source.Size {
			return fmt.Errorf("%w: source %s is %d bytes, the record says %d", verify.ErrMismatch, *source, src.Info.Size, rec.Source.Size)
		}
		o.Source, o.SourceName, name = src, *source, *source
	}
	prog.JobStart(name, rec.Source.ID, rec.Image.Size)
	id := rec.Source.ID
	rec, verr := verify.Run(ctx, dir, o)
	res := "error"
	if rec != nil {
		res = rec.Result
	}
	prog.JobDone(name, id, dir, res, verr)
	prog.Close()
	if rec != nil && rec.Verification != nil && !*jsonProgress {
		v := rec.Verification
		fmt.Fprintf(stdout, "%s: image %s", dir, matchWord(v.Image.Match))
		if v.Source != nil {
			fmt.Fprintf(stdout, ", source %s", matchWord(v.Source.Match))
		}
		fmt.Fprintf(stdout, ", result %s\n", rec.Result)
		if v.Segment != nil {
			fmt.Fprintf(stdout, "first differing segment: offset %d length %d (%s %s in the record)\n", v.Segment.Offset, v.Segment.Length, v.Segment.Alg, v.Segment.Hex)
		}
		if v.FirstDifference != nil {
			fmt.Fprintf(stdout, "first differing byte: %d\n", *v.FirstDifference)
		}
	}
	return verr
}
