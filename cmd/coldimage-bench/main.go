// Command coldimage-bench runs `make bench`: on one page-cached 2 GiB file
// (1 GiB random + 1 GiB zeros) it measures in-process SHA-256, `coldimage
// acquire`, dc3dd and the verify pass; then 8 concurrent 256 MiB sources;
// with peak RSS from the kernel's rusage. It prints a Markdown table and, with
// -write, replaces the "Latest run" section of BENCHMARKS.md.
package main

import (
	"context"
	crand "crypto/sha256"
	"flag"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	sha256simd "github.com/minio/sha256-simd"

	"github.com/coldimage/coldimage/imager"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "coldimage-bench:", err)
		os.Exit(1)
	}
}

type row struct{ what, figure, note string }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("coldimage-bench", flag.ContinueOnError)
	bin := fs.String("bin", "bin/coldimage", "coldimage binary")
	dir := fs.String("dir", "/dev/shm", "scratch directory (tmpfs, so the disk's fsync speed is not measured)")
	diskDir := fs.String("disk-dir", "/var/tmp", "scratch directory on a disk, where checkpoints (fsync) cost what they cost")
	write := fs.String("write", "", "update this BENCHMARKS.md with the table")
	runs := fs.Int("runs", 2, "runs per measurement (best is kept)")
	rescueTime := fs.Duration("rescue-time", 300*time.Second, "rescue budget of the failing-disk comparison with GNU ddrescue (0: skip it)")
	only := fs.String("only", "", "run one comparison alone: s3, or durable (checkpoints and resume)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	work, err := os.MkdirTemp(*dir, "coldimage-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	logf := func(f string, a ...any) { fmt.Fprintf(stderr, f+"\n", a...) }

	src := filepath.Join(work, "src.dd")
	logf("making %s: 1 GiB random + 1 GiB zeros", src)
	if err := makeFile(src, 1<<30, 1<<30, 1); err != nil {
		return err
	}
	const size = 2 << 30
	var rows []row
	if *only == "s3" {
		srcs, err := eightSources(work)
		if err != nil {
			return err
		}
		if err := s3Bench(*bin, *dir, src, size, srcs, *runs, logf, &rows); err != nil {
			return err
		}
		fmt.Fprint(stdout, render(rows))
		return nil
	} else if *only == "durable" {
		if err := durableBench(*bin, *diskDir, src, *runs, logf, &rows); err != nil {
			return err
		}
		fmt.Fprint(stdout, render(rows))
		return nil
	} else if *only != "" {
		return fmt.Errorf("--only %q: want s3 or durable", *only)
	}
	mbps := func(bytes int64, d time.Duration) float64 { return float64(bytes) / 1e6 / d.Seconds() }

	// 1. In-process SHA-256 alone (read + hash), the ceiling for one stream.
	shaAlone := best(*runs, func() time.Duration { return hashFiles([]string{src}, func() hash.Hash { return sha256simd.New() }) })
	rows = append(rows, row{"in-process SHA-256 alone (sha256-simd, read+hash)", fmt.Sprintf("%.0f MB/s", mbps(size, shaAlone)), "one stream, the ceiling"})
	logf("sha256 alone: %.0f MB/s", mbps(size, shaAlone))

	// 2a. Without the per-piece (piecewise) BLAKE3 pass, measured first so
	// that the default run below leaves its image for the verify pass.
	out := filepath.Join(work, "out")
	nopiece := best(*runs, func() time.Duration {
		os.RemoveAll(out)
		d, _, err := timed(*bin, nil, "acquire", "--hash", "sha256,blake3", "--no-verify", "--piece-size", "0", src, out)
		if err != nil {
			logf("acquire --piece-size 0: %v", err)
		}
		return d
	})

	// 2. coldimage acquire --hash sha256,blake3 --no-verify.
	var acqRSS int64
	acq := best(*runs, func() time.Duration {
		os.RemoveAll(out)
		d, rss, err := timed(*bin, nil, "acquire", "--hash", "sha256,blake3", "--no-verify", src, out)
		if err != nil {
			logf("acquire: %v", err)
		}
		acqRSS = max(acqRSS, rss)
		return d
	})
	rows = append(rows, row{"coldimage acquire --hash sha256,blake3 --no-verify", fmt.Sprintf("%.0f MB/s", mbps(size, acq)),
		fmt.Sprintf("%.2f× SHA-256 alone (target ≥ 0.9); peak RSS %d MiB", shaAlone.Seconds()/acq.Seconds(), acqRSS>>10)})
	logf("acquire: %.0f MB/s", mbps(size, acq))
	rows = append(rows, row{"coldimage acquire --hash sha256,blake3 --no-verify --piece-size 0", fmt.Sprintf("%.0f MB/s", mbps(size, nopiece)),
		fmt.Sprintf("%.2f× SHA-256 alone: the piecewise BLAKE3 pass is what the default pays for piece hashes", shaAlone.Seconds()/nopiece.Seconds())})

	// 3. dc3dd hash=sha256, writing an image like we do.
	if _, err := exec.LookPath("dc3dd"); err == nil {
		img := filepath.Join(work, "dc3dd.img")
		dc := best(*runs, func() time.Duration {
			os.Remove(img)
			d, _, err := timed("dc3dd", nil, "if="+src, "of="+img, "hash=sha256", "nwspc=on")
			if err != nil {
				logf("dc3dd: %v", err)
			}
			return d
		})
		os.Remove(img)
		rows = append(rows, row{"dc3dd if=… of=… hash=sha256", fmt.Sprintf("%.0f MB/s", mbps(size, dc)),
			fmt.Sprintf("coldimage is %.2f× dc3dd (target ≥ 2.4)", dc.Seconds()/acq.Seconds())})
		logf("dc3dd: %.0f MB/s", mbps(size, dc))
	} else {
		rows = append(rows, row{"dc3dd", "not installed", "scripts/install-deps.sh installs it"})
	}

	// 4. The verify pass: source re-read + image read-back, every hash.
	var verRSS int64
	ver := best(*runs, func() time.Duration {
		d, rss, err := timed(*bin, nil, "verify", out, "--source", src)
		if err != nil {
			logf("verify: %v", err)
		}
		verRSS = max(verRSS, rss)
		return d
	})
	rows = append(rows, row{"coldimage verify OUTDIR --source SRC", fmt.Sprintf("%.0f MB/s (%.2f s)", mbps(size, ver), ver.Seconds()),
		fmt.Sprintf("%.2f× acquire time (target ≤ 1.15); peak RSS %d MiB", ver.Seconds()/acq.Seconds(), verRSS>>10)})
	logf("verify: %.2f× acquire", ver.Seconds()/acq.Seconds())
	os.RemoveAll(out)

	// 5. E01: ours (fast compression) vs ewfacquire -c fast -d sha256.
	if _, err := exec.LookPath("ewfacquire"); err == nil {
		e01 := filepath.Join(work, "e01")
		var oursSize int64
		ours := best(*runs, func() time.Duration {
			os.RemoveAll(e01)
			d, _, err := timed(*bin, nil, "acquire", "--format", "e01", "--hash", "sha256", "--no-verify", src, e01)
			if err != nil {
				logf("acquire e01: %v", err)
			}
			oursSize = dirSize(e01, "image.E")
			return d
		})
		os.RemoveAll(e01)
		ref := filepath.Join(work, "ewfacquire")
		var refSize int64
		theirs := best(*runs, func() time.Duration {
			os.RemoveAll(ref)
			os.Mkdir(ref, 0o755)
			d, _, err := timed("ewfacquire", nil, "-u", "-q", "-c", "fast", "-d", "sha256", "-f", "encase6", "-S", "2147483648",
				"-t", filepath.Join(ref, "image"), "-C", "bench", "-E", "bench", "-e", "bench", "-D", "bench", "-N", "bench", src)
			if err != nil {
				logf("ewfacquire: %v", err)
			}
			refSize = dirSize(ref, "image.E")
			return d
		})
		os.RemoveAll(ref)
		rows = append(rows, row{"coldimage acquire --format e01 --hash sha256 --no-verify", fmt.Sprintf("%.0f MB/s", mbps(size, ours)),
			fmt.Sprintf("%.2f× ewfacquire (target ≥ 3); %d bytes, %.4f× ewfacquire's size (target within 5%%)", theirs.Seconds()/ours.Seconds(), oursSize, float64(oursSize)/float64(refSize))})
		rows = append(rows, row{"ewfacquire -c fast -d sha256 -f encase6", fmt.Sprintf("%.0f MB/s", mbps(size, theirs)), fmt.Sprintf("%d bytes", refSize)})
		logf("e01: ours %.0f MB/s, ewfacquire %.0f MB/s", mbps(size, ours), mbps(size, theirs))
	}

	// 6. Eight concurrent 256 MiB sources.
	srcs, err := eightSources(work)
	if err != nil {
		return err
	}
	const total8 = 8 * 256 << 20
	std8 := best(*runs, func() time.Duration { return hashFiles(srcs, crand.New) })
	rows = append(rows, row{"8 × 256 MiB, in-process crypto/sha256 per stream", fmt.Sprintf("%.0f MB/s aggregate", mbps(total8, std8)), "8 goroutines, the baseline"})
	if imager.CanMultiBuffer() {
		srv := sha256simd.NewAvx512Server()
		mb8 := best(*runs, func() time.Duration { return hashFiles(srcs, func() hash.Hash { return sha256simd.NewAvx512(srv) }) })
		rows = append(rows, row{"8 × 256 MiB, in-process sha256-simd AVX-512 multi-buffer", fmt.Sprintf("%.0f MB/s aggregate", mbps(total8, mb8)),
			fmt.Sprintf("%.2f× crypto/sha256 per stream", std8.Seconds()/mb8.Seconds())})
	}
	for _, v := range []struct {
		name, hashes, impl string
	}{
		{"sha256,blake3 (auto: " + string(imager.ChooseSHA256(8)) + ")", "sha256,blake3", ""},
		{"sha256 only (auto)", "sha256", ""},
		{"sha256 only, AVX-512 multi-buffer forced", "sha256", "avx512"},
	} {
		if v.impl == "avx512" && !imager.CanMultiBuffer() {
			continue
		}
		var rss int64
		d := best(*runs, func() time.Duration {
			os.RemoveAll(out)
			var env []string
			if v.impl != "" {
				env = []string{"COLDIMAGE_SHA256_IMPL=" + v.impl}
			}
			d, r, err := timed(*bin, env, append(append([]string{"acquire", "--hash", v.hashes, "--no-verify"}, srcs...), out)...)
			if err != nil {
				logf("acquire 8: %v", err)
			}
			rss = max(rss, r)
			return d
		})
		rows = append(rows, row{"8 × 256 MiB, coldimage acquire " + v.name, fmt.Sprintf("%.0f MB/s aggregate", mbps(total8, d)),
			fmt.Sprintf("%.2f× the 8-way crypto/sha256 figure (target ≥ 1.5); peak RSS %d MiB", std8.Seconds()/d.Seconds(), rss>>10)})
	}
	os.RemoveAll(out)

	// 7. Durable progress and resume, on a disk (fsync is real there).
	if err := durableBench(*bin, *diskDir, src, *runs, logf, &rows); err != nil {
		logf("durable/resume benchmark: %v", err)
	}

	// 7b. The S3 target, against a folder and against rclone.
	if err := s3Bench(*bin, *dir, src, size, srcs, *runs, logf, &rows); err != nil {
		logf("S3 benchmark: %v", err)
		rows = append(rows, row{"coldimage acquire to s3://", "not run", err.Error()})
	}

	// 8. The slow failing disk, coldimage against GNU ddrescue.
	if *rescueTime > 0 {
		if err := rescueBench(*bin, *dir, *rescueTime, logf, &rows); err != nil {
			logf("rescue benchmark: %v", err)
			rows = append(rows, row{"rescue of the slow failing disk against GNU ddrescue", "not run", err.Error()})
		}
	}

	// 9. Package benchmarks (RAID reassembly, E01 codec).
	for _, b := range []struct{ pkg, pattern string }{
		{"./raid/", "BenchmarkRAID5Read"},
		{"./imager/ewf/", "BenchmarkWriteE01|BenchmarkReadE01"},
	} {
		outb, err := exec.Command("go", "test", "-run", "^$", "-bench", b.pattern, "-benchtime", "3x", b.pkg).CombinedOutput()
		if err != nil {
			logf("go test -bench %s: %v\n%s", b.pkg, err, outb)
			continue
		}
		for _, l := range strings.Split(string(outb), "\n") {
			f := strings.Fields(l)
			if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
				continue
			}
			var figs []string
			for i := 2; i+1 < len(f); i += 2 {
				if f[i+1] != "ns/op" {
					figs = append(figs, f[i]+" "+f[i+1])
				}
			}
			rows = append(rows, row{"go test -bench " + f[0] + " " + b.pkg, strings.Join(figs, ", "), ""})
		}
	}

	table := render(rows)
	fmt.Fprint(stdout, table)
	if *write != "" {
		return updateFile(*write, table)
	}
	return nil
}

