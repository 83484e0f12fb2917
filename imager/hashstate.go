package imager

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sync"
	"unsafe"

	"github.com/zeebo/blake3"
)

// HashStates is the state of a pass's image hashes at a piece boundary,
// saved with a checkpoint so that a resume restores it instead of hashing
// the image prefix again. The prefix is still read back and checked, piece
// by piece, against the recorded piece hashes — in parallel, which the
// sequential image hashes cannot be.
type HashStates struct {
	Offset int64             `json:"offset"` // stream bytes the states have hashed: a multiple of the piece size
	Format string            `json:"format"` // how the states are laid out (StateFormat); another format is not restored
	States map[string]string `json:"states"` // algorithm → state, base64
	Parts  *PartStates       `json:"parts,omitempty"`
}

// PartStates is the per-file hashing of a split image at the same offset:
// the parts finished and the states of the one being hashed.
type PartStates struct {
	Done   []Piece           `json:"done"`
	Start  int64             `json:"start"`
	Filled int64             `json:"filled"`
	States map[string]string `json:"states,omitempty"`
}

// blake3Size is the size of zeebo/blake3's Hasher: a value without
// pointers (counters, the chaining-value stack, the input buffer), so its
// bytes are its whole state.
const blake3Size = int(unsafe.Sizeof(blake3.Hasher{}))

// StateFormat names the layout of the saved hash states this build writes
// and reads: crypto's MarshalBinary formats for MD5, SHA-1 and SHA-256 and
// the bytes of a BLAKE3 hasher, fingerprinted by the state of a known
// input (a different blake3 version or layout gives another name). It is
// "" when the round trip fails its known-answer test: then no state is
// saved and a resume hashes the prefix again.
var StateFormat = sync.OnceValue(func() string {
	in := make([]byte, 3*8192+4096+17)
	for i := range in {
		in[i] = byte(i*7 + i>>8)
	}
	h := blake3.New()
	h.Write(in[:2*8192+1000])
	raw := blake3Bytes(h)
	h2, err := restoreBlake3(raw)
	if err != nil {
		return ""
	}
	h2.Write(in[2*8192+1000:])
	want := blake3.Sum256(in)
	if !bytes.Equal(h2.Sum(nil), want[:]) {
		return ""
	}
	fp := sha256.Sum256(raw)
	return fmt.Sprintf("coldimage-hash-state/1 blake3:%d:%s", blake3Size, hex.EncodeToString(fp[:8]))
})

func blake3Bytes(h *blake3.Hasher) []byte {
	return bytes.Clone(unsafe.Slice((*byte)(unsafe.Pointer(h)), blake3Size))
}

func restoreBlake3(b []byte) (*blake3.Hasher, error) {
	if len(b) != blake3Size {
		return nil, fmt.Errorf("blake3 state of %d bytes, this build's is %d", len(b), blake3Size)
	}
	h := blake3.New()
	copy(unsafe.Slice((*byte)(unsafe.Pointer(h)), blake3Size), b)
	if h.Size() != 32 {
		return nil, errors.New("blake3 state: not a 32-byte hasher")
	}
	return h, nil
}

