package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/acquire"
	"github.com/coldimage/coldimage/ui"
)

// acquireArgs is the checked command line of acquire.
type acquireArgs struct {
	sources      []string
	outdir       string
	format       string
	algs         []string
	split        int64 // raw: bytes per file, 0 = one file
	segment      int64 // e01: bytes per segment file, 0 = the default
	piece        int64 // piecewise hash window, < 0 none
	caseInfo     imager.Case
	noVerify     bool
	jsonProgress bool
	mirrors      []string
	members      []string
}

// runAcquire is `coldimage acquire`. The steps: parse and check the flags,
// write-block the sources, inspect them into requests, preflight, make the
// output directories, run the jobs, and summarise.
func runAcquire(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, err := parseAcquireArgs(args, stderr)
	if a == nil || err != nil {
		return err // nil for --help
	}
	hs, err := hashersFor(countSHA256(a.algs, len(a.sources)))
	if err != nil {
		return err
	}
	wb := disk.NewWriteBlocker()
	defer closeWriteBlocker(wb, stderr)
	if err := writeBlockSources(wb, a.sources); err != nil {
		return err
	}
	reqs, infos, closeVolumes, err := inspectSources(a, hs, wb)
	defer closeVolumes()
	if err != nil {
		return err
	}
	if err := preflightAcquire(a, reqs); err != nil {
		return err
	}
	// Whatever did not exist before and is still empty at the end (every
	// job refused) is removed again.
	defer removeIfEmpty(missingOutputDirs(a))
	if err := makeOutputDirs(a); err != nil {
		return err
	}

	prog := newProgress(a.jsonProgress, stdout, stderr)
	defer prog.Close()
	results := runJobs(ctx, reqs, infos, prog)
	prog.Close()
	return summariseAcquire(stdout, a.jsonProgress, reqs, results)
}

// parseAcquireArgs parses and checks acquire's flags and operands. It
// returns nil and no error for --help.
func parseAcquireArgs(args []string, stderr io.Writer) (*acquireArgs, error) {
	fs := flag.NewFlagSet("acquire", flag.ContinueOnError)
	hashes := fs.String("hash", "sha256,blake3", "hash algorithms: sha256, blake3, md5, sha1 (comma-separated)")
	format := fs.String("format", "raw", "image format: raw or e01")
	split := fs.String("split", "", "raw: split the image into pieces of SIZE (e.g. 2G, 650M)")
	segSize := fs.String("segment-size", "", "e01: segment file size (default 2G)")
	pieceSize := fs.String("piece-size", "1G", "window of the piecewise BLAKE3 hashes in the record (0: none)")
	caseID := fs.String("case", "", "case number/identifier")
	examiner := fs.String("examiner", "", "examiner name")
	evidence := fs.String("evidence", "", "evidence number")
	notes := fs.String("notes", "", "notes for the record")
	noVerify := fs.Bool("no-verify", false, "skip re-reading source and image after acquisition")
	jsonProgress := fs.Bool("json-progress", false, "report progress as JSON lines on stdout")
	var mirrors []string
	var members []string
	fs.Func("member", "a RAID member image to look in for a volume SOURCE (md-…, ddf-…, imsm-…); repeatable", func(v string) error {
		members = append(members, v)
		return nil
	})
	fs.Func("mirror", "also write a complete copy (image and record) to `DIR`, at the same time (repeatable)", func(v string) error {
		mirrors = append(mirrors, v)
		return nil
	})
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: coldimage acquire [flags] SOURCE... OUTDIR")
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(pos) < 2 {
		fs.Usage()
		return nil, usageError("acquire needs at least one SOURCE and an OUTDIR")
	}
	algs, err := imager.ParseHashes(*hashes)
	if err != nil {
		return nil, usageError(err.Error())
	}
	if *format != "raw" && *format != "e01" {
		return nil, usageError(fmt.Sprintf("--format %q: want raw or e01", *format))
	}
	var splitN, segN int64
	if *split != "" {
		if splitN, err = sizeFlag("split", *split); err != nil {
			return nil, err
		}
		if splitN == 0 || splitN%512 != 0 {
			return nil, usageError(fmt.Sprintf("--split %s: must be a positive multiple of 512 bytes", *split))
		}
	}
	if *segSize != "" {
		if segN, err = sizeFlag("segment-size", *segSize); err != nil {
			return nil, err
		}
		if segN < 1<<20 {
			return nil, usageError(fmt.Sprintf("--segment-size %s: must be at least 1 MiB", *segSize))
		}
	}
	pieceN, err := sizeFlag("piece-size", *pieceSize)
	if err != nil {
		return nil, err
	}
	if pieceN != 0 && pieceN < 1<<20 {
		return nil, usageError(fmt.Sprintf("--piece-size %s: want 0 (no piecewise hashes) or a size of at least 1M", *pieceSize))
	}
	if pieceN == 0 {
		pieceN = -1
	}
	for _, f := range []struct{ name, value string }{{"case", *caseID}, {"examiner", *examiner}, {"evidence", *evidence}, {"notes", *notes}} {
		if err := textFlag(f.name, f.value); err != nil {
			return nil, err
		}
	}
	return &acquireArgs{
		sources: pos[:len(pos)-1], outdir: pos[len(pos)-1],
		format: *format, algs: algs, split: splitN, segment: segN, piece: pieceN,
		caseInfo: imager.Case{Case: *caseID, Examiner: *examiner, Evidence: *evidence, Notes: *notes},
		noVerify: *noVerify, jsonProgress: *jsonProgress, mirrors: mirrors, members: members,
	}, nil
}

