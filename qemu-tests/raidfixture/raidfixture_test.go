package raidfixture_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/coldimage/coldimage/qemu-tests/raidfixture"
	"github.com/coldimage/coldimage/raid"
)

var (
	fxOnce sync.Once
	fx     *raidfixture.Fixtures
	fxErr  error
)

// fixtures builds the fixtures once per test binary (or finds them in the
// cache). Tests skip only when QEMU is not installed.
func fixtures(t *testing.T) *raidfixture.Fixtures {
	t.Helper()
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 not installed: RAID fixtures need a QEMU guest with the md driver")
	}
	fxOnce.Do(func() {
		fx, fxErr = raidfixture.Build(context.Background(), raidfixture.Options{Log: func(f string, a ...any) {
			fmt.Fprintf(os.Stderr, f+"\n", a...)
		}})
	})
	if fxErr != nil {
		t.Fatalf("build RAID fixtures: %v", fxErr)
	}
	return fx
}

type openMember struct {
	raid.Member
	f *os.File
}

func openMembers(t *testing.T, r *raidfixture.Result, drop []int) []raid.Member {
	t.Helper()
	var ms []raid.Member
	for i, p := range r.Members {
		if slices.Contains(drop, i) {
			continue
		}
		f, err := os.Open(p) // read-only
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		st, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, raid.Member{Name: fmt.Sprintf("%s[%d]", r.Case.Name, i), R: f, Size: st.Size(), Serial: r.Serials[i]})
	}
	return ms
}

