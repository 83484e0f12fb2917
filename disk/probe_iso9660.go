package disk

import "io"

// ISO 9660 primary volume descriptor at 32 KiB (sector 16 of 2048 bytes):
// type u8 @0 (=1), "CD001" @1, volume identifier[32] @40, creation date
// [17] @813 ("YYYYMMDDHHMMSScc" + timezone), which blkid uses as the UUID.
const (
	isoPVDOffset   = 0x8000
	isoVolumeIDOff = 40
	isoCreationOff = 813
)

func probeISO9660(r io.ReaderAt, size int64) (FS, bool) {
	b := readBytes(r, size, isoPVDOffset, 2048)
	if b == nil || b[0] != 1 || string(b[1:6]) != "CD001" {
		return FS{}, false
	}
	fs := FS{Type: "iso9660", Label: cString(b[isoVolumeIDOff : isoVolumeIDOff+32])}
	d := b[isoCreationOff : isoCreationOff+16]
	digits := true
	zero := true
	for _, c := range d {
		digits = digits && c >= '0' && c <= '9'
		zero = zero && c == '0'
	}
	if digits && !zero {
		s := string(d)
		fs.UUID = s[0:4] + "-" + s[4:6] + "-" + s[6:8] + "-" + s[8:10] + "-" + s[10:12] + "-" + s[12:14] + "-" + s[14:16]
	}
	return fs, true
}
