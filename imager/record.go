package imager

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// Schema names the acquisition.json format; changes are additive only.
const Schema = "coldimage.acquisition/1"

// Result values (CONVENTIONS §4).
const (
	ResultOK         = "ok"
	ResultIncomplete = "incomplete"
	ResultMismatch   = "mismatch"
	// ResultInProgress is the record of an acquisition still running, or
	// cut off (power loss, crash) before it finished: image.size is what
	// was durable on the target at its last checkpoint.
	ResultInProgress = "in-progress"
)

// Record is acquisition.json.
type Record struct {
	Schema       string            `json:"schema"`
	Tool         Tool              `json:"tool"`
	Started      string            `json:"started"`
	Finished     string            `json:"finished"`
	Clock        Clock             `json:"clock"`
	Case         Case              `json:"case"`
	Source       SourceRecord      `json:"source"`
	Image        ImageRecord       `json:"image"`
	Hashes       map[string]string `json:"hashes"`
	HashesCover  string            `json:"hashes_cover,omitempty"` // which bytes hashes, pieces, parts and sidecars cover (HashesCover); additive, older records lack it
	Pieces       []Piece           `json:"segments"`
	Parts        []Piece           `json:"parts,omitempty"` // per-file hashes of split images
	Unreadable   []BadRange        `json:"unreadable"`
	Verification *Verification     `json:"verification,omitempty"`
	RAID         json.RawMessage   `json:"raid,omitempty"`
	Complete     bool              `json:"complete"`
	Result       string            `json:"result"`
	Errors       []string          `json:"errors,omitempty"`
	DurationSec  float64           `json:"duration_seconds"` // imaging time: first read to the image closed on the target (not sidecars, not verification)
	RateMBps     float64           `json:"rate_mb_per_s"`    // image.size / 1e6 / duration_seconds
	// HashAlgorithms is the hash set of the acquisition, known before any
	// hash is (an in-progress record's hashes are empty). Additive.
	HashAlgorithms []string `json:"hash_algorithms,omitempty"`
	// Runs lists each run of an acquisition that was resumed: when it
	// started and stopped, why it stopped, and the bytes durable on the
	// target at the start and at the end. Absent for one uninterrupted run.
	// Additive.
	Runs []RunRecord `json:"runs,omitempty"`
	// Rescue says what the rescue passes did when reads failed (raw
	// images); the map itself is Unreadable, each range with the state
	// the rescue left it in. Additive.
	Rescue *RescueReport `json:"rescue,omitempty"`
	// Device is what the source's drive says about itself through
	// read-only passthrough commands (the whole disk's, for a partition).
	// Additive to schema 1.
	Device *DeviceIdentity `json:"device,omitempty"`
	// HPA is the hidden-area choice (--hpa) and what came of it. Additive.
	HPA *HPAChoice `json:"hpa,omitempty"`
	// Encryption lists what the source's content tells about encryption,
	// per volume ("sda2: LUKS: encrypted volume"): the image of such a
	// volume holds ciphertext. Additive to schema 1.
	Encryption []string `json:"encryption,omitempty"`
	// DeviceSettings are kernel settings of the source's device changed
	// for the acquisition (its command timeout) and whether they were put
	// back. Additive.
	DeviceSettings []DeviceSetting `json:"device_settings,omitempty"`
	// HashStates, in an in-progress record only, are the image hashes'
	// states at the end of a recorded piece: a resume restores them and
	// checks the image before them against its pieces instead of hashing
	// it again. Additive.
	HashStates *HashStates `json:"hash_states,omitempty"`
	// RescueCopyPass, in an in-progress record whose rescue passes had
	// begun, is the image as the copy pass left it (pieces hashed with its
	// holes as zeros): a resume checks the image against it and goes on
	// with the rescue map instead of copying again. Additive.
	RescueCopyPass *CopyPass `json:"rescue_copy_pass,omitempty"`
}

