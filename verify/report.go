package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/coldimage/coldimage/imager"
)

// ReportSchema names the verification record: verify-<stamp>.json, written by
// every later verification (coldimage verify) beside the image; additive
// changes only.
const ReportSchema = "coldimage.verification/1"

// Report results.
const (
	ResultMatch      = "match"
	ResultMismatch   = "mismatch"
	ResultIncomplete = "incomplete" // stopped (operator, signal) before every byte was compared
	ResultError      = "error"
)

// Report is one later verification's record (verify-<stamp>.json, with
// verify-<stamp>.txt its text form). acquisition.json is never rewritten by
// a later verification: each one leaves its own Report, naming exactly which
// acquisition.json it checked against (the sha256 of its bytes).
type Report struct {
	Schema   string       `json:"schema"`
	Tool     imager.Tool  `json:"tool"`
	Started  string       `json:"started"`  // RFC 3339 UTC
	Finished string       `json:"finished"` // RFC 3339 UTC
	Clock    imager.Clock `json:"clock"`
	Folder   string       `json:"folder"` // the image folder verified (absolute)

	Acquisition AcquisitionRef `json:"acquisition"`       // the record checked against
	Session     *SessionCheck  `json:"session,omitempty"` // when the folder verified was an appliance session folder
	Read        ReadSet        `json:"read"`              // what this verification read

	// Hashes: per algorithm of the record, recorded vs computed.
	Hashes      map[string]HashCheck `json:"hashes"`
	ImageMatch  bool                 `json:"image_match"`            // every image hash equals the record's
	SourceMatch *bool                `json:"source_match,omitempty"` // with a source: every source hash equals the record's
	// FirstDifference: on a mismatch, the first differing piece (the
	// piecewise-hash window of the record) and, when source and image were
	// compared byte by byte, the first differing byte.
	FirstDifference *Difference       `json:"first_difference,omitempty"`
	Unreadable      []imager.BadRange `json:"unreadable,omitempty"` // source sectors unreadable on re-read
	// ImageCache: "dropped" when the image's cached pages were dropped before
	// the read-back (it read the medium), else "not dropped: <why>".
	ImageCache string `json:"image_cache,omitempty"`

	Result string   `json:"result"` // match | mismatch | incomplete | error
	Errors []string `json:"errors,omitempty"`
}

// AcquisitionRef names the acquisition.json a verification checked against.
type AcquisitionRef struct {
	File   string `json:"file"`   // acquisition.json, in Folder
	SHA256 string `json:"sha256"` // of its bytes as read
	Size   int64  `json:"size"`   // bytes
	// What the record itself says, unchanged by this verification.
	Result   string `json:"result,omitempty"`
	Verified string `json:"verified,omitempty"` // its own verification's verdict: match | MISMATCH | not run | not completed (…)
}

// SessionCheck is session.json of an appliance session folder.
type SessionCheck struct {
	File   string `json:"file"`            // path as given
	SHA256 string `json:"sha256"`          // of its bytes as read
	Noted  string `json:"noted,omitempty"` // --session-sha256: the hash noted from COLDIMAGE DONE
	Match  *bool  `json:"match,omitempty"` // SHA256 == Noted, when a hash was noted
}

// ReadSet is what a verification read.
type ReadSet struct {
	Image  ReadImage   `json:"image"`
	Source *ReadSource `json:"source,omitempty"`
}

// ReadImage is the image as the record lists it, with each file's size.
type ReadImage struct {
	Format string     `json:"format"` // raw | split | e01 (imager.FormatName)
	Files  []ReadFile `json:"files"`
	Size   int64      `json:"size"` // bytes of media the record says the image holds
}

// ReadFile is one image file and its size on disk.
type ReadFile struct {
	Name  string `json:"name"` // relative to Folder
	Size  int64  `json:"size"`
	Error string `json:"error,omitempty"` // why it could not be read
}

// ReadSource is the source re-read (--source).
type ReadSource struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
}

// HashCheck is one algorithm's recorded hash beside what was computed.
type HashCheck struct {
	Recorded    string `json:"recorded"`
	Image       string `json:"image,omitempty"` // computed from the image; empty when not computed to the end
	ImageMatch  bool   `json:"image_match"`
	Source      string `json:"source,omitempty"`
	SourceMatch *bool  `json:"source_match,omitempty"`
	Match       bool   `json:"match"` // image (and source) equal the record
}

