package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/acquire"
	"github.com/coldimage/coldimage/session"
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
	resume       bool   // continue the acquisition in outdir
	s3Insecure   bool   // allow a plain-http S3 endpoint
	tlsPin       string // sha256:HEX of the S3 endpoint's certificate
	rescue       imager.RescueSettings
	hpa          string // hidden-area choice: report or image
}

// syncEvery overrides the bytes between checkpoints of the in-progress
// record: tests set it (the power-cut tests need small checkpoints), and
// the environment's COLDIMAGE_SYNC_EVERY (a size) does, for benchmarks
// that measure what checkpoints cost.
var syncEvery int64

func checkpointEvery() int64 {
	if syncEvery != 0 {
		return syncEvery
	}
	if v := os.Getenv("COLDIMAGE_SYNC_EVERY"); v != "" {
		if n, err := imager.ParseSize(v); err == nil && n > 0 {
			return n
		}
	}
	return 0
}

// runAcquire is `coldimage acquire`. The steps: parse and check the flags,
// write-block the sources, describe them, plan the session (package
// session: layout, preflight), run it, and summarise.
func runAcquire(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, err := parseAcquireArgs(args, stderr)
	if a == nil || err != nil {
		return err // nil for --help
	}
	if isS3(a.outdir) {
		// The store is checked before any source is opened.
		done, err := s3Target(ctx, a, stderr)
		if err != nil {
			return err
		}
		defer done()
	}
	wb := disk.NewWriteBlocker()
	defer closeWriteBlocker(wb, stderr)
	if err := writeBlockSources(wb, a.sources); err != nil {
		return err
	}
	srcs, closeVolumes, err := describeSources(a, wb)
	defer closeVolumes()
	if err != nil {
		return err
	}
	// Whatever did not exist before and is still empty at the end (every
	// job refused) is removed again.
	defer removeIfEmpty(missingOutputDirs(a))
	s, err := session.New(session.Plan{
		Mode: "host", Version: Version, Sources: srcs, Dir: a.outdir, Layout: session.OutDir, Mirrors: a.mirrors,
		Case: a.caseInfo, Hashes: a.algs, Format: a.format, Split: a.split, SegmentSize: a.segment, PieceSize: a.piece,
		Verify: !a.noVerify, SyncEvery: checkpointEvery(), Rescue: a.rescue, HPA: a.hpa,
	})
	if err != nil {
		return err
	}
	prog := newProgress(a.jsonProgress, stdout, stderr)
	defer prog.Close()
	werr := s.Run(ctx, prog)
	prog.Close()
	if werr != nil {
		fmt.Fprintf(stderr, "coldimage: session record: %v\n", werr)
	}
	if err := s.Discard(); err != nil { // every job refused: nothing is left behind
		fmt.Fprintf(stderr, "coldimage: %v\n", err)
	}
	resumeHint(stderr, s.Jobs)
	return summariseAcquire(stdout, a.jsonProgress, s.Jobs)
}