// DeviceSetting is a kernel setting of a source's device (a sysfs
// attribute) changed for an acquisition: nothing sent to the medium.
type DeviceSetting struct {
	File     string `json:"file"`
	Was      string `json:"was"`
	Set      string `json:"set"`
	Restored bool   `json:"restored"`
	Error    string `json:"error,omitempty"` // why it was not put back
}

// RescueUnfinished says the image is whole but its rescue stopped (its
// time limit) with ranges of the map not read: a resume goes on with them.
func (r *Record) RescueUnfinished() bool {
	if r.Image.Partial || r.Image.Size != r.Source.Size {
		return false
	}
	for _, u := range r.Unreadable {
		if u.State != "" {
			return true
		}
	}
	return false
}

// DurablePieces are the record's whole pieces (windows of Image.PieceSize)
// from byte 0 on, one after the other, within Image.Size: for a record cut
// off or stopped early, the pieces that vouch for bytes it says are on the
// target. A resume goes on where they end; verification checks them.
func (r *Record) DurablePieces() []Piece {
	size := r.Image.PieceSize
	if size <= 0 {
		return nil
	}
	var out []Piece
	var end int64
	for _, p := range r.Pieces {
		if p.Offset != end || p.Length != size || p.Offset+p.Length > r.Image.Size {
			break
		}
		out = append(out, p)
		end += size
	}
	return out
}

// RunRecord is one run of a resumed acquisition (Record.Runs).
type RunRecord struct {
	Started   string `json:"started"`
	Stopped   string `json:"stopped,omitempty"`
	From      int64  `json:"from_byte"` // durable on the target when it started
	To        int64  `json:"to_byte"`   // durable on the target when it stopped
	StoppedBy string `json:"stopped_by,omitempty"`
	// HashStatesAt, when the run resumed from saved hash states, is
	// where they were saved: the image before it was checked against its
	// recorded pieces, not hashed again. Additive.
	HashStatesAt int64 `json:"hash_states_at,omitempty"`
}

type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	SHA256  string `json:"sha256_impl,omitempty"`
}

// Clock notes what the times rest on: the host clock, and the hardware clock
// where one can be read, so an examiner can judge drift.
type Clock struct {
	Host      string `json:"host"`          // host clock at start, RFC 3339 UTC
	RTC       string `json:"rtc,omitempty"` // /sys/class/rtc/rtc0 date+time (UTC by convention)
	OffsetSec *int64 `json:"rtc_minus_host_seconds,omitempty"`
	Note      string `json:"note"`
	// Check is the console UI's clock check: the real time as the examiner
	// read it beside the hardware clock and the appliance's clock.
	Check string `json:"check,omitempty"`
}

type Case struct {
	Case     string `json:"case"`
	Examiner string `json:"examiner"`
	Evidence string `json:"evidence"`
	Notes    string `json:"notes"`
}

type SourceRecord struct {
	Path           string `json:"path"`
	ID             string `json:"id"`
	Kind           string `json:"kind,omitempty"`
	Size           int64  `json:"size"`
	LogicalSector  int    `json:"logical_sector"`
	PhysicalSector int    `json:"physical_sector"`
	Model          string `json:"model"`
	Serial         string `json:"serial"`
	WWN            string `json:"wwn"`
	Transport      string `json:"transport"`
	ReadOnly       bool   `json:"read_only"`
	ReadOnlySetBy  string `json:"read_only_set_by,omitempty"` // "BLKROSET" when we set it
	DirectIO       bool   `json:"direct_io"`
	PartTable      string `json:"part_table,omitempty"`
}

type ImageRecord struct {
	Format    string   `json:"format"` // raw | e01
	Files     []string `json:"files"`  // names relative to the record's directory
	Size      int64    `json:"size"`   // bytes of media in the image
	SplitSize int64    `json:"split_size,omitempty"`
	// E01SegmentSize is an E01's most bytes per segment file, which a
	// resume needs to lay out the rest of the set. Additive to schema 1.
	E01SegmentSize int64                        `json:"e01_segment_size,omitempty"`
	PieceSize      int64                        `json:"segment_size,omitempty"` // piecewise hash window
	Copies         []string                     `json:"copies,omitempty"`       // every output directory written at once (--mirror)
	Store          *StoreRecord                 `json:"store,omitempty"`        // the object store the image files are in (s3://), not a folder
	FileHashes     map[string]map[string]string `json:"file_hashes,omitempty"`  // file → alg → hex (what the sidecars hold)
	// Partial: the acquisition stopped early and the image holds only the
	// first Size bytes of the source, as written (the logical bytes: a
	// split image's pieces joined, an E01's media). Additive to schema 1.
	Partial bool `json:"partial,omitempty"`
}

