package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/acquire"
	"github.com/coldimage/coldimage/session"
	"github.com/coldimage/coldimage/ui"
	"github.com/coldimage/coldimage/verify"
)

func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	source := fs.String("source", "", "also re-read this source and compare it with the image")
	jsonProgress := fs.Bool("json-progress", false, "report progress as JSON lines on stdout")
	recordDir := fs.String("record-dir", "", "write the verification record (verify-<stamp>.json/.txt) into this folder (created if missing) instead of beside the image")
	record := fs.String("record", "", "'-': print the verification record (JSON) on stdout instead of writing it")
	sessionSHA := fs.String("session-sha256", "", "OUTDIR is an appliance session folder: check first that session.json's sha256 is this HEX (as COLDIMAGE DONE printed it)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: coldimage verify OUTDIR [--source SOURCE] [--record-dir DIR | --record -] [--session-sha256 HEX]")
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
	if *record != "" && *record != "-" {
		return usageError(fmt.Sprintf("--record %q: only '-' (stdout) is taken; --record-dir DIR writes the record into DIR", *record))
	}
	if *record == "-" && *recordDir != "" {
		return usageError("--record - and --record-dir exclude each other")
	}
	if h := *sessionSHA; h != "" {
		if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
			return usageError(fmt.Sprintf("--session-sha256 %q: want 64 hex digits (a sha256)", h))
		}
	}
	dir := pos[0]
	// session.json first: a changed session record is said before hours of
	// reading, and each verification record notes what was found.
	sess, serr := verify.CheckSession(dir, *sessionSHA)
	if serr != nil && !errors.Is(serr, verify.ErrMismatch) {
		return serr
	}
	if serr != nil {
		fmt.Fprintln(stderr, "coldimage:", serr)
	}
	dirs, err := recordDirs(dir)
	if err != nil {
		return errors.Join(serr, err)
	}
	if len(dirs) > 1 && *source != "" {
		return usageError(fmt.Sprintf("%s holds %d images: --source names one source; verify one image folder with it", dir, len(dirs)))
	}
	prog := newProgress(*jsonProgress, stdout, stderr)
	defer prog.Close()
	hs, err := session.Hashers(1)
	if err != nil {
		return err
	}
	w := verifyOut{stdout: stdout, stderr: stderr, recordDir: *recordDir, toStdout: *record == "-", jsonProgress: *jsonProgress}
	if sess != nil && sess.Match != nil && *sess.Match && !*jsonProgress {
		fmt.Fprintf(w.human(w.toStdout), "%s: sha256 %s, as noted: session.json unchanged since the run\n", sess.File, sess.SHA256)
	}
	// One image after the other: several read at once from one target
	// disk would only make its head seek.
	var errs []error
	for _, d := range dirs {
		rel, err := filepath.Rel(dir, d)
		if err != nil {
			rel = filepath.Base(d)
		}
		if err := verifyOne(ctx, d, rel, *source, hs, sess, prog, w); err != nil {
			errs = append(errs, err)
		}
	}
	prog.Close()
	if len(dirs) > 1 && !*jsonProgress {
		fmt.Fprintf(w.human(w.toStdout), "%d image(s) verified in %s, %d failed\n", len(dirs), dir, len(errs))
	}
	if serr != nil {
		errs = append([]error{serr}, errs...)
	}
	return errors.Join(errs...)
}

// verifyOut says where a verification's record and its human summary go.
type verifyOut struct {
	stdout, stderr io.Writer
	recordDir      string // --record-dir: records go to recordDir/<image folder relative to OUTDIR>/
	toStdout       bool   // --record -
	jsonProgress   bool
}

// human is where the summary lines go: stderr when the record (JSON) is on
// stdout, so stdout stays JSON.
func (w verifyOut) human(recordOnStdout bool) io.Writer {
	if recordOnStdout {
		return w.stderr
	}
	return w.stdout
}

// printRecord puts the verification record on stdout: indented, or one line
// when stdout carries JSON progress lines.
func (w verifyOut) printRecord(rep *verify.Report) error {
	js, err := rep.JSON()
	if err != nil {
		return err
	}
	if w.jsonProgress {
		var b bytes.Buffer
		if err := json.Compact(&b, js); err == nil {
			js = append(b.Bytes(), '\n')
		}
	}
	_, err = w.stdout.Write(js)
	return err
}