// resumeHint says how to continue each acquisition that stopped early with
// a raw image on the target (interrupted, target full, source gone).
func resumeHint(stderr io.Writer, jobs []*session.Job) {
	for _, j := range jobs {
		r := j.Rec
		switch {
		case r == nil || r.Image.Format != "raw" || r.Complete:
		case r.Image.Partial:
			fmt.Fprintf(stderr, "coldimage: %s stopped at byte %d of %d; to continue it: coldimage acquire --resume %s\n", j.Req.Source, r.Image.Size, r.Source.Size, imager.Where(j.Req.OutDir))
		case r.RescueUnfinished():
			fmt.Fprintf(stderr, "coldimage: %s: the rescue stopped at its time limit with areas not read; to go on with them: coldimage acquire --resume [--rescue-time LIMIT] %s\n", j.Req.Source, imager.Where(j.Req.OutDir))
		}
	}
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
	retries := fs.Int("retries", imager.DefaultRetries, "re-reads of each bad sector after the rescue passes (0: none)")
	rescueTime := fs.Duration("rescue-time", 0, "bound on the rescue of unreadable areas after the copy pass, e.g. 30m (0: none; what is left is recorded as not read)")
	devTimeout := fs.Duration("device-timeout", disk.DefaultCommandTimeout, "the source disk's kernel command timeout while it is imaged (sysfs device/timeout, put back afterwards; 0: leave it)")
	slowRead := fs.Duration("slow-read", imager.DefaultSlowRead, "a read slower than this makes the copy pass skip ahead (its data is kept; skipped areas are read later; 0: never)")
	hpa := fs.String("hpa", imager.HPAReport, "an ATA drive's host protected area: report (image what the kernel exposes, report the hidden sectors) or image (image the area the kernel opened; it opens it only when booted with libata.ignore_hpa=1, as the appliance is with coldimage.hpa=image)")
	resume := fs.Bool("resume", false, "continue the acquisition cut off or stopped in OUTDIR (its record's settings apply; SOURCE defaults to the recorded one)")
	s3Insecure := fs.Bool("s3-insecure", false, "allow a plain http:// S3 endpoint (AWS_ENDPOINT_URL): nothing is encrypted, and the record says so")
	tlsPin := fs.String("tls-pin", "", "trust the S3 endpoint's certificate whose SHA-256 is `sha256:HEX`, and no other")
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
	if *retries < 0 {
		return nil, usageError(fmt.Sprintf("--retries %d: want 0 or more", *retries))
	}
	if *rescueTime < 0 || *slowRead < 0 || *devTimeout < 0 {
		return nil, usageError("--rescue-time, --slow-read and --device-timeout take a duration of 0 or more (e.g. 30m, 5s)")
	}
	rescue := imager.RescueSettings{Retries: imager.ZeroOff(*retries), Time: *rescueTime, SlowRead: imager.ZeroOff(*slowRead), DeviceTimeout: imager.ZeroOff(*devTimeout)}
	hpaMode, err := imager.ParseHPA(*hpa)
	if err != nil {
		return nil, usageError("--hpa: " + err.Error())
	}
	if *resume {
		a, err := resumeArgs(fs, pos, *noVerify, *jsonProgress)
		if a != nil {
			a.rescue = rescue
		}
		return a, err
	}
	if len(pos) < 2 {
		fs.Usage()
		return nil, usageError("acquire needs at least one SOURCE and an OUTDIR")
	}
	outdir := pos[len(pos)-1]
	if isS3(outdir) {
		if len(mirrors) > 0 {
			return nil, usageError("--mirror with an s3:// OUTDIR: a second copy in the store is not written; give folders, or image to the store alone")
		}
	} else if err := notURL([]string{outdir}); err != nil {
		return nil, err
	}
	if err := notURL(mirrors); err != nil {
		return nil, err
	}
	if (*s3Insecure || *tlsPin != "") && !isS3(outdir) {
		return nil, usageError("--s3-insecure and --tls-pin apply to an s3:// OUTDIR")
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
		noVerify: *noVerify, jsonProgress: *jsonProgress, mirrors: mirrors, members: members, rescue: rescue, hpa: hpaMode,
		s3Insecure: *s3Insecure, tlsPin: *tlsPin,
	}, nil
}

