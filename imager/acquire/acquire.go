// Package acquire runs one acquisition job: a source into an output
// directory, from preflight checks through imaging, record and verification.
package acquire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/disk/passthru"
	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/ewf"
	"github.com/coldimage/coldimage/verify"
)

// Request is one source to image.
type Request struct {
	Source      string   // device, partition or regular file
	OutDir      string   // created; must not exist or be empty
	Mirrors     []string // further output directories receiving the same image at the same time
	Format      string   // "raw" (default) or "e01"
	Hashes      []string
	Split       int64 // raw: bytes per piece, 0 = one file
	SegmentSize int64 // e01: bytes per segment file, 0 = 2 GiB
	PieceSize   int64 // piecewise hash window, 0 = 1 GiB, < 0 none
	Case        imager.Case
	NoVerify    bool
	Tool        imager.Tool
	Hashers     imager.Hashers
	Emit        imager.Emitter
	RAID        json.RawMessage // geometry of a RAID volume source, stored in the record
	Volume      *Volume         // when set, imaged instead of opening Source (which then only names it)
	BufferSize  int
	Buffers     int   // buffers in the engine's pool (0: the engine's default)
	Workers     int   // e01: compressing goroutines (0: one per CPU)
	SyncEvery   int64 // bytes between checkpoints of the in-progress record (0: the engine's default)
	Rescue      imager.RescueSettings
	// HPA is the hidden-area choice: imager.HPAReport (default) or
	// imager.HPAImage (image a host protected area the kernel opened).
	HPA string
	// Device is what the source's drive said when it was chosen (the
	// console UI asked it); nil: Run asks it.
	Device *imager.DeviceIdentity
}

// Volume is a logical volume assembled in user space (a RAID volume): read
// through R, which reads its members read-only.
type Volume struct {
	R       io.ReaderAt
	Info    disk.Info // Name/Size/LogicalSector at least; Kind "raid"
	Members []string  // member paths, each checked against the output directories
}

// Errors that say why a job ended, for exit codes.
var (
	ErrRefused    = errors.New("refused")    // preflight: nothing was written
	ErrIncomplete = errors.New("incomplete") // image written but not a full copy
	ErrMismatch   = verify.ErrMismatch
)

// RecordRoom is the room an image's records and sidecars take on the
// target beyond the image: 1 MiB, plus ~1 KiB per hash piece (the JSON and
// text records list every piece) — preflight counts it, and it is held on
// the target while imaging (startRecords).
func RecordRoom(size, piece int64) int64 {
	if piece == 0 {
		piece = imager.DefaultPieceSize
	}
	n := int64(1 << 20)
	if piece > 0 {
		n += (size/piece + 1) << 10
	}
	return n
}

func (r *Request) defaults() {
	if r.Format == "" {
		r.Format = "raw"
	}
	// The set the confirm screen shows (imager.HashesFor) is the set imaged.
	r.Hashes = imager.HashesFor(r.Format, r.Hashes)
	if r.Tool.Name == "" {
		r.Tool.Name = "coldimage"
	}
}

// Preflight checks a set of jobs before any of them writes a byte: formats,
// output directories (new or empty, not on the source), and free space per
// target filesystem for all jobs together.
func Preflight(reqs []*Request) error {
	need := map[uint64]int64{}
	free := map[uint64]int64{}
	where := map[uint64]string{}
	seen := map[string]bool{}
	for _, r := range reqs {
		r.defaults()
		if r.Format != "raw" && r.Format != "e01" {
			return fmt.Errorf("%w: unknown format %q (raw or e01)", ErrRefused, r.Format)
		}
		if r.Split != 0 && r.Format != "raw" {
			return fmt.Errorf("%w: --split applies to raw images; e01 uses --segment-size", ErrRefused)
		}
		infos, err := r.sourceInfos()
		if err != nil {
			return err
		}
		size := infos[0].Size
		if r.Volume != nil {
			size = r.Volume.Info.Size
		}
		for _, out := range r.outDirs() {
			abs, err := filepath.Abs(out)
			if err != nil {
				return fmt.Errorf("%w: output directory %s: %v", ErrRefused, out, err)
			}
			if seen[abs] {
				return fmt.Errorf("%w: two images would be written into %s", ErrRefused, abs)
			}
			seen[abs] = true
			if err := checkOutDir(abs); err != nil {
				return err
			}
			if err := refuseOnSource(abs, infos); err != nil {
				return err
			}
			if rem, _ := imager.RemoteOf(abs); rem != nil {
				continue // a staging folder: the store was checked (Check) and has no free-space figure
			}
			dev, avail, err := fsOf(abs)
			if err != nil {
				return fmt.Errorf("%w: %v", ErrRefused, err)
			}
			need[dev] += size + RecordRoom(size, r.PieceSize)
			free[dev] = avail
			where[dev] = abs
		}
	}
	for dev, n := range need {
		if n > free[dev] {
			return fmt.Errorf("%w: not enough space for the image(s) at %s: need %d bytes (%s), %d bytes (%s) free",
				ErrRefused, where[dev], n, imager.HumanBytes(n), free[dev], imager.HumanBytes(free[dev]))
		}
	}
	return nil
}