// store writes the verification record of the image in dir (rel: relative
// to OUTDIR) where it belongs and says where; it reports whether the record
// went to stdout. A record that cannot be written beside the image (a
// read-only image folder or mount) goes to stdout instead, with a note on
// stderr: the verification stands. One that cannot be written into
// --record-dir goes to stdout too, and the write error is returned.
func (w verifyOut) store(dir, rel string, rep *verify.Report) (string, bool, error) {
	if w.toStdout {
		return "", true, w.printRecord(rep)
	}
	where := dir
	if w.recordDir != "" {
		where = filepath.Join(w.recordDir, rel)
	}
	path, err := verify.WriteReport(where, rep)
	if err == nil {
		return path, false, nil
	}
	if w.recordDir != "" {
		fmt.Fprintf(w.stderr, "coldimage: %v: the verification record of %s follows on stdout\n", err, dir)
		return "", true, errors.Join(err, w.printRecord(rep))
	}
	fmt.Fprintf(w.stderr, "coldimage: could not write the verification record beside the image in %s (%v); it follows on stdout (--record-dir DIR writes it elsewhere)\n", dir, err)
	return "", true, w.printRecord(rep)
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

// verifyOne verifies the image in dir (and source, when named) without
// writing acquisition.json, stores the verification record and prints the
// outcome unless progress goes out as JSON.
func verifyOne(ctx context.Context, dir, rel, source string, hs imager.Hashers, sess *verify.SessionCheck, prog ui.Progress, w verifyOut) error {
	var id string
	var size int64
	if rec, err := imager.ReadRecord(dir); err == nil { // for the progress display; Check reads its own copy
		id, size = rec.Source.ID, rec.Image.Size
	}
	o := verify.Options{Emit: prog.Event, Hashers: hs, Tool: imager.Tool{Name: "coldimage", Version: Version, SHA256: string(hs.SHA256)}, Session: sess}
	if o.Tool.SHA256 == "" {
		o.Tool.SHA256 = string(imager.SHA256Simd)
	}
	name := dir
	if source != "" {
		src, err := acquire.OpenSource(source)
		if err != nil {
			return fmt.Errorf("open source: %w", err)
		}
		defer src.Close()
		o.Source, o.SourceName, o.SourceSize, name = src, source, src.Info.Size, source
	}
	prog.JobStart(name, id, size)
	rep, verr := verify.Check(ctx, dir, o)
	prog.JobDone(name, id, dir, rep.Result, verr)
	path, onStdout, werr := w.store(dir, rel, rep)
	if !w.jsonProgress {
		out := w.human(onStdout)
		switch rep.Result {
		case verify.ResultMatch, verify.ResultMismatch:
			fmt.Fprintf(out, "%s: image %s", dir, matchWord(rep.ImageMatch))
			if rep.SourceMatch != nil {
				fmt.Fprintf(out, ", source %s", matchWord(*rep.SourceMatch))
			}
			fmt.Fprintf(out, ", result %s\n", rep.Result)
		default:
			fmt.Fprintf(out, "%s: verification %s: %s\n", dir, rep.Result, strings.Join(rep.Errors, "; "))
		}
		if d := rep.FirstDifference; d != nil && d.Piece != nil {
			fmt.Fprintf(out, "first differing piece: offset %d length %d (%s %s in the record)\n", d.Piece.Offset, d.Piece.Length, d.Piece.Alg, d.Piece.Recorded)
		}
		if d := rep.FirstDifference; d != nil && d.Byte != nil {
			fmt.Fprintf(out, "first differing byte: %d\n", *d.Byte)
		}
		if path != "" {
			fmt.Fprintf(out, "verification record: %s (acquisition.json unchanged, sha256 %s)\n", path, rep.Acquisition.SHA256)
		}
	}
	if errors.Is(verr, verify.ErrNotCompleted) {
		verr = fmt.Errorf("%w: %w", acquire.ErrIncomplete, verr)
	}
	if werr != nil {
		return errors.Join(verr, werr)
	}
	return verr
}
