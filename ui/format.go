package ui

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// parseSize reads 650M, 2G, 4096 (K, M, G, T are powers of 1024).
func parseSize(s string) (int64, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	s = strings.TrimSuffix(strings.TrimSuffix(s, "B"), "I")
	mult := int64(1)
	if n := len(s); n > 0 {
		if i := strings.IndexByte("KMGT", s[n-1]); i >= 0 {
			mult = 1 << (10 * (i + 1))
			s = s[:n-1]
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("not a size: %q", s)
	}
	return v * mult, nil
}

func secs(n int64) time.Duration { return time.Duration(n) * time.Second }

// etaSeconds is an ETA in whole seconds, rounded up so it is never 0 while
// time remains; -1 when it is unknown (imager.ETAUnknown: no progress seen).
func etaSeconds(d time.Duration) int64 {
	if d < 0 {
		return -1
	}
	return int64((d + time.Second - 1) / time.Second)
}