// saveState is the state of a running hash.
func saveState(alg string, h hash.Hash) (string, error) {
	var raw []byte
	if b, ok := h.(*blake3.Hasher); ok {
		raw = blake3Bytes(b)
	} else {
		m, ok := h.(encoding.BinaryMarshaler)
		if !ok {
			return "", fmt.Errorf("%s: the state of %T cannot be saved", alg, h)
		}
		var err error
		if raw, err = m.MarshalBinary(); err != nil {
			return "", fmt.Errorf("%s: save hash state: %w", alg, err)
		}
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// restoreState makes a running hash from a saved state (single-stream
// implementations: their state formats are crypto's).
func restoreState(alg, s string) (hash.Hash, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s: hash state: %w", alg, err)
	}
	if alg == "blake3" {
		return restoreBlake3(raw)
	}
	h, err := Hashers{}.New(alg)
	if err != nil {
		return nil, err
	}
	u, ok := h.(encoding.BinaryUnmarshaler)
	if !ok {
		return nil, fmt.Errorf("%s: the state of %T cannot be restored", alg, h)
	}
	if err := u.UnmarshalBinary(raw); err != nil {
		return nil, fmt.Errorf("%s: restore hash state: %w", alg, err)
	}
	return h, nil
}

func saveStates(algs []string, hs []hash.Hash) (map[string]string, error) {
	out := map[string]string{}
	for i, h := range hs {
		s, err := saveState(algs[i], h)
		if err != nil {
			return nil, err
		}
		out[algs[i]] = s
	}
	return out, nil
}

// Usable says why saved states cannot be restored by this build for a pass
// hashing algs with pieces of pieceSize (nil when they can).
func (s *HashStates) Usable(algs []string, pieceSize, partSize int64) error {
	switch {
	case s == nil:
		return errors.New("no hash states saved")
	case s.Format == "" || s.Format != StateFormat():
		return fmt.Errorf("hash states saved as %q, this build reads %q", s.Format, StateFormat())
	case pieceSize <= 0 || s.Offset <= 0 || s.Offset%pieceSize != 0:
		return fmt.Errorf("hash states at byte %d, not at the end of a piece", s.Offset)
	case (partSize > 0) != (s.Parts != nil):
		return errors.New("hash states without the split image's part states")
	}
	for _, a := range algs {
		if _, ok := s.States[a]; !ok {
			return fmt.Errorf("no saved %s state", a)
		}
		if _, err := restoreState(a, s.States[a]); err != nil {
			return err
		}
	}
	if len(s.States) != len(algs) {
		return fmt.Errorf("saved states of %d algorithms, the pass hashes %d", len(s.States), len(algs))
	}
	if p := s.Parts; p != nil {
		if p.Start+p.Filled != s.Offset || p.Filled < 0 || p.Filled >= partSize || p.Start%partSize != 0 || int64(len(p.Done)) != p.Start/partSize*int64(len(algs)) {
			return fmt.Errorf("split image's part states at byte %d+%d do not end at byte %d", p.Start, p.Filled, s.Offset)
		}
		if p.Filled > 0 && len(p.States) != len(algs) {
			return errors.New("split image's part states incomplete")
		}
	}
	return nil
}

// stateBook collects, per piece boundary, the states every image hasher
// (and the part hasher of a split image) had there; a checkpoint takes the
// latest boundary they all reached.
type stateBook struct {
	mu      sync.Mutex
	want    int // states a boundary needs
	at      map[int64]*HashStates
	counted map[int64]int
	failed  error
}

func newStateBook(want int) *stateBook {
	return &stateBook{want: want, at: map[int64]*HashStates{}, counted: map[int64]int{}}
}

func (b *stateBook) entry(off int64) *HashStates {
	s := b.at[off]
	if s == nil {
		s = &HashStates{Offset: off, Format: StateFormat(), States: map[string]string{}}
		b.at[off] = s
	}
	b.counted[off]++
	return s
}

// seed starts the book with the states a resume restored.
func (b *stateBook) seed(s *HashStates) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.at[s.Offset], b.counted[s.Offset] = s, b.want
}

func (b *stateBook) putHash(off int64, alg string, h hash.Hash) {
	st, err := saveState(alg, h)
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		b.failed = err
		return
	}
	b.entry(off).States[alg] = st
}

func (b *stateBook) putParts(off int64, p *PartStates, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		b.failed = err
		return
	}
	b.entry(off).Parts = p
}

// latest is the last boundary at or before limit that every hasher
// reached (nil when none); earlier ones are dropped.
func (b *stateBook) latest(limit int64) *HashStates {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failed != nil {
		return nil
	}
	var best *HashStates
	for off, s := range b.at {
		if off <= limit && b.counted[off] == b.want && (best == nil || off > best.Offset) {
			best = s
		}
	}
	if best != nil {
		for off := range b.at {
			if off < best.Offset {
				delete(b.at, off)
				delete(b.counted, off)
			}
		}
	}
	return best
}