// eightSources makes the eight 256 MiB random sources of the concurrency
// figures.
func eightSources(work string) ([]string, error) {
	var srcs []string
	for i := range 8 {
		p := filepath.Join(work, fmt.Sprintf("s%d.dd", i))
		if err := makeFile(p, 256<<20, 0, uint64(10+i)); err != nil {
			return nil, err
		}
		srcs = append(srcs, p)
	}
	return srcs, nil
}

// durableBench measures, in a folder on a disk: what the checkpoints of
// the in-progress record cost (a fsync of the image and an atomic record
// every 256 MiB) against a run with none, and an acquisition killed
// (SIGKILL) at 90 % and resumed against one uninterrupted run. The source
// is copied there first, so both read the same medium.
func durableBench(bin, dir, src0 string, runs int, logf func(string, ...any), rows *[]row) error {
	work, err := os.MkdirTemp(dir, "coldimage-bench-disk-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	src := filepath.Join(work, "src.dd")
	if err := copyFile(src0, src); err != nil {
		return err
	}
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	size := st.Size()
	out := filepath.Join(work, "out")
	mbps := func(d time.Duration) float64 { return float64(size) / 1e6 / d.Seconds() }
	acquire := func(env []string, args ...string) time.Duration {
		os.RemoveAll(out)
		d, _, err := timed(bin, env, append(append([]string{"acquire", "--hash", "sha256,blake3", "--no-verify", "--piece-size", "64M"}, args...), src, out)...)
		if err != nil {
			logf("acquire: %v", err)
		}
		return d
	}
	// Every run below starts from the same cold cache (an acquisition of
	// a disk reads it from the disk): on a VM whose host backs guest memory
	// lazily, a page the kernel takes for the page cache costs 15× more
	// when it was never used, or was returned to the host, than when a
	// deleted file just freed it. Without this, a run writes into the pages
	// its predecessor's image freed, or does not, and a resume, whose
	// killed run's image is still cached, writes its tail into cold pages:
	// the ratios measured the VM. Each figure is the median of pairs run
	// back to back (a best-of per side pairs runs that did not share the
	// machine's moment).
	cold := func() string {
		os.RemoveAll(out)
		exec.Command("sync").Run()
		if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0); err != nil {
			return "caches not dropped (" + err.Error() + "): the ratio depends on what the page cache holds"
		}
		time.Sleep(3 * time.Second) // freed pages go back to the host
		return "each run from a cold cache: caches dropped, 3 s"
	}
	type pair struct{ a, b time.Duration }
	ratio := func(p pair) float64 { return p.b.Seconds() / p.a.Seconds() }
	median := func(pairs []pair) (med, lo, hi pair) {
		sort.Slice(pairs, func(i, j int) bool { return ratio(pairs[i]) < ratio(pairs[j]) })
		return pairs[len(pairs)/2], pairs[0], pairs[len(pairs)-1]
	}
	how := ""
	var durable []pair
	for range max(runs, 3) {
		how = cold()
		none := acquire([]string{"COLDIMAGE_SYNC_EVERY=1T"})
		cold()
		durable = append(durable, pair{none, acquire(nil)})
	}
	med, lo, hi := median(durable)
	*rows = append(*rows, row{"durable progress: acquire on a disk, checkpoint every 256 MiB (default)", fmt.Sprintf("%.0f MB/s", mbps(med.b)),
		fmt.Sprintf("%.2f× the time of the run with no checkpoint, %.0f MB/s, the median of %d pairs (%.2f–%.2f×; target ≤ 1.03×; %s)",
			ratio(med), mbps(med.a), len(durable), ratio(lo), ratio(hi), how)})
	logf("durable: %.2f× the run without checkpoints", ratio(med))

	resumed := func() time.Duration {
		start := time.Now()
		cmd := exec.Command(bin, "acquire", "--hash", "sha256,blake3", "--no-verify", "--piece-size", "64M", src, out)
		if err := cmd.Start(); err != nil {
			logf("acquire: %v", err)
			return 0
		}
		for {
			st, err := os.Stat(filepath.Join(out, "image.raw"))
			if err == nil && st.Size() >= size*9/10 {
				break
			}
			if time.Since(start) > 10*time.Minute {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		cmd.Process.Kill()
		cmd.Wait()
		first := time.Since(start)
		d, _, err := timed(bin, nil, "acquire", "--resume", "--no-verify", out)
		if err != nil {
			logf("acquire --resume: %v", err)
		}
		return first + d
	}
	// Pairs, each an uninterrupted run then a killed and resumed one.
	var pairs []pair
	for range max(runs, 3) {
		cold()
		one := acquire(nil)
		cold()
		pairs = append(pairs, pair{one, resumed()})
		logf("resume pair: %.2f s, %.2f s", one.Seconds(), pairs[len(pairs)-1].b.Seconds())
	}
	med, lo, hi = median(pairs)
	*rows = append(*rows, row{"resume: killed at 90 %, then acquire --resume (on a disk)", fmt.Sprintf("%.2f s in all", med.b.Seconds()),
		fmt.Sprintf("%.2f× one uninterrupted run of %.2f s, the median of %d pairs (%.2f–%.2f×; target ≤ 1.25; %s): the resume restores the hash states saved at its last checkpoint and checks the image before them against its pieces, in parallel",
			ratio(med), med.a.Seconds(), len(pairs), ratio(lo), ratio(hi), how)})
	logf("resume: %.2f× one run", ratio(med))
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func dirSize(dir, prefix string) int64 {
	var n int64
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			if i, err := e.Info(); err == nil {
				n += i.Size()
			}
		}
	}
	return n
}

func best(n int, f func() time.Duration) time.Duration {
	var b time.Duration
	for i := 0; i < max(n, 1); i++ {
		if d := f(); b == 0 || d < b {
			b = d
		}
	}
	return b
}

// timed runs a command and returns its wall time and peak RSS in KiB.
func timed(name string, env []string, args ...string) (time.Duration, int64, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var errb strings.Builder
	cmd.Stderr = &errb
	t := time.Now()
	err := cmd.Run()
	d := time.Since(t)
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss
	}
	if err != nil {
		return d, rss, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, errb.String())
	}
	return d, rss, nil
}

