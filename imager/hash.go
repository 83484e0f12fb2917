package imager

import (
	"crypto/md5"
	"crypto/sha1"
	"fmt"
	"hash"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/klauspost/cpuid/v2"
	sha256simd "github.com/minio/sha256-simd"
	"github.com/zeebo/blake3"
)

// Algorithms known to the engine, in the order records list them.
var Algorithms = []string{"md5", "sha1", "sha256", "blake3"}

// DefaultHashes is the hash set used when none is asked for.
var DefaultHashes = []string{"sha256", "blake3"}

// ParseHashes turns "sha256,blake3" into a validated, de-duplicated list in
// canonical order.
func ParseHashes(s string) ([]string, error) {
	seen := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		f = strings.ReplaceAll(f, "-", "")
		if f == "" {
			continue
		}
		if !known(f) {
			return nil, fmt.Errorf("unknown hash algorithm %q (known: %s)", f, strings.Join(Algorithms, ", "))
		}
		seen[f] = true
	}
	if len(seen) == 0 {
		return nil, fmt.Errorf("empty hash set %q", s)
	}
	var out []string
	for _, a := range Algorithms {
		if seen[a] {
			out = append(out, a)
		}
	}
	return out, nil
}

func known(alg string) bool {
	for _, a := range Algorithms {
		if a == alg {
			return true
		}
	}
	return false
}

// HashesFor returns exactly the hash set an acquisition in format computes
// and records (acquisition.json hashes, the sidecars, session.json) when the
// examiner asks for hashes (DefaultHashes when empty): the confirm screen
// shows this list and acquire.Run images with it, so the two cannot differ.
//
// Formats are "raw", "split" (a raw image in pieces) and "e01". An E01 adds
// MD5 and SHA-1 to the requested set: its hash section stores the MD5 of the
// media and its digest section MD5 and SHA-1, which EnCase, FTK and libewf's
// ewfverify check when they open the image. Without them the E01 would carry
// no hash of its own. The result is de-duplicated, in canonical order.
func HashesFor(format string, hashes []string) []string {
	if len(hashes) == 0 {
		hashes = DefaultHashes
	}
	set := append([]string(nil), hashes...)
	if format == "e01" {
		set = append(set, "md5", "sha1")
	}
	var out []string
	seen := map[string]bool{}
	for _, a := range SortAlgs(set) {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// HashAlgs are the algorithms of a set of hashes (alg → hex), in canonical order.
func HashAlgs(m map[string]string) []string {
	return SortAlgs(slices.Collect(maps.Keys(m)))
}

// SortAlgs orders algorithm names canonically.
func SortAlgs(algs []string) []string {
	rank := map[string]int{}
	for i, a := range Algorithms {
		rank[a] = i
	}
	out := append([]string(nil), algs...)
	sort.Slice(out, func(i, j int) bool { return rank[out[i]] < rank[out[j]] })
	return out
}

// PieceAlgorithm is the algorithm of the piecewise (per-piece) hashes,
// whatever the image hash set: BLAKE3 is a cryptographic hash and the
// cheapest we carry (about a third of SHA-NI SHA-256's cost per byte), and
// the piecewise pass is a second pass over every byte. With --hash sha256
// alone, SHA-256 pieces would double the critical path. The record names
// the algorithm beside every piece.
const PieceAlgorithm = "blake3"

// SHA256Impl names the SHA-256 implementation in use, for records and benchmarks.
type SHA256Impl string

const (
	SHA256Simd     SHA256Impl = "sha256-simd"        // SHA-NI / AVX2 single-stream (falls back to crypto/sha256)
	SHA256Avx512MB SHA256Impl = "sha256-simd-avx512" // 16-lane multi-buffer server shared by all streams
)

// CanMultiBuffer reports whether the AVX-512 multi-buffer SHA-256 server may be
// used on this CPU: it needs AVX-512 F/VL/BW and executes them without a CPU
// check of its own, so a wrong answer here is SIGILL.
func CanMultiBuffer() bool {
	return cpuid.CPU.Supports(cpuid.AVX512F, cpuid.AVX512VL, cpuid.AVX512BW, cpuid.AVX512DQ)
}

// HasSHANI reports whether the CPU has the SHA extensions.
func HasSHANI() bool { return cpuid.CPU.Supports(cpuid.SHA) }

// ChooseSHA256 picks the SHA-256 implementation for a run hashing `streams`
// SHA-256 streams concurrently: the multi-buffer server only pays off on
// AVX-512 CPUs without SHA-NI and with at least 4 streams to fill its lanes.
func ChooseSHA256(streams int) SHA256Impl {
	if streams >= 4 && !HasSHANI() && CanMultiBuffer() {
		return SHA256Avx512MB
	}
	return SHA256Simd
}

var (
	avxOnce   sync.Once
	avxServer *sha256simd.Avx512Server
)

// Hashers builds hash constructors for one run.
type Hashers struct {
	SHA256 SHA256Impl
}

// New returns a fresh hash for alg.
func (h Hashers) New(alg string) (hash.Hash, error) {
	switch alg {
	case "md5":
		return md5.New(), nil
	case "sha1":
		return sha1.New(), nil
	case "sha256":
		if h.SHA256 == SHA256Avx512MB {
			if !CanMultiBuffer() {
				return nil, fmt.Errorf("sha256: AVX-512 multi-buffer requested but this CPU lacks AVX-512")
			}
			avxOnce.Do(func() { avxServer = sha256simd.NewAvx512Server() })
			return sha256simd.NewAvx512(avxServer), nil
		}
		return sha256simd.New(), nil
	case "blake3":
		return blake3.New(), nil
	}
	return nil, fmt.Errorf("unknown hash algorithm %q", alg)
}

// cloneHash copies a running hash state, so verify can fork image hashes off
// the source's at the first differing buffer.
func (h Hashers) cloneHash(alg string, src hash.Hash) (hash.Hash, error) {
	if b, ok := src.(*blake3.Hasher); ok {
		return b.Clone(), nil
	}
	st, err := saveState(alg, src)
	if err != nil {
		return nil, err
	}
	return restoreState(alg, st) // single-stream implementation: its state format is crypto's
}
