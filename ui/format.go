package ui

import (
	"time"
)

func secs(n int64) time.Duration { return time.Duration(n) * time.Second }

// etaSeconds is an ETA in whole seconds, rounded up so it is never 0 while
// time remains; -1 when it is unknown (imager.ETAUnknown: no progress seen).
func etaSeconds(d time.Duration) int64 {
	if d < 0 {
		return -1
	}
	return int64((d + time.Second - 1) / time.Second)
}
