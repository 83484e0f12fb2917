// Command e01bench writes a raw file as an E01 set the way the engine does —
// 8 MiB reads fanned out to MD5, SHA-1 and SHA-256 hashers and the ewf.Writer
// concurrently — and prints one line: bytes, seconds, MB/s, image bytes.
// It stands in for `coldimage acquire --format e01` in imager/ewf/bench.sh.
package main

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"

	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/ewf"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "e01bench:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("e01bench", flag.ContinueOnError)
	out := fs.String("o", "", "output directory (created; must not hold image.E01)")
	seg := fs.Int64("segment-size", 2<<30, "segment size in bytes")
	level := fs.Int("level", ewf.LevelFast, "compression: 0 none, 1 fast, 2 best")
	prof := fs.String("cpuprofile", "", "write a CPU profile to this file")
	readback := fs.Bool("readback", false, "then read the image back (8 MiB ReadAt, SHA-256) and print its MB/s")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *out == "" {
		return fmt.Errorf("usage: e01bench -o DIR [-segment-size N] [-level L] RAWFILE")
	}
	if *prof != "" {
		pf, err := os.Create(*prof)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	src, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	start := time.Now()
	w, err := ewf.Create(*out, "image", ewf.Options{
		SegmentSize: *seg, SectorSize: 512, MediaSize: st.Size(), Level: *level,
		Case: "bench", Examiner: "bench", Evidence: "bench", Tool: "coldimage bench",
		Acquired: start, System: start,
	})
	if err != nil {
		return err
	}
	algs := []string{"md5", "sha1", "sha256"}
	hs := []hash.Hash{md5.New(), sha1.New(), sha256.New()}
	const bufSize = 8 << 20
	bufs := [2][]byte{make([]byte, bufSize), make([]byte, bufSize)}
	var total int64
	var wg sync.WaitGroup
	var werr error
	for i := 0; ; i++ {
		buf := bufs[i%2]
		n, rerr := io.ReadFull(src, buf)
		wg.Wait() // the previous buffer is done: hashers and sink
		if werr != nil {
			w.Abort()
			return werr
		}
		if n > 0 {
			p := buf[:n]
			for _, h := range hs {
				wg.Add(1)
				go func() { defer wg.Done(); h.Write(p) }()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := w.Write(p); err != nil {
					werr = err
				}
			}()
			total += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			wg.Wait()
			w.Abort()
			return rerr
		}
	}
	wg.Wait()
	if werr != nil {
		w.Abort()
		return werr
	}
	f := imager.Final{Hashes: map[string]string{}, SectorSize: 512, Size: total}
	for i, h := range hs {
		f.Hashes[algs[i]] = hex.EncodeToString(h.Sum(nil))
	}
	if err := w.Finish(f); err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	var size int64
	for _, p := range w.Files() {
		if fi, err := os.Stat(p); err == nil {
			size += fi.Size()
		}
	}
	fmt.Fprintf(stdout, "bytes=%d seconds=%.3f MBps=%.1f cpu_seconds=%.3f image_bytes=%d segments=%d md5=%s\n",
		total, secs, float64(total)/secs/1e6, cpuSeconds(), size, len(w.Files()), f.Hashes["md5"])
	if *readback {
		return readBack(w.Files()[0], f.Hashes["sha256"], stdout)
	}
	return nil
}

// readBack reads the image as verify does and checks its SHA-256.
func readBack(first, want string, stdout io.Writer) error {
	start, cpu0 := time.Now(), cpuSeconds()
	r, err := ewf.Open(first)
	if err != nil {
		return err
	}
	defer r.Close()
	h := sha256.New()
	buf := make([]byte, 8<<20)
	for off := int64(0); off < r.Size(); {
		n, err := r.ReadAt(buf, off)
		h.Write(buf[:n])
		off += int64(n)
		if err != nil && !(err == io.EOF && off == r.Size()) {
			return err
		}
	}
	secs := time.Since(start).Seconds()
	got := hex.EncodeToString(h.Sum(nil))
	if got != want {
		return fmt.Errorf("read back: sha256 %s, source %s", got, want)
	}
	fmt.Fprintf(stdout, "readback bytes=%d seconds=%.3f MBps=%.1f cpu_seconds=%.3f sha256=ok\n", r.Size(), secs, float64(r.Size())/secs/1e6, cpuSeconds()-cpu0)
	return nil
}

// cpuSeconds is the user + system CPU time of this process so far: unlike
// wall time it does not depend on what else the machine runs.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
