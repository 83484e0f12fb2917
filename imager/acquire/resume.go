package acquire

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/ewf"
	"github.com/coldimage/coldimage/verify"
)

// Resume continues the acquisition whose record is in r.OutDir and that
// was cut off (power loss, crash, kill: result in-progress) or stopped
// early (target full, source gone, abort: an incomplete partial image).
// The record's settings apply (format, split, hashes, pieces, case); r
// names the source (the record's path when r.Source is empty), how to
// report and whether to verify.
//
// Nothing is changed unless every check passes: the source is the one
// recorded (size, serial, model, sector size) and holds what the image
// holds at its start and just before the resume point; the image files
// hold the durable bytes. Then the image is read back from the target to
// re-establish every hash, its pieces are compared with the recorded ones
// (a difference refuses before a byte is written), bytes past the durable
// point are cut off, and imaging goes on from there. The record lists each
// run. The image, hashes and pieces equal those of an uninterrupted run.
func Resume(ctx context.Context, r *Request) (*imager.Record, error) {
	prev, err := resumable(r)
	if err != nil {
		return nil, err
	}
	r.defaults()
	src, srcRec, err := r.open()
	if err != nil {
		return nil, err
	}
	defer src.Close()
	if err := sameSource(prev, srcRec.rec); err != nil {
		return nil, err
	}
	n := resumePoint(prev)
	copied := copyPassOf(prev)
	if copied != nil {
		n = prev.Image.Size // the copy pass was over: the rescue goes on with the map
	}
	if prev.Image.Format == "e01" {
		// An E01 goes on after a closed chunk group.
		if n, err = ewf.ResumePoint(r.OutDir, "image", n); err != nil {
			return nil, fmt.Errorf("%w: resume: %v", ErrRefused, err)
		}
	}
	bad := badBefore(prev.Unreadable, n, max(srcRec.info.LogicalSector, 512))
	if err := settleRemote(r.OutDir, prev); err != nil {
		return nil, fmt.Errorf("%w: resume: %v", ErrRefused, err)
	}
	prefix, err := openPrefix(r.OutDir, prev, n)
	if err != nil {
		return nil, fmt.Errorf("%w: resume: %v", ErrRefused, err)
	}
	defer prefix.Close()
	if prefix.Size() < n {
		return nil, fmt.Errorf("%w: resume: the image files hold %d bytes, the record says %d are durable", ErrRefused, prefix.Size(), n)
	}
	if err := sameContent(src, prefix, n, bad, srcRec.info.LogicalSector); err != nil {
		return nil, err
	}
	kept := piecesBefore(prev.DurablePieces(), n)
	states := savedStates(prev, r, kept, n)
	switch {
	case copied != nil:
		// The whole image against the copy pass's pieces, its holes
		// as zeros: what the rescue wrote there is what it recorded.
		if err := checkPieces(ctx, r, prefix, copied.Pieces, copied.Holes, srcRec.info); err != nil {
			return nil, err
		}
	case states != nil:
		// The image hashes go on from their saved states: the image
		// before them is checked against its pieces here, in parallel.
		if err := checkPieces(ctx, r, prefix, kept[:states.Offset/r.PieceSize], nil, srcRec.info); err != nil {
			return nil, err
		}
	}
	r.Emit.Emit(imager.Event{Kind: imager.EventResumed, Phase: imager.PhaseAcquire, Source: r.Source, Bytes: n, Total: srcRec.info.Size})
	// Every check passed: from here the folder changes.
	sink, err := resumeSink(r, prev, srcRec.info, n)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	sinks := []imager.Sink{sink}
	started := time.Now()
	rec := resumeRecord(prev, srcRec, started, n)
	if states != nil {
		rec.Runs[len(rec.Runs)-1].HashStatesAt = states.Offset
	}
	release, err := startRecords(r, rec, sinks, imager.Checkpoint{Bytes: n, Unreadable: bad, Pieces: kept, Time: started, States: states})
	if err != nil {
		sink.Abort()
		return nil, err
	}
	piece := r.PieceSize
	opt := engineOptions(r, src, srcRec.info, sinks, piece)
	opt.Checkpoint = func(c imager.Checkpoint) error { return checkpoint(r, rec, sinks, c) }
	// Areas the map says are not read yet are zeros in the stream, whatever
	// a rescue cut off before its checkpoint wrote there.
	back := verify.SkipUnreadable(refuseOnError{prefix}, imager.NotRead(bad), max(srcRec.info.LogicalSector, 512))
	opt.Resume = &imager.Resume{Offset: n, Prefix: back, Unreadable: bad, Check: func(pieces []imager.Piece) error {
		return samePieces(kept, pieces)
	}}
	if states != nil {
		opt.Resume.States, opt.Resume.Pieces = states, kept[:states.Offset/r.PieceSize]
	}
	restore := lowerTimeout(r, srcRec.info, rec)
	res, runErr := imager.Run(ctx, opt)
	restore()
	release()
	if errors.Is(runErr, ErrRefused) {
		// The image read back did not match its record: nothing of the
		// source was written; the record goes back to what it said.
		if err := imager.WriteRecord(r.OutDir, prev, false); err != nil {
			runErr = errors.Join(runErr, err)
		}
		return nil, runErr
	}
	fillRecord(rec, res, piece)
	if runErr == nil {
		imageEncryption(rec, srcRec.info, sinks[0].Files(), r.Format)
	}
	last := &rec.Runs[len(rec.Runs)-1]
	last.Stopped, last.To, last.StoppedBy = imager.RFC3339(time.Now()), res.Size, "finished"
	if runErr != nil {
		last.StoppedBy = runErr.Error()
	}
	return recordAndVerify(ctx, r, src, rec, sinks, res, piece, runErr)
}