// refuseOnSource refuses an output directory on any of the sources (or a
// partition, parent or holder of one).
func refuseOnSource(abs string, infos []disk.Info) error {
	for _, info := range infos {
		on, why, err := disk.OutputOnSource(abs, info)
		if err != nil {
			return fmt.Errorf("%w: check whether %s is on source %s: %v", ErrRefused, abs, info.Path, err)
		}
		if on {
			return fmt.Errorf("%w: output directory is on the source: %s", ErrRefused, why)
		}
	}
	return nil
}

// sourceInfos describes what must not hold an output: the source, or every member of a volume.
func (r *Request) sourceInfos() ([]disk.Info, error) {
	paths := []string{r.Source}
	if r.Volume != nil {
		if len(r.Volume.Members) == 0 {
			return nil, fmt.Errorf("%w: volume %s names no members", ErrRefused, r.Source)
		}
		paths = r.Volume.Members
	}
	var out []disk.Info
	for _, p := range paths {
		info, err := disk.Inspect(p)
		if err != nil {
			return nil, fmt.Errorf("%w: source %s: %v", ErrRefused, p, err)
		}
		out = append(out, info)
	}
	return out, nil
}

func (r *Request) outDirs() []string { return append([]string{r.OutDir}, r.Mirrors...) }

func checkOutDir(dir string) error {
	st, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: output directory %s: %v", ErrRefused, dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%w: output %s exists and is not a directory", ErrRefused, dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("%w: read output directory %s: %v", ErrRefused, dir, err)
	}
	if len(ents) > 0 {
		return fmt.Errorf("%w: output directory %s is not empty (holds %s); coldimage never overwrites", ErrRefused, dir, ents[0].Name())
	}
	return nil
}

// removeEmpty removes directories while they are empty.
func removeEmpty(dirs []string) {
	for _, d := range dirs {
		os.Remove(d) // fails, harmlessly, on one that is not empty
	}
}

// fsOf names the filesystem dir will be on (walking up to an existing parent) and its free bytes.
func fsOf(dir string) (uint64, int64, error) {
	p := dir
	for {
		if _, err := os.Stat(p); err == nil {
			break
		}
		parent := filepath.Dir(p)
		if parent == p {
			break
		}
		p = parent
	}
	dev, err := statDev(p)
	if err != nil {
		return 0, 0, err
	}
	avail, err := disk.FreeSpace(p)
	if err != nil {
		return 0, 0, fmt.Errorf("free space at %s: %w", p, err)
	}
	return dev, avail, nil
}

// Run images one source. Call Preflight first (Run repeats the per-job checks
// that must hold at the moment of writing). The record is written whatever
// happens after the first byte; the error says why the job is not "ok".
//
// The steps: check the output directories, open the source, make the
// directories, start the record, open the sinks, image, then record either
// the partial image or the complete one, and verify.
func Run(ctx context.Context, r *Request) (*imager.Record, error) {
	r.defaults()
	if err := checkOutDirs(r); err != nil {
		return nil, err
	}
	src, srcRec, err := r.open()
	if err != nil {
		return nil, err
	}
	defer src.Close()
	info := srcRec.info
	made, err := makeOutDirs(r)
	if err != nil {
		return nil, err
	}
	started := time.Now()
	rec := newRecord(r, srcRec, started)
	rec.Device = identify(r, info)
	rec.HPA = hiddenAreas(r, rec.Device, info)
	rec.Encryption = disk.EncryptionFindings(info)
	sinks, err := openSinks(r, info, started, made)
	if err != nil {
		return nil, err
	}
	recordCopies(r, rec)
	if rem, _ := imager.RemoteOf(r.OutDir); rem != nil {
		rec.Image.Store = rem.Describe()
		if r.Format == "e01" {
			rec.Image.Store.Upload += "; E01: one object per segment, streamed, each chunk group (4 MiB of media) sent when it closes; the set is durable at its stored segments, and a resume goes on after the last whole one"
		}
	}
	piece := r.PieceSize
	if piece == 0 {
		piece = imager.DefaultPieceSize
	}
	// Before the first byte: the record says in-progress, and room for the
	// final records is held on the target.
	release, err := startRecords(r, rec, sinks, imager.Checkpoint{Time: started})
	if err != nil {
		for _, s := range sinks {
			s.Abort()
		}
		return nil, err
	}
	opt := engineOptions(r, src, info, sinks, piece)
	opt.Checkpoint = func(c imager.Checkpoint) error { return checkpoint(r, rec, sinks, c) }
	restore := lowerTimeout(r, info, rec)
	res, runErr := imager.Run(ctx, opt)
	restore()
	release()
	fillRecord(rec, res, piece)
	if runErr == nil {
		imageEncryption(rec, info, sinks[0].Files(), r.Format)
	}
	return recordAndVerify(ctx, r, src, rec, sinks, res, piece, runErr)
}

