package disk

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// KernelHPA reads the kernel log (/dev/kmsg, from its first record still
// kept; read-only, without blocking) and returns what it says about the
// hidden area of disk name (KernelHPAFindings). Nothing is returned when
// the log cannot be read.
func KernelHPA(name string) []string {
	port := ""
	if p, err := filepath.EvalSymlinks(filepath.Join("/sys/block", name)); err == nil {
		port = ATAPort(p)
	}
	return KernelHPAFindings(kernelLog(), name, port)
}

// kernelLog is every message /dev/kmsg still holds, one per entry.
func kernelLog() []string {
	f, err := os.OpenFile("/dev/kmsg", os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	buf := make([]byte, 8192)
	for range 1 << 20 { // bounded: the ring holds far fewer records
		n, err := f.Read(buf)
		if err != nil {
			if errors.Is(err, unix.EPIPE) {
				continue // a record overwritten while reading: go on with the next
			}
			break // EAGAIN: the end
		}
		rec := buf[:n]
		if i := bytes.IndexByte(rec, ';'); i >= 0 {
			rec = rec[i+1:]
		}
		if i := bytes.IndexByte(rec, '\n'); i >= 0 {
			rec = rec[:i]
		}
		out = append(out, string(rec))
	}
	return out
}