// Verification is the outcome of re-reading source and image.
type Verification struct {
	Time string `json:"time"`
	// Status says whether the verification reached its verdict:
	// VerifyCompleted, VerifyAborted (stopped by the operator or a signal)
	// or VerifyFailed (stopped by an error, see Error). Only a completed
	// verification's match fields mean anything; records written before
	// this field existed lack it (read as completed). Additive to schema 1.
	Status          string      `json:"status,omitempty"`
	Source          *VerifyPart `json:"source,omitempty"`
	Image           VerifyPart  `json:"image"`
	FirstDifference *int64      `json:"first_difference,omitempty"` // byte offset where image and source first differ
	Piece           *Piece      `json:"segment,omitempty"`          // the first piece that differs from the record
	Unreadable      []BadRange  `json:"unreadable,omitempty"`       // source sectors unreadable on re-read
	// NotReread are the ranges the acquisition recorded as unreadable:
	// the source was not read there again (the image holds zeros, and so
	// did what was compared). Additive.
	NotReread []BadRange `json:"not_reread,omitempty"`
	// ImageCache: "dropped" when the image's cached pages were dropped
	// (fdatasync + POSIX_FADV_DONTNEED) before the read-back, so it read
	// the target medium; else "not dropped: <why>"; CacheNotUsed when
	// the image was read back from an object store.
	ImageCache string `json:"image_cache,omitempty"`
	Error      string `json:"error,omitempty"`
}

// Verification.Status values.
const (
	VerifyCompleted = "completed"
	VerifyAborted   = "not completed (aborted)"
	VerifyFailed    = "not completed (error)"
)

// Completed says whether the verification reached its verdict.
func (v *Verification) Completed() bool {
	return v != nil && (v.Status == "" || v.Status == VerifyCompleted)
}

// Verdict is the verification's outcome in a word or two, as the session
// record, the summary screen and the CLI show it: "not run" (nil), the
// Status of a verification that did not complete, "match" or "MISMATCH".
// A verification that stopped is never called a mismatch.
func (v *Verification) Verdict() string {
	switch {
	case v == nil:
		return "not run"
	case !v.Completed():
		return v.Status
	case v.Image.Match && (v.Source == nil || v.Source.Match):
		return "match"
	}
	return "MISMATCH"
}

type VerifyPart struct {
	Hashes map[string]string `json:"hashes"`
	Match  bool              `json:"match"`
}

// NewClock reads the RTC (where there is one) beside the host clock.
func NewClock(now time.Time) Clock {
	c := Clock{Host: now.UTC().Format(time.RFC3339)}
	date, err1 := os.ReadFile("/sys/class/rtc/rtc0/date")
	tm, err2 := os.ReadFile("/sys/class/rtc/rtc0/time")
	if err1 != nil || err2 != nil {
		c.Note = "no readable hardware clock (/sys/class/rtc/rtc0); times are the host clock's"
		return c
	}
	rtc, err := time.Parse("2006-01-02 15:04:05", strings.TrimSpace(string(date))+" "+strings.TrimSpace(string(tm)))
	if err != nil {
		c.Note = fmt.Sprintf("hardware clock unreadable (%v); times are the host clock's", err)
		return c
	}
	c.RTC = rtc.UTC().Format(time.RFC3339)
	off := int64(rtc.Sub(now.UTC().Truncate(time.Second)).Round(time.Second) / time.Second)
	c.OffsetSec = &off
	c.Note = "times are the host clock's (UTC); rtc is the hardware clock read at start, assumed UTC"
	return c
}