// imageEncryption adds to the record, for each volume without a file
// system (the whole source when it has no partition table, else each
// partition), whether its data looks random throughout: possibly
// encrypted. It reads the image just written, never the source again: a
// failing drive is read no more than the acquisition read it.
func imageEncryption(rec *imager.Record, info disk.Info, files []string, format string) {
	if len(files) == 0 {
		return
	}
	img, err := verify.OpenPaths(format, files, false)
	if err != nil {
		rec.Errors = append(rec.Errors, "encryption check of the image: "+err.Error())
		return
	}
	defer img.Close()
	check := func(name string, off, size int64) {
		if f := disk.PossiblyEncrypted(io.NewSectionReader(img, off, size), size); f != "" {
			rec.Encryption = append(rec.Encryption, name+": "+f)
		}
	}
	if info.PartTable == "" && info.FSType == "" {
		check(info.Name, 0, info.Size)
	}
	for _, p := range info.Partitions {
		if p.FSType == "" && p.Size > 0 && p.Start >= 0 && p.Start+p.Size <= info.Size {
			check(p.Name, p.Start, p.Size)
		}
	}
}

// lowerTimeout lowers the command timeout of the source's disk for the
// imaging (r.Rescue.DeviceTimeout; a failing sector then costs seconds,
// not the kernel's 30), recording it in rec; the returned function puts it
// back and records that. A file or a volume has no such setting.
func lowerTimeout(r *Request, info disk.Info, rec *imager.Record) func() {
	d := r.Rescue.DeviceTimeout
	if d == 0 {
		d = disk.DefaultCommandTimeout
	}
	name := ""
	switch {
	case r.Volume != nil:
	case info.Kind == disk.KindDisk:
		name = info.Name
	case info.Kind == disk.KindPart:
		name = info.Parent
	}
	c, restore, err := disk.LowerTimeout(name, d)
	if err != nil { // not fatal: the kernel's timeout stays, and the record says why
		rec.DeviceSettings = append(rec.DeviceSettings, imager.DeviceSetting{File: name + " command timeout", Error: err.Error()})
		return func() {}
	}
	if c == nil {
		return func() {}
	}
	rec.DeviceSettings = append(rec.DeviceSettings, imager.DeviceSetting{File: c.File, Was: c.Was, Set: c.Set})
	i := len(rec.DeviceSettings) - 1
	return func() {
		if err := restore(); err != nil {
			rec.DeviceSettings[i].Error = err.Error()
			return
		}
		rec.DeviceSettings[i].Restored = true
	}
}

// recordAndVerify ends an imaging pass: the partial image is recorded when
// it stopped early, else the complete one, which is then verified unless
// r.NoVerify.
func recordAndVerify(ctx context.Context, r *Request, src reader, rec *imager.Record, sinks []imager.Sink, res *imager.Result, piece int64, runErr error) (*imager.Record, error) {
	if runErr != nil {
		return recordPartial(ctx, r, rec, sinks, res, piece, runErr)
	}
	rec, err := recordComplete(ctx, r, rec, sinks, res)
	if err != nil {
		return rec, err
	}
	if r.NoVerify {
		return rec, outcome(rec)
	}
	return verifyCopies(ctx, r, src, rec)
}

// recordReserve holds room on the target for the final records: created
// before imaging, removed just before they are written, so a target that
// fills up (another writer, a wrong estimate) still takes them.
const recordReserve = ".coldimage-record-reserve"

