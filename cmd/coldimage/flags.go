package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/coldimage/coldimage/imager"
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

// sizeFlag parses the value of --name as a size; a bad value is a usage
// error naming the flag and the value.
func sizeFlag(name, value string) (int64, error) {
	n, err := imager.ParseSize(value)
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
