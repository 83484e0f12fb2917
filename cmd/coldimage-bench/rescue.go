package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coldimage/coldimage/imager"
	qemutests "github.com/coldimage/coldimage/qemu-tests"
)

// rescueBench images the slow failing disk of qemu-tests' TestSlowBadSectors
// (256 MiB; an 8 MiB bad region and 50 scattered bad sectors, each failing
// read taking 1 s) with coldimage and with GNU ddrescue, on the host: the
// disk is served by nbdkit with the test's failing-disk plugin and mounted as
// a file with nbdfuse, read by both with O_DIRECT (sector precision). coldimage
// gets --rescue-time budget; ddrescue (copy, trim, scrape: its defaults) gets
// the wall time coldimage took in all, then SIGINT (it writes its mapfile and
// stops). The figures: bytes recovered by each within that time.
func rescueBench(bin, dir string, budget time.Duration, logf func(string, ...any), rows *[]row) error {
	for _, tool := range []string{"nbdkit", "nbdfuse", "ddrescue", "fusermount3"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not installed (scripts/install-deps.sh installs it)", tool)
		}
	}
	work, err := os.MkdirTemp(dir, "coldimage-bench-rescue-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	const size, ss = 256 << 20, 512
	img := filepath.Join(work, "failing.img")
	if err := qemutests.WritePattern(img, size, 41); err != nil {
		return err
	}
	nbd, err := qemutests.StartNBD(work, img, qemutests.NBDOptions{Bad: qemutests.NewSlowDisk(size, ss).Bad(ss), BadDelay: time.Second})
	if err != nil {
		return err
	}
	defer nbd.Kill()
	mnt := filepath.Join(work, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		return err
	}
	fuse := exec.Command("nbdfuse", "-r", mnt+"/disk", "--unix", nbd.Socket)
	if err := fuse.Start(); err != nil {
		return fmt.Errorf("nbdfuse: %w", err)
	}
	defer func() {
		exec.Command("fusermount3", "-u", mnt).Run()
		fuse.Wait()
	}()
	src := filepath.Join(mnt, "disk")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if st, err := os.Stat(src); err == nil && st.Size() == size {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nbdfuse did not show %s within 20 s", src)
		}
	}

	// coldimage: copy pass, then the rescue passes within the budget.
	out := filepath.Join(work, "out")
	start := time.Now()
	b, err := exec.Command(bin, "acquire", "--hash", "sha256", "--no-verify", "--rescue-time", budget.String(), src, out).CombinedOutput()
	took := time.Since(start)
	rec, rerr := imager.ReadRecord(out)
	if rerr != nil {
		return fmt.Errorf("coldimage acquire: %v: %v\n%s", err, rerr, lastLines(string(b), 5))
	}
	var lost int64
	for _, r := range rec.Unreadable {
		lost += r.Count * ss
	}
	ours := int64(size) - lost
	logf("rescue: coldimage %.0f s, %d bytes recovered, %d not (result %s)", took.Seconds(), ours, lost, rec.Result)

	// ddrescue: the same source for as long as coldimage took in all.
	ddimg, ddmap := filepath.Join(work, "dd.img"), filepath.Join(work, "dd.map")
	dd := exec.Command("ddrescue", "-d", "-q", src, ddimg, ddmap)
	start = time.Now()
	if err := dd.Start(); err != nil {
		return fmt.Errorf("ddrescue: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- dd.Wait() }()
	stopped := false
	select {
	case <-done:
	case <-time.After(took):
		dd.Process.Signal(syscall.SIGINT) // writes its mapfile and exits
		stopped = true
		<-done
	}
	ddTook := time.Since(start)
	theirs, err := mapfileRescued(ddmap)
	if err != nil {
		return err
	}
	how := "finished"
	if stopped {
		how = "stopped at coldimage's time"
	}
	logf("rescue: ddrescue %.0f s (%s), %d bytes recovered", ddTook.Seconds(), how, theirs)
	*rows = append(*rows, row{fmt.Sprintf("rescue of the slow failing disk (256 MiB, 8 MiB bad region + 50 bad sectors, 1 s per failed read), --rescue-time %s", budget),
		fmt.Sprintf("%d bytes recovered in %.0f s", ours, took.Seconds()),
		fmt.Sprintf("GNU ddrescue -d, same source, same wall time: %d bytes in %.0f s (%s); coldimage recovered %+d bytes more (target ≥ 0), not read: %d bytes", theirs, ddTook.Seconds(), how, ours-theirs, lost)})
	return nil
}

// mapfileRescued sums the finished ('+') blocks of a ddrescue mapfile.
func mapfileRescued(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("ddrescue mapfile: %w", err)
	}
	defer f.Close()
	var total int64
	status := false // the first non-comment line is the current position and status
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if !status {
			status = true
			continue
		}
		fl := strings.Fields(l)
		if len(fl) < 3 {
			return 0, fmt.Errorf("ddrescue mapfile %s: line %q", path, l)
		}
		n, err := strconv.ParseInt(fl[1], 0, 64)
		if err != nil {
			return 0, fmt.Errorf("ddrescue mapfile %s: line %q: %w", path, l, err)
		}
		if fl[2] == "+" {
			total += n
		}
	}
	return total, sc.Err()
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}