// startRecords writes the in-progress record into every output directory
// and reserves room for the final records there. The returned function
// gives the room back.
func startRecords(r *Request, rec *imager.Record, sinks []imager.Sink, at imager.Checkpoint) (release func(), err error) {
	var held []string
	release = func() {
		for _, p := range held {
			os.Remove(p)
		}
	}
	for _, d := range r.outDirs() {
		p := filepath.Join(d, recordReserve)
		if err := os.WriteFile(p, make([]byte, RecordRoom(rec.Source.Size, r.PieceSize)), 0o600); err != nil {
			release()
			return nil, fmt.Errorf("%w: reserve room for the records in %s: %v", ErrRefused, d, err)
		}
		held = append(held, p)
	}
	if err := checkpoint(r, rec, sinks, at); err != nil {
		release()
		return nil, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	return release, nil
}

// checkpoint rewrites each output directory's record (atomically, folder
// synced): in-progress, with the image bytes that are durable on the target
// and the unreadable ranges before them. After a power cut or a crash the
// record says what the image files hold.
func checkpoint(r *Request, rec *imager.Record, sinks []imager.Sink, c imager.Checkpoint) error {
	for i, d := range r.outDirs() {
		drec := cloneRecord(rec)
		drec.Result, drec.Complete = imager.ResultInProgress, false
		drec.Image.Partial, drec.Image.Size = true, c.Bytes
		drec.Image.Files = relNames(d, sinks[i].Files())
		drec.Unreadable = c.Unreadable
		if drec.Unreadable == nil {
			drec.Unreadable = []imager.BadRange{}
		}
		drec.Hashes, drec.Pieces = map[string]string{}, c.Pieces
		if drec.Pieces == nil {
			drec.Pieces = []imager.Piece{}
		}
		drec.Finished = imager.RFC3339(c.Time)
		drec.HashStates, drec.RescueCopyPass = c.States, c.CopyPass
		if err := imager.WriteRecord(d, drec, false); err != nil {
			return fmt.Errorf("in-progress record in %s: %w", d, err)
		}
	}
	return nil
}

// checkOutDirs checks, at the moment of writing, that every output
// directory is new or empty.
func checkOutDirs(r *Request) error {
	for _, d := range r.outDirs() {
		if err := checkOutDir(d); err != nil {
			return err
		}
	}
	return nil
}

// makeOutDirs creates the output directories and returns those this call
// created. A refusal from here until the sinks exist removes them again
// (still empty): a refused job leaves none behind. Parents made on the way
// are the caller's to remove.
func makeOutDirs(r *Request) ([]string, error) {
	var made []string
	for _, d := range r.outDirs() {
		_, statErr := os.Lstat(d)
		if err := os.MkdirAll(d, 0o755); err != nil {
			removeEmpty(made)
			return nil, fmt.Errorf("%w: create output directory: %v", ErrRefused, err)
		}
		if errors.Is(statErr, os.ErrNotExist) {
			made = append(made, d)
		}
	}
	return made, nil
}

// newRecord starts the job's record: incomplete until the image is done.
func newRecord(r *Request, srcRec opened, started time.Time) *imager.Record {
	rec := &imager.Record{
		Schema:  imager.Schema,
		Tool:    r.Tool,
		Started: imager.RFC3339(started),
		Clock:   imager.NewClock(started),
		Case:    r.Case,
		Source:  srcRec.rec,
		Image:   imager.ImageRecord{Format: r.Format, SplitSize: r.Split},
		RAID:    r.RAID,
		Result:  imager.ResultIncomplete,
		// What a resume needs before any hash exists.
		HashAlgorithms: r.Hashes,
	}
	if r.Format == "e01" {
		rec.Image.E01SegmentSize = r.SegmentSize
		if rec.Image.E01SegmentSize == 0 {
			rec.Image.E01SegmentSize = ewf.DefaultSegmentSize
		}
	}
	if r.PieceSize >= 0 {
		rec.Image.PieceSize = r.PieceSize
		if rec.Image.PieceSize == 0 {
			rec.Image.PieceSize = imager.DefaultPieceSize
		}
	}
	if rec.Tool.SHA256 == "" {
		rec.Tool.SHA256 = string(r.Hashers.SHA256)
		if rec.Tool.SHA256 == "" {
			rec.Tool.SHA256 = string(imager.SHA256Simd)
		}
	}
	return rec
}

// openSinks opens one sink per output directory; on a failure it aborts
// those already open and removes the directories made (a refusal).
func openSinks(r *Request, info disk.Info, started time.Time, made []string) ([]imager.Sink, error) {
	var sinks []imager.Sink
	for _, d := range r.outDirs() {
		sink, err := newSink(r, d, info, started)
		if err != nil {
			for _, s := range sinks {
				s.Abort()
			}
			removeEmpty(made)
			return nil, fmt.Errorf("%w: %v", ErrRefused, err)
		}
		sinks = append(sinks, sink)
	}
	return sinks, nil
}

// recordCopies names every copy's directory in the record when there are
// mirrors.
func recordCopies(r *Request, rec *imager.Record) {
	if len(r.Mirrors) == 0 {
		return
	}
	for _, d := range r.outDirs() {
		abs, _ := filepath.Abs(d)
		rec.Image.Copies = append(rec.Image.Copies, abs)
	}
}

// engineOptions are the imaging engine's options for the job.
func engineOptions(r *Request, src reader, info disk.Info, sinks []imager.Sink, piece int64) imager.Options {
	opt := imager.Options{
		Name:       r.Source,
		Source:     src,
		Size:       info.Size,
		SectorSize: info.LogicalSector,
		Hashes:     r.Hashes,
		Hashers:    r.Hashers,
		PieceSize:  piece,
		Sinks:      sinks,
		Emit:       r.Emit,
		BufferSize: r.BufferSize,
		Buffers:    r.Buffers,
		SyncEvery:  r.SyncEvery,
	}
	if r.Split > 0 {
		opt.PartSize = r.Split
	}
	r.Rescue.Apply(&opt)
	return opt
}

// fillRecord copies what the engine read and hashed into the record.
func fillRecord(rec *imager.Record, res *imager.Result, piece int64) {
	rec.Finished = imager.RFC3339(time.Now())
	if piece > 0 {
		rec.Image.PieceSize = piece
	}
	rec.Image.Size = res.Size
	rec.Hashes = res.Hashes
	rec.Pieces = res.Pieces
	if rec.Pieces == nil {
		rec.Pieces = []imager.Piece{}
	}
	rec.Parts = res.Parts
	rec.Unreadable = res.Unreadable
	if rec.Unreadable == nil {
		rec.Unreadable = []imager.BadRange{}
	}
	rec.Rescue = res.Rescue
	rec.DurationSec = res.Duration.Seconds()
	if rec.DurationSec > 0 {
		rec.RateMBps = float64(res.Size) / 1e6 / rec.DurationSec
	}
}

// recordPartial records an imaging run that stopped early (abort, full
// target, write or read error): each output directory records its partial
// image, hashed. It returns the first directory's record.
func recordPartial(ctx context.Context, r *Request, rec *imager.Record, sinks []imager.Sink, res *imager.Result, piece int64, runErr error) (*imager.Record, error) {
	rec.Errors = append(rec.Errors, runErr.Error())
	rec.Complete = false
	rec.Result = imager.ResultIncomplete
	if imager.AsPanic(runErr) != nil {
		// A crash (a parser's panic, recovered by the engine) is an
		// error, not an early stop: the partial image is recorded all
		// the same.
		rec.Result = imager.ResultError
	}
	var first *imager.Record
	for i, d := range r.outDirs() {
		drec := cloneRecord(rec)
		if err := partialImage(ctx, r, drec, d, sinks[i], res, i, piece); err != nil {
			drec.Errors = append(drec.Errors, err.Error())
		}
		if werr := imager.WriteRecord(d, drec, true); werr != nil {
			runErr = errors.Join(runErr, werr)
		}
		if first == nil {
			first = drec
		}
	}
	if imager.AsPanic(runErr) != nil {
		return first, runErr // an error (exit code 1), not incomplete
	}
	return first, fmt.Errorf("%w: %v", ErrIncomplete, runErr)
}

// recordComplete records a complete image in each output directory, with
// its files and sidecars, and returns the first directory's record.
func recordComplete(ctx context.Context, r *Request, rec *imager.Record, sinks []imager.Sink, res *imager.Result) (*imager.Record, error) {
	rec.HashesCover = imager.HashesCover(rec.Image.Size, rec.Source.Size, false)
	var first *imager.Record
	for i, d := range r.outDirs() {
		// Per directory: an E01's segment files differ between copies.
		drec := cloneRecord(rec)
		drec.Image.Files = relNames(d, sinks[i].Files())
		if err := fileHashes(ctx, r, drec, d, sinks[i], res.Hashes, res.Parts); err != nil {
			drec.Errors = append(drec.Errors, err.Error())
		}
		verify.Settle(drec, nil)
		if len(drec.Errors) > 0 {
			drec.Result, drec.Complete = "error: "+drec.Errors[0], false
		}
		if err := imager.WriteRecord(d, drec, true); err != nil {
			return drec, err
		}
		if first == nil {
			first = drec
		}
	}
	return first, nil
}

// verifyCopies verifies the first copy against a re-read of the source;
// further copies are read back and checked against the same hashes.
func verifyCopies(ctx context.Context, r *Request, src reader, rec *imager.Record) (*imager.Record, error) {
	// A comparing pass holds two buffers per slot: it gets two thirds of
	// the acquisition's count (at least 2), the same memory or less.
	vbuf := 0
	if r.Buffers > 0 {
		vbuf = max(2, r.Buffers*2/3)
	}
	vrec, verr := verify.Run(ctx, r.OutDir, verify.Options{Source: src, SourceName: r.Source, Emit: r.Emit, Hashers: r.Hashers, Buffers: vbuf})
	if vrec != nil {
		rec = vrec
	}
	for _, d := range r.Mirrors {
		_, merr := verify.Run(ctx, d, verify.Options{Emit: r.Emit, Hashers: r.Hashers, Buffers: r.Buffers})
		if merr != nil && verr == nil {
			verr = fmt.Errorf("copy in %s: %w", d, merr)
		}
	}
	if errors.Is(verr, verify.ErrNotCompleted) {
		// Stopped during verification: the image and its hashes stand,
		// unverified; the result is incomplete, as for a stop while imaging.
		return rec, fmt.Errorf("%w: %w", ErrIncomplete, verr)
	}
	if verr != nil {
		return rec, verr
	}
	return rec, outcome(rec)
}

// OpenSource opens a source read-only: block devices are set read-only
// (BLKROSET, confirmed by BLKROGET) and read with O_DIRECT where aligned;
// regular files go through the page cache, where O_DIRECT only costs speed.
func OpenSource(path string) (*disk.Source, error) {
	opt := disk.OpenOptions{}
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
		opt.BulkBuffered = true // readahead for the stream; O_DIRECT near failing areas
	}
	return disk.OpenSource(path, opt)
}

