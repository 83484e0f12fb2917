package ewf

import (
	"errors"
	"fmt"
	"hash/adler32"
)

// ErrChecksum is wrapped by every error caused by an Adler-32 that does not
// match the data it covers.
var ErrChecksum = errors.New("adler-32 mismatch")

// checksumError describes a mismatch; the caller adds file and offset.
func checksumError(what string, stored, computed uint32) error {
	return fmt.Errorf("%s: stored %08x, computed %08x: %w", what, stored, computed, ErrChecksum)
}

// verifyAdler checks that sum is the Adler-32 of b.
func verifyAdler(what string, b []byte, sum uint32) error {
	if c := adler32.Checksum(b); c != sum {
		return checksumError(what, sum, c)
	}
	return nil
}