// resumeArgs checks `acquire --resume [SOURCE] OUTDIR`: the record in
// OUTDIR decides format, hashes, pieces and case, so flags that would set
// them are refused; SOURCE defaults to the recorded source's path.
func resumeArgs(fs *flag.FlagSet, pos []string, noVerify, jsonProgress bool) (*acquireArgs, error) {
	var clash []string
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "resume", "no-verify", "json-progress", "member", "retries", "rescue-time", "slow-read", "device-timeout":
		default:
			clash = append(clash, "--"+f.Name)
		}
	})
	if len(clash) > 0 {
		return nil, usageError(fmt.Sprintf("--resume takes the settings of the record being resumed: %s not allowed with it", strings.Join(clash, ", ")))
	}
	if len(pos) < 1 || len(pos) > 2 {
		return nil, usageError("acquire --resume needs OUTDIR (the folder of the acquisition to continue), optionally preceded by SOURCE")
	}
	outdir := pos[len(pos)-1]
	if isS3(outdir) {
		// The record is read from the store once it is reached (s3Target).
		return &acquireArgs{sources: pos[:len(pos)-1], outdir: outdir, resume: true, noVerify: noVerify, jsonProgress: jsonProgress, format: "raw"}, nil
	}
	if err := notURL([]string{outdir}); err != nil {
		return nil, err
	}
	rec, err := imager.ReadRecord(outdir)
	if err != nil {
		return nil, fmt.Errorf("%w: nothing to resume in %s: %v", acquire.ErrRefused, outdir, err)
	}
	src := rec.Source.Path
	if len(pos) == 2 {
		src = pos[0]
	}
	return &acquireArgs{sources: []string{src}, outdir: outdir, resume: true, noVerify: noVerify, jsonProgress: jsonProgress,
		format: "raw", algs: rec.HashAlgorithms}, nil
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

// describeSources describes each source for the session: the device or
// file (already write-blocked), or a RAID volume, whose members are found,
// write-blocked and opened read-only here (openVolume). The returned
// function closes the volumes, also after an error.
func describeSources(a *acquireArgs, wb *disk.WriteBlocker) ([]session.Source, func(), error) {
	var out []session.Source
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	for _, src := range a.sources {
		if isVolumeID(src) {
			vol, geo, closeVol, err := openVolume(src, a.members, wb)
			if err != nil {
				return nil, closeAll, fmt.Errorf("%w: %v", acquire.ErrRefused, err)
			}
			closers = append(closers, closeVol)
			out = append(out, session.Source{Info: vol.Info, Resume: a.resume, Volume: func() (*acquire.Volume, json.RawMessage, func(), error) {
				return vol, geo, nil, nil // closed by closeAll
			}})
			continue
		}
		info, err := disk.Inspect(src)
		if err != nil {
			return nil, closeAll, fmt.Errorf("%w: source %s: %v", acquire.ErrRefused, src, err)
		}
		out = append(out, session.Source{Info: info, Resume: a.resume})
	}
	return out, closeAll, nil
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

// summariseAcquire prints each job's summary (unless progress is JSON) and
// returns the error whose exit code matters most.
func summariseAcquire(stdout io.Writer, jsonProgress bool, jobs []*session.Job) error {
	var errs []error
	for _, j := range jobs {
		if !jsonProgress {
			printSummary(stdout, j.Req, j.Rec, j.Err)
		}
		if j.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", j.Req.Source, j.Err))
		}
	}
	return worst(errs)
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

func printSummary(w io.Writer, r *acquire.Request, rec *imager.Record, err error) {
	fmt.Fprintf(w, "%s → %s\n", r.Source, imager.Where(r.OutDir))
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

// notURL refuses a target URL where a folder is wanted: on a host the
// acquisition writes to a folder (a mounted share's too); smb:// and nfs://
// targets are mounted by the appliance; s3:// is an OUTDIR (s3Target) but
// not a mirror.
// Without this, "smb://nas/x" would become a local folder named "smb:".
func notURL(dirs []string) error {
	for _, d := range dirs {
		scheme, _, ok := strings.Cut(d, "://")
		if !ok {
			continue
		}
		switch scheme {
		case "smb", "nfs":
			return usageError(fmt.Sprintf("%s: on a host, mount the share (mount -t cifs or -t nfs4) and give its folder; the appliance mounts %s:// targets itself (coldimage.target=)", d, scheme))
		default:
			return usageError(fmt.Sprintf("%s: %s:// targets are not supported; give a folder", d, scheme))
		}
	}
	return nil
}
