package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
)

// FS is what a file-system prober found on a device.
type FS struct {
	Type  string // ext4, vfat, exfat
	Label string
	UUID  string // as blkid prints it
}

// fsProber recognises one on-disk format (one prober per format).
type fsProber struct {
	Name  string
	Probe func(r io.ReaderAt) (*FS, error) // nil, nil: not this format
}

var fsProbers = []fsProber{
	{"ext4", probeExt},
	{"exfat", probeExFAT},
	{"vfat", probeFAT},
}

// ProbeFS identifies the file system on r, or returns nil.
func ProbeFS(r io.ReaderAt) (*FS, error) {
	for _, p := range fsProbers {
		fs, err := p.Probe(r)
		if err != nil {
			return nil, fmt.Errorf("probe %s: %w", p.Name, err)
		}
		if fs != nil {
			return fs, nil
		}
	}
	return nil, nil
}

func readAt(r io.ReaderAt, off int64, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := r.ReadAt(b, off); err != nil && err != io.EOF {
		return nil, err
	} else if err == io.EOF {
		return nil, nil // too small for this format
	}
	return b, nil
}

// probeExt reads the ext2/3/4 superblock at byte 1024:
// +56 s_magic (le16 0xEF53), +104 s_uuid[16], +120 s_volume_name[16].
func probeExt(r io.ReaderAt) (*FS, error) {
	sb, err := readAt(r, 1024, 1024)
	if err != nil || sb == nil {
		return nil, err
	}
	if binary.LittleEndian.Uint16(sb[56:]) != 0xEF53 {
		return nil, nil
	}
	u := sb[104:120]
	return &FS{
		Type:  "ext4",
		Label: cstr(sb[120:136]),
		UUID:  fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]),
	}, nil
}

// probeFAT reads the FAT boot sector: +510 0x55AA; FAT12/16 "FAT1x" at +54,
// volume id +39, label +43; FAT32 "FAT32" at +82, volume id +67, label +71.
func probeFAT(r io.ReaderAt) (*FS, error) {
	bs, err := readAt(r, 0, 512)
	if err != nil || bs == nil {
		return nil, err
	}
	if bs[510] != 0x55 || bs[511] != 0xAA {
		return nil, nil
	}
	var idOff, labOff int
	switch {
	case string(bs[82:87]) == "FAT32":
		idOff, labOff = 67, 71
	case string(bs[54:59]) == "FAT12" || string(bs[54:59]) == "FAT16":
		idOff, labOff = 39, 43
	default:
		return nil, nil
	}
	id := binary.LittleEndian.Uint32(bs[idOff:])
	label := strings.TrimRight(string(bs[labOff:labOff+11]), " \x00")
	if label == "NO NAME" {
		label = ""
	}
	return &FS{Type: "vfat", Label: label, UUID: fmt.Sprintf("%04X-%04X", id>>16, id&0xffff)}, nil
}

// probeExFAT reads the exFAT boot sector ("EXFAT   " at +3; +88 cluster
// heap offset, +96 root directory cluster, +100 volume serial, +108 bytes
// per sector shift, +109 sectors per cluster shift) and the volume label
// entry (type 0x83: +1 character count, +2 UTF-16LE name) of the root
// directory's first cluster.
func probeExFAT(r io.ReaderAt) (*FS, error) {
	bs, err := readAt(r, 0, 512)
	if err != nil || bs == nil {
		return nil, err
	}
	if string(bs[3:11]) != "EXFAT   " {
		return nil, nil
	}
	serial := binary.LittleEndian.Uint32(bs[100:])
	fs := &FS{Type: "exfat", UUID: fmt.Sprintf("%04X-%04X", serial>>16, serial&0xffff)}
	bps, spc := uint(bs[108]), uint(bs[109])
	if bps < 9 || bps > 12 || bps+spc > 25 {
		return fs, nil // implausible geometry: no label lookup
	}
	heap := int64(binary.LittleEndian.Uint32(bs[88:]))
	root := int64(binary.LittleEndian.Uint32(bs[96:]))
	if root < 2 {
		return fs, nil
	}
	off := (heap + (root-2)<<spc) << bps
	n := 1 << (bps + spc)
	if n > 1<<20 {
		n = 1 << 20
	}
	dir, err := readAt(r, off, n)
	if err != nil || dir == nil {
		return fs, err
	}
	for i := 0; i+32 <= len(dir); i += 32 {
		e := dir[i : i+32]
		if e[0] == 0 {
			break
		}
		if e[0] == 0x83 {
			cnt := int(e[1])
			if cnt > 11 {
				cnt = 11
			}
			u := make([]uint16, cnt)
			for j := range u {
				u[j] = binary.LittleEndian.Uint16(e[2+2*j:])
			}
			fs.Label = string(utf16.Decode(u))
			break
		}
	}
	return fs, nil
}

func cstr(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
