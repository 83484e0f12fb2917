package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/acquire"
	"github.com/coldimage/coldimage/raid"
)

const raidUsage = `usage: coldimage raid examine [--json] [--serial MEMBER=SERIAL]... MEMBER...
       coldimage raid assemble [--volume N] [--check-parity] [--raid0-layout original|alternate]
                               [--serial MEMBER=SERIAL]... -o OUT MEMBER...
`

// runRaid implements "coldimage raid examine|assemble". Members are opened
// read-only (block devices also get the kernel read-only flag); nothing is
// ever written to them.
func runRaid(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, raidUsage)
		return usageError("raid needs a subcommand: examine or assemble")
	}
	switch args[0] {
	case "examine":
		return runRaidExamine(ctx, args[1:], stdout, stderr)
	case "assemble":
		return runRaidAssemble(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, raidUsage)
		return nil
	}
	fmt.Fprint(stderr, raidUsage)
	return usageError(fmt.Sprintf("unknown raid subcommand %q", args[0]))
}

// serialFlags collects repeated --serial MEMBER=SERIAL flags.
type serialFlags map[string]string

func (s serialFlags) String() string { return "" }
func (s serialFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" || val == "" {
		return fmt.Errorf("want MEMBER=SERIAL, got %q", v)
	}
	s[k] = val
	return nil
}

// recordedSerial returns the source serial that coldimage acquire recorded
// next to an image (OUTDIR/image.raw with OUTDIR/acquisition.json), or "".
func recordedSerial(path string) string {
	if !strings.HasPrefix(filepath.Base(path), "image.") {
		return ""
	}
	rec, err := imager.ReadRecord(filepath.Dir(path))
	if err != nil {
		return ""
	}
	return rec.Source.Serial
}

// openMembers opens every path read-only, block devices set read-only
// (BLKROSET, confirmed by BLKROGET) before any of them is read. The
// returned closer closes them all. Serials come from the device
// (sysfs/VPD) or from --serial.
func openMembers(paths []string, serials serialFlags) ([]raid.Member, func(), error) {
	var ms []raid.Member
	var srcs []*disk.Source
	wb := disk.NewWriteBlocker()
	closeAll := func() {
		for _, s := range srcs {
			s.Close()
		}
		wb.Close()
	}
	for _, p := range paths {
		if err := wb.Block(p); err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("member %s: %w", p, err)
		}
	}
	for _, p := range paths {
		src, err := disk.OpenSource(p, disk.OpenOptions{})
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("member %s: %w", p, err)
		}
		srcs = append(srcs, src)
		serial := src.Info.Serial
		if serial == "" {
			serial = recordedSerial(p)
		}
		if s, ok := serials[p]; ok {
			serial = s
		}
		ms = append(ms, raid.Member{Name: p, R: src, Size: src.Info.Size, Serial: serial})
	}
	return ms, closeAll, nil
}

func runRaidExamine(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("raid examine", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	serials := serialFlags{}
	fs.Var(serials, "serial", "MEMBER=SERIAL: the drive serial of an image file (IMSM places members by serial; default: the device's, or the one recorded in acquisition.json beside an image); repeatable")
	fs.Usage = func() { fmt.Fprint(stderr, raidUsage); fs.PrintDefaults() }
	pos, err := parseInterleaved(fs, args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return usageError("raid examine needs at least one MEMBER")
	}
	ms, closeAll, err := openMembers(pos, serials)
	if err != nil {
		return err
	}
	defer closeAll()
	rep, err := raid.Examine(ms)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, rep)
	}
	printReport(stdout, rep)
	return nil
}