// HashesCover is a record's hashes_cover: which bytes its hashes (and
// pieces, parts, sidecars) cover — the whole source, or, when the
// acquisition stopped early (image.partial), exactly the image.size logical
// bytes the image holds from byte 0.
func HashesCover(size, sourceSize int64, partial bool) string {
	switch {
	case partial && size == 0:
		return "partial image: no bytes (the image holds no readable media)"
	case partial:
		return fmt.Sprintf("partial image: bytes 0–%d, the first %d of the source's %d bytes, as stored in the image (logical bytes: split pieces joined, E01 media)", size-1, size, sourceSize)
	case size == 0:
		return "whole source: no bytes (empty source)"
	}
	return fmt.Sprintf("whole source: bytes 0–%d (%d bytes, unreadable sectors zero-filled)", size-1, size)
}

// FormatName is the one word people read for an image's format: session.json
// and session.txt ("format") and acquisition.txt ("Format:") use it alike.
//
//	raw    one raw (dd) file, image.raw
//	split  a raw image in numbered pieces, image.raw.001, .002, … (CLI --split,
//	       the console UI's "split raw")
//	e01    an EWF-E01 segment set, image.E01, .E02, …
//
// acquisition.json keeps the contract's image.format (raw | e01) and marks a
// split image by image.split_size > 0, so FormatName(rec.Image.Format,
// rec.Image.SplitSize) is the word for a record.
func FormatName(format string, split int64) string {
	if format == "raw" && split > 0 {
		return "split"
	}
	return format
}

// formatText is acquisition.txt's Format line: the FormatName word, then
// what it means for the files.
func formatText(format string, split int64, files int) string {
	switch name := FormatName(format, split); name {
	case "split":
		return fmt.Sprintf("split (raw image in %d piece(s) of up to %d bytes (%s) each)", files, split, HumanBytes(split))
	case "e01":
		return fmt.Sprintf("e01 (EWF-E01, %d segment file(s))", files)
	default:
		return name
	}
}

// RFC3339 formats a time as the record does.
func RFC3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// WriteRecord writes acquisition.json and acquisition.txt into dir (replacing
// earlier versions atomically: the acquisition's own verification settles
// them; a later coldimage verify never writes them) and, with sidecars set,
// the image.<alg> files in coreutils *sum format.
func WriteRecord(dir string, r *Record, sidecars bool) error {
	js, err := marshalJSON(r)
	if err != nil {
		return fmt.Errorf("encode record: %w", err)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "acquisition.json"), js); err != nil {
		return err
	}
	if err := WriteFileAtomic(filepath.Join(dir, "acquisition.txt"), []byte(r.Text())); err != nil {
		return err
	}
	if sidecars {
		for alg, body := range r.Sidecars() {
			if err := WriteFileAtomic(filepath.Join(dir, "image."+alg), []byte(body)); err != nil {
				return err
			}
		}
	}
	return SyncDir(dir)
}

// marshalJSON encodes a record indented, ending in a newline, with text as
// written: UTF-8 stays UTF-8 ("Müller's") and &, <, > are not escaped for
// HTML ("Müller & Söhne" reads as such in the file).
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Sidecars returns, per algorithm, the body of image.<alg>: one line per
// image file, "<hex>  <name>", as sha256sum -c reads it.
func (r *Record) Sidecars() map[string]string {
	out := map[string]string{}
	for alg := range r.Hashes {
		var b strings.Builder
		for _, f := range r.Image.Files {
			hx := r.Image.FileHashes[f][alg]
			if hx == "" {
				continue
			}
			fmt.Fprintf(&b, "%s  %s\n", hx, f)
		}
		if b.Len() > 0 {
			out[alg] = b.String()
		}
	}
	return out
}

// WriteFileAtomic writes data to path through path.tmp: synced, renamed
// over path, and the folder synced, so a power cut leaves the old file or
// the new one.
func WriteFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := closeSynced(f); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	// The rename is durable only once the folder is: a power cut must
	// find the old record or the new, never none.
	if err := SyncDir(filepath.Dir(path)); err != nil {
		return err
	}
	// A staging folder's file goes to the target it stands for.
	return putRemote(path, data)
}