// resumable reads the record in r.OutDir, refuses what cannot be resumed,
// and takes its settings into r.
func resumable(r *Request) (*imager.Record, error) {
	prev, err := imager.ReadRecord(r.OutDir)
	if err != nil {
		return nil, fmt.Errorf("%w: nothing to resume in %s: %v", ErrRefused, r.OutDir, err)
	}
	switch {
	case prev.Complete || prev.Result == imager.ResultOK:
		return nil, fmt.Errorf("%w: the acquisition in %s is complete (result %s): nothing to resume", ErrRefused, r.OutDir, prev.Result)
	case prev.Result != imager.ResultInProgress && !(prev.Result == imager.ResultIncomplete && (prev.Image.Partial || prev.RescueUnfinished())):
		return nil, fmt.Errorf("%w: the acquisition in %s ended with result %q, not cut off, stopped early or with its rescue unfinished: nothing to resume", ErrRefused, r.OutDir, prev.Result)
	case prev.Image.Format != "raw" && prev.Image.Format != "e01":
		return nil, fmt.Errorf("%w: %s holds a %s image: only raw, split raw and E01 images are resumed; image again into a new folder", ErrRefused, r.OutDir, prev.Image.Format)
	case prev.Image.Format == "e01" && prev.Image.E01SegmentSize <= 0:
		return nil, fmt.Errorf("%w: the record in %s does not give the E01's segment size (written by an older coldimage): not resumed", ErrRefused, r.OutDir)
	case len(prev.Image.Copies) > 0:
		return nil, fmt.Errorf("%w: %s was written with --mirror copies: not resumed; image again into new folders", ErrRefused, r.OutDir)
	case len(prev.HashAlgorithms) == 0:
		return nil, fmt.Errorf("%w: the record in %s does not name its hash set (written by an older coldimage): not resumed", ErrRefused, r.OutDir)
	case prev.Image.Size%512 != 0:
		return nil, fmt.Errorf("%w: the record in %s says %d bytes are durable, not a whole number of sectors", ErrRefused, r.OutDir, prev.Image.Size)
	}
	if r.Source == "" {
		r.Source = prev.Source.Path
	}
	r.Format, r.Split, r.Hashes, r.Case, r.RAID, r.Mirrors = prev.Image.Format, prev.Image.SplitSize, prev.HashAlgorithms, prev.Case, prev.RAID, nil
	r.SegmentSize = prev.Image.E01SegmentSize
	r.PieceSize = prev.Image.PieceSize
	if r.PieceSize == 0 {
		r.PieceSize = -1 // recorded without pieces
	}
	return prev, nil
}

// sameSource compares the source's identity with the recorded one.
func sameSource(prev *imager.Record, now imager.SourceRecord) error {
	p := prev.Source
	var diff []string
	if now.Size != p.Size {
		diff = append(diff, fmt.Sprintf("size %d, recorded %d", now.Size, p.Size))
	}
	if p.Serial != "" && now.Serial != p.Serial {
		diff = append(diff, fmt.Sprintf("serial %q, recorded %q", now.Serial, p.Serial))
	}
	if p.Model != "" && now.Model != p.Model {
		diff = append(diff, fmt.Sprintf("model %q, recorded %q", now.Model, p.Model))
	}
	if p.LogicalSector != 0 && now.LogicalSector != p.LogicalSector {
		diff = append(diff, fmt.Sprintf("logical sector %d, recorded %d", now.LogicalSector, p.LogicalSector))
	}
	if len(diff) > 0 {
		return fmt.Errorf("%w: not resumed: %s is not the recorded source (%s)", ErrRefused, now.Path, strings.Join(diff, "; "))
	}
	return nil
}