func printReport(w io.Writer, rep *raid.Report) {
	for _, m := range rep.Members {
		fmt.Fprintf(w, "%s (%d bytes)\n", m.Name, m.Size)
		if len(m.Found) == 0 {
			fmt.Fprintln(w, "  no RAID or volume-manager metadata found")
		}
		for _, sb := range m.Found {
			sum := "correct"
			if !sb.ChecksumOK {
				sum = fmt.Sprintf("WRONG (computed %08x)", sb.ChecksumCalc)
			}
			if !sb.IsMD() {
				verdict := fmt.Sprintf("checksum %08x %s", sb.Checksum, sum)
				if sb.ChecksumNote != "" {
					verdict = sb.ChecksumNote
				}
				fmt.Fprintf(w, "  %s at byte %d: %s (%s)\n", sb.Format, sb.Offset, sb.Detail, verdict)
				if sb.DDF != nil {
					for _, e := range sb.DDF.SectionErrors {
						fmt.Fprintf(w, "    DDF: %s\n", e)
					}
					for _, vd := range sb.DDF.VDs {
						fmt.Fprintf(w, "    DDF VD %s %q: %s, position %d of %d, %d sectors from LBA %d%s\n", vd.GUID, vd.Name,
							raid.LevelName(vd.Level), vd.Position, vd.PrimCount, vd.Blocks, vd.LBAOffset, map[bool]string{true: ", " + vd.Err}[vd.Err != ""])
					}
				}
				if sb.IMSM != nil {
					who := "serial unknown (use --serial)"
					if sb.IMSM.SerialKnown {
						who = fmt.Sprintf("disk %d (serial %s)", sb.IMSM.ThisDisk, sb.IMSM.Serial)
					}
					fmt.Fprintf(w, "    IMSM generation %d, this member: %s\n", sb.IMSM.Generation, who)
					for _, v := range sb.IMSM.Volumes {
						fmt.Fprintf(w, "    IMSM volume %d %q: %s, %d members, %d sectors\n", v.Index, v.Name, raid.LevelName(v.Level), v.Members, v.SizeSectors)
					}
				}
				continue
			}
			swapped := ""
			if sb.ByteSwapped {
				swapped = ", byte-swapped"
			}
			fmt.Fprintf(w, "  %s superblock at byte %d%s, checksum %08x %s\n", sb.Format, sb.Offset, swapped, sb.Checksum, sum)
			fmt.Fprintf(w, "    array %s %q: %s", sb.UUID, sb.Name, sb.LevelName)
			if sb.LayoutName != "" {
				fmt.Fprintf(w, " %s", sb.LayoutName)
			}
			if sb.ChunkSectors > 0 {
				fmt.Fprintf(w, ", chunk %dK", sb.ChunkSectors/2)
			}
			fmt.Fprintf(w, ", %d devices, events %d\n", sb.RaidDisks, sb.Events)
			role := fmt.Sprint(sb.Role)
			switch sb.Role {
			case raid.RoleSpare:
				role = "spare"
			case raid.RoleFaulty:
				role = "faulty"
			case raid.RoleJournal:
				role = "journal"
			}
			fmt.Fprintf(w, "    this member: role %s, dev number %d, data offset %d sectors, data size %d sectors, component size %d sectors\n",
				role, sb.DevNumber, sb.DataOffset, sb.DataSize, sb.DevSectors)
			if len(sb.Features) > 0 {
				fmt.Fprintf(w, "    features: %s\n", strings.Join(sb.Features, ", "))
			}
			if sb.RecoveryOffset >= 0 {
				fmt.Fprintf(w, "    recovery offset: %d sectors\n", sb.RecoveryOffset)
			}
			if sb.ReshapeActive() {
				fmt.Fprintf(w, "    RESHAPE in progress: position %d sectors, new level %d, new layout %d, new chunk %d sectors, delta disks %+d\n",
					sb.ReshapePosition, sb.NewLevel, sb.NewLayout, sb.NewChunkSectors, sb.DeltaDisks)
			}
		}
		for _, e := range m.Errors {
			fmt.Fprintf(w, "  error: %s\n", e)
		}
	}
	for i, a := range rep.Arrays {
		fmt.Fprintf(w, "\nvolume %d: %s (uuid %s)  %s", i, a.SourceID(), a.UUID, a.Level)
		if a.Layout != "" {
			fmt.Fprintf(w, " %s", a.Layout)
		}
		if a.ChunkBytes > 0 {
			fmt.Fprintf(w, ", chunk %dK", a.ChunkBytes/1024)
		}
		fmt.Fprintf(w, ", %d devices, %s metadata, events %d\n", a.RaidDevices, a.Metadata, a.Events)
		if a.Name != "" {
			fmt.Fprintf(w, "  name: %s\n", a.Name)
		}
		fmt.Fprintf(w, "  state: %s, size %d bytes\n", a.State, a.Size)
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  role\tstatus\tevents\tdata offset\tmember")
		for _, m := range a.Members {
			role := fmt.Sprint(m.Role)
			if m.Role < 0 {
				role = "-"
			}
			name := m.Name
			if name == "" {
				name = "(not supplied)"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%s\n", role, m.Status, m.Events, m.DataOffset, name)
		}
		tw.Flush()
		for _, p := range a.Problems {
			fmt.Fprintf(w, "  problem: %s\n", p)
		}
	}
}

func runRaidAssemble(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("raid assemble", flag.ContinueOnError)
	out := fs.String("o", "", "write the volume to this new file (refuses to overwrite)")
	volume := fs.Int("volume", -1, "which volume (as numbered by raid examine) when the members hold several")
	check := fs.Bool("check-parity", false, "also verify parity (RAID4/5/6) or copies (RAID1/10) and report stripes that disagree")
	r0 := fs.String("raid0-layout", "", "multi-zone RAID0 layout when the metadata does not record it: original or alternate")
	serials := serialFlags{}
	fs.Var(serials, "serial", "MEMBER=SERIAL: the drive serial of an image file (IMSM places members by serial); repeatable")
	fs.Usage = func() { fmt.Fprint(stderr, raidUsage); fs.PrintDefaults() }
	pos, err := parseInterleaved(fs, args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if *out == "" || len(pos) == 0 {
		fs.Usage()
		return usageError("raid assemble needs -o OUT and at least one MEMBER")
	}
	var opt raid.Options
	switch *r0 {
	case "":
	case "original":
		opt.RAID0Layout = 1
	case "alternate":
		opt.RAID0Layout = 2
	default:
		return usageError(fmt.Sprintf("--raid0-layout %q: want original or alternate", *r0))
	}
	if err := outputOnMembers(*out, pos); err != nil {
		return err
	}
	ms, closeAll, err := openMembers(pos, serials)
	if err != nil {
		return err
	}
	defer closeAll()
	rep, err := raid.Examine(ms)
	if err != nil {
		return err
	}
	if len(rep.Arrays) == 0 {
		return errors.New("no md, DDF or IMSM RAID metadata found on the members")
	}
	idx := *volume
	if idx < 0 {
		if len(rep.Arrays) > 1 {
			var ids []string
			for i, a := range rep.Arrays {
				ids = append(ids, fmt.Sprintf("%d: %s %s", i, a.UUID, a.Level))
			}
			return usageError(fmt.Sprintf("the members hold %d volumes, choose one with --volume N (%s)", len(rep.Arrays), strings.Join(ids, "; ")))
		}
		idx = 0
	}
	if idx >= len(rep.Arrays) {
		return usageError(fmt.Sprintf("--volume %d: the members hold %d volume(s)", idx, len(rep.Arrays)))
	}
	arr := rep.Arrays[idx]
	v, err := raid.OpenWith(arr, opt)
	if err != nil {
		return err
	}
	for _, p := range arr.Problems {
		fmt.Fprintf(stderr, "warning: %s\n", p)
	}
	if arr.State != "clean" {
		fmt.Fprintf(stderr, "warning: array %s is %s\n", arr.UUID, arr.State)
	}
	if *check {
		res, err := v.CheckParity(ctx, func(m raid.Mismatch) {
			fmt.Fprintf(stdout, "parity mismatch: stripe %d (member offset %d): %s\n", m.Stripe, m.DevOffset, m.What)
		})
		if err != nil {
			return fmt.Errorf("check parity: %w", err)
		}
		fmt.Fprintf(stdout, "parity: %d stripes checked, %d mismatches\n", res.Checked, len(res.Mismatches))
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("create output: %w", err)
	}
	h := sha256.New()
	n, err := copyCtx(ctx, io.MultiWriter(f, h), io.NewSectionReader(v, 0, v.Size()))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s after %d of %d bytes: %w", *out, n, v.Size(), err)
	}
	fmt.Fprintf(stdout, "wrote %s: %s %s, %d bytes, sha256 %s\n", *out, arr.SourceID(), arr.Level, n, hex.EncodeToString(h.Sum(nil)))
	if r := v.Repairs(); r > 0 {
		fmt.Fprintf(stderr, "warning: %d reads failed on a member and were served from the redundancy (parity or another copy)\n", r)
	}
	return nil
}

// outputOnMembers refuses an output that would write onto a member: the
// check acquire makes for its OUTDIR (symlinks, hard links, the member's
// disk, partitions and stacked devices, loop devices backed by a member
// image, the file system the output lands on). It reads no member.
func outputOnMembers(out string, members []string) error {
	for _, m := range members {
		st, err := os.Stat(m)
		if err != nil {
			continue // openMembers reports it
		}
		info := disk.Info{Path: m, Name: filepath.Base(m), Kind: disk.KindDisk}
		if st.Mode().IsRegular() {
			info.Kind = disk.KindFile
		}
		on, why, err := disk.OutputFileOnSource(out, info)
		if err != nil {
			return fmt.Errorf("%w: check whether %s is on member %s: %v", acquire.ErrRefused, out, m, err)
		}
		if on {
			return fmt.Errorf("%w: %s (member %s): refusing to write onto evidence", acquire.ErrRefused, why, m)
		}
	}
	return nil
}

func copyCtx(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, 4<<20)
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// writeJSON writes v as indented JSON: the --json output of list,
// identify and raid examine.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
