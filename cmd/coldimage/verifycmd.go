package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/acquire"
	"github.com/coldimage/coldimage/ui"
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
	dirs, err := recordDirs(dir)
	if err != nil {
		return err
	}
	if len(dirs) > 1 && *source != "" {
		return usageError(fmt.Sprintf("%s holds %d images: --source names one source; verify one image folder with it", dir, len(dirs)))
	}
	prog := newProgress(*jsonProgress, stdout, stderr)
	defer prog.Close()
	hs, err := hashersFor(1)
	if err != nil {
		return err
	}
	// One image after the other: several read at once from one target
	// disk would only make its head seek.
	var errs []error
	for _, d := range dirs {
		if err := verifyOne(ctx, d, *source, hs, prog, *jsonProgress, stdout); err != nil {
			errs = append(errs, err)
		}
	}
	prog.Close()
	if len(dirs) > 1 && !*jsonProgress {
		fmt.Fprintf(stdout, "%d image(s) verified in %s, %d failed\n", len(dirs), dir, len(errs))
	}
	return errors.Join(errs...)
}

// recordDirs is dir when it holds acquisition.json, else its subfolders that
// do: an acquire OUTDIR of several sources or an appliance session folder.
func recordDirs(dir string) ([]string, error) {
	if _, err := os.Stat(filepath.Join(dir, "acquisition.json")); err == nil {
		return []string{dir}, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", dir, err)
	}
	var dirs []string
	for _, e := range entries {
		sub := filepath.Join(dir, e.Name())
		if _, err := os.Stat(filepath.Join(sub, "acquisition.json")); e.IsDir() && err == nil {
			dirs = append(dirs, sub)
		}
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("verify %s: no acquisition.json there or in its subfolders: not an image folder, an acquire OUTDIR or a session folder", dir)
	}
	return dirs, nil
}

// verifyOne verifies the image in dir (and source, when named) and prints
// the outcome unless progress goes out as JSON.
func verifyOne(ctx context.Context, dir, source string, hs imager.Hashers, prog ui.Progress, jsonProgress bool, stdout io.Writer) error {
	rec, err := imager.ReadRecord(dir)
	if err != nil {
		return err
	}
	o := verify.Options{Emit: prog.Event, Hashers: hs}
	name := dir
	if source != "" {
		src, err := acquire.OpenSource(source)
		if err != nil {
			return fmt.Errorf("open source: %w", err)
		}
		defer src.Close()
		if src.Info.Size != rec.Source.Size {
			return fmt.Errorf("%w: source %s is %d bytes, the record says %d", verify.ErrMismatch, source, src.Info.Size, rec.Source.Size)
		}
		o.Source, o.SourceName, name = src, source, source
	}
	prog.JobStart(name, rec.Source.ID, rec.Image.Size)
	id := rec.Source.ID
	rec, verr := verify.Run(ctx, dir, o)
	res := "error"
	if rec != nil {
		res = rec.Result
	}
	prog.JobDone(name, id, dir, res, verr)
	if rec != nil && rec.Verification != nil && !jsonProgress {
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