// Difference is where a mismatch starts.
type Difference struct {
	Piece *Piece `json:"piece,omitempty"`
	Byte  *int64 `json:"byte,omitempty"` // first byte where source and image differ
}

// Piece is one window of the record's piecewise hashes.
type Piece struct {
	Offset   int64  `json:"offset"`
	Length   int64  `json:"length"`
	Alg      string `json:"alg"`
	Recorded string `json:"recorded"`           // in acquisition.json
	Computed string `json:"computed,omitempty"` // from the image now, when it was hashed piece by piece
}

// Check is a later verification (coldimage verify): it verifies the image in
// dir, and the source when o.Source is set, against acquisition.json, and
// returns the outcome as a Report for the caller to store (WriteReport) or
// print. It writes nothing into dir, so it works on a read-only image
// folder, and acquisition.json keeps what the acquisition found.
//
// The Report is never nil. The error wraps ErrMismatch when anything
// differs and ErrNotCompleted when ctx stopped the comparison.
func Check(ctx context.Context, dir string, o Options) (*Report, error) {
	started := time.Now()
	r := &Report{Schema: ReportSchema, Tool: o.Tool, Started: imager.RFC3339(started), Clock: imager.NewClock(started),
		Folder: dir, Session: o.Session, Hashes: map[string]HashCheck{}, Read: ReadSet{Image: ReadImage{Files: []ReadFile{}}}}
	if a, err := filepath.Abs(dir); err == nil {
		r.Folder = a
	}
	err := r.check(ctx, dir, o)
	r.settle(err)
	r.Finished = imager.RFC3339(time.Now())
	return r, err
}

func (r *Report) check(ctx context.Context, dir string, o Options) error {
	path := filepath.Join(dir, "acquisition.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read record: %w", err)
	}
	sum := sha256.Sum256(b)
	r.Acquisition = AcquisitionRef{File: "acquisition.json", SHA256: hex.EncodeToString(sum[:]), Size: int64(len(b))}
	// Parsed from the very bytes hashed: the report names what it checked against.
	rec, err := imager.ParseRecord(path, b)
	if err != nil {
		return err
	}
	r.Acquisition.Result, r.Acquisition.Verified = rec.Result, rec.Verification.Verdict()
	r.Read.Image.Format, r.Read.Image.Size = imager.FormatName(rec.Image.Format, rec.Image.SplitSize), rec.Image.Size
	for _, f := range rec.Image.Files {
		rf := ReadFile{Name: f}
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil {
			rf.Error = err.Error()
		} else {
			rf.Size = st.Size()
		}
		r.Read.Image.Files = append(r.Read.Image.Files, rf)
	}
	for alg, hx := range rec.Hashes {
		r.Hashes[alg] = HashCheck{Recorded: hx}
	}
	if o.Source != nil {
		r.Read.Source = &ReadSource{Path: o.SourceName, Size: o.SourceSize}
		if o.SourceSize != rec.Source.Size {
			return fmt.Errorf("%w: source %s is %d bytes, the record says %d", ErrMismatch, o.SourceName, o.SourceSize, rec.Source.Size)
		}
	}

	if rec.Result == imager.ResultInProgress {
		// Cut off: no image to judge, only what the record says is durable.
		piece, err := checkInProgress(ctx, dir, rec, o)
		if piece != nil {
			r.FirstDifference = &Difference{Piece: &Piece{Offset: piece.Offset, Length: piece.Length, Alg: piece.Alg, Recorded: piece.Hex}}
		}
		return err
	}
	// rec is this function's own copy: check fills in rec.Verification,
	// which stays here.
	rec.Verification = nil
	res, verr := check(ctx, dir, rec, o)
	v := rec.Verification
	if v == nil {
		return verr
	}
	r.ImageCache, r.Unreadable = v.ImageCache, v.Unreadable
	if !v.Completed() {
		return verr // no verdict: hashes of part of the image mean nothing
	}
	r.ImageMatch = v.Image.Match
	if v.Source != nil {
		m := v.Source.Match
		r.SourceMatch = &m
	}
	for alg, hc := range r.Hashes {
		hc.Image = v.Image.Hashes[alg]
		hc.ImageMatch = hc.Image == hc.Recorded
		hc.Match = hc.ImageMatch
		if v.Source != nil {
			hc.Source = v.Source.Hashes[alg]
			m := hc.Source == hc.Recorded
			hc.SourceMatch = &m
			hc.Match = hc.Match && m
		}
		r.Hashes[alg] = hc
	}
	if v.Piece != nil || v.FirstDifference != nil {
		d := &Difference{Byte: v.FirstDifference}
		if s := v.Piece; s != nil {
			d.Piece = &Piece{Offset: s.Offset, Length: s.Length, Alg: s.Alg, Recorded: s.Hex}
			// The pieces hashed are the image's when it was read alone or
			// found equal to the source byte for byte.
			if res != nil && (o.Source == nil || v.FirstDifference == nil) {
				for _, c := range res.Pieces {
					if c.Offset == s.Offset && c.Alg == s.Alg {
						d.Piece.Computed = c.Hex
					}
				}
			}
		}
		r.FirstDifference = d
	}
	return verr
}

