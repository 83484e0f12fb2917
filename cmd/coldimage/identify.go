package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/disk/passthru"
)

// runIdentify asks one drive who it is (the disk of a partition), with the
// read-only passthrough commands of the allow-list, and prints what it says.
func runIdentify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("identify", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "machine-readable output (acquisition.json's device{})")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: coldimage identify [--json] DEVICE   (a disk, or a partition: its disk is asked)")
		fs.PrintDefaults()
	}
	paths, err := parseInterleaved(fs, args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(paths) != 1 {
		fs.Usage()
		return usageError("identify takes one DEVICE")
	}
	info, err := disk.Inspect(paths[0])
	if err != nil {
		return fmt.Errorf("identify %s: %w", paths[0], err)
	}
	dev := filepath.Join("/dev", info.Name)
	switch info.Kind {
	case disk.KindDisk:
	case disk.KindPart:
		dev = filepath.Join("/dev", info.Parent)
	default:
		return fmt.Errorf("identify %s: a %s, not a block device: there is no drive to ask", paths[0], info.Kind)
	}
	id := passthru.Identify(dev)
	if *asJSON {
		return writeJSON(stdout, id)
	}
	_, err = io.WriteString(stdout, id.Text(dev))
	return err
}