// hashFiles reads and hashes each file on its own goroutine.
func hashFiles(paths []string, newHash func() hash.Hash) time.Duration {
	t := time.Now()
	var wg sync.WaitGroup
	for _, p := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := os.Open(p)
			if err != nil {
				return
			}
			defer f.Close()
			h := newHash()
			buf := make([]byte, 4<<20)
			io.CopyBuffer(h, f, buf)
			h.Sum(nil)
		}()
	}
	wg.Wait()
	return time.Since(t)
}

func makeFile(path string, random, zeros int64, seed uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed)}))
	buf := make([]byte, 4<<20)
	for n := int64(0); n < random; n += int64(len(buf)) {
		for i := 0; i+8 <= len(buf); i += 8 {
			v := r.Uint64()
			buf[i], buf[i+1], buf[i+2], buf[i+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
			buf[i+4], buf[i+5], buf[i+6], buf[i+7] = byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56)
		}
		if _, err := f.Write(buf); err != nil {
			return err
		}
	}
	if err := f.Truncate(random + zeros); err != nil {
		return err
	}
	// Write the zeros for real, so reads are page-cache reads, not holes.
	clear(buf)
	for n := random; n < random+zeros; n += int64(len(buf)) {
		if _, err := f.WriteAt(buf, n); err != nil {
			return err
		}
	}
	return f.Close()
}

