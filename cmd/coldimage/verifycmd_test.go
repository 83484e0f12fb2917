package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/verify"
)

func sha256Of(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// smallSize is what acquireSmall acquires: four pieces of 1 MiB and a sector.
const smallSize = 4<<20 + 512

// acquireSmall acquires a small file (pieces of 1 MiB) into dir/out.
func acquireSmall(t *testing.T, dir string, seed byte) (src, out string) {
	t.Helper()
	src = writeSource(t, dir, "disk.dd", smallSize, seed)
	out = filepath.Join(dir, "out")
	if _, stderr, err := runCLI(t, "acquire", "--piece-size", "1M", src, out); err != nil {
		t.Fatalf("acquire: %v\n%s", err, stderr)
	}
	return src, out
}

// flipByte flips one bit of the image at off.
func flipByte(t *testing.T, img string, off int64) {
	t.Helper()
	os.Chmod(img, 0o644)
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x10
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// records reads the verification records (verify-*.json) in dir, oldest first.
func records(t *testing.T, dir string) []verify.Report {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(dir, "verify-*.json"))
	var out []verify.Report
	for _, p := range paths {
		var r verify.Report
		b, err := os.ReadFile(p)
		if err != nil || json.Unmarshal(b, &r) != nil {
			t.Fatalf("%s: %v\n%s", p, err, b)
		}
		if _, err := os.Stat(strings.TrimSuffix(p, ".json") + ".txt"); err != nil {
			t.Errorf("no text record beside %s: %v", p, err)
		}
		out = append(out, r)
	}
	started := func(r verify.Report) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, r.Started)
		if err != nil {
			t.Fatalf("started %q: %v", r.Started, err)
		}
		return tm
	}
	slices.SortStableFunc(out, func(a, b verify.Report) int { return started(a).Compare(started(b)) })
	return out
}

// decodeAll reads the JSON documents on a verify's stdout.
func decodeAll(t *testing.T, s string) []verify.Report {
	t.Helper()
	var out []verify.Report
	dec := json.NewDecoder(strings.NewReader(s))
	for dec.More() {
		var r verify.Report
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("stdout is not JSON records: %v\n%s", err, s)
		}
		out = append(out, r)
	}
	return out
}

// A later verify never rewrites acquisition.json: re-verifying a tampered
// image keeps the acquisition-time verification, and each verification
// leaves its own record beside the image.
func TestVerifyKeepsHistory(t *testing.T) {
	dir := t.TempDir()
	src, out := acquireSmall(t, dir, 21)
	recPath := filepath.Join(out, "acquisition.json")
	before, beforeTxt := sha256Of(t, recPath), sha256Of(t, filepath.Join(out, "acquisition.txt"))

	stdout, _, err := runCLI(t, "verify", out)
	if err != nil || !strings.Contains(stdout, "image match") || !strings.Contains(stdout, "verification record: "+out+"/verify-") {
		t.Fatalf("verify of an intact image: %v\n%s", err, stdout)
	}
	const at = 2<<20 + 12345 // in the piece at 2 MiB
	flipByte(t, filepath.Join(out, "image.raw"), at)
	for _, tc := range []struct {
		name      string
		args      []string
		wantByte  bool
		wantSrcOK bool
	}{
		{"image", []string{"verify", out}, false, false},
		{"image and source", []string{"verify", out, "--source", src}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(records(t, out))
			stdout, _, err := runCLI(t, tc.args...)
			if exitCode(err) != exitMismatch {
				t.Fatalf("exit %d (%v), want %d\n%s", exitCode(err), err, exitMismatch, stdout)
			}
			if sha256Of(t, recPath) != before || sha256Of(t, filepath.Join(out, "acquisition.txt")) != beforeTxt {
				t.Fatal("acquisition.json/.txt changed by a later verify")
			}
			recs := records(t, out)
			if len(recs) != n+1 {
				t.Fatalf("%d verification records after the verify, want %d", len(recs), n+1)
			}
			r := recs[len(recs)-1]
			if r.Schema != verify.ReportSchema || r.Result != verify.ResultMismatch || r.Acquisition.SHA256 != before || r.ImageMatch || r.Hashes["sha256"].Match {
				t.Errorf("record: schema %q result %q acquisition %+v image match %v sha256 %+v", r.Schema, r.Result, r.Acquisition, r.ImageMatch, r.Hashes["sha256"])
			}
			if d := r.FirstDifference; d == nil || d.Piece == nil || d.Piece.Offset != 2<<20 || d.Piece.Length != 1<<20 {
				t.Errorf("first difference %+v, want the piece at 2 MiB", d)
			} else if tc.wantByte != (d.Byte != nil) || (d.Byte != nil && *d.Byte != at) {
				t.Errorf("first differing byte %v", d.Byte)
			}
			if tc.wantSrcOK != (r.SourceMatch != nil && *r.SourceMatch) || (tc.wantSrcOK && (r.Read.Source == nil || r.Read.Source.Path != src || r.Read.Source.Size != smallSize)) {
				t.Errorf("source: match %v read %+v", r.SourceMatch, r.Read.Source)
			}
			if f := r.Read.Image.Files; len(f) != 1 || f[0].Name != "image.raw" || f[0].Size != smallSize {
				t.Errorf("read %+v", r.Read.Image)
			}
		})
	}
	rec, err := imager.ReadRecord(out)
	if err != nil || rec.Result != imager.ResultOK || rec.Verification.Verdict() != "match" {
		t.Errorf("acquisition record: %v result %q verdict %q: the acquisition-time verification must stay", err, rec.Result, rec.Verification.Verdict())
	}
	if recs := records(t, out); len(recs) != 3 || recs[0].Result != verify.ResultMatch {
		t.Errorf("history: %d records, first %q", len(recs), recs[0].Result)
	}
}

