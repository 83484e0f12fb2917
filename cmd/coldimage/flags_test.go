package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
)

// TestSizeFlagsUsage: a bad size is a usage error (exit 2) naming the flag
// and the value, before anything is created or opened.
func TestSizeFlagsUsage(t *testing.T) {
	dir := t.TempDir()
	src := writeSource(t, dir, "src.dd", 4096, 1)
	for _, flagName := range []string{"split", "segment-size", "piece-size"} {
		for _, v := range []string{"NaN", "Inf", "-Inf", "-1", "-1G", "1e30", "9223372036854775808", "99999999T", "1.1K", "ten"} {
			out := filepath.Join(dir, "out-"+flagName+"-"+v)
			args := []string{"acquire", "--" + flagName, v}
			if flagName == "segment-size" {
				args = append(args, "--format", "e01")
			}
			_, _, err := runCLI(t, append(args, src, out)...)
			if exitCode(err) != exitUsage || err == nil || !strings.Contains(err.Error(), "--"+flagName) || !strings.Contains(err.Error(), v) {
				t.Errorf("--%s %s: exit %d %v; want a usage error naming the flag and value", flagName, v, exitCode(err), err)
			}
			if _, serr := os.Stat(out); !os.IsNotExist(serr) {
				t.Errorf("--%s %s: OUTDIR %s exists after the usage error", flagName, v, out)
			}
		}
	}
	// Good sizes still work.
	out := filepath.Join(dir, "good")
	if _, stderr, err := runCLI(t, "acquire", "--split", "1.5K", "--piece-size", "1MiB", src, out); err != nil {
		t.Fatalf("--split 1.5K: %v\n%s", err, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "image.raw.003")); err != nil {
		t.Errorf("--split 1.5K of 4096 bytes: %v", err)
	}
}

// TestRefusedLeavesNoOutdir: a refusal leaves no OUTDIR (or parent) that
// the command created — here E01 of a source that is no whole number of
// sectors, refused when the image is set up, with one source, several
// sources and a mirror.
func TestRefusedLeavesNoOutdir(t *testing.T) {
	dir := t.TempDir()
	odd := writeSource(t, dir, "odd.bin", 1000, 2)
	odd2 := writeSource(t, dir, "odd2.bin", 1001, 3)
	for _, tc := range []struct {
		name string
		args func(out, mirror string) []string
	}{
		{"one", func(out, _ string) []string { return []string{odd, out} }},
		{"nested", func(out, _ string) []string { return []string{odd, filepath.Join(out, "a", "b")} }},
		{"several", func(out, _ string) []string { return []string{odd, odd2, out} }},
		{"mirror", func(out, m string) []string { return []string{"--mirror", m, odd, out} }},
		{"several-mirror", func(out, m string) []string { return []string{"--mirror", m, odd, odd2, out} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			mirror := filepath.Join(t.TempDir(), "mirror")
			_, _, err := runCLI(t, append([]string{"acquire", "--format", "e01"}, tc.args(out, mirror)...)...)
			if exitCode(err) != exitRefused {
				t.Fatalf("exit %d %v, want a refusal", exitCode(err), err)
			}
			for _, d := range []string{out, mirror} {
				if _, serr := os.Stat(d); !os.IsNotExist(serr) {
					ents, _ := os.ReadDir(d)
					t.Errorf("%s left behind after the refusal (%d entries)", d, len(ents))
				}
			}
		})
	}
	// An OUTDIR that existed (empty) stays.
	pre := filepath.Join(t.TempDir(), "pre")
	os.Mkdir(pre, 0o755)
	if _, _, err := runCLI(t, "acquire", "--format", "e01", odd, pre); exitCode(err) != exitRefused {
		t.Fatalf("exit %d %v", exitCode(err), err)
	}
	if st, err := os.Stat(pre); err != nil || !st.IsDir() {
		t.Errorf("the examiner's empty OUTDIR was removed: %v", err)
	}
}

// TestTextFlagsUTF8: case, examiner, evidence and notes that are not valid
// UTF-8 are a usage error naming the flag and the byte offset (the JSON
// record and the E01 header would store U+FFFD, the text record the raw
// byte); valid UTF-8 is kept byte for byte.
func TestTextFlagsUTF8(t *testing.T) {
	dir := t.TempDir()
	src := writeSource(t, dir, "src.dd", 4096, 4)
	for _, f := range []string{"case", "examiner", "evidence", "notes"} {
		for _, tc := range []struct {
			v   string
			off int
		}{{"M\xfcller", 1}, {"ab\xc3", 2}, {"\xff", 0}, {"ok \xed\xa0\x80", 3}} {
			out := filepath.Join(dir, "out-"+f)
			_, _, err := runCLI(t, "acquire", "--"+f, tc.v, src, out)
			if exitCode(err) != exitUsage || !strings.Contains(err.Error(), "--"+f) || !strings.Contains(err.Error(), fmt.Sprintf("byte offset %d", tc.off)) {
				t.Errorf("--%s %q: exit %d %v; want a usage error naming the flag and byte offset %d", f, tc.v, exitCode(err), err, tc.off)
			}
			if _, serr := os.Stat(out); !os.IsNotExist(serr) {
				t.Errorf("--%s %q: OUTDIR created", f, tc.v)
			}
		}
	}
	out := filepath.Join(dir, "good")
	if _, stderr, err := runCLI(t, "acquire", "--case", "Müller", "--notes", "Zoë 日本", src, out); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	rec, err := imager.ReadRecord(out)
	if err != nil || rec.Case.Case != "Müller" || rec.Case.Notes != "Zoë 日本" {
		t.Errorf("record case %+v, %v", rec.Case, err)
	}
}