func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				model = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	var u syscall.Utsname
	syscall.Uname(&u)
	rel := make([]byte, 0, 65)
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		rel = append(rel, byte(c))
	}
	var si syscall.Sysinfo_t
	syscall.Sysinfo(&si)
	flags := []string{}
	if imager.HasSHANI() {
		flags = append(flags, "SHA-NI")
	}
	if imager.CanMultiBuffer() {
		flags = append(flags, "AVX-512")
	}
	return fmt.Sprintf("%s (%s), %d cores, %d GiB RAM, Linux %s, %s; data and output on tmpfs",
		model, strings.Join(flags, ", "), runtime.NumCPU(), si.Totalram*uint64(si.Unit)>>30, rel, runtime.Version())
}

func render(rows []row) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run %s on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), machine())
	fmt.Fprintf(&b, "| measurement | figure | note |\n|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", r.what, r.figure, r.note)
	}
	return b.String()
}

const marker = "## Latest run (make bench)"

func updateFile(path, table string) error {
	old, _ := os.ReadFile(path)
	s := string(old)
	head := s
	if i := strings.Index(s, marker); i >= 0 {
		head = s[:i]
		// keep sections after the generated one
		rest := s[i+len(marker):]
		if j := strings.Index(rest, "\n## "); j >= 0 {
			return os.WriteFile(path, []byte(head+marker+"\n\n"+table+rest[j:]), 0o644)
		}
	}
	if head == "" {
		head = "# Benchmarks\n\n"
	}
	return os.WriteFile(path, []byte(strings.TrimRight(head, "\n")+"\n\n"+marker+"\n\n"+table), 0o644)
}
