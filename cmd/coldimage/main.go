// Command coldimage lists, acquires, verifies and reassembles evidence disks.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "coldimage:", err)
		os.Exit(exitCode(err))
	}
}

const usage = `usage: coldimage COMMAND [flags] ...

commands:
  list [--json]                         disks, partitions, RAID membership
  identify [--json] DEVICE              what the drive says about itself (read-only
                                        passthrough: INQUIRY, ATA IDENTIFY, NVMe Identify)
  acquire [flags] SOURCE... OUTDIR      image, hash, verify, record
  verify OUTDIR [--source SOURCE] [--record-dir DIR | --record -] [--session-sha256 HEX]
                                        re-hash image (and source) against the record and
                                        add a verify-<stamp>.json record (acquisition.json
                                        is never rewritten); OUTDIR may also be a folder of
                                        image folders or a session folder
  sessions [--json] TARGET              every session and acquisition in an s3://BUCKET/PREFIX
                                        (or a folder), one line each with its state:
                                        in-progress, ok, incomplete, mismatch
  raid examine [--json] MEMBER...       RAID metadata per member and array
  raid assemble [--volume N] -o OUT MEMBER...
                                        write a reassembled RAID volume
  ui [flags]                            the console UI (as on the appliance) on this host
  version                               print the version
`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "list":
		return runList(ctx, rest, stdout, stderr)
	case "identify":
		return runIdentify(ctx, rest, stdout, stderr)
	case "sessions":
		return runSessions(ctx, rest, stdout, stderr)
	case "acquire":
		return runAcquire(ctx, rest, stdout, stderr)
	case "verify":
		return runVerify(ctx, rest, stdout, stderr)
	case "raid":
		return runRaid(ctx, rest, stdout, stderr)
	case "ui":
		return runUI(ctx, rest, stdin, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "coldimage", Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError(fmt.Sprintf("unknown command %q", cmd))
}