// resumePoint is where a resume goes on: the end of the recorded whole
// pieces (windows of the piece size, from byte 0) within the durable bytes,
// so that every byte kept from the earlier runs is checked against a
// recorded hash when it is read back (a checkpoint may record fewer pieces
// than bytes: the piece hasher runs behind the writer). The bytes between
// it and the durable end are read from the source again. Without pieces
// (--piece-size 0) it is the durable end, checked by its first and last MiB.
func resumePoint(prev *imager.Record) int64 {
	if prev.Image.PieceSize <= 0 {
		return prev.Image.Size
	}
	return int64(len(prev.DurablePieces())) * prev.Image.PieceSize // contiguous from byte 0
}

// badBefore are the recorded unreadable ranges before byte n, the last one
// cut at n (what lies past n is read again).
func badBefore(bad []imager.BadRange, n int64, sector int) []imager.BadRange {
	ss := int64(sector)
	var out []imager.BadRange
	for _, r := range bad {
		if r.LBA*ss >= n {
			continue
		}
		if end := (n + ss - 1) / ss; r.LBA+r.Count > end {
			r.Count = end - r.LBA
		}
		out = append(out, r)
	}
	return out
}

// settleRemote makes the image files of an acquisition on a remote (an S3
// prefix) readable after a cut-off run: what the store holds of each, from
// its first byte, becomes the file (imager.Remote.Settle).
func settleRemote(dir string, prev *imager.Record) error {
	rem, rel := imager.RemoteOf(dir)
	if rem == nil || prev.Image.Format == "e01" {
		// An E01's stored segments are whole objects; the upload of the
		// one being written when the run stopped is not completed (the
		// set goes on with that segment anew: resumeSink).
		return nil
	}
	for _, f := range prev.Image.Files {
		if err := rem.Settle(path.Join(rel, f)); err != nil {
			return err
		}
	}
	return nil
}

// openPrefix opens the image in dir that a resume goes on from n: the raw
// files the record names, or the E01 set as far as its closed chunk groups
// go (nothing to read when n is 0).
func openPrefix(dir string, prev *imager.Record, n int64) (verify.Image, error) {
	if n == 0 {
		return imager.OpenFiles(nil)
	}
	return verify.OpenImage(dir, prev)
}

// copyPassOf is the copy pass of a raw acquisition cut off during its
// rescue passes, when its pieces cover the whole image (else nil: the
// resume goes on from the durable pieces, copying again from the first
// area set aside).
func copyPassOf(prev *imager.Record) *imager.CopyPass {
	cp := prev.RescueCopyPass
	if cp == nil || prev.Image.Format != "raw" || prev.Image.Size != prev.Source.Size {
		return nil
	}
	var end int64
	for _, p := range cp.Pieces {
		if p.Offset != end || p.Length <= 0 {
			return nil
		}
		end += p.Length
	}
	if end != prev.Image.Size {
		return nil
	}
	for _, h := range cp.Holes {
		if h.State == "" {
			return nil
		}
	}
	return cp
}

// savedStates are the image hash states the record saved, when this
// resume can go on from them: at a piece boundary before the resume point,
// vouched for by recorded pieces, in the layout this build reads. Else nil:
// the image prefix is hashed again from byte 0.
func savedStates(prev *imager.Record, r *Request, kept []imager.Piece, n int64) *imager.HashStates {
	st := prev.HashStates
	if st == nil || r.PieceSize <= 0 || st.Offset > n || st.Offset > int64(len(kept))*r.PieceSize {
		return nil
	}
	if st.Usable(r.Hashes, r.PieceSize, max(r.Split, 0)) != nil {
		return nil
	}
	return st
}

