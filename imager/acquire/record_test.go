package acquire

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coldimage/coldimage/imager"
)

// sourceFile writes size deterministic bytes (a quarter of them zeros, like
// real disks) to a temp file and returns its path and content.
func sourceFile(t *testing.T, size int, seed byte) (string, []byte) {
	t.Helper()
	r := rand.New(rand.NewChaCha8([32]byte{seed}))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	if size > 4096 {
		clear(b[size/2 : size/2+size/4])
	}
	p := filepath.Join(t.TempDir(), "disk.dd")
	if err := os.WriteFile(p, b, 0o444); err != nil {
		t.Fatal(err)
	}
	return p, b
}

// What the confirm screen lists (imager.HashesFor) is what the record holds:
// an E01 adding MD5 and SHA-1 says so up front.
func TestHashesForIsWhatIsRecorded(t *testing.T) {
	src, _ := sourceFile(t, 1<<20, 1)
	for _, tc := range []struct {
		format string
		split  int64
		hashes []string
		want   []string
	}{
		{"raw", 0, nil, []string{"sha256", "blake3"}},
		{"raw", 0, []string{"md5", "sha256", "blake3"}, []string{"md5", "sha256", "blake3"}},
		{"split", 256 << 10, []string{"sha256"}, []string{"sha256"}},
		{"e01", 0, []string{"md5", "sha256", "blake3"}, []string{"md5", "sha1", "sha256", "blake3"}},
		{"e01", 0, nil, []string{"md5", "sha1", "sha256", "blake3"}},
	} {
		t.Run(tc.format+"/"+strings.Join(tc.hashes, ","), func(t *testing.T) {
			shown := imager.HashesFor(tc.format, tc.hashes)
			if !slices.Equal(shown, tc.want) {
				t.Errorf("HashesFor(%q, %v) = %v, want %v", tc.format, tc.hashes, shown, tc.want)
			}
			format := tc.format
			if format == "split" {
				format = "raw"
			}
			r := &Request{Source: src, OutDir: filepath.Join(t.TempDir(), "out"), Format: format, Split: tc.split,
				Hashes: slices.Clone(tc.hashes), NoVerify: true}
			rec, err := Run(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			if got := imager.HashAlgs(rec.Hashes); !slices.Equal(got, shown) {
				t.Errorf("recorded %v, the confirm screen showed %v", got, shown)
			}
			for _, alg := range shown {
				if _, err := os.Stat(filepath.Join(r.OutDir, "image."+alg)); err != nil {
					t.Errorf("sidecar for %s: %v", alg, err)
				}
			}
		})
	}
}