// readOnly makes dir read-only: a read-only bind mount as root (which
// permissions would not stop), chmod -R a-w otherwise.
func readOnly(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() == 0 {
		if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
			t.Skipf("bind mount %s: %v", dir, err)
		}
		if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_BIND, ""); err != nil {
			unix.Unmount(dir, 0)
			t.Skipf("remount %s read-only: %v", dir, err)
		}
		t.Cleanup(func() {
			if err := unix.Unmount(dir, 0); err != nil {
				t.Errorf("unmount %s: %v", dir, err)
			}
		})
		return
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil {
			fi, _ := d.Info()
			os.Chmod(p, fi.Mode().Perm()&^0o222)
		}
		return nil
	})
	t.Cleanup(func() {
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
	})
}

// A read-only image folder (a write-protected evidence drive) still
// verifies: the record comes on stdout, stderr says why, and the exit code
// is the verification's.
func TestVerifyReadOnlyFolder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		flip   bool
		code   int
		result string
	}{
		{"intact", false, 0, verify.ResultMatch},
		{"flipped", true, exitMismatch, verify.ResultMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, out := acquireSmall(t, t.TempDir(), 22)
			if tc.flip {
				flipByte(t, filepath.Join(out, "image.raw"), 1000)
			}
			before := sha256Of(t, filepath.Join(out, "acquisition.json"))
			readOnly(t, out)
			if f, err := os.Create(filepath.Join(out, "probe")); err == nil {
				f.Close()
				t.Fatal("the folder is still writable")
			}
			stdout, stderr, err := runCLI(t, "verify", out)
			if exitCode(err) != tc.code && !(tc.code == 0 && err == nil) {
				t.Fatalf("exit %d (%v), want %d\n%s", exitCode(err), err, tc.code, stderr)
			}
			if !strings.Contains(stderr, "could not write the verification record beside the image") {
				t.Errorf("stderr does not say the record was not written:\n%s", stderr)
			}
			recs := decodeAll(t, stdout)
			if len(recs) != 1 || recs[0].Result != tc.result || recs[0].Acquisition.SHA256 != before {
				t.Errorf("records on stdout: %+v", recs)
			}
			if len(records(t, out)) != 0 || sha256Of(t, filepath.Join(out, "acquisition.json")) != before {
				t.Error("something was written into the read-only folder")
			}
		})
	}
}