// closeWriteBlocker ends write-blocking at exit and names the devices left
// read-only.
func closeWriteBlocker(wb *disk.WriteBlocker, stderr io.Writer) {
	wb.Close()
	if b := wb.Blocked(); len(b) > 0 {
		fmt.Fprintf(stderr, "read-only (BLKROSET, confirmed by BLKROGET; the flag stays set, blockdev --setrw undoes it): %s\n", strings.Join(b, " "))
	}
}

// writeBlockSources comes first: every block-device source (and the disk
// holding a partition, the partitions of a disk) is set read-only and
// confirmed before anything below reads a byte of it — inspection,
// preflight, RAID metadata. Volume members are blocked by openVolume.
func writeBlockSources(wb *disk.WriteBlocker, sources []string) error {
	for _, s := range sources {
		if isVolumeID(s) {
			continue
		}
		if err := wb.Block(s); err != nil {
			return fmt.Errorf("%w: source %s: %v", acquire.ErrRefused, s, err)
		}
	}
	return nil
}

// inspectSources turns each source into a request (opening RAID volumes)
// with its output directories, and describes each source. The returned
// function closes the volumes opened, also after an error.
func inspectSources(a *acquireArgs, hs imager.Hashers, wb *disk.WriteBlocker) ([]*acquire.Request, []disk.Info, func(), error) {
	// A deeper buffer pool keeps hashers and writer busy; concurrent sources
	// share the memory so that peak RSS stays bounded (verify doubles it).
	buffers := min(max(24/len(a.sources), 3), 12)
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	var reqs []*acquire.Request
	var infos []disk.Info // per request, for its id and the progress line
	ids := map[string]string{}
	for _, s := range a.sources {
		r := &acquire.Request{
			Source: s, OutDir: a.outdir, Format: a.format, Hashes: a.algs, Split: a.split, SegmentSize: a.segment, PieceSize: a.piece,
			Case:     a.caseInfo,
			NoVerify: a.noVerify, Tool: imager.Tool{Name: "coldimage", Version: Version}, Hashers: hs, Buffers: buffers,
		}
		if isVolumeID(s) {
			vol, geo, closeVol, err := openVolume(s, a.members, wb)
			if err != nil {
				return nil, nil, closeAll, fmt.Errorf("%w: %v", acquire.ErrRefused, err)
			}
			closers = append(closers, closeVol)
			r.Volume, r.RAID = vol, geo
		}
		info, err := sourceInfo(r)
		if err != nil {
			return nil, nil, closeAll, fmt.Errorf("%w: source %s: %v", acquire.ErrRefused, s, err)
		}
		infos = append(infos, info)
		if len(a.sources) > 1 {
			id := disk.ID(info)
			if prev, dup := ids[id]; dup {
				return nil, nil, closeAll, fmt.Errorf("%w: sources %s and %s have the same id %q", acquire.ErrRefused, prev, s, id)
			}
			ids[id] = s
			r.OutDir = filepath.Join(a.outdir, id)
		}
		for _, m := range a.mirrors {
			if len(a.sources) > 1 {
				m = filepath.Join(m, filepath.Base(r.OutDir))
			}
			r.Mirrors = append(r.Mirrors, m)
		}
		reqs = append(reqs, r)
	}
	return reqs, infos, closeAll, nil
}

