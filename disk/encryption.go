package disk

import (
	"encoding/binary"
	"io"
	"strings"
)

// BitLocker volume: its boot sector carries the OEM ID "-FVE-FS-" at byte 3
// (where NTFS has "NTFS    "); BitLocker To Go volumes carry it too.
func probeBitLocker(r io.ReaderAt, size int64) (FS, bool) {
	b := readBytes(r, size, 0, 512)
	if b == nil || string(b[3:11]) != "-FVE-FS-" {
		return FS{}, false
	}
	return FS{Type: "BitLocker"}, true
}

// APFS container: its superblock (nx_superblock_t) in block 0 has the
// object header (32 bytes), then nx_magic "NXSB" at byte 32, nx_uuid at
// byte 72.
func probeAPFS(r io.ReaderAt, size int64) (FS, bool) {
	b := readBytes(r, size, 0, 88)
	if b == nil || string(b[32:36]) != "NXSB" {
		return FS{}, false
	}
	return FS{Type: "apfs", UUID: uuidString(b[72:88])}, true
}

// Apple Core Storage physical volume (FileVault 2 before APFS), as
// libfvde's "FileVault Drive Encryption (FVDE)" documents its 512-byte
// volume header: a CRC-32C of bytes 8–511 at 0 (computed from the initial
// value at 4, 0xffffffff, without inversions: crc32cRaw, as ext4's), version 1 at 8,
// block type 0x0010 at 10, "CS" at 88, the checksum algorithm at 90 (1:
// CRC-32C), the encryption method at 172 (2: AES-XTS), the physical volume
// identifier at 304. Whether its logical volume is FileVault-encrypted is
// in its encrypted metadata, which is not read.
func probeCoreStorage(r io.ReaderAt, size int64) (FS, bool) {
	b := readBytes(r, size, 0, 512)
	if b == nil || string(b[88:90]) != "CS" || binary.LittleEndian.Uint16(b[8:]) != 1 || binary.LittleEndian.Uint16(b[10:]) != 0x0010 ||
		binary.LittleEndian.Uint32(b[90:]) != 1 {
		return FS{}, false
	}
	if crc32cRaw(binary.LittleEndian.Uint32(b[4:]), b[8:512]) != binary.LittleEndian.Uint32(b[0:]) {
		return FS{}, false
	}
	return FS{Type: "cs_fvault2", UUID: uuidString(b[304:320])}, true
}

// Encryption says what a volume's signature tells about encryption, for
// the examiner to know before leaving the site that the image will hold
// ciphertext: LUKS, BitLocker, an APFS container, Core Storage. It reads
// nothing beyond what Probe read. "" when none. (Info.ProbeFS names an APFS
// container's encrypted volumes instead: apfsEncryption, which falls back
// to this wording when it cannot read them.)
func Encryption(fsType string) string {
	switch fsType {
	case "crypto_LUKS":
		return "LUKS: encrypted volume"
	case "BitLocker":
		return "BitLocker: encrypted volume"
	case "apfs":
		return "APFS container: its volumes may be FileVault-encrypted"
	case "cs_fvault2":
		return "Apple Core Storage: its logical volume may be FileVault 2-encrypted"
	}
	return ""
}

// TypeEncryption is what a GPT partition type says about encryption when
// the content's signature says nothing: an Apple Core Storage physical
// volume (whose logical volume FileVault 2 encrypts; its header carries no
// signature this package reads) and the Linux LUKS partition type.
func TypeEncryption(partType string) string {
	switch strings.ToUpper(partType) {
	case "53746F72-6167-11AA-AA11-00306543ECAC":
		return "Apple Core Storage: its logical volume may be FileVault 2-encrypted"
	case "CA7D7CCB-63ED-4C53-861C-1742536059CC":
		return "LUKS partition type: encrypted volume"
	}
	return ""
}

// PossiblyEncrypted is the finding for a volume with no file system whose
// data looks random throughout (a VeraCrypt/TrueCrypt volume has no
// signature; compressed data looks the same): "" when r does not. It
// reads 64 samples of 4 KiB: callers give it the image, not a source,
// so that a failing drive is not read more than the acquisition reads it.
func PossiblyEncrypted(r io.ReaderAt, size int64) string {
	if randomThroughout(r, size) {
		return "possibly encrypted: no file system found, random-looking data throughout"
	}
	return ""
}

// randomThroughout samples 64 blocks of 4 KiB spread over the volume; each
// must look uniformly random: the chi-square of its byte counts against a
// uniform distribution below 400 (255 degrees of freedom: mean 255,
// standard deviation 22.6; zeros, text, file systems and executables score
// in the thousands).
func randomThroughout(r io.ReaderAt, size int64) bool {
	const block, samples = 4096, 64
	if size < 1<<20 {
		return false
	}
	buf := make([]byte, block)
	span := (size - block) / block
	for i := int64(0); i < samples; i++ {
		off := (span * i / (samples - 1)) * block
		if n, _ := r.ReadAt(buf, off); n != block {
			return false
		}
		if chiSquare(buf) >= 400 {
			return false
		}
	}
	return true
}

// chiSquare of b's byte counts against a uniform distribution.
func chiSquare(b []byte) float64 {
	var counts [256]int
	for _, c := range b {
		counts[c]++
	}
	exp := float64(len(b)) / 256
	var x float64
	for _, c := range counts {
		d := float64(c) - exp
		x += d * d / exp
	}
	return x
}

// EncryptionFindings lists the encryption findings of a device and its
// partitions, each as "NAME: finding".
func EncryptionFindings(info Info) []string {
	var out []string
	if info.Encryption != "" {
		out = append(out, info.Name+": "+info.Encryption)
	}
	for _, p := range info.Partitions {
		out = append(out, EncryptionFindings(p)...)
	}
	return out
}
