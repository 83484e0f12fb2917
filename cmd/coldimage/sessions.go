package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/s3"
)

// sessionEntry is one line of `coldimage sessions`.
type sessionEntry struct {
	State    string `json:"state"` // in-progress | ok | incomplete | mismatch
	Kind     string `json:"kind"`  // session (session.json) | acquisition (an OUTDIR's acquisition.json)
	Location string `json:"location"`
	Case     string `json:"case"`
	Host     string `json:"host,omitempty"`
	Started  string `json:"started"`
	Finished string `json:"finished,omitempty"`
	Sources  int    `json:"sources"`
	OK       int    `json:"ok"`
	Error    string `json:"error,omitempty"` // a record that could not be read
}

// recordStore is where the records are read from: an S3 prefix or a folder.
type recordStore interface {
	list(ctx context.Context) ([]string, error) // every file, relative, slash-separated
	get(ctx context.Context, rel string) ([]byte, error)
	where(rel string) string
}

type s3Records struct{ st *s3.Store }

func (r s3Records) list(ctx context.Context) ([]string, error) { return r.st.List(ctx) }
func (r s3Records) get(ctx context.Context, rel string) ([]byte, error) {
	return r.st.Get(ctx, rel)
}
func (r s3Records) where(rel string) string { return r.st.URL(rel) }

type dirRecords struct{ dir string }

func (r dirRecords) list(ctx context.Context) ([]string, error) {
	var out []string
	err := filepath.WalkDir(r.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(r.dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out, err
}
func (r dirRecords) get(ctx context.Context, rel string) ([]byte, error) {
	return os.ReadFile(filepath.Join(r.dir, filepath.FromSlash(rel)))
}
func (r dirRecords) where(rel string) string { return filepath.Join(r.dir, filepath.FromSlash(rel)) }

// runSessions is `coldimage sessions [--json] TARGET`: every session
// record (session.json) under TARGET, and every acquisition record not
// inside a session folder, with its state from its durable record. It
// only reads.
func runSessions(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("sessions", flag.ContinueOnError)
	asJSON := fset.Bool("json", false, "one JSON array instead of lines")
	insecure := fset.Bool("s3-insecure", false, "allow a plain http:// S3 endpoint")
	pin := fset.String("tls-pin", "", "trust the S3 endpoint's certificate whose SHA-256 is `sha256:HEX`, and no other")
	fset.Usage = func() {
		fmt.Fprintln(stderr, "usage: coldimage sessions [--json] s3://BUCKET/PREFIX | FOLDER")
		fset.PrintDefaults()
	}
	pos, err := parseInterleaved(fset, args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fset.Usage()
		return usageError("sessions needs one TARGET: s3://BUCKET/PREFIX or a folder")
	}
	var rs recordStore
	if isS3(pos[0]) {
		cfg := s3.ConfigFromEnv(os.Getenv)
		cfg.Insecure, cfg.Pin = *insecure, *pin
		st, err := s3.Open(ctx, pos[0], cfg)
		if err != nil {
			return err
		}
		if err := st.Check(ctx, false); err != nil {
			return err
		}
		rs = s3Records{st}
	} else {
		if err := notURL(pos); err != nil {
			return err
		}
		if st, err := os.Stat(pos[0]); err != nil || !st.IsDir() {
			return fmt.Errorf("sessions: %s is not a folder: %v", pos[0], err)
		}
		rs = dirRecords{pos[0]}
	}
	entries, err := listSessions(ctx, rs)
	if err != nil {
		return err
	}
	if *asJSON {
		if entries == nil {
			entries = []sessionEntry{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	for _, e := range entries {
		host := e.Host
		if host == "" {
			host = "-"
		}
		detail := fmt.Sprintf("%d/%d ok", e.OK, e.Sources)
		if e.Error != "" {
			detail = "unreadable: " + e.Error
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", e.State, orDash(e.Case), e.Started, host, detail, e.Location)
	}
	w.Flush()
	if len(entries) == 0 {
		fmt.Fprintln(stderr, "coldimage: no session or acquisition records there")
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// listSessions reads the records: a folder with session.json is a session
// (its sources' acquisition records are its own); an acquisition.json
// elsewhere is an acquisition of its own (an OUTDIR).
func listSessions(ctx context.Context, rs recordStore) ([]sessionEntry, error) {
	files, err := rs.list(ctx)
	if err != nil {
		return nil, err
	}
	sessions := map[string]bool{}
	for _, f := range files {
		if path.Base(f) == "session.json" {
			sessions[path.Dir(f)] = true
		}
	}
	inSession := func(dir string) bool {
		for d := dir; ; d = path.Dir(d) {
			if sessions[d] {
				return true
			}
			if d == "." || d == "/" {
				return false
			}
		}
	}
	var out []sessionEntry
	for _, f := range files {
		dir := path.Dir(f)
		switch path.Base(f) {
		case "session.json":
			e := sessionEntry{Kind: "session", Location: rs.where(dir)}
			b, err := rs.get(ctx, f)
			var s *imager.Session
			if err == nil {
				s, err = imager.ParseSession(rs.where(f), b)
			}
			if err != nil {
				e.State, e.Error = imager.StateIncomplete, err.Error()
				out = append(out, e)
				continue
			}
			e.State, e.Case, e.Host, e.Started, e.Finished = s.State(), s.Case.Case, s.Target.Host, s.Started, s.Finished
			e.Sources, e.OK = len(s.Sources), s.OK
			out = append(out, e)
		case "acquisition.json":
			if inSession(dir) {
				continue
			}
			e := sessionEntry{Kind: "acquisition", Location: rs.where(dir), Sources: 1}
			b, err := rs.get(ctx, f)
			var r *imager.Record
			if err == nil {
				r, err = imager.ParseRecord(rs.where(f), b)
			}
			if err != nil {
				e.State, e.Error = imager.StateIncomplete, err.Error()
				out = append(out, e)
				continue
			}
			e.State, e.Case, e.Started, e.Finished = r.State(), r.Case.Case, r.Started, r.Finished
			if e.State == imager.StateOK {
				e.OK = 1
			}
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Started != out[j].Started {
			return out[i].Started < out[j].Started
		}
		return strings.Compare(out[i].Location, out[j].Location) < 0
	})
	return out, nil
}