func outcome(rec *imager.Record) error {
	switch {
	case rec.Result == imager.ResultOK:
		return nil
	case rec.Result == imager.ResultIncomplete && len(rec.Unreadable) > 0:
		var n int64
		for _, u := range rec.Unreadable {
			n += u.Count
		}
		return fmt.Errorf("%w: %d unreadable sector(s) in %d range(s) zero-filled (listed in the record)", ErrIncomplete, n, len(rec.Unreadable))
	case rec.Result == imager.ResultMismatch:
		return ErrMismatch
	}
	return fmt.Errorf("%w: %s", ErrIncomplete, rec.Result)
}

func newSink(r *Request, dir string, info disk.Info, started time.Time) (imager.Sink, error) {
	if rem, rel := imager.RemoteOf(dir); rem != nil && r.Format == "raw" {
		return rem.Sink(dir, rel, "image", r.Split, info.Size)
	} // an E01 set goes into a store segment by segment (ewf.Create)
	switch r.Format {
	case "raw":
		return imager.NewRawSink(dir, "image", r.Split)
	case "e01":
		return ewf.Create(dir, "image", ewfOptions(r, info, started))
	}
	return nil, fmt.Errorf("unknown format %q", r.Format)
}

// ewfOptions are the E01 writer's options for the job (the same when a
// resume continues the set).
func ewfOptions(r *Request, info disk.Info, started time.Time) ewf.Options {
	return ewf.Options{
		SegmentSize: r.SegmentSize,
		Workers:     r.Workers,
		SectorSize:  info.LogicalSector,
		MediaSize:   info.Size,
		Level:       1,
		Case:        r.Case.Case,
		Examiner:    r.Case.Examiner,
		Evidence:    r.Case.Evidence,
		Notes:       r.Case.Notes,
		Description: r.Tool.Name + " " + r.Tool.Version + " acquisition of " + r.Source,
		Model:       info.Model,
		Serial:      info.Serial,
		Acquired:    started,
		System:      started,
		Tool:        ewfVersion(r.Tool.Version),
		Logical:     info.Kind != disk.KindDisk, // partitions, files, RAID volumes
		Removable:   info.Removable,
		FileHashes:  r.Hashes,
		Hashers:     r.Hashers,
	}
}

