package disk

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Linux md (software RAID) member superblocks. Magic 0xa92b4efc, stored
// little-endian on x86 for both versions.
//
// v1.x: at 0 (1.1), 4096 (1.2) or 8-12 KiB before the end, 4 KiB aligned
// (1.0). Fields: magic le32 @0, major_version le32 @4 (=1), set_uuid[16] @16,
// set_name[32] @32.
//
// v0.90: in the last 64 KiB-aligned 64 KiB block. Words (le32): magic @0,
// major @4 (=0), set_uuid0 @0x14, set_uuid1..3 @0x34, @0x38, @0x3C.
const (
	mdMagic        = 0xa92b4efc
	md1UUIDOff     = 16
	md1NameOff     = 32
	md090UUID0Off  = 0x14
	md090UUID1Off  = 0x34
	md090BlockSize = 64 << 10
)

func probeMD(r io.ReaderAt, size int64) (FS, bool) {
	offs := []int64{4096, 0}
	if size >= 3*8192 {
		offs = append(offs, (size-8192)&^4095)
	}
	for _, off := range offs {
		b := readBytes(r, size, off, 256)
		if b == nil || binary.LittleEndian.Uint32(b) != mdMagic || binary.LittleEndian.Uint32(b[4:]) != 1 {
			continue
		}
		return FS{Type: "linux_raid_member", UUID: uuidString(b[md1UUIDOff : md1UUIDOff+16]), Label: cString(b[md1NameOff : md1NameOff+32])}, true
	}
	if size >= 2*md090BlockSize {
		off := size&^(md090BlockSize-1) - md090BlockSize
		b := readBytes(r, size, off, 256)
		if b != nil && binary.LittleEndian.Uint32(b) == mdMagic && binary.LittleEndian.Uint32(b[4:]) == 0 {
			le := binary.LittleEndian
			u := fmt.Sprintf("%08x%08x%08x%08x", le.Uint32(b[md090UUID0Off:]), le.Uint32(b[md090UUID1Off:]),
				le.Uint32(b[md090UUID1Off+4:]), le.Uint32(b[md090UUID1Off+8:]))
			return FS{Type: "linux_raid_member", UUID: u[0:8] + "-" + u[8:12] + "-" + u[12:16] + "-" + u[16:20] + "-" + u[20:32]}, true
		}
	}
	return FS{}, false
}