// preflightAcquire refuses existing parent directories of several sources'
// images, then checks every job together (acquire.Preflight).
func preflightAcquire(a *acquireArgs, reqs []*acquire.Request) error {
	if len(a.sources) > 1 {
		for _, d := range append([]string{a.outdir}, a.mirrors...) {
			if err := refuseExisting(d); err != nil {
				return err
			}
		}
	}
	return acquire.Preflight(reqs)
}

// missingOutputDirs lists the output directories (and parents) that do not
// exist yet, for removeIfEmpty at the end.
func missingOutputDirs(a *acquireArgs) []string {
	var missing []string
	for _, d := range append([]string{a.outdir}, a.mirrors...) {
		missing = append(missing, missingDirs(d)...)
	}
	return missing
}

// makeOutputDirs makes output directories only now, after every check:
// each job's by acquire.Run (which removes it again when it refuses), the
// parent of several here.
func makeOutputDirs(a *acquireArgs) error {
	if len(a.sources) <= 1 {
		return nil
	}
	for _, d := range append([]string{a.outdir}, a.mirrors...) {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("%w: create output directory: %v", acquire.ErrRefused, err)
		}
	}
	return nil
}

// jobOutcome is one job's record and error.
type jobOutcome struct {
	rec *imager.Record
	err error
}

// runJobs runs every request at the same time, reporting to prog, and
// returns their outcomes in request order.
func runJobs(ctx context.Context, reqs []*acquire.Request, infos []disk.Info, prog ui.Progress) []jobOutcome {
	results := make([]jobOutcome, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		r.Emit = prog.Event
		id := disk.ID(infos[i])
		prog.JobStart(r.Source, id, infos[i].Size)
		wg.Add(1)
		go func(i int, r *acquire.Request, id string) {
			defer wg.Done()
			rec, err := acquire.Run(ctx, r)
			results[i] = jobOutcome{rec, err}
			res := "error"
			if rec != nil {
				res = rec.Result
			} else if err != nil {
				res = "error: " + err.Error()
			}
			prog.JobDone(r.Source, id, r.OutDir, res, err)
		}(i, r, id)
	}
	wg.Wait()
	return results
}

// summariseAcquire prints each job's summary (unless progress is JSON) and
// returns the error whose exit code matters most.
func summariseAcquire(stdout io.Writer, jsonProgress bool, reqs []*acquire.Request, results []jobOutcome) error {
	var errs []error
	for i, o := range results {
		if !jsonProgress {
			printSummary(stdout, reqs[i], o.rec, o.err)
		}
		if o.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", reqs[i].Source, o.err))
		}
	}
	return worst(errs)
}

// sourceInfo describes a request's source: the volume, or the device or file.
func sourceInfo(r *acquire.Request) (disk.Info, error) {
	if r.Volume != nil {
		return r.Volume.Info, nil
	}
	return disk.Inspect(r.Source)
}

// worst keeps the error whose exit code matters most, with all messages.
func worst(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	if len(errs) == 1 {
		return errs[0]
	}
	rank := map[int]int{exitMismatch: 5, exitError: 4, exitIncomplete: 3, exitRefused: 2}
	sort.SliceStable(errs, func(a, b int) bool { return rank[exitCode(errs[a])] > rank[exitCode(errs[b])] })
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	return fmt.Errorf("%w (all failures: %s)", errs[0], strings.Join(msgs, "; "))
}

