package imager

import (
	"encoding/base64"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestHashStatesRoundTrip saves each algorithm's state part-way through a
// stream (at lengths inside and at the edges of BLAKE3's 8 KiB buffer and
// the 64-byte blocks of the others), restores it and finishes the stream:
// the digest equals one made without the break.
func TestHashStatesRoundTrip(t *testing.T) {
	if StateFormat() == "" {
		t.Fatal("the hash-state round trip failed its known-answer test: no states would be saved")
	}
	data := make([]byte, 3<<20+123)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	for _, alg := range Algorithms {
		for _, cut := range []int{0, 1, 63, 64, 8191, 8192, 8193, 1 << 20, 3<<20 + 100} {
			whole, _ := Hashers{}.New(alg)
			whole.Write(data)
			h, _ := Hashers{}.New(alg)
			h.Write(data[:cut])
			st, err := saveState(alg, h)
			if err != nil {
				t.Fatalf("%s at %d: %v", alg, cut, err)
			}
			h.Write([]byte("more")) // the saved state is a copy, not the running hasher
			h2, err := restoreState(alg, st)
			if err != nil {
				t.Fatalf("%s at %d: %v", alg, cut, err)
			}
			h2.Write(data[cut:])
			if got, want := hex.EncodeToString(h2.Sum(nil)), hex.EncodeToString(whole.Sum(nil)); got != want {
				t.Errorf("%s broken at %d: %s, want %s", alg, cut, got, want)
			}
		}
	}
}

// TestHashStatesUsable refuses states that this build cannot go on from;
// a refused resume hashes the image prefix again instead.
func TestHashStatesUsable(t *testing.T) {
	algs := []string{"sha256", "blake3"}
	good := func() *HashStates {
		s := &HashStates{Offset: 4 << 20, Format: StateFormat(), States: map[string]string{}}
		for _, a := range algs {
			h, _ := Hashers{}.New(a)
			h.Write(make([]byte, 4<<20))
			s.States[a], _ = saveState(a, h)
		}
		return s
	}
	if err := good().Usable(algs, 1<<20, 0); err != nil {
		t.Fatalf("good states refused: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(s *HashStates)
		part   int64
		want   string
	}{
		{"another layout", func(s *HashStates) { s.Format = "coldimage-hash-state/1 blake3:1:00" }, 0, "this build reads"},
		{"no format", func(s *HashStates) { s.Format = "" }, 0, "this build reads"},
		{"not a piece end", func(s *HashStates) { s.Offset += 512 }, 0, "not at the end of a piece"},
		{"at byte 0", func(s *HashStates) { s.Offset = 0 }, 0, "not at the end of a piece"},
		{"an algorithm missing", func(s *HashStates) { delete(s.States, "sha256") }, 0, "no saved sha256 state"},
		{"an algorithm more", func(s *HashStates) { s.States["md5"] = s.States["sha256"] }, 0, "2"},
		{"not base64", func(s *HashStates) { s.States["sha256"] = "!!" }, 0, "sha256"},
		{"blake3 cut short", func(s *HashStates) {
			b, _ := base64.StdEncoding.DecodeString(s.States["blake3"])
			s.States["blake3"] = base64.StdEncoding.EncodeToString(b[:100])
		}, 0, "blake3 state of 100 bytes"},
		{"sha256 state of md5", func(s *HashStates) {
			h, _ := Hashers{}.New("md5")
			s.States["sha256"], _ = saveState("md5", h)
		}, 0, "sha256"},
		{"split image without part states", func(s *HashStates) {}, 3 << 20, "part states"},
		{"part states that end elsewhere", func(s *HashStates) {
			s.Parts = &PartStates{Start: 3 << 20, Filled: 2 << 20, Done: make([]Piece, 2)}
		}, 3 << 20, "do not end at byte"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := good()
			tc.change(s)
			err := s.Usable(algs, 1<<20, tc.part)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Usable: %v, want an error with %q", err, tc.want)
			}
		})
	}
	var none *HashStates
	if none.Usable(algs, 1<<20, 0) == nil {
		t.Error("no states: usable")
	}
}

// TestStateBook takes the latest boundary every hasher reached, and none
// while one of them lags.
func TestStateBook(t *testing.T) {
	b := newStateBook(2)
	h1, _ := Hashers{}.New("sha256")
	h2, _ := Hashers{}.New("blake3")
	b.putHash(1<<20, "sha256", h1)
	if s := b.latest(8 << 20); s != nil {
		t.Fatalf("one hasher of two at 1 MiB: states at %d", s.Offset)
	}
	b.putHash(1<<20, "blake3", h2)
	b.putHash(2<<20, "sha256", h1)
	b.putHash(2<<20, "blake3", h2)
	b.putHash(3<<20, "sha256", h1)
	if s := b.latest(1 << 20); s == nil || s.Offset != 1<<20 {
		t.Fatalf("limit 1 MiB: %+v", s)
	}
	if s := b.latest(8 << 20); s == nil || s.Offset != 2<<20 || len(s.States) != 2 {
		t.Fatalf("limit 8 MiB: %+v", s)
	}
	if len(b.at) != 2 {
		t.Errorf("boundaries kept after the checkpoint: %d, want 2 (2 and 3 MiB)", len(b.at))
	}
}