// ewfVersion fits the tool version into EnCase's header "av" field, which
// EnCase documents as at most 11 characters; the record keeps it whole.
func ewfVersion(v string) string {
	if len(v) > 11 {
		return v[:11]
	}
	return v
}

// cloneRecord copies a record for one output directory.
func cloneRecord(r *imager.Record) *imager.Record {
	c := *r
	c.Errors = slices.Clone(r.Errors)
	c.Image.Files = slices.Clone(r.Image.Files)
	c.Runs = slices.Clone(r.Runs)
	c.Image.FileHashes = nil
	return &c
}

// partialImage describes the image in dir after a pass that stopped early
// (sink i of the pass): its files, its size and the hashes of exactly the
// bytes it holds — the logical bytes, that is a split image's pieces joined
// and an E01's media, from byte 0 — with per-file hashes for the sidecars.
// When the sink took every byte read and closed cleanly, the pass's own
// hashes are the image's; else (a write error, a full target) the image is
// read back from the target and hashed.
//
// An abort has cancelled ctx by now: the partial image is hashed anyway
// (reading only what the target holds), or its record would carry no hash.
func partialImage(ctx context.Context, r *Request, rec *imager.Record, dir string, sink imager.Sink, res *imager.Result, i int, piece int64) error {
	ctx = context.WithoutCancel(ctx)
	rec.Image.Partial = true
	rec.Image.Files = relNames(dir, sink.Files())
	rec.Hashes, rec.Pieces, rec.Parts = map[string]string{}, []imager.Piece{}, nil
	rec.Image.Size = 0
	defer func() { rec.HashesCover = imager.HashesCover(rec.Image.Size, rec.Source.Size, true) }()
	if i < len(res.Sinks) && res.Sinks[i].Err == nil && res.Sinks[i].Bytes == res.Size && res.Hashes != nil {
		rec.Image.Size, rec.Hashes, rec.Parts = res.Size, res.Hashes, res.Parts
		if res.Pieces != nil {
			rec.Pieces = res.Pieces
		}
		return fileHashes(ctx, r, rec, dir, sink, rec.Hashes, rec.Parts)
	}
	if len(rec.Image.Files) == 0 {
		return nil // nothing reached the target
	}
	// The sink stopped on an error: what the target holds is read from the
	// target. A write-back that failed (a network share's server gone, a
	// disk's I/O error) can leave this machine's page cache holding bytes
	// the target never got.
	var notes error
	if i < len(res.Sinks) && res.Sinks[i].Err != nil {
		if err := verify.DropImageCache(dir, rec); err != nil {
			notes = fmt.Errorf("partial image read back with its cached pages perhaps not dropped: %w", err)
		}
	}
	img, err := verify.OpenImage(dir, rec)
	if err != nil {
		return fmt.Errorf("partial image not hashed: %w", err)
	}
	defer img.Close()
	pr, err := imager.Run(ctx, imager.Options{Name: filepath.Join(dir, rec.Image.Files[0]), Source: img, Size: img.Size(),
		Hashes: r.Hashes, Hashers: r.Hashers, PieceSize: piece, PartSize: r.Split, Retries: -1, Phase: "partial", Emit: r.Emit})
	if err != nil {
		return fmt.Errorf("partial image not hashed: %w", err)
	}
	rec.Image.Size, rec.Hashes, rec.Parts = pr.Size, pr.Hashes, pr.Parts
	if pr.Pieces != nil {
		// A piece vouches for bytes on the target only while it is the
		// source's: pieces are kept up to the first that differs from the
		// stream's, so a resume goes on from there.
		rec.Pieces = agreeing(pr.Pieces, res.Pieces)
	}
	return errors.Join(notes, fileHashes(ctx, r, rec, dir, sink, rec.Hashes, rec.Parts))
}