func TestParseInterleaved(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantPos []string
		wantSrc string
	}{
		{[]string{"out", "--source", "/dev/sda"}, []string{"out"}, "/dev/sda"},
		{[]string{"--source", "x", "out"}, []string{"out"}, "x"},
		{[]string{"a", "b", "--", "--source"}, []string{"a", "b", "--source"}, ""},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		src := fs.String("source", "", "")
		pos, err := parseInterleaved(fs, tc.args, io.Discard)
		if err != nil || !reflect.DeepEqual(pos, tc.wantPos) || *src != tc.wantSrc {
			t.Errorf("%v: pos %v src %q err %v; want %v %q", tc.args, pos, *src, err, tc.wantPos, tc.wantSrc)
		}
	}
}

// TestRescueFlags: --retries, --rescue-time and --slow-read parse into the
// rescue settings (0 meaning none/never), also with --resume; bad values
// are usage errors naming the flag.
func TestRescueFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want imager.RescueSettings
	}{
		{nil, imager.RescueSettings{Retries: imager.DefaultRetries, SlowRead: imager.DefaultSlowRead, DeviceTimeout: disk.DefaultCommandTimeout}},
		{[]string{"--retries", "0", "--slow-read", "0", "--device-timeout", "0"}, imager.RescueSettings{Retries: -1, SlowRead: -1, DeviceTimeout: -1}},
		{[]string{"--retries", "5", "--rescue-time", "30m", "--slow-read", "2s", "--device-timeout", "5s"}, imager.RescueSettings{Retries: 5, Time: 30 * time.Minute, SlowRead: 2 * time.Second, DeviceTimeout: 5 * time.Second}},
	} {
		a, err := parseAcquireArgs(append(append([]string{}, tc.args...), "/dev/null", "out"), io.Discard)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if a.rescue != tc.want {
			t.Errorf("%q: %+v, want %+v", tc.args, a.rescue, tc.want)
		}
	}
	for _, bad := range [][]string{{"--retries", "-1"}, {"--retries", "x"}, {"--rescue-time", "-5s"}, {"--rescue-time", "30"}, {"--slow-read", "soon"}, {"--device-timeout", "-1s"}} {
		if _, err := parseAcquireArgs(append(bad, "/dev/null", "out"), io.Discard); exitCode(err) != exitUsage || !strings.Contains(err.Error(), strings.TrimPrefix(bad[0], "--")) {
			t.Errorf("%q: %v (exit %d), want a usage error naming the flag", bad, err, exitCode(err))
		}
	}
}

func TestHPAFlag(t *testing.T) {
	for args, want := range map[string]string{"": imager.HPAReport, "--hpa=report": imager.HPAReport, "--hpa=image": imager.HPAImage} {
		a, err := parseAcquireArgs(append(strings.Fields(args), "/dev/null", "out"), io.Discard)
		if err != nil || a.hpa != want {
			t.Errorf("%q: %v, hpa %q, want %q", args, err, a.hpa, want)
		}
	}
	for _, bad := range []string{"--hpa=open", "--hpa=", "--hpa=IMAGE"} {
		if _, err := parseAcquireArgs([]string{bad, "/dev/null", "out"}, io.Discard); exitCode(err) != exitUsage || !strings.Contains(err.Error(), "--hpa") {
			t.Errorf("%s: %v (exit %d), want a usage error naming --hpa", bad, err, exitCode(err))
		}
	}
	// A resume keeps the choice its record made.
	if _, err := parseAcquireArgs([]string{"--resume", "--hpa=image", t.TempDir()}, io.Discard); exitCode(err) != exitUsage || !strings.Contains(err.Error(), "--hpa") {
		t.Errorf("--resume --hpa=image: %v (exit %d), want a usage error naming --hpa", err, exitCode(err))
	}
}

// TestTargetURLRefused: a target URL where a folder is wanted is a usage
// error that says what to do, never a local folder named "smb:".
func TestTargetURLRefused(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{"/dev/null smb://examiner@nas/evidence", "mount the share"},
		{"/dev/null nfs://nas/export", "mount the share"},
		{"--mirror s3://bucket/prefix /dev/null out", "s3:// targets are not supported"},
		{"--mirror smb://nas/x /dev/null out", "mount the share"},
		{"/dev/null ftp://nas/x", "ftp:// targets are not supported"},
		{"--tls-pin sha256:00 /dev/null out", "apply to an s3:// OUTDIR"},
	} {
		dir := t.TempDir()
		t.Chdir(dir)
		_, err := parseAcquireArgs(strings.Fields(tc.args), io.Discard)
		if exitCode(err) != exitUsage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v (exit %d); want a usage error with %q", tc.args, err, exitCode(err), tc.want)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("%s: created %v", tc.args, ents)
		}
	}
}
