package passthru

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sgIOHdr is struct sg_io_hdr (include/scsi/sg.h) on 64-bit Linux: 88 bytes.
type sgIOHdr struct {
	InterfaceID    int32
	DxferDirection int32
	CmdLen         uint8
	MxSbLen        uint8
	IovecCount     uint16
	DxferLen       uint32
	Dxferp         unsafe.Pointer
	Cmdp           unsafe.Pointer
	Sbp            unsafe.Pointer
	Timeout        uint32
	Flags          uint32
	PackID         int32
	_              [4]byte
	UsrPtr         unsafe.Pointer
	Status         uint8
	MaskedStatus   uint8
	MsgStatus      uint8
	SbLenWr        uint8
	HostStatus     uint16
	DriverStatus   uint16
	Resid          int32
	Duration       uint32
	Info           uint32
	_              [4]byte
}

const (
	sgIO          = 0x2285
	sgDxferNone   = -1 // SG_DXFER_NONE: a non-data command
	sgDxferFromDv = -3 // SG_DXFER_FROM_DEV: the only data direction this package uses
	sgTimeoutMs   = 10000
	// nvmeIoctlAdminCmd is _IOWR('N', 0x41, struct nvme_admin_cmd).
	nvmeIoctlAdminCmd = 0xC0484E41
)

// nvmeAdminCmd is struct nvme_admin_cmd (include/uapi/linux/nvme_ioctl.h): 72 bytes.
type nvmeAdminCmd struct {
	Opcode      uint8
	Flags       uint8
	Rsvd1       uint16
	NSID        uint32
	Cdw2, Cdw3  uint32
	Metadata    uint64
	Addr        uint64
	MetadataLen uint32
	DataLen     uint32
	Cdw10       uint32
	Cdw11       uint32
	Cdw12       uint32
	Cdw13       uint32
	Cdw14       uint32
	Cdw15       uint32
	TimeoutMs   uint32
	Result      uint32
}

// errNoPassthrough: the device takes no commands of this kind.
var errNoPassthrough = errors.New("the device takes no passthrough commands")

// dev sends allow-listed commands to one open device and logs each.
type dev struct {
	fd  int
	log []string
}

func (d *dev) note(c Command, err error) {
	if err != nil {
		d.log = append(d.log, c.Name+": "+err.Error())
		return
	}
	d.log = append(d.log, c.Name+": ok")
}

// scsi sends cdb through SG_IO, data from the device only, and returns
// what came back.
func (d *dev) scsi(cdb []byte, n int) ([]byte, error) {
	c, err := checkCDB(cdb, n)
	if err != nil {
		return nil, err
	}
	sense := make([]byte, 32)
	h := sgIOHdr{InterfaceID: 'S', DxferDirection: sgDxferNone, CmdLen: uint8(len(cdb)), MxSbLen: uint8(len(sense)),
		Cmdp: unsafe.Pointer(&cdb[0]), Sbp: unsafe.Pointer(&sense[0]), Timeout: sgTimeoutMs}
	var buf []byte
	if n > 0 {
		buf = make([]byte, n)
		h.DxferDirection, h.DxferLen, h.Dxferp = sgDxferFromDv, uint32(n), unsafe.Pointer(&buf[0])
	}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(d.fd), sgIO, uintptr(unsafe.Pointer(&h)))
	runtime.KeepAlive(buf)
	runtime.KeepAlive(cdb)
	runtime.KeepAlive(sense)
	switch {
	case errno == unix.ENOTTY || errno == unix.EINVAL || errno == unix.ENOSYS || errno == unix.EOPNOTSUPP:
		err = fmt.Errorf("%w (SG_IO: %v)", errNoPassthrough, errno)
	case errno != 0:
		err = fmt.Errorf("SG_IO: %w", errno)
	case n == 0 && h.SbLenWr > 0 && ataReturn(sense[:h.SbLenWr]) != nil:
		// A non-data ATA command with CK_COND: its registers come back as
		// sense data, which is its reply.
		d.note(c, nil)
		return sense[:h.SbLenWr], nil
	case h.Status != 0 || h.HostStatus != 0 || h.DriverStatus&0x0f != 0:
		err = fmt.Errorf("rejected: %s", senseText(h.Status, h.HostStatus, h.DriverStatus, sense[:h.SbLenWr]))
	}
	d.note(c, err)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	got := n - int(h.Resid)
	if got < 0 || got > n {
		got = n
	}
	return buf[:got], nil
}

// senseText says why a SCSI command failed: the status and, from fixed
// (0x70/0x71) or descriptor (0x72/0x73) sense data, key/ASC/ASCQ.
func senseText(status uint8, host, driver uint16, sense []byte) string {
	s := fmt.Sprintf("status %#02x host %#x driver %#x", status, host, driver)
	switch {
	case len(sense) >= 14 && (sense[0]&0x7f == 0x70 || sense[0]&0x7f == 0x71):
		s += fmt.Sprintf(", sense key %#x ASC %#02x ASCQ %#02x", sense[2]&0x0f, sense[12], sense[13])
	case len(sense) >= 4 && (sense[0]&0x7f == 0x72 || sense[0]&0x7f == 0x73):
		s += fmt.Sprintf(", sense key %#x ASC %#02x ASCQ %#02x", sense[1]&0x0f, sense[2], sense[3])
	}
	if len(sense) >= 14 && sense[2]&0x0f == 5 || len(sense) >= 4 && sense[0]&0x7f == 0x72 && sense[1]&0x0f == 5 {
		s += " (illegal request: the device does not support it)"
	}
	return s
}

// nvme sends an allow-listed NVMe admin command with a 4096-byte data-in
// buffer (CDW11 is its length where the command takes one).
func (d *dev) nvme(op byte, nsid uint32, cdw10 uint32) ([]byte, error) {
	c, err := lookup(IfaceNVMe, op, nvmeKey(op, cdw10))
	if err != nil {
		return nil, err
	}
	buf := make([]byte, nvmeIdentifySize)
	cmd := nvmeAdminCmd{Opcode: op, NSID: nsid, Addr: uint64(uintptr(unsafe.Pointer(&buf[0]))), DataLen: uint32(len(buf)), Cdw10: cdw10, TimeoutMs: sgTimeoutMs}
	if op == 0x82 {
		cmd.Cdw11 = uint32(len(buf))
	}
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(d.fd), nvmeIoctlAdminCmd, uintptr(unsafe.Pointer(&cmd)))
	runtime.KeepAlive(buf)
	switch {
	case errno == unix.ENOTTY || errno == unix.EINVAL:
		err = fmt.Errorf("%w (NVMe admin ioctl: %v)", errNoPassthrough, errno)
	case errno != 0:
		err = fmt.Errorf("NVMe admin ioctl: %w", errno)
	case r != 0:
		err = fmt.Errorf("rejected: NVMe status %#x (status code type %d, code %#02x)", r, r>>8&7, r&0xff)
	}
	d.note(c, err)
	if err != nil {
		return nil, err
	}
	return buf, nil
}