// settle sets Result and Errors from the verification's error.
func (r *Report) settle(err error) {
	switch {
	case err == nil:
		r.Result = ResultMatch
	case errors.Is(err, ErrMismatch):
		r.Result = ResultMismatch
	case errors.Is(err, ErrNotCompleted):
		r.Result = ResultIncomplete
	default:
		r.Result = ResultError
	}
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
	}
}

// CheckSession hashes session.json in dir and, when noted (a hex sha256, as
// the appliance's COLDIMAGE DONE line prints it) is not empty, compares the
// two. It returns nil, nil when dir holds no session.json and nothing was
// noted. The error wraps ErrMismatch when the hashes differ, and
// fs.ErrNotExist when a hash was noted but dir holds no session.json.
func CheckSession(dir, noted string) (*SessionCheck, error) {
	path := filepath.Join(dir, "session.json")
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && noted == "":
		return nil, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("--session-sha256 given, but %s holds no session.json (not an appliance session folder, or session.json was removed): %w", dir, err)
	case err != nil:
		return nil, fmt.Errorf("read session record: %w", err)
	}
	sum := sha256.Sum256(b)
	s := &SessionCheck{File: path, SHA256: hex.EncodeToString(sum[:])}
	if noted == "" {
		return s, nil
	}
	s.Noted = strings.ToLower(noted)
	m := s.SHA256 == s.Noted
	s.Match = &m
	if !m {
		return s, fmt.Errorf("%w: %s changed since the run: sha256 %s, noted %s", ErrMismatch, path, s.SHA256, s.Noted)
	}
	return s, nil
}

// JSON is the report as verify-<stamp>.json holds it: indented, ending in a
// newline, text as written (no HTML escaping).
func (r *Report) JSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return nil, fmt.Errorf("encode verification record: %w", err)
	}
	return b.Bytes(), nil
}

// Stamp is the report's start as its file names use it: UTC yyyymmddThhmmssZ.
func (r *Report) Stamp() string {
	t, err := time.Parse(time.RFC3339Nano, r.Started)
	if err != nil {
		t = time.Now()
	}
	return t.UTC().Format("20060102T150405Z")
}

// WriteReport writes verify-<stamp>.json and verify-<stamp>.txt into dir
// (created if missing) and returns the JSON file's path. It never replaces a
// file: a second verification within the same second gets
// verify-<stamp>-2.json, and so on.
func WriteReport(dir string, r *Report) (string, error) {
	js, err := r.JSON()
	if err != nil {
		return "", err
	}
	txt := []byte(r.Text())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("write verification record: %w", err)
	}
	base := "verify-" + r.Stamp()
	for n := 1; n <= 100; n++ {
		name := base
		if n > 1 {
			name = fmt.Sprintf("%s-%d", base, n)
		}
		jp, tp := filepath.Join(dir, name+".json"), filepath.Join(dir, name+".txt")
		err := writeNew(jp, js)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		if err := writeNew(tp, txt); err != nil {
			os.Remove(jp)
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			return "", err
		}
		if err := imager.SyncDir(dir); err != nil {
			return jp, err
		}
		return jp, nil
	}
	return "", fmt.Errorf("write verification record: %s-*.json: too many records with this stamp in %s", base, dir)
}

