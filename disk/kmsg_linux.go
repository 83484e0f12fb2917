package disk

import (
	"bytes"
	"errors"
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

// kernelLog is every message /dev/kmsg still holds, one per entry. The
// descriptor is read with raw non-blocking reads: through os.File, Go's
// poller would park the reader at the end of the log until the kernel
// logs again (it did, in the appliance: imaging never started).
func kernelLog() []string {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	var out []string
	buf := make([]byte, 8192)
	for range 1 << 20 { // bounded: the ring holds far fewer records
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EPIPE) {
			continue // a record overwritten while reading: go on with the next
		}
		if err != nil || n <= 0 {
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