// checkPieces reads the image before the saved hash states back from the
// target and compares every piece with its recorded hash, on every CPU: a
// difference, or an image that cannot be read, refuses the resume.
//
// Bytes in holes (ranges of a rescue map) read as zeros.
func checkPieces(ctx context.Context, r *Request, img verify.Image, pieces []imager.Piece, holes []imager.BadRange, info disk.Info) error {
	total := info.Size
	back := verify.SkipUnreadable(refuseOnError{img}, holes, max(info.LogicalSector, 512))
	workers := min(runtime.NumCPU(), len(pieces))
	var next, done atomic.Int64
	errs := make([]error, len(pieces))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go func() { // progress, as the engine reports its read-back
		start := time.Now()
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				n := done.Load()
				r.Emit.Emit(imager.Event{Kind: imager.EventProgress, Phase: imager.PhaseResume, Source: r.Source, Bytes: n, Total: total,
					Rate: float64(n) / time.Since(start).Seconds(), ETA: imager.ETAUnknown})
			}
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4<<20)
			for {
				i := int(next.Add(1) - 1)
				if i >= len(pieces) || ctx.Err() != nil {
					return
				}
				p := pieces[i]
				h, err := imager.Hashers{}.New(p.Alg)
				if err != nil {
					errs[i] = err
					return
				}
				for off := p.Offset; off < p.Offset+p.Length && errs[i] == nil; {
					b := buf[:min(int64(len(buf)), p.Offset+p.Length-off)]
					if _, err := back.ReadAt(b, off); err != nil {
						errs[i] = fmt.Errorf("%w (at byte %d)", err, off)
					}
					h.Write(b)
					off += int64(len(b))
					done.Add(int64(len(b)))
				}
				if errs[i] == nil && hex.EncodeToString(h.Sum(nil)) != p.Hex {
					errs[i] = fmt.Errorf("%w: not resumed: the image on the target no longer matches its record: piece at byte %d (length %d) hashes differently", ErrRefused, p.Offset, p.Length)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// refuseOnError reads the image back for a resume: an image that cannot be
// read back (a damaged E01 chunk, a file cut short) refuses the resume, as
// one that reads back different from its record does.
type refuseOnError struct{ img verify.Image }

func (r refuseOnError) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.img.ReadAt(p, off)
	if err != nil && !(err == io.EOF && n == len(p)) {
		err = fmt.Errorf("%w: not resumed: the image on the target cannot be read back: %w", ErrRefused, err)
	}
	return n, err
}

// resumeSink continues the image in r.OutDir at byte n: raw files are cut
// there, an E01 set after the chunk group that ends there. In a store, the
// upload of the segment a cut-off run was sending is dropped first (the
// set goes on with that segment anew), so the store keeps no stray parts.
func resumeSink(r *Request, prev *imager.Record, info disk.Info, n int64) (imager.Sink, error) {
	rem, rel := imager.RemoteOf(r.OutDir)
	if rem != nil && prev.Image.Format != "e01" {
		return rem.ResumeSink(r.OutDir, rel, "image", r.Split, info.Size, n)
	}
	if rem != nil {
		if _, err := rem.Abandon(path.Join(rel, "image") + "."); err != nil {
			return nil, err
		}
	}
	if prev.Image.Format != "e01" {
		return imager.ResumeRawSink(r.OutDir, "image", r.Split, n)
	}
	started, err := time.Parse(time.RFC3339, prev.Started)
	if err != nil {
		started = time.Now() // only a set created anew (n = 0) holds it
	}
	return ewf.Reopen(r.OutDir, "image", ewfOptions(r, info, started), n)
}

// sameContent compares the first and the last MiB before the resume point
// of source and image (recorded unreadable ranges read as zeros on both).
func sameContent(src reader, img verify.Image, n int64, bad []imager.BadRange, sector int) error {
	const span = 1 << 20
	s := verify.SkipUnreadable(src, bad, max(sector, 512))
	for _, off := range []int64{0, max(0, n-span)} {
		l := min(span, n-off)
		if l <= 0 {
			continue
		}
		a, b := make([]byte, l), make([]byte, l)
		if _, err := s.ReadAt(a, off); err != nil {
			return fmt.Errorf("%w: not resumed: read the source at byte %d to compare it with the image: %v", ErrRefused, off, err)
		}
		if _, err := img.ReadAt(b, off); err != nil {
			return fmt.Errorf("%w: not resumed: read the image at byte %d: %v", ErrRefused, off, err)
		}
		if !bytes.Equal(a, b) {
			i := 0
			for a[i] == b[i] {
				i++
			}
			return fmt.Errorf("%w: not resumed: the source differs from the image on the target at byte %d (not the same source, or the image was changed)", ErrRefused, off+int64(i))
		}
	}
	return nil
}

// piecesBefore are the pieces that end by byte n: an E01 goes on from the
// end of a chunk group, which may lie inside a recorded piece.
func piecesBefore(pieces []imager.Piece, n int64) []imager.Piece {
	var out []imager.Piece
	for _, p := range pieces {
		if p.Offset+p.Length <= n {
			out = append(out, p)
		}
	}
	return out
}

// samePieces compares the pieces re-made from the image on the target with
// the record's durable ones (Record.DurablePieces).
func samePieces(recorded, made []imager.Piece) error {
	for i, p := range recorded {
		if i >= len(made) || made[i] != p {
			return fmt.Errorf("%w: not resumed: the image on the target no longer matches its record: piece at byte %d (length %d) hashes differently", ErrRefused, p.Offset, p.Length)
		}
	}
	return nil
}

// resumeRecord continues the previous record: its start, clock and case,
// the runs so far (the first one made from the record when it had none).
func resumeRecord(prev *imager.Record, srcRec opened, started time.Time, from int64) *imager.Record {
	rec := cloneRecord(prev)
	rec.Source = srcRec.rec
	rec.Errors, rec.Verification, rec.Hashes, rec.Pieces, rec.Parts = nil, nil, nil, nil, nil
	rec.Image.FileHashes, rec.HashesCover, rec.HashStates, rec.RescueCopyPass = nil, "", nil, nil
	stopped := "cut off (power loss, crash or kill) after its last checkpoint"
	switch {
	case prev.Result != imager.ResultInProgress && prev.RescueUnfinished():
		stopped = "finished with its rescue stopped by the time limit, areas not read"
	case prev.Result != imager.ResultInProgress && len(prev.Errors) > 0:
		stopped = prev.Errors[0]
	}
	if len(rec.Runs) == 0 {
		rec.Runs = []imager.RunRecord{{Started: prev.Started, From: 0}}
	}
	end := &rec.Runs[len(rec.Runs)-1]
	end.Stopped, end.To, end.StoppedBy = prev.Finished, prev.Image.Size, stopped
	rec.Runs = append(rec.Runs, imager.RunRecord{Started: imager.RFC3339(started), From: from})
	return rec
}

// imageFilesIn names the image files present in dir: image.raw, or
// image.raw.001, .002, … or image.E01, .E02, … while they exist.
func imageFilesIn(dir string, prev *imager.Record) []string {
	split := prev.Image.SplitSize
	if prev.Image.Format == "e01" {
		var out []string
		for _, p := range ewf.SegmentFiles(dir, "image") {
			out = append(out, filepath.Base(p))
		}
		return out
	}
	if split <= 0 {
		return []string{imager.RawFileName("image", false, 0)}
	}
	var out []string
	for i := 0; ; i++ {
		name := imager.RawFileName("image", true, i)
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return out
		}
		out = append(out, name)
	}
}