// writeNew creates path (never replacing a file), writes b and syncs it; a
// failed write leaves no partial file.
func writeNew(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("write verification record: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write verification record %s: %w", path, err)
	}
	return nil
}

// Text renders the report for people: verify-<stamp>.txt.
func (r *Report) Text() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	line := func(k, v string) { fmt.Fprintf(w, "%s\t%s\n", k, v) }
	head := fmt.Sprintf("coldimage verification record (%s)", r.Schema)
	fmt.Fprintf(&b, "%s\n%s\n", head, strings.Repeat("=", len(head)))
	line("Result:", strings.ToUpper(r.Result))
	line("Tool:", strings.TrimSpace(r.Tool.Name+" "+r.Tool.Version))
	line("Started:", r.Started)
	line("Finished:", r.Finished)
	line("Host clock:", r.Clock.Host)
	if r.Clock.RTC != "" {
		line("Hardware clock:", r.Clock.RTC)
	}
	line("Folder:", r.Folder)
	a := r.Acquisition
	if a.SHA256 != "" {
		line("Checked against:", fmt.Sprintf("%s (%d bytes, sha256 %s), not modified", a.File, a.Size, a.SHA256))
	}
	if a.Result != "" {
		line("  it says:", fmt.Sprintf("result %s, verification at acquisition %s", imager.ResultText(a.Result), a.Verified))
	}
	if s := r.Session; s != nil {
		v := fmt.Sprintf("%s sha256 %s", s.File, s.SHA256)
		if s.Match != nil {
			v += fmt.Sprintf(", noted %s: %s", s.Noted, matchWord(*s.Match))
		}
		line("Session:", v)
	}
	w.Flush()
	fmt.Fprintf(&b, "\nRead\n----\n")
	img := r.Read.Image
	line("Image:", fmt.Sprintf("%s, %d bytes of media", img.Format, img.Size))
	for _, f := range img.Files {
		if f.Error != "" {
			line("  "+f.Name, f.Error)
		} else {
			line("  "+f.Name, fmt.Sprintf("%d bytes", f.Size))
		}
	}
	if r.ImageCache != "" {
		line("  page cache:", r.ImageCache+" before the read-back")
	}
	if s := r.Read.Source; s != nil {
		line("Source:", fmt.Sprintf("%s (%d bytes)", s.Path, s.Size))
	}
	w.Flush()
	if len(r.Hashes) > 0 {
		fmt.Fprintf(&b, "\nHashes\n------\n")
		for _, alg := range imager.HashAlgs(recorded(r.Hashes)) {
			h := r.Hashes[alg]
			line(strings.ToUpper(alg)+" recorded:", h.Recorded)
			if h.Image != "" {
				line("  image:", h.Image+"  "+matchWord(h.ImageMatch))
			}
			if h.Source != "" && h.SourceMatch != nil {
				line("  source:", h.Source+"  "+matchWord(*h.SourceMatch))
			}
		}
		w.Flush()
	}
	if d := r.FirstDifference; d != nil {
		fmt.Fprintf(&b, "\nFirst difference\n----------------\n")
		if p := d.Piece; p != nil {
			line("Piece:", fmt.Sprintf("offset %d length %d", p.Offset, p.Length))
			line("  "+p.Alg+" recorded:", p.Recorded)
			if p.Computed != "" {
				line("  "+p.Alg+" image:", p.Computed)
			}
		}
		if d.Byte != nil {
			line("Byte:", fmt.Sprintf("%d (source and image differ)", *d.Byte))
		}
		w.Flush()
	}
	for _, u := range r.Unreadable {
		fmt.Fprintf(&b, "unreadable on re-read: LBA %d+%d: %s\n", u.LBA, u.Count, u.Error)
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(&b, "\nErrors\n------\n")
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	return b.String()
}

func recorded(h map[string]HashCheck) map[string]string {
	m := map[string]string{}
	for alg, c := range h {
		m[alg] = c.Recorded
	}
	return m
}

func matchWord(ok bool) string {
	if ok {
		return "MATCH"
	}
	return "MISMATCH"
}
