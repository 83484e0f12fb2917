package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

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

// parseSize reads 650M, 2G, 4GiB (binary), 2GB (decimal) or plain bytes.
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
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q: want a number with an optional unit (K, M, G, T, KiB…, KB…)", s)
	}
	v := n * float64(mult)
	if v > 1<<62 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return int64(v), nil
}
