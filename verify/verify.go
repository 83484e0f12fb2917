// Package verify re-reads an image (and, when given, its source) and checks
// every hash against the acquisition record.
//
// Two kinds of verification, one comparison:
//   - Run is the acquisition's own verification pass (acquire.Run calls it):
//     it settles and writes the acquisition.json the acquisition is writing.
//   - Check is a later verification (coldimage verify): it writes nothing
//     into acquisition.json; its outcome is a Report of its own
//     (coldimage.verification/1, verify-<stamp>.json beside the image), so
//     the record keeps what the acquisition found and every later
//     verification adds to the history.
package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/ewf"
)

// Options for one verification.
type Options struct {
	Source     io.ReaderAt // re-read and compared with the image; nil: image only
	SourceName string
	Emit       imager.Emitter
	Hashers    imager.Hashers
	// Buffers is the engine's buffer count (0: its default); a session of
	// many sources gives fewer, so that their verifications running at
	// once stay within memory (each buffer is doubled when comparing).
	Buffers int

	// Check only (a later verification's report).
	SourceSize int64         // bytes of Source, compared with the record's before reading
	Tool       imager.Tool   // the verifying tool, as the report names it
	Session    *SessionCheck // session.json of the folder verified, when it is a session folder
}

// ErrMismatch is wrapped by Run's error when a hash or byte differs.
var ErrMismatch = errors.New("verification mismatch")

// ErrNotCompleted is wrapped by Run's error, beside the context's cause,
// when the context was cancelled (the operator aborted, a signal) before
// every byte was compared: there is no verdict, and the record says
// verification "not completed (aborted)", never mismatch.
var ErrNotCompleted = errors.New("verification not completed")

// Image is an opened image: raw (one or split) or E01.
type Image interface {
	io.ReaderAt
	Size() int64
	Close() error
}

// OpenImage opens the image a record describes, read-only.
func OpenImage(dir string, rec *imager.Record) (Image, error) {
	if len(rec.Image.Files) == 0 {
		return nil, fmt.Errorf("record in %s lists no image files", dir)
	}
	if f := rec.Image.Format; f != "raw" && f != "e01" {
		return nil, fmt.Errorf("record in %s: unknown image format %q", dir, f)
	}
	return OpenPaths(rec.Image.Format, imagePaths(dir, rec), rec.Image.Partial)
}

// OpenPaths opens the image files of a format, read-only: raw files joined,
// or the E01 set whose first segment is paths[0] (partial: a set whose
// writing stopped, as far as its chunk tables go).
func OpenPaths(format string, paths []string, partial bool) (Image, error) {
	switch format {
	case "raw":
		return imager.OpenFiles(paths)
	case "e01":
		if len(paths) == 0 {
			return nil, errors.New("no E01 segment files")
		}
		if partial {
			return ewf.OpenPartial(paths[0])
		}
		return ewf.Open(paths[0])
	}
	return nil, fmt.Errorf("unknown image format %q", format)
}

// imagePaths are the image files the record in dir lists.
func imagePaths(dir string, rec *imager.Record) []string {
	var paths []string
	for _, f := range rec.Image.Files {
		paths = append(paths, filepath.Join(dir, f))
	}
	return paths
}

// DropImageCache drops this machine's cached pages of the image files rec
// lists in dir, so that what is read next comes from the target.
func DropImageCache(dir string, rec *imager.Record) error {
	return dropCache(imagePaths(dir, rec))
}

// Run is the verification during the acquisition: it verifies the image in
// dir against the record the acquisition is writing and stores the outcome
// in it (acquisition.json/.txt rewritten). Only the acquisition calls it; a
// later verification is Check, which never writes acquisition.json. The
// returned error wraps ErrMismatch when anything differs.
func Run(ctx context.Context, dir string, o Options) (*imager.Record, error) {
	rec, err := imager.ReadRecord(dir)
	if err != nil {
		return nil, err
	}
	_, verr := check(ctx, dir, rec, o)
	if verr != nil && rec.Verification != nil && rec.Verification.Error == "" && !errors.Is(verr, ErrMismatch) {
		rec.Verification.Error = verr.Error()
	}
	Settle(rec, verr)
	if werr := imager.WriteRecord(dir, rec, false); werr != nil {
		return rec, errors.Join(verr, werr)
	}
	return rec, verr
}

