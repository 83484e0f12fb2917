package disk

import "io"

// LUKS1/LUKS2 header at byte 0: magic "LUKS\xba\xbe" @0, version be16 @6,
// LUKS2 label[48] @24, uuid[40] (text) @168.
const (
	luksLabelOff = 24
	luksUUIDOff  = 168
)

func probeLUKS(r io.ReaderAt, size int64) (FS, bool) {
	b := readBytes(r, size, 0, 512)
	if b == nil || string(b[:6]) != "LUKS\xba\xbe" {
		return FS{}, false
	}
	fs := FS{Type: "crypto_LUKS", UUID: cString(b[luksUUIDOff : luksUUIDOff+40])}
	if b[6] == 0 && b[7] == 2 {
		fs.Label = cString(b[luksLabelOff : luksLabelOff+48])
	}
	return fs, true
}
