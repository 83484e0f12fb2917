// Command fetchkernel fetches Debian's current amd64 kernel package, copies
// the kernel image to OUT/vmlinuz, records its release in OUT/kernel-version
// and installs the appliance's modules, unchanged and signed, with a
// generated modules.dep, into OUT/modroot.
//
//	go run ./initramfs/cmd/fetchkernel -cache ~/.cache/coldimage/kernel -out build/
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/coldimage/coldimage/initramfs/kernel"
	"github.com/coldimage/coldimage/initramfs/modules"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fetchkernel:", err)
		os.Exit(1)
	}
}

// DefaultCache is where kernel packages are kept between builds.
func DefaultCache() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "coldimage", "kernel")
	}
	return filepath.Join(os.TempDir(), "coldimage-kernel")
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fetchkernel", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cache := fs.String("cache", DefaultCache(), "kernel package cache")
	out := fs.String("out", "build", "output directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, err := kernel.Prepare(ctx, *cache, *out, modules.Names(), modules.Forbidden, func(f string, a ...any) {
		fmt.Fprintf(stdout, f+"\n", a...)
	})
	return err
}