// Resumable reads the record in dir and says whether Resume can continue
// it (nil error), returning the record.
func Resumable(dir string) (*imager.Record, error) {
	return resumable(&Request{OutDir: dir})
}

// PreflightResume checks a resume before anything is opened for writing:
// the record is resumable, the folder is not on the source, and the target
// has room for the rest of the image and its records.
func PreflightResume(r *Request) error {
	rr := *r
	prev, err := resumable(&rr)
	if err != nil {
		return err
	}
	infos, err := rr.sourceInfos()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(r.OutDir)
	if err != nil {
		return fmt.Errorf("%w: output directory %s: %v", ErrRefused, r.OutDir, err)
	}
	if err := refuseOnSource(abs, infos); err != nil {
		return err
	}
	if rem, _ := imager.RemoteOf(abs); rem != nil {
		return nil // an object store: no free-space figure
	}
	_, avail, err := fsOf(abs)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRefused, err)
	}
	// What the folder holds now (the image files, bytes past the resume
	// point included, which are cut; the earlier run's record reserve,
	// which is reused) counts toward what the finished image takes. The
	// files are looked for by name: a run cut off before its first
	// checkpoint has a record that names none.
	var have int64
	for _, f := range append(imageFilesIn(r.OutDir, prev), recordReserve) {
		if st, err := os.Stat(filepath.Join(r.OutDir, f)); err == nil {
			have += st.Size()
		}
	}
	need := max(0, prev.Source.Size+RecordRoom(prev.Source.Size, rr.PieceSize)-have)
	if need > avail {
		return fmt.Errorf("%w: not enough space to resume at %s: need %d bytes (%s), %d bytes (%s) free",
			ErrRefused, abs, need, imager.HumanBytes(need), avail, imager.HumanBytes(avail))
	}
	return nil
}
