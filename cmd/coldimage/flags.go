package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/coldimage/coldimage/imager/acquire"
	"github.com/coldimage/coldimage/verify"
)

// Version is set at build time (-ldflags "-X main.Version=…").
var Version = "dev"

type usageErr struct{ msg string }

func (u usageErr) Error() string { return u.msg }

func usageError(msg string) error { return usageErr{msg} }

// Exit codes, documented in README.md.
const (
	exitError      = 1
	exitUsage      = 2
	exitIncomplete = 3
	exitMismatch   = 4
	exitRefused    = 5
)

func exitCode(err error) int {
	var u usageErr
	switch {
	case errors.As(err, &u):
		return exitUsage
	case errors.Is(err, verify.ErrMismatch):
		return exitMismatch
	case errors.Is(err, acquire.ErrRefused):
		return exitRefused
	case errors.Is(err, acquire.ErrIncomplete):
		return exitIncomplete
	}
	return exitError
}

// parseInterleaved parses flags that may stand before, between or after the
// positional arguments ("verify OUTDIR --source X"); "--" ends flags.
func parseInterleaved(fs *flag.FlagSet, args []string, stderr io.Writer) ([]string, error) {
	fs.SetOutput(stderr)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError(err.Error())
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// maxSize bounds every size flag (4 EiB): far above any disk, far below
// int64 overflow in the arithmetic that uses it.
const maxSize = 1 << 62

// sizeSyntax is a decimal number with an optional fraction; no sign,
// exponent, hex, NaN or Inf.
var sizeSyntax = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// parseSize reads 650M, 2G, 1.5G, 4GiB (binary), 2GB (decimal) or plain
// bytes: a whole number of bytes from 0 to 4 EiB, computed exactly.
func parseSize(s string) (int64, error) {
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

// sizeFlag parses the value of --name as a size; a bad value is a usage
// error naming the flag and the value.
func sizeFlag(name, value string) (int64, error) {
	n, err := parseSize(value)
	if err != nil {
		return 0, usageError(fmt.Sprintf("--%s %q: %v", name, value, err))
	}
	return n, nil
}

// textFlag refuses a text flag that is not valid UTF-8: the records store
// text as UTF-8 (JSON and E01 would change the bytes, the text record would
// not), so a value is taken as typed or not at all.
func textFlag(name, value string) error {
	for i := 0; i < len(value); {
		r, n := utf8.DecodeRuneInString(value[i:])
		if r == utf8.RuneError && n == 1 {
			return usageError(fmt.Sprintf("--%s %q: not valid UTF-8 (byte 0x%02x at byte offset %d); records keep text as UTF-8", name, value, value[i], i))
		}
		i += n
	}
	return nil
}
