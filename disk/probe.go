package disk

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
)

// FS is what a prober recognised on a device, partition or image.
type FS struct {
	Type  string `json:"type"`            // blkid-style name: ext4, vfat, exfat, ntfs, xfs, btrfs, swap, ...
	Label string `json:"label,omitempty"` // volume label, trimmed
	UUID  string `json:"uuid,omitempty"`  // volume UUID / serial in blkid's notation
}

// A prober recognises one on-disk format. Probe reads only what it needs
// through r (size bytes long) and reports ok=false when the magic is absent.
type prober struct {
	Name  string
	Probe func(r io.ReaderAt, size int64) (FS, bool)
}

// probers in order: containers whose payload may carry another format's
// magic (md with 0.90/1.0 metadata at the end, LVM, LUKS) come first, weak
// signatures (FAT) last.
var probers = []prober{
	{"linux_raid_member", probeMD},
	{"LVM2_member", probeLVM},
	{"crypto_LUKS", probeLUKS},
	{"BitLocker", probeBitLocker},
	{"apfs", probeAPFS},
	{"cs_fvault2", probeCoreStorage},
	{"xfs", probeXFS},
	{"btrfs", probeBtrfs},
	{"ext", probeExt},
	{"ntfs", probeNTFS},
	{"exfat", probeExFAT},
	{"iso9660", probeISO9660},
	{"swap", probeSwap},
	{"vfat", probeFAT},
}

// Probe guesses the format of the size-byte volume behind r from magic
// numbers. It reads a few KiB at fixed offsets (and the last 64 KiB for md
// metadata) and never writes.
func Probe(r io.ReaderAt, size int64) (FS, bool) {
	for _, p := range probers {
		if fs, ok := p.Probe(r, size); ok {
			return fs, true
		}
	}
	return FS{}, false
}

// ProbeFS fills in what the size-byte volume behind r holds (Probe): its
// file system, and what its signature says about encryption (Encryption).
func (i *Info) ProbeFS(r io.ReaderAt, size int64) {
	if fs, ok := Probe(r, size); ok {
		i.FSType, i.FSLabel, i.FSUUID = fs.Type, fs.Label, fs.UUID
	}
	if i.FSType == "apfs" {
		i.Encryption = apfsEncryption(r, size) // its volumes, by name
	} else {
		i.Encryption = Encryption(i.FSType)
	}
	if i.Encryption == "" {
		i.Encryption = TypeEncryption(i.PartType)
	}
}

// readBytes returns n bytes at off, or nil when they cannot all be read.
func readBytes(r io.ReaderAt, size, off int64, n int) []byte {
	if off < 0 || n <= 0 || (size > 0 && off+int64(n) > size) {
		return nil
	}
	b := make([]byte, n)
	m, err := r.ReadAt(b, off)
	if m != n {
		return nil
	}
	_ = err // io.EOF with a full read is fine
	return b
}

// cString trims a fixed-width, NUL- or space-padded on-disk string.
func cString(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return strings.TrimRight(string(b), " ")
}

// uuidString formats 16 bytes as 8-4-4-4-12 lower-case hex; "" for all zeros.
func uuidString(b []byte) string {
	if len(b) != 16 || allZero(b) {
		return ""
	}
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// serial32 formats a 32-bit little-endian volume serial as blkid does for
// FAT and exFAT: "ABCD-1234".
func serial32(b []byte) string {
	v := binary.LittleEndian.Uint32(b)
	return fmt.Sprintf("%04X-%04X", v>>16, v&0xffff)
}

// utf16le decodes a little-endian UTF-16 string of n code units.
func utf16le(b []byte, n int) string {
	if n*2 > len(b) {
		n = len(b) / 2
	}
	u := make([]uint16, n)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return strings.TrimRight(string(utf16.Decode(u)), " \x00")
}
