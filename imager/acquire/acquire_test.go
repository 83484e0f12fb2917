package acquire

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
)

func TestVolumeSource(t *testing.T) {
	dir := t.TempDir()
	member := filepath.Join(dir, "member0.dd")
	os.WriteFile(member, make([]byte, 4096), 0o444)
	data := bytes.Repeat([]byte("volume-bytes-"), 100000)
	data = data[:len(data)/512*512]
	sum := sha256.Sum256(data)
	geo := json.RawMessage(`{"level":"raid5","chunk":65536}`)
	for _, tc := range []struct {
		name    string
		members []string
		refuse  bool
	}{
		{"assembled", []string{member}, false},
		{"no members", nil, true},
		{"missing member", []string{filepath.Join(dir, "gone")}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, "out-"+tc.name)
			r := &Request{Source: "md-0123abcd", OutDir: out, RAID: geo,
				Volume: &Volume{R: bytes.NewReader(data), Info: disk.Info{Name: "md-0123abcd", Size: int64(len(data))}, Members: tc.members}}
			err := Preflight([]*Request{r})
			if tc.refuse {
				if err == nil {
					t.Fatal("preflight accepted a volume it cannot check")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rec, err := Run(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Hashes["sha256"] != hex.EncodeToString(sum[:]) || rec.Source.Kind != "raid" || rec.Source.ID != "md-0123abcd" || compact(rec.RAID) != compact(geo) {
				t.Errorf("record: hashes %v source %+v raid %s", rec.Hashes, rec.Source, rec.RAID)
			}
			if rec.Result != imager.ResultOK || rec.Verification == nil || !rec.Verification.Source.Match {
				t.Errorf("result %s verification %+v", rec.Result, rec.Verification)
			}
		})
	}
}

func compact(m json.RawMessage) string {
	var b bytes.Buffer
	json.Compact(&b, m)
	return b.String()
}