// --record-dir writes the record elsewhere (one folder per image when
// OUTDIR holds several); --record - prints it; neither writes beside the image.
func TestVerifyRecordDestination(t *testing.T) {
	dir := t.TempDir()
	_, one := acquireSmall(t, dir, 23)
	two := filepath.Join(dir, "two")
	a, b := writeSource(t, dir, "a.dd", 1<<20, 24), writeSource(t, dir, "b.dd", 1<<20, 25)
	if _, stderr, err := runCLI(t, "acquire", a, b, two); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	subs, _ := recordDirs(two)
	for _, tc := range []struct {
		name    string
		outdir  string
		flags   func(rd string) []string
		where   func(rd string) []string // folders that must hold one record each
		onStdio int                      // records on stdout
	}{
		{"record-dir, one image", one, func(rd string) []string { return []string{"--record-dir", rd} },
			func(rd string) []string { return []string{rd} }, 0},
		{"record-dir, two images", two, func(rd string) []string { return []string{"--record-dir", rd} },
			func(rd string) []string {
				return []string{filepath.Join(rd, filepath.Base(subs[0])), filepath.Join(rd, filepath.Base(subs[1]))}
			}, 0},
		{"record on stdout", one, func(string) []string { return []string{"--record", "-"} }, nil, 1},
		{"record on stdout, two images", two, func(string) []string { return []string{"--record", "-"} }, nil, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rd := filepath.Join(t.TempDir(), "records", "new") // created by verify
			args := append([]string{"verify", tc.outdir}, tc.flags(rd)...)
			stdout, stderr, err := runCLI(t, args...)
			if err != nil {
				t.Fatalf("%v\n%s%s", err, stdout, stderr)
			}
			for _, d := range append([]string{tc.outdir}, subs...) {
				if n := len(records(t, d)); n != 0 {
					t.Errorf("%d record(s) written beside the image in %s", n, d)
				}
			}
			var where []string
			if tc.where != nil {
				where = tc.where(rd)
			}
			for _, d := range where {
				if recs := records(t, d); len(recs) != 1 || recs[0].Result != verify.ResultMatch {
					t.Errorf("%s: records %+v", d, recs)
				}
			}
			if tc.onStdio > 0 {
				recs := decodeAll(t, stdout)
				if len(recs) != tc.onStdio || !strings.Contains(stderr, "image match") {
					t.Errorf("%d record(s) on stdout, want %d; stderr:\n%s", len(recs), tc.onStdio, stderr)
				}
				if _, err := os.Stat(rd); err == nil {
					t.Errorf("%s created", rd)
				}
			} else if !strings.Contains(stdout, "verification record: "+rd) {
				t.Errorf("stdout does not name the record:\n%s", stdout)
			}
		})
	}
	for _, args := range [][]string{
		{"verify", one, "--record", "file.json"},
		{"verify", one, "--record", "-", "--record-dir", dir},
		{"verify", one, "--session-sha256", "xyz"},
	} {
		if _, _, err := runCLI(t, args...); exitCode(err) != exitUsage {
			t.Errorf("%q: exit %d (%v), want usage", args, exitCode(err), err)
		}
	}
}

// --session-sha256 checks session.json first (as the appliance's COLDIMAGE
// DONE line printed it) and records what it found.
func TestVerifySessionSHA256(t *testing.T) {
	dir := t.TempDir()
	session := filepath.Join(dir, "session")
	a, b := writeSource(t, dir, "a.dd", 1<<20, 26), writeSource(t, dir, "b.dd", 1<<20+512, 27)
	if _, stderr, err := runCLI(t, "acquire", a, b, session); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	s := &imager.Session{Tool: imager.Tool{Name: "coldimage", Version: "test"}, Mode: "unattended", Case: imager.Case{Case: "C-7"}}
	if err := imager.WriteSession(session, s); err != nil {
		t.Fatal(err)
	}
	good := s.WrittenSHA256()
	if good != sha256Of(t, filepath.Join(session, "session.json")) {
		t.Fatalf("WrittenSHA256 %s is not the file's sha256", good)
	}
	bad := strings.Repeat("0", 64)
	subs, _ := recordDirs(session)
	for _, tc := range []struct {
		name   string
		noted  string
		code   int
		match  bool
		stderr string
	}{
		{"as noted", good, 0, true, ""},
		{"as noted, upper case", strings.ToUpper(good), 0, true, ""},
		{"changed", bad, exitMismatch, false, "session.json changed since the run: sha256 " + good + ", noted " + bad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rd := t.TempDir()
			stdout, stderr, err := runCLI(t, "verify", session, "--session-sha256", tc.noted, "--record-dir", rd)
			if exitCode(err) != tc.code && !(tc.code == 0 && err == nil) {
				t.Fatalf("exit %d (%v), want %d\n%s%s", exitCode(err), err, tc.code, stdout, stderr)
			}
			if !strings.Contains(stderr, tc.stderr) || (tc.code != 0 && !strings.Contains(err.Error(), tc.stderr)) {
				t.Errorf("stderr/error do not say %q:\n%s\n%v", tc.stderr, stderr, err)
			}
			// The images themselves are intact: each record says so, and notes the session check.
			for _, sub := range subs {
				recs := records(t, filepath.Join(rd, filepath.Base(sub)))
				if len(recs) != 1 || recs[0].Result != verify.ResultMatch {
					t.Fatalf("%s: records %+v", sub, recs)
				}
				ss := recs[0].Session
				if ss == nil || ss.SHA256 != good || ss.Noted != strings.ToLower(tc.noted) || ss.Match == nil || *ss.Match != tc.match {
					t.Errorf("%s: session %+v", sub, ss)
				}
			}
		})
	}
	// Without a noted hash the session's sha256 is still recorded.
	if _, _, err := runCLI(t, "verify", session); err != nil {
		t.Fatal(err)
	}
	if recs := records(t, subs[0]); len(recs) != 1 || recs[0].Session == nil || recs[0].Session.SHA256 != good || recs[0].Session.Match != nil {
		t.Errorf("records %+v", recs)
	}
	// An image folder has no session.json to check.
	_, _, err := runCLI(t, "verify", subs[0], "--session-sha256", good)
	if exitCode(err) != exitError || !strings.Contains(err.Error(), "holds no session.json") {
		t.Errorf("--session-sha256 on an image folder: exit %d (%v)", exitCode(err), err)
	}
}