// agreeing are the pieces of the image read back from the target, from the
// first on, as long as each equals the stream's piece at its offset (same
// length, algorithm and hash); without the stream's pieces, all of them.
func agreeing(target, stream []imager.Piece) []imager.Piece {
	if stream == nil {
		return target
	}
	want := map[[2]int64]map[string]string{}
	for _, p := range stream {
		k := [2]int64{p.Offset, p.Length}
		if want[k] == nil {
			want[k] = map[string]string{}
		}
		want[k][p.Alg] = p.Hex
	}
	out := []imager.Piece{}
	for _, p := range target {
		if want[[2]int64{p.Offset, p.Length}][p.Alg] != p.Hex {
			break
		}
		out = append(out, p)
	}
	return out
}

// fileHashes fills what the sidecars in dir list: per image file, every
// hash; hashes and parts are the stream's and its split windows'. A
// container file the sink hashed as it sent it (an E01 segment into an
// object store) is not read back.
func fileHashes(ctx context.Context, r *Request, rec *imager.Record, dir string, sink imager.Sink, hashes map[string]string, parts []imager.Piece) error {
	rec.Image.FileHashes = map[string]map[string]string{}
	if len(rec.Image.Files) == 0 {
		return nil
	}
	switch {
	case r.Format == "raw" && r.Split == 0:
		rec.Image.FileHashes[rec.Image.Files[0]] = hashes
	case r.Format == "raw":
		byPart := map[int64]map[string]string{}
		for _, p := range parts {
			if byPart[p.Offset] == nil {
				byPart[p.Offset] = map[string]string{}
			}
			byPart[p.Offset][p.Alg] = p.Hex
		}
		for i, f := range rec.Image.Files {
			rec.Image.FileHashes[f] = byPart[int64(i)*r.Split]
		}
	default:
		// Container formats: hash the files as written.
		sent, _ := sink.(interface {
			FileHashes(string) map[string]string
		})
		for _, f := range rec.Image.Files {
			path := filepath.Join(dir, f)
			if sent != nil {
				if h := sent.FileHashes(path); h != nil {
					rec.Image.FileHashes[f] = h
					continue
				}
			}
			h, err := hashFile(ctx, path, r.Hashes, r.Hashers)
			if err != nil {
				return fmt.Errorf("hash %s for the sidecars: %w", path, err)
			}
			rec.Image.FileHashes[f] = h
		}
	}
	return nil
}

