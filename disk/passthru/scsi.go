package passthru

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// inquiryCDB is INQUIRY (SPC-4 6.6): byte 1 bit 0 EVPD, byte 2 page code,
// bytes 3–4 allocation length.
func inquiryCDB(evpd bool, page byte, alloc uint16) []byte {
	c := []byte{0x12, 0, 0, byte(alloc >> 8), byte(alloc), 0}
	if evpd {
		c[1], c[2] = 1, page
	}
	return c
}

// readCap16CDB is READ CAPACITY(16) (SBC-3 5.16): SERVICE ACTION IN(16)
// 0x9E, service action 0x10, allocation length in bytes 10–13.
func readCap16CDB(alloc uint32) []byte {
	c := make([]byte, 16)
	c[0], c[1] = 0x9E, 0x10
	binary.BigEndian.PutUint32(c[10:14], alloc)
	return c
}

// Inquiry is the standard INQUIRY data (SPC-4 6.6.2): byte 0 bits 4–0
// peripheral device type, bytes 8–15 T10 vendor, 16–31 product, 32–35
// revision, ASCII padded with spaces.
type Inquiry struct {
	DeviceType           byte
	Vendor, Product, Rev string
}

var errShort = errors.New("reply too short")

func parseInquiry(b []byte) (Inquiry, error) {
	if len(b) < 36 {
		return Inquiry{}, fmt.Errorf("INQUIRY: %d bytes: %w", len(b), errShort)
	}
	return Inquiry{DeviceType: b[0] & 0x1f, Vendor: ascii(b[8:16]), Product: ascii(b[16:32]), Rev: ascii(b[32:36])}, nil
}

// vpdBody checks a VPD page's header (byte 1 page code, bytes 2–3 page
// length) and returns its body.
func vpdBody(b []byte, page byte) ([]byte, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("VPD page %#02x: %d bytes: %w", page, len(b), errShort)
	}
	if b[1] != page {
		return nil, fmt.Errorf("VPD page %#02x: the reply is page %#02x", page, b[1])
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if 4+n > len(b) {
		return nil, fmt.Errorf("VPD page %#02x: says %d bytes, has %d: %w", page, n, len(b)-4, errShort)
	}
	return b[4 : 4+n], nil
}

// parseSupportedPages is VPD page 0x00: the page codes, one per byte.
func parseSupportedPages(b []byte) (map[byte]bool, error) {
	body, err := vpdBody(b, 0x00)
	if err != nil {
		return nil, err
	}
	m := map[byte]bool{}
	for _, p := range body {
		m[p] = true
	}
	return m, nil
}

// parseUnitSerial is VPD page 0x80: the product serial number, ASCII.
func parseUnitSerial(b []byte) (string, error) {
	body, err := vpdBody(b, 0x80)
	if err != nil {
		return "", err
	}
	return ascii(body), nil
}

// Designators are what VPD page 0x83 names the logical unit by.
type Designators struct {
	NAA   string // designator type 3, hex: the WWN
	EUI64 string // designator type 2, hex
}

// parseDeviceID is VPD page 0x83 (SPC-4 7.8.6): designation descriptors
// from byte 4, each with byte 1 bits 5–4 association (0: the logical
// unit) and bits 3–0 designator type, byte 3 designator length, then the
// designator. The first NAA and EUI-64 of the logical unit are kept.
func parseDeviceID(b []byte) (Designators, error) {
	body, err := vpdBody(b, 0x83)
	if err != nil {
		return Designators{}, err
	}
	var d Designators
	for len(body) >= 4 {
		n := int(body[3])
		if 4+n > len(body) {
			return d, fmt.Errorf("VPD page 0x83: a designator of %d bytes runs past the page: %w", n, errShort)
		}
		des := body[4 : 4+n]
		if assoc := body[1] >> 4 & 3; assoc == 0 {
			switch body[1] & 0x0f {
			case 3:
				if d.NAA == "" {
					d.NAA = hex.EncodeToString(des)
				}
			case 2:
				if d.EUI64 == "" {
					d.EUI64 = hex.EncodeToString(des)
				}
			}
		}
		body = body[4+n:]
	}
	return d, nil
}

// parseBlockChars is VPD page 0xB1 (SBC-3 6.6.2): bytes 4–5 (body 0–1)
// medium rotation rate: 0 not reported, 1 non-rotating, else RPM.
func parseBlockChars(b []byte) (int, error) {
	body, err := vpdBody(b, 0xB1)
	if err != nil {
		return 0, err
	}
	if len(body) < 2 {
		return 0, fmt.Errorf("VPD page 0xb1: %w", errShort)
	}
	return int(binary.BigEndian.Uint16(body[0:2])), nil
}

// Capacity is the READ CAPACITY(16) parameter data (SBC-3 5.16.2): bytes
// 0–7 the last logical block address, 8–11 the logical block length,
// byte 13 bits 3–0 the logical blocks per physical block exponent.
type Capacity struct {
	Blocks         int64
	LogicalSector  int
	PhysicalSector int
}

func parseReadCap16(b []byte) (Capacity, error) {
	if len(b) < 32 {
		return Capacity{}, fmt.Errorf("READ CAPACITY(16): %d bytes: %w", len(b), errShort)
	}
	last := binary.BigEndian.Uint64(b[0:8])
	bl := binary.BigEndian.Uint32(b[8:12])
	exp := b[13] & 0x0f
	if bl == 0 || bl > 1<<20 || last >= 1<<62 {
		return Capacity{}, fmt.Errorf("READ CAPACITY(16): last LBA %d, block length %d: not a disk's", last, bl)
	}
	return Capacity{Blocks: int64(last) + 1, LogicalSector: int(bl), PhysicalSector: int(bl) << exp}, nil
}

// ascii trims a space- or NUL-padded ASCII field; other bytes become '?'.
func ascii(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		switch {
		case c == 0:
			sb.WriteByte(' ')
		case c < 0x20 || c > 0x7e:
			sb.WriteByte('?')
		default:
			sb.WriteByte(c)
		}
	}
	return strings.TrimSpace(sb.String())
}