// ReadRecord loads acquisition.json from dir.
func ReadRecord(dir string) (*Record, error) {
	var r Record
	if err := readSchemaJSON(filepath.Join(dir, "acquisition.json"), "record", "coldimage.acquisition/", &r, func() string { return r.Schema }); err != nil {
		return nil, err
	}
	return &r, nil
}

// ParseRecord decodes acquisition.json from its bytes b, read from path (named
// in errors): for a reader that must know exactly which bytes it checked
// against (coldimage verify records their sha256).
func ParseRecord(path string, b []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if !strings.HasPrefix(r.Schema, "coldimage.acquisition/") {
		return nil, fmt.Errorf("%s: schema %q is not a coldimage record (coldimage.acquisition/…)", path, r.Schema)
	}
	return &r, nil
}

// readSchemaJSON decodes path into v and checks that its schema (read by
// schema once decoded) starts with prefix; what names the record in errors.
func readSchemaJSON(path, what, prefix string, v any, schema func() string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	if s := schema(); !strings.HasPrefix(s, prefix) {
		return fmt.Errorf("%s: schema %q is not a coldimage %s (%s…)", path, s, what, prefix)
	}
	return nil
}

// Text renders the record for people: acquisition.txt.
func (r *Record) Text() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	line := func(k, v string) { fmt.Fprintf(w, "%s\t%s\n", k, v) }
	fmt.Fprintf(&b, "coldimage acquisition record (%s)\n", r.Schema)
	fmt.Fprintf(&b, "================================================\n")
	line("Result:", ResultText(r.Result)+completeNote(r))
	line("Tool:", r.Tool.Name+" "+r.Tool.Version)
	line("Started:", r.Started)
	if r.Result == ResultInProgress {
		line("Last checkpoint:", r.Finished+" (the acquisition was running then; if nothing newer is here, it was cut off)")
	} else {
		line("Finished:", r.Finished)
	}
	for i, run := range r.Runs {
		line(fmt.Sprintf("Run %d:", i+1), fmt.Sprintf("%s to %s, bytes %d to %d: %s", run.Started, orNone(run.Stopped), run.From, run.To, orNone(run.StoppedBy)))
	}
	line("Host clock:", r.Clock.Host)
	if r.Clock.RTC != "" {
		line("Hardware clock:", r.Clock.RTC)
	}
	line("Clock note:", r.Clock.Note)
	line("Case:", r.Case.Case)
	line("Examiner:", r.Case.Examiner)
	line("Evidence:", r.Case.Evidence)
	line("Notes:", r.Case.Notes)
	w.Flush()
	fmt.Fprintf(&b, "\nSource\n------\n")
	s := r.Source
	line("Path:", s.Path)
	line("ID:", s.ID)
	line("Size:", fmt.Sprintf("%d bytes (%s)", s.Size, HumanBytes(s.Size)))
	line("Sectors:", fmt.Sprintf("logical %d, physical %d", s.LogicalSector, s.PhysicalSector))
	line("Model:", s.Model)
	line("Serial:", s.Serial)
	line("WWN:", s.WWN)
	line("Transport:", s.Transport)
	ro := "no"
	if s.ReadOnly {
		ro = "yes"
		if s.ReadOnlySetBy != "" {
			ro += " (set by " + s.ReadOnlySetBy + ", confirmed by BLKROGET)"
		}
	}
	line("Read-only:", ro)
	w.Flush()
	for _, e := range r.Encryption {
		line("ENCRYPTION:", e+" (the image holds what the drive gives: ciphertext, unless it was unlocked before)")
	}
	w.Flush()
	if d := r.Device; d != nil {
		fmt.Fprintf(&b, "\nDrive (as it reports itself, read-only passthrough)\n---------------------------------------------------\n")
		d.text(line)
		w.Flush()
	}
	if h := r.HPA; h != nil {
		line("Hidden areas:", "--hpa="+h.Mode+": "+h.Outcome)
		if h.NotImaged != "" {
			line("", h.NotImaged)
		}
		w.Flush()
	}
	fmt.Fprintf(&b, "\nImage\n-----\n")
	line("Format:", formatText(r.Image.Format, r.Image.SplitSize, len(r.Image.Files)))
	if r.Result == ResultInProgress {
		line("Size:", fmt.Sprintf("%d bytes durable on the target at the last checkpoint, of the source's %d (the files may hold more, written after it)", r.Image.Size, r.Source.Size))
	} else if r.Image.Partial {
		line("Size:", fmt.Sprintf("%d bytes: PARTIAL IMAGE, the first %d of the source's %d bytes", r.Image.Size, r.Image.Size, r.Source.Size))
	} else {
		line("Size:", fmt.Sprintf("%d bytes", r.Image.Size))
	}
	for _, f := range r.Image.Files {
		line("File:", f)
	}
	if st := r.Image.Store; st != nil {
		line("Stored in:", st.URL+" (objects named as the files above)")
		line("Endpoint:", st.Endpoint+", region "+st.Region)
		line("Connection:", st.Security)
		line("Upload:", st.Upload)
		line("Read back:", st.ReadBack)
	}
	w.Flush()
	if r.Result == ResultInProgress {
		fmt.Fprintf(&b, "\nHashes: none yet (the acquisition had not finished); %d piece hash(es) of the durable bytes below\n", len(r.Pieces))
	} else if r.HashesCover != "" {
		head := "Hashes (" + r.HashesCover + ")"
		fmt.Fprintf(&b, "\n%s\n%s\n", head, strings.Repeat("-", utf8.RuneCountInString(head)))
	} else {
		fmt.Fprintf(&b, "\nHashes (whole source, zero fill included)\n-----------------------------------------\n")
	}
	for _, alg := range HashAlgs(r.Hashes) {
		line(strings.ToUpper(alg)+":", r.Hashes[alg])
	}
	w.Flush()
	fmt.Fprintf(&b, "\nUnreadable sectors: ")
	if len(r.Unreadable) == 0 {
		fmt.Fprintf(&b, "none\n")
	} else {
		var n int64
		for _, u := range r.Unreadable {
			n += u.Count
		}
		var unread int64
		for _, u := range r.Unreadable {
			if u.State != "" {
				unread += u.Count
			}
		}
		fmt.Fprintf(&b, "%d sector(s) in %d range(s), zero-filled in the image", n, len(r.Unreadable))
		if unread > 0 {
			fmt.Fprintf(&b, "; %d of them NOT READ (the rescue stopped before it reached them)", unread)
		}
		fmt.Fprintln(&b)
		for _, u := range r.Unreadable {
			state := ""
			if u.State != "" {
				state = " — NOT READ, " + u.State
			}
			fmt.Fprintf(&b, "  LBA %d-%d (%d sectors): %s%s\n", u.LBA, u.LBA+u.Count-1, u.Count, u.Error, state)
		}
	}
	for _, d := range r.DeviceSettings {
		switch {
		case d.Set == "":
			fmt.Fprintf(&b, "Device setting not changed: %s: %s\n", d.File, d.Error)
		case d.Restored:
			fmt.Fprintf(&b, "Device setting for the imaging: %s %s -> %s, put back afterwards\n", d.File, d.Was, d.Set)
		default:
			fmt.Fprintf(&b, "Device setting for the imaging: %s %s -> %s, NOT put back: %s\n", d.File, d.Was, d.Set, d.Error)
		}
	}
	if rs := r.Rescue; rs != nil {
		fmt.Fprintf(&b, "\nRescue of unreadable areas (retries %d", rs.Retries)
		if rs.TimeLimitSec > 0 {
			fmt.Fprintf(&b, ", time limit %s", time.Duration(rs.TimeLimitSec*float64(time.Second)))
		}
		fmt.Fprintf(&b, ")\n")
		for _, p := range rs.Passes {
			fmt.Fprintf(&b, "  %-9s %8.1f s  %d reads, %d failed, %d bytes recovered, %d bytes left unread\n", p.Pass, p.Seconds, p.Reads, p.Failed, p.Recovered, p.Left)
		}
		if rs.Stopped {
			fmt.Fprintf(&b, "  STOPPED BY THE TIME LIMIT: the areas marked NOT READ above were not read\n")
		}
		if rs.RehashFrom >= 0 {
			fmt.Fprintf(&b, "  Hashes re-made from the image on the target from byte %d on, after rescued bytes were written into it\n", rs.RehashFrom)
		}
	}
	fmt.Fprintf(&b, "\nVerification\n------------\n")
	if v := r.Verification; v == nil {
		fmt.Fprintf(&b, "not performed\n")
	} else {
		line("Time:", v.Time)
		if !v.Completed() {
			line("Status:", v.Status)
			if v.Error != "" {
				line("Stopped by:", v.Error)
			}
			if v.ImageCache != "" {
				line("Page cache:", cacheText(v.ImageCache))
			}
			line("", "no verdict: image and source were not compared to the end")
		}
		if v.Completed() && v.Source != nil {
			line("Source re-read:", matchText(v.Source.Match))
			for _, alg := range HashAlgs(v.Source.Hashes) {
				line("  "+strings.ToUpper(alg)+":", v.Source.Hashes[alg])
			}
			var n int64
			for _, r := range v.NotReread {
				n += r.Count
			}
			if n > 0 {
				line("  not re-read:", fmt.Sprintf("%d sector(s) in %d range(s) recorded unreadable (zeros compared)", n, len(v.NotReread)))
			}
		}
		if v.Completed() {
			line("Image read-back:", matchText(v.Image.Match))
			if v.ImageCache != "" {
				line("  page cache:", cacheText(v.ImageCache))
			}
			for _, alg := range HashAlgs(v.Image.Hashes) {
				line("  "+strings.ToUpper(alg)+":", v.Image.Hashes[alg])
			}
		}
		if v.FirstDifference != nil {
			line("First difference:", fmt.Sprintf("byte %d", *v.FirstDifference))
		}
		if v.Piece != nil {
			line("Differing piece:", fmt.Sprintf("offset %d length %d", v.Piece.Offset, v.Piece.Length))
		}
		if v.Error != "" && v.Completed() {
			line("Error:", v.Error)
		}
		w.Flush()
	}
	if len(r.Pieces) > 0 {
		fmt.Fprintf(&b, "\nPiece hashes (%s)\n", r.Pieces[0].Alg)
		for _, s := range r.Pieces {
			fmt.Fprintf(&b, "  %14d +%-12d %s\n", s.Offset, s.Length, s.Hex)
		}
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(&b, "\nErrors\n------\n")
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	w.Flush()
	return b.String()
}