// Settle sets complete/result from what acquisition and verification found
// (the acquisition's record only: Run, acquire.Run).
// A verification that did not complete (ErrNotCompleted) leaves result
// "incomplete" with the cause in errors[] as written; complete keeps what
// the acquisition found. A verification through Run that completes replaces
// such an entry.
func Settle(rec *imager.Record, verr error) {
	if !errors.Is(verr, ErrNotCompleted) {
		rec.Errors = slices.DeleteFunc(rec.Errors, func(e string) bool { return strings.HasPrefix(e, ErrNotCompleted.Error()+": ") })
		if len(rec.Errors) == 0 {
			rec.Errors = nil
		}
	}
	switch {
	case errors.Is(verr, ErrNotCompleted):
		rec.Result = imager.ResultIncomplete
		rec.Errors = append(rec.Errors, verr.Error())
	case errors.Is(verr, ErrMismatch):
		rec.Result = imager.ResultMismatch
		rec.Complete = false
	case verr != nil:
		rec.Result = "error: verify: " + verr.Error()
		rec.Complete = false
	case len(rec.Errors) > 0 && rec.Result != imager.ResultOK:
		// acquisition failed earlier: keep its result
	case len(rec.Unreadable) > 0:
		rec.Result = imager.ResultIncomplete
		rec.Complete = false
	default:
		rec.Result = imager.ResultOK
		rec.Complete = true
	}
}