func hashVolume(t *testing.T, v *raid.Volume) string {
	t.Helper()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	if _, err := io.CopyBuffer(h, io.NewSectionReader(v, 0, v.Size()), buf); err != nil {
		t.Fatalf("read volume: %v", err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func examineOne(t *testing.T, ms []raid.Member) *raid.Array {
	t.Helper()
	rep, err := raid.Examine(ms)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Arrays) != 1 {
		t.Fatalf("Examine found %d arrays, want 1", len(rep.Arrays))
	}
	return rep.Arrays[0]
}

func result(t *testing.T, c raidfixture.Case) *raidfixture.Result {
	t.Helper()
	r := fixtures(t).Results[c.Name]
	if r.Error != "" || r.SHA256 == "" {
		t.Fatalf("guest could not build %s: %s", c.Name, r.Error)
	}
	return r
}

// TestAssembleMatchesKernel reassembles every fixture array (complete, and
// with members dropped where redundancy allows) and compares the volume's
// SHA-256 with the one the kernel's md driver computed in the guest.
func TestAssembleMatchesKernel(t *testing.T) {
	for _, c := range raidfixture.Cases {
		t.Run(c.Name, func(t *testing.T) {
			r := result(t, c)
			if c.Scenario == "reshape" {
				arr := examineOne(t, openMembers(t, r, nil))
				if arr.Reshape == nil {
					t.Fatalf("no reshape reported; state %s", arr.State)
				}
				_, err := raid.Open(arr)
				if !errors.Is(err, raid.ErrReshape) {
					t.Fatalf("Open = %v, want ErrReshape", err)
				}
				return
			}
			if c.Scenario == "twovols" {
				// Two volumes in one container: each must read back as one
				// of the kernel's two hashes, and they must differ.
				rep, err := raid.Examine(openMembers(t, r, nil))
				if err != nil || len(rep.Arrays) != 2 || r.SHA2562 == "" {
					t.Fatalf("want 2 volumes and 2 kernel hashes: %v, %d arrays, %+v", err, len(rep.Arrays), r)
				}
				seen := map[string]bool{}
				for _, a := range rep.Arrays {
					v, err := raid.Open(a)
					if err != nil {
						t.Fatal(err)
					}
					h := hashVolume(t, v)
					if h != r.SHA256 && h != r.SHA2562 || seen[h] {
						t.Fatalf("volume %s (data offset %d): sha256 %s, kernel %s / %s", a.UUID, a.Members[0].DataOffset, h, r.SHA256, r.SHA2562)
					}
					seen[h] = true
				}
				return
			}
			sets := append([][]int{nil}, c.Degraded...)
			for _, drop := range sets {
				arr := examineOne(t, openMembers(t, r, drop))
				v, err := raid.Open(arr)
				if err != nil {
					t.Fatalf("drop %v: Open: %v", drop, err)
				}
				if v.Size() != r.Size {
					t.Fatalf("drop %v: size %d, kernel %d", drop, v.Size(), r.Size)
				}
				if arr.Size != r.Size {
					t.Errorf("drop %v: Array.Size %d, kernel %d", drop, arr.Size, r.Size)
				}
				if got := hashVolume(t, v); got != r.SHA256 {
					t.Fatalf("drop %v: sha256 %s, kernel %s", drop, got, r.SHA256)
				}
				if len(drop) == 0 && c.Scenario == "" && (arr.LevelNum == 1 || arr.LevelNum >= 4) {
					// The kernel resynced the array: parity (P and Q, in every
					// layout's slot order) and copies must all agree.
					res, err := v.CheckParity(context.Background(), nil)
					if err != nil || len(res.Mismatches) > 0 || res.Checked == 0 {
						t.Fatalf("CheckParity on the resynced array: %v, %+v", err, res)
					}
				}
				wantState := "clean"
				if len(drop) > 0 || c.Scenario == "stale" || c.Scenario == "faulty" || c.Scenario == "recovering" {
					wantState = "degraded"
				}
				if arr.State != wantState {
					t.Errorf("drop %v: state %q, want %q", drop, arr.State, wantState)
				}
			}
			for _, drop := range c.TooMany {
				arr := examineOne(t, openMembers(t, r, drop))
				_, err := raid.Open(arr)
				if !errors.Is(err, raid.ErrTooManyMissing) {
					t.Fatalf("drop %v: Open = %v, want ErrTooManyMissing", drop, err)
				}
			}
			want := map[string]string{"stale": raid.StatusStale, "faulty": raid.StatusStale, "spare": raid.StatusSpare,
				"recovering": raid.StatusRebuilding}[c.Scenario]
			if want != "" {
				arr := examineOne(t, openMembers(t, r, nil))
				last := arr.Members[len(arr.Members)-1]
				if last.Status != want || !strings.HasSuffix(last.Name, fmt.Sprintf("[%d]", len(c.DisksMiB)-1)) {
					t.Errorf("last member %s status %s, want %s", last.Name, last.Status, want)
				}
			}
		})
	}
}

// parseExamine turns `mdadm --examine` output into key → value.
func parseExamine(s string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(l, " : ")
		if !ok {
			if f := strings.Fields(l); len(f) >= 5 && f[0] == "this" {
				m["this"] = strings.Join(f[1:], " ")
			}
			continue
		}
		m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return m
}

func firstInt(s string) int64 {
	f := strings.Fields(s)
	if len(f) == 0 {
		return -1
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// TestExamineMatchesMdadm compares every member's decoded superblock with
// what Debian's mdadm --examine printed for it in the guest.
func TestExamineMatchesMdadm(t *testing.T) {
	for _, c := range raidfixture.Cases {
		t.Run(c.Name, func(t *testing.T) {
			r := result(t, c)
			ms := openMembers(t, r, nil)
			rep, err := raid.Examine(ms)
			if err != nil {
				t.Fatal(err)
			}
			for i, mr := range rep.Members {
				ex := parseExamine(r.Examine[i])
				if len(mr.Found) != 1 {
					t.Fatalf("member %d: %d formats found, want 1", i, len(mr.Found))
				}
				sb := mr.Found[0]
				check := func(field, want, got string) {
					t.Helper()
					if want != got {
						t.Errorf("member %d %s: mdadm %q, ours %q", i, field, want, got)
					}
				}
				switch sb.Format {
				case "ddf":
					checkDDF(t, i, r.Examine[i], sb, check)
					continue
				case "imsm":
					checkIMSM(t, i, r.Examine[i], sb, check)
					continue
				}
				ver := ex["Version"]
				if ver == "0.90.00" {
					ver = "0.90"
				}
				check("Version", "md-"+ver, sb.Format)
				uuid := ex["Array UUID"]
				if uuid == "" {
					uuid, _, _ = strings.Cut(ex["UUID"], " ")
				}
				check("UUID", uuid, sb.UUID)
				check("Raid Level", ex["Raid Level"], sb.LevelName)
				check("Raid Devices", ex["Raid Devices"], strconv.Itoa(sb.RaidDisks))
				check("Events", ex["Events"], strconv.FormatUint(sb.Events, 10))
				if l, ok := ex["Layout"]; ok {
					check("Layout", l, sb.LayoutName)
				}
				if cs, ok := ex["Chunk Size"]; ok {
					check("Chunk Size", cs, fmt.Sprintf("%dK", sb.ChunkSectors/2))
				}
				if do, ok := ex["Data Offset"]; ok {
					check("Data Offset", do, fmt.Sprintf("%d sectors", sb.DataOffset))
				}
				if so, ok := ex["Super Offset"]; ok {
					check("Super Offset", so, fmt.Sprintf("%d sectors", sb.Offset/512))
				}
				if ro, ok := ex["Recovery Offset"]; ok {
					check("Recovery Offset", ro, fmt.Sprintf("%d sectors", sb.RecoveryOffset))
				}
				if fm, ok := ex["Feature Map"]; ok {
					check("Feature Map", fm, fmt.Sprintf("%#x", sb.FeatureMap))
				}
				if ud, ok := ex["Used Dev Size"]; ok {
					want := firstInt(ud)
					if sb.MajorVersion == 0 {
						want *= 2
					}
					check("Used Dev Size (sectors)", strconv.FormatInt(want, 10), strconv.FormatInt(sb.DevSectors, 10))
				}
				sum := strings.Fields(ex["Checksum"])
				if len(sum) >= 3 {
					check("Checksum", sum[0], fmt.Sprintf("%x", sb.Checksum))
					check("Checksum status", sum[2], map[bool]string{true: "correct", false: "wrong"}[sb.ChecksumOK])
				}
				role := ex["Device Role"]
				if this, ok := ex["this"]; ok {
					f := strings.Fields(this) // number major minor raiddisk state...
					if strings.Contains(this, "active sync") {
						role = "Active device " + f[3]
					} else {
						role = "spare"
					}
					check("this number", f[0], strconv.Itoa(sb.DevNumber))
				}
				switch {
				case strings.HasPrefix(role, "Active device "):
					check("Device Role", strings.TrimPrefix(role, "Active device "), strconv.Itoa(sb.Role))
				case role == "spare":
					check("Device Role", "-1", strconv.Itoa(sb.Role))
				}
			}
			// mdadm --detail of the running array gives the kernel's size.
			if len(rep.Arrays) == 1 && c.Scenario == "" {
				a := rep.Arrays[0]
				if as, ok := parseExamine(r.Detail)["Array Size"]; !ok {
					t.Errorf("no Array Size in mdadm --detail")
				} else if want := firstInt(as); want != a.Size/1024 {
					t.Errorf("Array Size: mdadm --detail %d KiB, ours %d KiB", want, a.Size/1024)
				}
			}
		})
	}
}

// checkDDF compares a DDF member with mdadm --examine's DDF report.
func checkDDF(t *testing.T, i int, text string, sb *raid.Superblock, check func(field, want, got string)) {
	t.Helper()
	ex := parseExamine(text)
	d := sb.DDF
	if !sb.ChecksumOK || d == nil || len(d.VDs) < 1 {
		t.Fatalf("member %d: DDF checksum ok %v, info %+v", i, sb.ChecksumOK, d)
	}
	vd := d.VDs[0]
	guid := func(s string) string {
		return strings.ToLower(strings.ReplaceAll(strings.Fields(s + " x")[0], ":", ""))
	}
	check("Container GUID", guid(ex["Container GUID"]), d.ContainerGUID)
	check("Seq", ex["Seq"], fmt.Sprintf("%08x", d.Sequence))
	check("Virtual Disks", ex["Virtual Disks"], strconv.Itoa(len(d.VDs)))
	if len(d.VDs) > 1 {
		return // per-VD lines repeat; parseExamine keeps only the last
	}
	check("VD GUID", guid(ex["VD GUID[0]"]), vd.GUID)
	if cs, ok := ex["Chunk Size[0]"]; ok {
		check("Chunk Size", cs, fmt.Sprintf("%d sectors", vd.ChunkSectors))
	}
	check("Device Size (KiB)", ex["Device Size[0]"], strconv.FormatInt(vd.Blocks/2, 10))
	check("Array Size (KiB)", ex["Array Size[0]"], strconv.FormatInt(vd.ArrayBlocks/2, 10))
	check("Raid Devices", strconv.FormatInt(firstInt(ex["Raid Devices[0]"]), 10), strconv.Itoa(vd.PrimCount))
	// The physical disk line naming this device carries its RefNo.
	dev := strings.TrimSuffix(strings.SplitN(text, "\n", 2)[0], ":")
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) >= 4 && f[3] == dev {
			check("RefNo", f[1], fmt.Sprintf("%08x", d.Refnum))
		}
	}
}

// checkIMSM compares an IMSM member with mdadm --examine's IMSM report.
func checkIMSM(t *testing.T, i int, text string, sb *raid.Superblock, check func(field, want, got string)) {
	t.Helper()
	ex := parseExamine(text)
	d := sb.IMSM
	if d == nil || len(d.Volumes) < 1 || !d.SerialKnown {
		t.Fatalf("member %d: IMSM info %+v", i, d)
	}
	v := d.Volumes[0]
	check("RAID Devices", ex["RAID Devices"], strconv.Itoa(len(d.Volumes)))
	sum := strings.Fields(ex["Checksum"])
	if len(sum) == 2 {
		check("Checksum", sum[0], fmt.Sprintf("%08x", sb.Checksum))
		check("Checksum status", sum[1], map[bool]string{true: "correct", false: "wrong"}[sb.ChecksumOK])
	}
	check("Family", ex["Family"], fmt.Sprintf("%08x", d.Family))
	check("Generation", ex["Generation"], fmt.Sprintf("%08x", d.Generation))
	check("Version", ex["Version"], d.Version)
	check("Disks", ex["Disks"], strconv.Itoa(len(d.Disks)))
	if len(d.Volumes) > 1 {
		return // per-volume lines repeat; parseExamine keeps only the last
	}
	check("RAID Level", ex["RAID Level"], strconv.Itoa(map[int]int{0: 0, 1: 1, 5: 5, 10: 10}[v.Level]))
	check("Members", ex["Members"], strconv.Itoa(v.Members))
	check("Array Size", strconv.FormatInt(firstInt(ex["Array Size"]), 10), strconv.FormatInt(v.SizeSectors, 10))
	check("Per Dev Size", strconv.FormatInt(firstInt(ex["Per Dev Size"]), 10), strconv.FormatInt(v.BlocksPerMember, 10))
	check("Sector Offset", ex["Sector Offset"], strconv.FormatInt(v.PBA, 10))
	if cs, ok := ex["Chunk Size"]; ok {
		check("Chunk Size", cs, fmt.Sprintf("%d KiB", v.StripSectors/2))
	}
	pos := -1
	for k, o := range v.Ord {
		if int(o&0xffffff) == d.ThisDisk {
			pos = k
		}
	}
	check("This Slot", ex["This Slot"], strconv.Itoa(pos))
}

// TestCheckParityFindsCorruption copies a RAID6 and a RAID1 fixture, flips
// one byte in one member of each, and expects CheckParity to name exactly the
// damaged stripe (and to find nothing on the untouched originals).
func TestCheckParityFindsCorruption(t *testing.T) {
	for _, tc := range []struct {
		name   string
		member int
		off    int64 // bytes from the member's data offset
	}{
		{"v12-raid6-ls", 2, 3*64<<10 + 100},
		{"v12-raid5-la", 0, 5*64<<10 + 7},
		{"v12-raid1", 1, 1<<20 + 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c raidfixture.Case
			for _, k := range raidfixture.Cases {
				if k.Name == tc.name {
					c = k
				}
			}
			r := result(t, c)
			arr := examineOne(t, openMembers(t, r, nil))
			v, err := raid.Open(arr)
			if err != nil {
				t.Fatal(err)
			}
			res, err := v.CheckParity(context.Background(), nil)
			if err != nil || len(res.Mismatches) != 0 || res.Checked == 0 {
				t.Fatalf("original: %+v %v", res, err)
			}
			// Copy the members, damage one byte.
			dir := t.TempDir()
			var copies raidfixture.Result = *r
			copies.Members = nil
			for i, p := range r.Members {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if i == tc.member {
					b[arr.Members[i].DataOffset+tc.off] ^= 0x5a
				}
				q := fmt.Sprintf("%s/%d.img", dir, i)
				if err := os.WriteFile(q, b, 0o644); err != nil {
					t.Fatal(err)
				}
				copies.Members = append(copies.Members, q)
			}
			arr2 := examineOne(t, openMembers(t, &copies, nil))
			v2, err := raid.Open(arr2)
			if err != nil {
				t.Fatal(err)
			}
			res, err = v2.CheckParity(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Mismatches) == 0 {
				t.Fatalf("damaged byte at member %d offset %d not found", tc.member, tc.off)
			}
			for _, m := range res.Mismatches {
				if chunk := arr2.ChunkBytes; chunk > 0 && m.DevOffset/chunk != tc.off/chunk {
					t.Errorf("mismatch reported at member offset %d, damage at %d: %+v", m.DevOffset, tc.off, m)
				}
			}
		})
	}
}

// badRange fails reads that touch [from, to) of the wrapped member, like a
// disk with unreadable sectors.
type badRange struct {
	r        io.ReaderAt
	from, to int64
}

var errBadSector = errors.New("simulated unreadable sector")

func (b badRange) ReadAt(p []byte, off int64) (int, error) {
	if off < b.to && off+int64(len(p)) > b.from {
		return 0, errBadSector
	}
	return b.r.ReadAt(p, off)
}

// TestUnreadableSectorsRebuilt gives one member a run of unreadable sectors:
// the volume must still read back as the kernel's bytes, rebuilt from parity
// or read from the other copy.
func TestUnreadableSectorsRebuilt(t *testing.T) {
	for _, name := range []string{"v12-raid5-la", "v12-raid6-ls", "v12-raid1", "v12-raid10-n2", "v12-raid6-ddf-nc"} {
		t.Run(name, func(t *testing.T) {
			var c raidfixture.Case
			for _, k := range raidfixture.Cases {
				if k.Name == name {
					c = k
				}
			}
			r := result(t, c)
			ms := openMembers(t, r, nil)
			ms[0].R = badRange{ms[0].R, 1<<20 + 200<<10, 1<<20 + 712<<10} // spans data chunks in every layout
			arr := examineOne(t, ms)
			v, err := raid.Open(arr)
			if err != nil {
				t.Fatal(err)
			}
			if got := hashVolume(t, v); got != r.SHA256 {
				t.Fatalf("sha256 %s, kernel %s", got, r.SHA256)
			}
			if v.Repairs() == 0 {
				t.Errorf("no repairs counted")
			}
		})
	}
}
