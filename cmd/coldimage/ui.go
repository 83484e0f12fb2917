package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/acquire"
	"github.com/coldimage/coldimage/ui"
	"github.com/coldimage/coldimage/ui/raidinfo"
)

// runUI is `coldimage ui`: the appliance's console UI on a host, for
// examiners imaging through a hardware write-blocker. Sources are the
// host's disks, or the files and devices given with --source; targets are
// the directories given with --target (the host mounts them, we do not).
func runUI(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ui", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sources, targets []string
	fs.Func("source", "offer `PATH` (device or regular file) as a source instead of listing disks (repeatable)", func(v string) error {
		sources = append(sources, v)
		return nil
	})
	fs.Func("target", "offer directory `DIR` as a target (repeatable; at least one)", func(v string) error {
		targets = append(targets, v)
		return nil
	})
	plain := fs.Bool("plain", false, "numbered line-mode prompts (also when TERM is dumb or unset)")
	termName := fs.String("term", os.Getenv("TERM"), "terminal type: vt100, vt220, linux, xterm, dumb")
	width := fs.Int("width", 0, "terminal columns when the terminal cannot tell (serial lines)")
	height := fs.Int("height", 0, "terminal rows when the terminal cannot tell")
	hashes := fs.String("hash", "sha256,blake3", "default hash set")
	caseID := fs.String("case", "", "default case number")
	examiner := fs.String("examiner", "", "default examiner")
	evidence := fs.String("evidence", "", "default evidence number")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError(err.Error())
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("ui takes no arguments (got %q); use --source and --target", fs.Args()))
	}
	if len(targets) == 0 {
		return usageError("ui needs at least one --target DIR (a mounted file system for the images)")
	}
	algs, err := imager.ParseHashes(*hashes)
	if err != nil {
		return usageError(err.Error())
	}
	cfg := ui.Config{
		In: stdin, Out: stdout, Term: *termName, Plain: *plain, Width: *width, Height: *height,
		Version: Version, Hashes: algs, Mode: "host ui",
		Case:    imager.Case{Case: *caseID, Examiner: *examiner, Evidence: *evidence},
		Actions: []ui.Action{ui.ActionQuit},
		Devices: func() ([]ui.Device, error) {
			devs, err := hostDevices(sources)
			return raidinfo.Annotate(devs), err
		},
		Targets: func() ([]ui.Target, error) { return hostTargets(targets) },
	}
	out, err := ui.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if ok, failed := out.Counts(); failed > 0 {
		return fmt.Errorf("%w: %d source(s) ok, %d failed (see session.txt)", acquire.ErrIncomplete, ok, failed)
	}
	return nil
}

func hostDevices(sources []string) ([]ui.Device, error) {
	if len(sources) == 0 {
		infos, err := disk.List()
		var out []ui.Device
		for _, i := range infos {
			out = append(out, ui.Device{Info: i})
		}
		return out, err
	}
	var out []ui.Device
	var errs []error
	for _, s := range sources {
		i, err := disk.Inspect(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("source %s: %w", s, err))
			continue
		}
		i.Path = s
		out = append(out, ui.Device{Info: i})
	}
	return out, errors.Join(errs...)
}

func hostTargets(dirs []string) ([]ui.Target, error) {
	var out []ui.Target
	var errs []error
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		st, err := os.Stat(abs)
		if err != nil || !st.IsDir() {
			errs = append(errs, fmt.Errorf("target %s is not a directory; create or mount it first", d))
			continue
		}
		free, err := disk.FreeSpace(abs)
		if err != nil {
			free = -1
		}
		out = append(out, ui.Target{Name: abs, FSType: "directory", Free: free, Dir: abs, Given: true})
	}
	return out, errors.Join(errs...)
}