// missingDirs lists dir and those of its parents that do not exist,
// deepest first.
func missingDirs(dir string) []string {
	var out []string
	for p := filepath.Clean(dir); filepath.Dir(p) != p; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil {
			break
		}
		out = append(out, p)
	}
	return out
}

// removeIfEmpty removes directories, deepest first, that are empty.
func removeIfEmpty(dirs []string) {
	for _, d := range dirs {
		os.Remove(d) // fails, harmlessly, on one that is not empty
	}
}

func refuseExisting(outdir string) error {
	ents, err := os.ReadDir(outdir)
	if err == nil && len(ents) > 0 {
		return fmt.Errorf("%w: output directory %s is not empty (holds %s); coldimage never overwrites", acquire.ErrRefused, outdir, ents[0].Name())
	}
	return nil
}

// hashersFor picks the SHA-256 implementation for n concurrent streams;
// COLDIMAGE_SHA256_IMPL=simd|avx512 overrides it (benchmarks, diagnosis).
func hashersFor(n int) (imager.Hashers, error) {
	switch v := os.Getenv("COLDIMAGE_SHA256_IMPL"); v {
	case "":
		return imager.Hashers{SHA256: imager.ChooseSHA256(n)}, nil
	case "simd":
		return imager.Hashers{SHA256: imager.SHA256Simd}, nil
	case "avx512":
		if !imager.CanMultiBuffer() {
			return imager.Hashers{}, fmt.Errorf("COLDIMAGE_SHA256_IMPL=avx512: this CPU has no AVX-512")
		}
		return imager.Hashers{SHA256: imager.SHA256Avx512MB}, nil
	default:
		return imager.Hashers{}, fmt.Errorf("COLDIMAGE_SHA256_IMPL=%q: want simd or avx512", v)
	}
}

func countSHA256(algs []string, sources int) int {
	for _, a := range algs {
		if a == "sha256" {
			return sources
		}
	}
	return 0
}

func printSummary(w io.Writer, r *acquire.Request, rec *imager.Record, err error) {
	fmt.Fprintf(w, "%s → %s\n", r.Source, r.OutDir)
	if rec == nil {
		fmt.Fprintf(w, "  result: not started: %v\n", err)
		return
	}
	fmt.Fprintf(w, "  result: %s\n", rec.Result)
	for _, alg := range imager.HashAlgs(rec.Hashes) {
		fmt.Fprintf(w, "  %-7s %s\n", alg+":", rec.Hashes[alg])
	}
	if len(rec.Unreadable) > 0 {
		var n int64
		for _, u := range rec.Unreadable {
			n += u.Count
		}
		fmt.Fprintf(w, "  unreadable: %d sector(s) in %d range(s), zero-filled\n", n, len(rec.Unreadable))
	}
	if v := rec.Verification; v != nil && !v.Completed() {
		fmt.Fprintf(w, "  verification: %s\n", v.Verdict())
	} else if v != nil {
		fmt.Fprintf(w, "  verified: image %s", matchWord(v.Image.Match))
		if v.Source != nil {
			fmt.Fprintf(w, ", source %s", matchWord(v.Source.Match))
		}
		fmt.Fprintln(w)
	}
	if rec.Image.Partial {
		fmt.Fprintf(w, "  hashes cover the %s\n", rec.HashesCover)
	}
	fmt.Fprintf(w, "  %.1f MB/s, %s in %s\n", rec.RateMBps, imager.HumanBytes(rec.Image.Size), strings.Join(rec.Image.Files, ", "))
}

func matchWord(ok bool) string {
	if ok {
		return "match"
	}
	return "MISMATCH"
}

// newProgress renders events as JSON lines on stdout, or for people on stderr.
func newProgress(jsonLines bool, stdout, stderr io.Writer) ui.Progress {
	if jsonLines {
		return ui.NewJSON(stdout)
	}
	return ui.NewText(stderr, isTerminal(stderr), 0)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