// hashFile hashes an image file as the target holds it: read back from
// the store when dir is a staging folder.
func hashFile(ctx context.Context, path string, algs []string, hs imager.Hashers) (map[string]string, error) {
	f, size, err := imager.OpenImageFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	res, err := imager.Run(ctx, imager.Options{Name: path, Source: f, Size: size, Hashes: algs, Hashers: hs, PieceSize: -1, Retries: -1, Phase: "sidecar"})
	if err != nil {
		return nil, err
	}
	return res.Hashes, nil
}

type reader interface {
	io.ReaderAt
	Close() error
}

// volumeReader leaves closing the members to whoever assembled the volume.
type volumeReader struct{ io.ReaderAt }

func (volumeReader) Close() error { return nil }

type opened struct {
	info disk.Info
	rec  imager.SourceRecord
}

// open opens the source (or takes the volume) and describes it for the record.
func (r *Request) open() (reader, opened, error) {
	if v := r.Volume; v != nil {
		i := v.Info
		if i.Kind == "" {
			i.Kind = "raid"
		}
		if i.LogicalSector == 0 {
			i.LogicalSector = 512
		}
		rec := imager.SourceRecord{Path: r.Source, ID: disk.ID(i), Kind: i.Kind, Size: i.Size,
			LogicalSector: i.LogicalSector, PhysicalSector: max(i.PhysicalSector, i.LogicalSector), ReadOnly: true,
			Model: i.Model, Serial: i.Serial, WWN: i.WWN, Transport: i.Transport}
		return volumeReader{v.R}, opened{i, rec}, nil
	}
	src, err := OpenSource(r.Source)
	if err != nil {
		return nil, opened{}, fmt.Errorf("%w: open source: %v", ErrRefused, err)
	}
	if src.Info.Kind != "file" && !src.Info.ReadOnly {
		src.Close()
		return nil, opened{}, fmt.Errorf("%w: source %s is not read-only (BLKROGET=0); refusing to read it", ErrRefused, r.Source)
	}
	return src, opened{src.Info, sourceRecord(r.Source, src)}, nil
}

// identify asks the source's drive (a partition's disk) who it is, with
// read-only passthrough commands; nil for files and volumes.
func identify(r *Request, info disk.Info) *imager.DeviceIdentity {
	switch {
	case r.Volume != nil:
		return nil
	case r.Device != nil:
		return r.Device
	case info.Kind == disk.KindDisk:
		return passthru.Identify(filepath.Join("/dev", info.Name))
	case info.Kind == disk.KindPart && info.Parent != "":
		return passthru.Identify(filepath.Join("/dev", info.Parent))
	}
	return nil
}

// hiddenAreas decides the hidden-area choice for the source's drive (nil
// for files and volumes) and tells the examiner what is not imaged.
func hiddenAreas(r *Request, id *imager.DeviceIdentity, info disk.Info) *imager.HPAChoice {
	if id == nil {
		return nil
	}
	h := imager.DecideHPA(r.HPA, id, disk.LibataIgnoreHPA(), info.Kind == disk.KindPart)
	if h.NotImaged != "" {
		r.Emit.Emit(imager.Event{Kind: imager.EventNotice, Phase: imager.PhaseAcquire, Source: r.Source, Note: h.NotImaged + ": " + h.Outcome})
	}
	return &h
}

func sourceRecord(path string, s *disk.Source) imager.SourceRecord {
	i := s.Info
	set, confirmed := s.ReadOnlyState()
	rs := imager.SourceRecord{
		Path: path, ID: disk.ID(i), Kind: i.Kind, Size: i.Size,
		LogicalSector: i.LogicalSector, PhysicalSector: i.PhysicalSector,
		Model: i.Model, Serial: i.Serial, WWN: i.WWN, Transport: i.Transport,
		ReadOnly: i.ReadOnly || confirmed, DirectIO: s.Direct(), PartTable: i.PartTable,
	}
	if set && confirmed {
		rs.ReadOnlySetBy = "BLKROSET"
	}
	if i.Kind == "file" {
		rs.ReadOnly = true // opened O_RDONLY; files have no BLKRO flag
		rs.ReadOnlySetBy = ""
	}
	return rs
}

func relNames(dir string, files []string) []string {
	out := []string{}
	for _, f := range files {
		if rel, err := filepath.Rel(dir, f); err == nil {
			out = append(out, rel)
		} else {
			out = append(out, f)
		}
	}
	return out
}
