package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Uevent is one kernel object event (NETLINK_KOBJECT_UEVENT).
type Uevent struct {
	Action string
	Env    map[string]string
}

// ParseUevent parses "action@devpath\0KEY=VALUE\0…".
func ParseUevent(b []byte) (Uevent, bool) {
	parts := bytes.Split(b, []byte{0})
	if len(parts) < 2 || !bytes.Contains(parts[0], []byte("@")) {
		return Uevent{}, false
	}
	ev := Uevent{Env: map[string]string{}}
	for _, p := range parts[1:] {
		if k, v, ok := bytes.Cut(p, []byte("=")); ok {
			ev.Env[string(k)] = string(v)
		}
	}
	ev.Action = ev.Env["ACTION"]
	return ev, ev.Action != ""
}

// UeventSocket is the kernel's uevent multicast group, opened before any
// driver is loaded so no block device add is missed.
type UeventSocket struct{ fd int }

// OpenUevent opens and binds the socket with a large receive buffer
// (module loading produces bursts).
func OpenUevent() (*UeventSocket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return nil, fmt.Errorf("uevent socket: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1, Pid: 0}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind uevent socket: %w", err)
	}
	return &UeventSocket{fd: fd}, nil
}

// ErrOverrun means events were dropped (ENOBUFS): rescan sysfs.
var ErrOverrun = errors.New("uevent receive buffer overrun")

// Read blocks for the next event.
func (s *UeventSocket) Read() (Uevent, error) {
	buf := make([]byte, 64<<10)
	for {
		n, _, err := unix.Recvfrom(s.fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err == unix.ENOBUFS {
			return Uevent{}, ErrOverrun
		}
		if err != nil {
			return Uevent{}, os.NewSyscallError("recvfrom uevent", err)
		}
		if ev, ok := ParseUevent(buf[:n]); ok {
			return ev, nil
		}
	}
}
