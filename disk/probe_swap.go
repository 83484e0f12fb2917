package disk

import "io"

// Linux swap: the signature ends the first page ("SWAPSPACE2" for v1,
// "SWAP-SPACE" for v0); the v1 header follows the 1024-byte boot block.
const (
	swapHeaderOff = 1024
	swapUUIDOff   = swapHeaderOff + 12 // uuid[16] after version, last_page, nr_badpages
	swapLabelOff  = swapHeaderOff + 28 // volume_name[16]
)

var swapPageSizes = []int64{4096, 8192, 16384, 65536}

func probeSwap(r io.ReaderAt, size int64) (FS, bool) {
	for _, ps := range swapPageSizes {
		sig := readBytes(r, size, ps-10, 10)
		if sig == nil {
			continue
		}
		switch string(sig) {
		case "SWAPSPACE2":
			fs := FS{Type: "swap"}
			if h := readBytes(r, size, swapUUIDOff, 32); h != nil {
				fs.UUID = uuidString(h[:16])
				fs.Label = cString(h[16:32])
			}
			return fs, true
		case "SWAP-SPACE":
			return FS{Type: "swap"}, true
		}
	}
	return FS{}, false
}
