package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/disk/passthru"
	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/raid"
)

func runList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "machine-readable output")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: coldimage list [--json] [PATH...]   (no PATH: every disk of this machine)")
		fs.PrintDefaults()
	}
	paths, err := parseInterleaved(fs, args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	var infos []disk.Info
	if len(paths) == 0 {
		if infos, err = disk.List(); err != nil {
			return err
		}
	} else {
		for _, p := range paths {
			i, err := disk.Inspect(p)
			if err != nil {
				return err
			}
			infos = append(infos, i)
		}
	}
	annotateRAID(infos)
	infos = append(infos, volumeInfos(infos)...)
	if *asJSON {
		out := []listEntry{}
		for _, i := range infos {
			e := listEntry{Info: i}
			if i.Kind == disk.KindDisk {
				e.Device = passthru.Identify(filepath.Join("/dev", i.Name))
			}
			out = append(out, e)
		}
		return writeJSON(stdout, out)
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tKIND\tSIZE\tSECTOR\tRO\tRM\tTRANSPORT\tMODEL\tSERIAL\tCONTENT\tHPA\tLOCK\tENC")
	var row func(i disk.Info, indent string)
	row = func(i disk.Info, indent string) {
		hpa, lock := "", ""
		if i.Kind == disk.KindDisk {
			hpa, lock = driveColumns(passthru.Identify(filepath.Join("/dev", i.Name)))
		}
		fmt.Fprintf(w, "%s%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", indent, i.Name, i.Kind, imager.HumanBytes(i.Size),
			i.LogicalSector, i.PhysicalSector, yesNo(i.ReadOnly), yesNo(i.Removable), dash(i.Transport), dash(i.Model), dash(i.Serial), content(i),
			dash(hpa), dash(lock), dash(encColumn(i.Encryption)))
		for _, p := range i.Partitions {
			row(p, indent+"  ")
		}
	}
	for _, i := range infos {
		row(i, "")
	}
	return w.Flush()
}

// listEntry is one disk (or file, or RAID volume) of list --json: what
// disk.Inspect found and, for a disk, what the drive says of itself
// (passthru.Identify: the acquisition record's "device").
type listEntry struct {
	disk.Info
	Device *imager.DeviceIdentity `json:"device,omitempty"`
}

func content(i disk.Info) string {
	var parts []string
	if i.PartTable != "" {
		parts = append(parts, i.PartTable)
	}
	if i.FSType != "" {
		s := i.FSType
		if i.FSLabel != "" {
			s += fmt.Sprintf(" %q", i.FSLabel)
		}
		parts = append(parts, s)
	}
	if i.RAID != "" {
		parts = append(parts, i.RAID)
	}
	if len(i.Holders) > 0 {
		parts = append(parts, "held by "+strings.Join(i.Holders, ","))
	}
	if i.Error != "" {
		parts = append(parts, "error: "+i.Error)
	}
	return dash(strings.Join(parts, ", "))
}

// driveColumns are list's HPA and LOCK columns from what the drive said:
// hidden sectors ("none", "N hidden", "?" when not known; "-" for drives
// without the ATA feature), and "LOCKED" or "no".
func driveColumns(d *imager.DeviceIdentity) (hpa, lock string) {
	switch {
	case d.HPAHidden != nil && *d.HPAHidden > 0:
		hpa = fmt.Sprintf("%d hidden", *d.HPAHidden)
	case d.HPAHidden != nil:
		hpa = "none"
	case d.HiddenArea != "":
		hpa = "?"
	}
	if d.DCOHidden != nil && *d.DCOHidden > 0 {
		hpa += fmt.Sprintf(" +DCO %d", *d.DCOHidden)
	}
	if d.Transport != "none" {
		lock = "no"
		if d.Locked {
			lock = "LOCKED"
		}
	}
	return strings.TrimSpace(hpa), lock
}

// encColumn shortens an encryption finding for list's ENC column.
func encColumn(e string) string {
	if i := strings.IndexByte(e, ':'); i > 0 {
		e = e[:i]
	}
	return strings.ReplaceAll(e, " ", "-")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// annotateRAID notes RAID membership on every disk and partition.
func annotateRAID(infos []disk.Info) {
	rep, done, err := raid.ExamineInfos(infos)
	if err != nil {
		return
	}
	defer done()
	raid.Annotate(infos, rep)
}