// check compares image (and source) with rec and stores the outcome in
// rec.Verification; it returns the pass's result (nil when it did not run).
func check(ctx context.Context, dir string, rec *imager.Record, o Options) (*imager.Result, error) {
	// Read the image back from the target, not from the page cache the
	// acquisition just filled.
	cache := "dropped"
	paths := imagePaths(dir, rec)
	if len(paths) > 0 {
		if r, _ := imager.RemoteOf(paths[0]); r != nil {
			cache = imager.CacheNotUsed
		}
	}
	if err := dropCache(paths); err != nil {
		cache = "not dropped: " + err.Error()
	}
	img, err := OpenImage(dir, rec)
	if err != nil {
		rec.Verification = &imager.Verification{Time: imager.RFC3339(time.Now()), Status: imager.VerifyFailed, Error: err.Error(), ImageCache: cache}
		return nil, err
	}
	defer img.Close()
	v := &imager.Verification{Time: imager.RFC3339(time.Now()), Status: imager.VerifyCompleted, ImageCache: cache}
	rec.Verification = v
	if img.Size() != rec.Image.Size {
		return nil, fmt.Errorf("%w: image in %s holds %d bytes, the record says %d", ErrMismatch, dir, img.Size(), rec.Image.Size)
	}
	var algs []string
	for a := range rec.Hashes {
		algs = append(algs, a)
	}
	algs = imager.SortAlgs(algs)
	pieceAlg, pieceSize := "", int64(-1)
	if len(rec.Pieces) > 0 {
		pieceAlg, pieceSize = rec.Pieces[0].Alg, rec.Pieces[0].Length
	}
	opt := imager.Options{
		Size:       rec.Image.Size,
		SectorSize: max(rec.Source.LogicalSector, 512),
		Hashes:     algs,
		Hashers:    o.Hashers,
		PieceSize:  pieceSize,
		PieceAlg:   pieceAlg,
		Phase:      imager.PhaseVerify,
		Emit:       o.Emit,
		Buffers:    o.Buffers,
	}
	if o.Source != nil {
		// What the acquisition recorded as unreadable is not re-read: the
		// image holds zeros there (v.NotReread says which ranges).
		opt.Name, opt.Source, opt.Compare = o.SourceName, SkipUnreadable(o.Source, rec.Unreadable, opt.SectorSize), img
		v.NotReread = rec.Unreadable
		// A source failing now where the acquisition read it is not
		// rescued again: its reads are narrowed down for at most
		// SourceRescue, then skipped past (a dying disk must not hold
		// the session for hours). The verdict is "not completed".
		opt.RescueTime = SourceRescue
	} else {
		opt.Name, opt.Source = filepath.Join(dir, rec.Image.Files[0]), img
		opt.Retries = -1
	}
	res, err := imager.Run(ctx, opt)
	if err != nil && ctx.Err() != nil {
		// Stopped, not failed: no verdict either way.
		cause := context.Cause(ctx)
		v.Status, v.Error = imager.VerifyAborted, cause.Error()
		return res, fmt.Errorf("%w: %w", ErrNotCompleted, cause)
	}
	if err != nil {
		v.Status = imager.VerifyFailed
		return res, fmt.Errorf("verify %s: %w", dir, err)
	}
	imageHashes := res.Hashes
	if o.Source != nil {
		imageHashes = res.CompareHashes
		v.Source = &imager.VerifyPart{Hashes: res.Hashes, Match: equalHashes(res.Hashes, rec.Hashes)}
		v.Unreadable = res.Unreadable
		if !res.Identical() {
			fd := res.FirstDifference
			v.FirstDifference = &fd
		}
	}
	v.Image = imager.VerifyPart{Hashes: imageHashes, Match: equalHashes(imageHashes, rec.Hashes)}
	if err := rereadFailed(v, res, opt.SectorSize); err != nil {
		return res, err
	}

	// Name the first piece whose hash differs from the record: from the
	// byte comparison when source and image differ, else from the piecewise
	// hashes of what was read (the image, or source and image alike).
	if v.FirstDifference != nil {
		v.Piece = pieceAt(rec.Pieces, *v.FirstDifference)
	} else if len(rec.Pieces) > 0 {
		for i, s := range res.Pieces {
			if i >= len(rec.Pieces) || rec.Pieces[i] != s {
				r := rec.Pieces[min(i, len(rec.Pieces)-1)]
				v.Piece = &r
				break
			}
		}
	}
	if !v.Image.Match || (v.Source != nil && !v.Source.Match) || v.FirstDifference != nil {
		where := ""
		if v.Piece != nil {
			where = fmt.Sprintf(" (first differing piece: offset %d, length %d)", v.Piece.Offset, v.Piece.Length)
		}
		what := "image"
		if v.Source != nil && !v.Source.Match {
			what = "source"
			if !v.Image.Match {
				what = "source and image"
			}
		}
		return res, fmt.Errorf("%w: %s hashes differ from the record in %s%s", ErrMismatch, what, dir, where)
	}
	return res, nil
}

// SourceRescue bounds the time verification spends narrowing down source
// reads that fail on re-read.
const SourceRescue = 30 * time.Second

// rereadFailed is the verdict when the source could not be re-read where
// the acquisition read it, and the image matches its record: not a
// mismatch (nothing says the evidence changed where it could be read
// before the first failure) but a verification that could not be
// completed. A difference before the first failing sector is a mismatch.
func rereadFailed(v *imager.Verification, res *imager.Result, sector int) error {
	if v.Source == nil || len(res.Unreadable) == 0 || !v.Image.Match {
		return nil
	}
	first := res.Unreadable[0].LBA * int64(sector)
	if v.FirstDifference != nil && *v.FirstDifference < first {
		return nil
	}
	var n int64
	for _, u := range res.Unreadable {
		n += u.Count
	}
	v.Status = imager.VerifyFailed
	v.Error = fmt.Sprintf("the source could not be re-read: %d sector(s) in %d range(s) from LBA %d that the acquisition read; the image matches its record",
		n, len(res.Unreadable), res.Unreadable[0].LBA)
	return fmt.Errorf("%w: %s", ErrNotCompleted, v.Error)
}

func pieceAt(pieces []imager.Piece, off int64) *imager.Piece {
	for _, s := range pieces {
		if off >= s.Offset && off < s.Offset+s.Length {
			return &s
		}
	}
	return nil
}

func equalHashes(got, want map[string]string) bool {
	if len(want) == 0 {
		return false
	}
	for alg, w := range want {
		if got[alg] != w {
			return false
		}
	}
	return true
}
