package imager

import (
	"fmt"
	"math/big"
	"regexp"
	"strings"
)

// maxSize bounds every size flag (4 EiB): far above any disk, far below
// int64 overflow in the arithmetic that uses it.
const maxSize = 1 << 62

// sizeSyntax is a decimal number with an optional fraction; no sign,
// exponent, hex, NaN or Inf.
var sizeSyntax = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// ParseSize is the one size parser of every mode (CLI flags, the console
// UI): it reads 650M, 2G, 1.5G, 4GiB (binary), 2GB (decimal) or plain
// bytes, a whole number of bytes from 0 to 4 EiB, computed exactly.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	units := []struct {
		suf string
		m   int64
	}{
		{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"TIB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1},
	}
	up := strings.ToUpper(t)
	for _, u := range units {
		if strings.HasSuffix(up, u.suf) {
			mult, t = u.m, strings.TrimSpace(t[:len(t)-len(u.suf)])
			break
		}
	}
	if !sizeSyntax.MatchString(t) {
		return 0, fmt.Errorf("not a size: want a number with an optional unit (K, M, G, T, KiB…, KB…)")
	}
	v, ok := new(big.Rat).SetString(t)
	if !ok {
		return 0, fmt.Errorf("not a size: want a number with an optional unit (K, M, G, T, KiB…, KB…)")
	}
	v.Mul(v, new(big.Rat).SetInt64(mult))
	if !v.IsInt() {
		return 0, fmt.Errorf("not a whole number of bytes (%s)", v.FloatString(3))
	}
	if v.Cmp(new(big.Rat).SetInt64(maxSize)) > 0 {
		return 0, fmt.Errorf("too large (at most %d bytes, 4 EiB)", int64(maxSize))
	}
	return v.Num().Int64(), nil
}
