package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/s3/s3test"
)

// startS3 starts versitygw (https, bucket "evidence") and points the AWS
// environment and TMPDIR (the staging folder) at it and a fresh folder.
func startS3(t *testing.T) *s3test.Server {
	if testing.Short() {
		t.Skip("starts an S3 server")
	}
	srv := s3test.Start(t, false, "evidence")
	setEnv(t, srv.Env())
	t.Setenv("TMPDIR", t.TempDir())
	return srv
}

func setEnv(t *testing.T, env []string) {
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// TestAcquireToS3 images a file and a split image into a real S3 server
// (versitygw, TLS on a test CA): the objects are the source's bytes, the
// records and sidecars are objects beside them, the verification read the
// image back from the store, and nothing is left on this machine.
func TestAcquireToS3(t *testing.T) {
	srv := startS3(t)
	dir := t.TempDir()
	src := writeSource(t, dir, "disk.img", 37<<20+512, 7)
	want := fileSHA256(t, src)
	for _, tc := range []struct {
		name  string
		args  []string
		files []string
	}{
		{"one object", nil, []string{"image.raw"}},
		{"split", []string{"--split", "16M"}, []string{"image.raw.001", "image.raw.002", "image.raw.003"}},
		// An E01 set: one object per segment, read back by ewfverify
		// (libewf, the independent reader) from the store's files.
		{"e01", []string{"--format", "e01", "--segment-size", "8M"}, []string{"image.E01", "image.E02", "image.E03", "image.E04"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := "case-7/" + strings.ReplaceAll(tc.name, " ", "-")
			args := append([]string{"acquire", "--case", "C7", "--hash", "sha256,md5"}, tc.args...)
			out, errOut, err := runCLI(t, append(args, src, "s3://evidence/"+prefix)...)
			if err != nil {
				t.Fatalf("acquire: %v\n%s\n%s", err, out, errOut)
			}
			if !strings.Contains(out, "s3://evidence/"+prefix) {
				t.Errorf("summary does not name the store:\n%s", out)
			}
			e01 := strings.HasSuffix(tc.files[0], ".E01")
			var joined []byte
			for _, f := range tc.files {
				if e01 {
					continue // checkStoredE01
				}
				b, err := os.ReadFile(srv.Object("evidence", prefix+"/"+f))
				if err != nil {
					t.Fatalf("object %s: %v", f, err)
				}
				joined = append(joined, b...)
			}
			if e01 {
				// Below, with the record.
			} else if h := sha256.Sum256(joined); hex.EncodeToString(h[:]) != want {
				t.Fatalf("objects joined hash %x, source %s", h, want)
			}
			var rec imager.Record
			b, err := os.ReadFile(srv.Object("evidence", prefix+"/acquisition.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &rec); err != nil {
				t.Fatal(err)
			}
			if rec.Result != imager.ResultOK || rec.Hashes["sha256"] != want {
				t.Errorf("record: result %q sha256 %s, want ok %s", rec.Result, rec.Hashes["sha256"], want)
			}
			if e01 {
				if !slices.Equal(rec.Image.Files, tc.files) {
					t.Errorf("record lists %v, want %v", rec.Image.Files, tc.files)
				}
				checkStoredE01(t, srv.Object("evidence", prefix+"/image.E01"), len(tc.files), want)
			}
			if rec.Image.Store == nil || !strings.Contains(rec.Image.Store.Security, "certificate verified") || !strings.Contains(rec.Image.Store.Security, srv.Pin) {
				t.Errorf("record's store: %+v (want TLS verified, certificate %s)", rec.Image.Store, srv.Pin)
			}
			if v := rec.Verification; v == nil || !v.Image.Match {
				t.Errorf("verification: %+v", rec.Verification)
			}
			if strings.Contains(string(b), s3test.SecretKey) {
				t.Error("the secret key is in the record")
			}
			// The sidecar checks the objects with coreutils.
			obj := filepath.Dir(srv.Object("evidence", prefix+"/acquisition.json"))
			for _, tool := range []string{"sha256sum", "md5sum"} {
				side := map[string]string{"sha256sum": "image.sha256", "md5sum": "image.md5"}[tool]
				cmd := exec.Command(tool, "-c", side)
				cmd.Dir = obj
				if o, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("%s -c %s: %v\n%s", tool, side, err, o)
				}
			}
			for _, f := range []string{"acquisition.txt"} {
				if _, err := os.Stat(filepath.Join(obj, f)); err != nil {
					t.Errorf("record %s not in the store: %v", f, err)
				}
			}
		})
	}
	if ents, _ := os.ReadDir(os.Getenv("TMPDIR")); len(ents) > 0 {
		t.Errorf("staging left behind: %s", ents[0].Name())
	}
	if h := fileSHA256(t, src); h != want {
		t.Fatalf("source changed: %s → %s", want, h)
	}
}

// checkStoredE01 reads the E01 set a store holds as files (versitygw's
// posix backend) with libewf's ewfverify and ewfexport: the media hash to
// the source's, and no segment more than segs.
func checkStoredE01(t *testing.T, first string, segs int, wantSHA256 string) {
	t.Helper()
	if _, err := os.Stat(strings.TrimSuffix(first, "E01") + fmt.Sprintf("E%02d", segs+1)); err == nil {
		t.Errorf("more than %d segments in the store", segs)
	}
	if _, err := exec.LookPath("ewfverify"); err != nil {
		t.Skip("ewfverify not on PATH (apt-get install ewf-tools)")
	}
	out, err := exec.Command("ewfverify", "-q", "-d", "sha256", first).CombinedOutput()
	if err != nil {
		t.Fatalf("ewfverify: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), wantSHA256) {
		t.Errorf("ewfverify does not give the source's SHA-256 %s:\n%s", wantSHA256, out)
	}
}

// TestAcquireToS3Refusals: every target the store cannot take is refused
// before a byte is read (exit 5), and nothing is written to the store.
func TestAcquireToS3Refusals(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an S3 server")
	}
	srv := s3test.Start(t, false, "evidence", "full")
	if err := os.MkdirAll(filepath.Dir(srv.Object("full", "case/old/image.raw")), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(srv.Object("full", "case/old/image.raw"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	plain := s3test.Start(t, true, "evidence")
	t.Setenv("TMPDIR", t.TempDir())
	dir := t.TempDir()
	src := writeSource(t, dir, "disk.img", 1<<20, 3)
	for _, tc := range []struct {
		name, url, want string
		env             []string
		args            []string
		code            int
	}{
		{"wrong secret", "s3://evidence/x", "refused these credentials", []string{"AWS_SECRET_ACCESS_KEY=wrong"}, nil, exitRefused},
		{"unknown bucket", "s3://nosuchbucket/x", "no bucket nosuchbucket", nil, nil, exitRefused},
		{"not empty", "s3://full/case", "not empty", nil, nil, exitRefused},
		{"untrusted certificate", "s3://evidence/x", "not trusted", []string{"AWS_CA_BUNDLE="}, nil, exitRefused},
		{"wrong pin", "s3://evidence/x", "not the pinned", nil, []string{"--tls-pin", "sha256:" + strings.Repeat("ab", 32)}, exitRefused},
		{"nothing listening", "s3://evidence/x", "nothing answers", []string{"AWS_ENDPOINT_URL=https://127.0.0.1:1"}, nil, exitRefused},
		{"plain http not allowed", "s3://evidence/x", "plain http", []string{"AWS_ENDPOINT_URL=" + plain.Endpoint}, nil, exitRefused},
		{"no credentials", "s3://evidence/x", "credentials missing", []string{"AWS_ACCESS_KEY_ID="}, nil, exitRefused},
		{"credentials in the URL", "s3://key:secret@evidence/x", "no credentials", nil, nil, exitRefused},
		{"mirror", "s3://evidence/x", "--mirror", nil, []string{"--mirror", filepath.Join(dir, "m")}, exitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setEnv(t, srv.Env())
			setEnv(t, tc.env)
			args := append(append([]string{"acquire"}, tc.args...), src, tc.url)
			out, errOut, err := runCLI(t, args...)
			if err == nil || exitCode(err) != tc.code || !strings.Contains(err.Error()+errOut+out, tc.want) {
				t.Fatalf("err %v (exit %d), want exit %d saying %q\n%s%s", err, exitCode(err), tc.code, tc.want, out, errOut)
			}
			t.Logf("%v", err)
		})
	}
	var objs []string
	filepath.Walk(filepath.Join(srv.Dir, "evidence"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			objs = append(objs, p)
		}
		return nil
	})
	if len(objs) > 0 {
		t.Errorf("refused runs wrote into the store: %v", objs)
	}
	if ents, _ := os.ReadDir(os.Getenv("TMPDIR")); len(ents) > 0 {
		t.Errorf("staging left behind: %s", ents[0].Name())
	}
}

// TestSessionsListing lists what acquisitions left in a store and in a
// folder: an OUTDIR's acquisition, a session of two sources, and a record
// that is not one, each on one line with its state.
func TestSessionsListing(t *testing.T) {
	srv := startS3(t)
	dir := t.TempDir()
	a := writeSource(t, dir, "a.img", 3<<20, 1)
	b := writeSource(t, dir, "b.img", 2<<20, 2)
	for _, args := range [][]string{
		{"acquire", "--case", "K-1", a, "s3://evidence/lab/one"},
		{"acquire", "--case", "K-2", a, b, "s3://evidence/lab/two"},
		{"acquire", "--case", "K-3", b, filepath.Join(dir, "local")},
	} {
		if out, errOut, err := runCLI(t, args...); err != nil {
			t.Fatalf("%v: %v\n%s%s", args, err, out, errOut)
		}
	}
	bad := srv.Object("evidence", "lab/broken/acquisition.json")
	os.MkdirAll(filepath.Dir(bad), 0o755)
	if err := os.WriteFile(bad, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runCLI(t, "sessions", "s3://evidence/lab")
	if err != nil {
		t.Fatalf("sessions: %v\n%s", err, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), out)
	}
	for _, want := range []string{
		`^ok +K-1 +\S+ +- +1/1 ok +s3://evidence/lab/one$`,
		`^ok +K-2 +\S+ +- +2/2 ok +s3://evidence/lab/two$`,
		`^incomplete +- +- +unreadable: .*parse s3://evidence/lab/broken/acquisition.json`,
	} {
		found := false
		for _, l := range lines {
			if regexp.MustCompile(want).MatchString(l) {
				found = true
			}
		}
		if !found {
			t.Errorf("no line matches %s:\n%s", want, out)
		}
	}
	out, _, err = runCLI(t, "sessions", "--json", "s3://evidence/lab/two")
	var entries []sessionEntry
	if err != nil || json.Unmarshal([]byte(out), &entries) != nil || len(entries) != 1 || entries[0].Kind != "session" || entries[0].Sources != 2 || entries[0].State != "ok" {
		t.Errorf("sessions --json of one session: %v %+v\n%s", err, entries, out)
	}
	out, _, err = runCLI(t, "sessions", dir)
	if err != nil || !regexp.MustCompile(`(?m)^ok +K-3 .* 1/1 ok +`+regexp.QuoteMeta(filepath.Join(dir, "local"))+`$`).MatchString(out) {
		t.Errorf("sessions of a folder: %v\n%s", err, out)
	}
	if _, _, err := runCLI(t, "sessions", "s3://nosuchbucket/x"); err == nil || !strings.Contains(err.Error(), "no bucket") {
		t.Errorf("sessions of an unknown bucket: %v", err)
	}
}

// TestS3KillAndResume kills `coldimage acquire` (SIGKILL, as a power cut)
// while it uploads into S3: the store keeps the in-progress record of what
// was durable, `coldimage sessions` lists it as in-progress, and --resume
// s3://… completes it: the object is the source, the record ok with both
// runs, for one object and for a split image.
func TestS3KillAndResume(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []string
		files []string
	}{
		{"one object", nil, []string{"image.raw"}},
		{"split", []string{"--split", "96M"}, []string{"image.raw.001", "image.raw.002", "image.raw.003"}},
	} {
		t.Run(tc.name, func(t *testing.T) { s3KillAndResume(t, tc.extra, tc.files) })
	}
}

func s3KillAndResume(t *testing.T, extra, files []string) {
	srv := startS3(t)
	dir := t.TempDir()
	src := writeSource(t, dir, "disk.img", 256<<20, 9)
	want := fileSHA256(t, src)
	cmd := startCLI(t, 8<<20, append(append([]string{"acquire", "--piece-size", "8M"}, extra...), src, "s3://evidence/cut")...)
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	recPath := srv.Object("evidence", "cut/acquisition.json")
	var rec *imager.Record
	deadline := time.Now().Add(2 * time.Minute)
	for rec == nil && time.Now().Before(deadline) {
		if b, err := os.ReadFile(recPath); err == nil {
			if r, err := imager.ParseRecord(recPath, b); err == nil && r.Result == imager.ResultInProgress && r.Image.Size >= 16<<20 {
				cmd.Process.Kill()
				rec = r
				break
			}
		}
		select {
		case <-exited:
			t.Fatal("the acquisition ended before it could be cut off")
		case <-time.After(5 * time.Millisecond):
		}
	}
	<-exited
	if rec == nil {
		t.Fatal("no in-progress record reached the store within 2 minutes")
	}
	b, err := os.ReadFile(recPath)
	if err != nil {
		t.Fatal(err)
	}
	last, err := imager.ParseRecord(recPath, b)
	if err != nil || last.Result != imager.ResultInProgress || last.Image.Size < rec.Image.Size || last.Image.Size%(8<<20) != 0 || len(last.Pieces) == 0 {
		t.Fatalf("record left in the store: %v %+v", err, last)
	}
	out, _, err := runCLI(t, "sessions", "s3://evidence/cut")
	if err != nil || !regexp.MustCompile(`^in-progress +- .* 0/1 ok +s3://evidence/cut\n$`).MatchString(out) {
		t.Errorf("sessions after the cut: %v\n%q", err, out)
	}
	out, errOut, err := runCLI(t, "acquire", "--resume", "s3://evidence/cut")
	if err != nil {
		t.Fatalf("--resume s3://: %v (exit %d)\n%s%s", err, exitCode(err), out, errOut)
	}
	var parts []string
	for _, f := range files {
		parts = append(parts, srv.Object("evidence", "cut/"+f))
	}
	if got := fileSHA256(t, parts...); got != want {
		t.Errorf("objects after the resume hash %s, the source %s", got, want)
	}
	b, err = os.ReadFile(recPath)
	if err != nil {
		t.Fatal(err)
	}
	final, err := imager.ParseRecord(recPath, b)
	if err != nil || final.Result != imager.ResultOK || final.Hashes["sha256"] != want || len(final.Runs) != 2 || final.Runs[1].From != last.Image.Size {
		t.Errorf("record after the resume: %v result %s sha256 %s runs %+v (cut at %d)", err, final.Result, final.Hashes["sha256"], final.Runs, last.Image.Size)
	}
	if strings.Join(final.Image.Files, ",") != strings.Join(files, ",") {
		t.Errorf("files %v, want %v", final.Image.Files, files)
	}
	out, _, _ = runCLI(t, "sessions", "s3://evidence/cut")
	if !strings.HasPrefix(out, "ok ") {
		t.Errorf("sessions after the resume: %q", out)
	}
	t.Logf("cut off with %d of %d bytes durable in the store, %d pieces recorded", last.Image.Size, 256<<20, len(last.Pieces))
}

// TestS3E01CutAndResume: an E01 set being written into a store, cut off
// (kill -9) with whole segments stored, is resumed after a stored segment
// (the last one ending at or before its last checkpoint): the set
// ewfverify reads is the source, the segments before that point are kept
// as they were, the segment sidecars check, and the record lists both
// runs.
func TestS3E01CutAndResume(t *testing.T) {
	srv := startS3(t)
	dir := t.TempDir()
	src := writeSource(t, dir, "disk.img", 256<<20, 9)
	want := fileSHA256(t, src)
	cmd := startCLI(t, 8<<20, "acquire", "--format", "e01", "--segment-size", "4M", "--piece-size", "8M", src, "s3://evidence/cut")
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	recPath := srv.Object("evidence", "cut/acquisition.json")
	cut := false
	for deadline := time.Now().Add(2 * time.Minute); !cut && time.Now().Before(deadline); {
		if b, err := os.ReadFile(recPath); err == nil {
			if r, err := imager.ParseRecord(recPath, b); err == nil && r.Result == imager.ResultInProgress && r.Image.Size >= 8<<20 {
				cmd.Process.Kill()
				cut = true
			}
		}
		select {
		case <-exited:
			if !cut {
				t.Fatal("the acquisition ended before it could be cut off")
			}
		case <-time.After(5 * time.Millisecond):
		}
	}
	<-exited
	if !cut {
		t.Fatal("no in-progress record with 8 MiB stored reached the store within 2 minutes")
	}
	b, err := os.ReadFile(recPath)
	if err != nil {
		t.Fatal(err)
	}
	last, err := imager.ParseRecord(recPath, b)
	if err != nil || last.Result != imager.ResultInProgress {
		t.Fatalf("record left in the store: %v %+v", err, last)
	}
	store := filepath.Dir(recPath)
	kept := map[string]string{}
	for _, f := range last.Image.Files {
		if _, err := os.Stat(filepath.Join(store, f)); err == nil {
			kept[f] = fileSHA256(t, filepath.Join(store, f))
		}
	}
	if len(kept) < 2 {
		t.Fatalf("segments stored before the cut: %v (record lists %v)", kept, last.Image.Files)
	}
	cutOff, err := srv.OpenUploads("evidence", "cut/")
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runCLI(t, "acquire", "--resume", "s3://evidence/cut")
	if err != nil {
		t.Fatalf("--resume of an E01 in a store: %v (exit %d)\n%s%s", err, exitCode(err), out, errOut)
	}
	// The cut-off segment's upload is dropped, not left in the store.
	if left, err := srv.OpenUploads("evidence", "cut/"); err != nil || len(left) > 0 {
		t.Errorf("open uploads after the resume: %v, %v (before it: %v)", left, err, cutOff)
	}
	b, err = os.ReadFile(recPath)
	if err != nil {
		t.Fatal(err)
	}
	final, err := imager.ParseRecord(recPath, b)
	// The set goes on after a whole stored segment at or before the cut.
	if err != nil || final.Result != imager.ResultOK || final.Hashes["sha256"] != want || len(final.Runs) != 2 ||
		final.Runs[1].From <= 0 || final.Runs[1].From > last.Image.Size {
		t.Fatalf("record after the resume: %v result %s sha256 %s runs %+v (cut at %d)", err, final.Result, final.Hashes["sha256"], final.Runs, last.Image.Size)
	}
	if got := fileSHA256(t, filepath.Join(store, "image.E01")); got != kept["image.E01"] {
		t.Error("image.E01 was stored before the cut and was written again")
	}
	checkStoredE01(t, filepath.Join(store, "image.E01"), len(final.Image.Files), want)
	cmd2 := exec.Command("sha256sum", "-c", "image.sha256")
	cmd2.Dir = store
	if o, err := cmd2.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c image.sha256: %v\n%s", err, o)
	}
	if h := fileSHA256(t, src); h != want {
		t.Fatalf("source changed: %s → %s", want, h)
	}
	t.Logf("cut with %d of %d bytes durable (%d segments stored, open uploads %v), resumed at %d, %d segments in all", last.Image.Size, 256<<20, len(kept), cutOff, final.Runs[1].From, len(final.Image.Files))
}

// dirDigest lists the files of a folder with their SHA-256, one per line.
func dirDigest(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range ents {
		if e.Type().IsRegular() {
			fmt.Fprintf(&b, "%s %s\n", e.Name(), fileSHA256(t, filepath.Join(dir, e.Name())))
		}
	}
	return b.String()
}