// ResultText renders a result for people: the result word upper-cased
// ("ok" → "OK", "incomplete" → "INCOMPLETE"), anything after it (an
// "error: …" result's text: paths, messages) exactly as written.
func ResultText(result string) string {
	word, rest := result, ""
	if i := strings.IndexAny(result, ": "); i >= 0 {
		word, rest = result[:i], result[i:]
	}
	return strings.ToUpper(word) + rest
}

func completeNote(r *Record) string {
	if r.Complete && r.Verification != nil && !r.Verification.Completed() {
		return " (image complete; verification " + r.Verification.Status + ")"
	}
	if r.Complete {
		return " (image complete)"
	}
	if r.Image.Partial {
		return fmt.Sprintf(" (image NOT complete: partial image of %d of %d bytes)", r.Image.Size, r.Source.Size)
	}
	if len(r.Unreadable) > 0 {
		return " (unreadable sectors zero-filled; see below)"
	}
	return " (image NOT complete)"
}

func matchText(ok bool) string {
	if ok {
		return "MATCH"
	}
	return "MISMATCH"
}

// HumanBytes renders a size in binary units.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// CacheNotUsed is Verification.ImageCache of an image read back from an
// object store: no page cache of this machine stands between.
const CacheNotUsed = "not used: read back from the object store"

func cacheText(c string) string {
	if c == CacheNotUsed {
		return c
	}
	return c + " before the read-back"
}
