package passthru

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// securityInCDB is SECURITY PROTOCOL IN (SPC-4 6.40) for TCG Level 0
// Discovery: byte 1 security protocol 01h, bytes 2–3 the ComID 0001h,
// bytes 6–9 the allocation length.
func securityInCDB(alloc uint32) []byte {
	c := make([]byte, 12)
	c[0], c[1], c[3] = 0xA2, 0x01, 0x01
	binary.BigEndian.PutUint32(c[6:10], alloc)
	return c
}

// Opal is what a self-encrypting drive's Level 0 Discovery says (TCG
// Storage Architecture Core 3.3.6): a 48-byte header (bytes 0–3 the length
// of what follows them), then feature descriptors, each with bytes 0–1
// the feature code, byte 3 the length of its data. The Locking feature
// (0002h) data byte 0: bit 0 locking supported, 1 enabled, 2 locked,
// 3 media encryption, 4 MBR shadowing enabled, 5 MBR done.
type Opal struct {
	SSC                                   []string // Enterprise, Opal 1, Opal 2, Opalite, Pyrite 1/2, Ruby
	LockingSupported, LockingEnabled      bool
	Locked, MediaEncryption, MBRShadowing bool
	MBRDone                               bool
}

var sscNames = map[uint16]string{0x0100: "Enterprise", 0x0200: "Opal 1", 0x0203: "Opal 2", 0x0301: "Opalite",
	0x0302: "Pyrite 1", 0x0303: "Pyrite 2", 0x0304: "Ruby"}

func parseLevel0(b []byte) (Opal, error) {
	var o Opal
	if len(b) < 48 {
		return o, fmt.Errorf("TCG Level 0 Discovery: %d bytes: %w", len(b), errShort)
	}
	n := int(binary.BigEndian.Uint32(b[0:4]))
	if n < 44 {
		return o, fmt.Errorf("TCG Level 0 Discovery: length %d: no discovery data (not a TCG drive)", n)
	}
	end := min(len(b), 4+n)
	for d := b[48:end]; len(d) >= 4; {
		code, l := binary.BigEndian.Uint16(d[0:2]), int(d[3])
		if 4+l > len(d) {
			return o, fmt.Errorf("TCG Level 0 Discovery: feature %#04x of %d bytes runs past the data: %w", code, l, errShort)
		}
		data := d[4 : 4+l]
		if name, ok := sscNames[code]; ok {
			o.SSC = append(o.SSC, name)
		}
		if code == 0x0002 && len(data) > 0 {
			f := data[0]
			o.LockingSupported, o.LockingEnabled, o.Locked = f&1 != 0, f&2 != 0, f&4 != 0
			o.MediaEncryption, o.MBRShadowing, o.MBRDone = f&8 != 0, f&16 != 0, f&32 != 0
		}
		d = d[4+l:]
	}
	return o, nil
}

// String says it in a line, capitals where the examiner must act.
func (o Opal) String() string {
	if len(o.SSC) == 0 && !o.LockingSupported {
		return "no TCG security subsystem"
	}
	var p []string
	p = append(p, "TCG "+orNone(strings.Join(o.SSC, ", ")))
	switch {
	case o.Locked:
		p = append(p, "LOCKING ENABLED, A RANGE IS LOCKED: it reads as errors or ciphertext until unlocked")
	case o.LockingEnabled:
		p = append(p, "LOCKING ENABLED (ranges unlocked now; locked again at power loss)")
	case o.LockingSupported:
		p = append(p, "locking supported, not enabled")
	}
	if o.MediaEncryption {
		p = append(p, "media encryption")
	}
	if o.MBRShadowing && !o.MBRDone {
		p = append(p, "MBR SHADOWING ON: the start of the disk shows the pre-boot image, not the data")
	}
	return strings.Join(p, "; ")
}

// ATASecurity is IDENTIFY DEVICE word 128 (ACS-4 7.13.6.41): bit 0
// supported, 1 enabled, 2 locked, 3 frozen, 4 password attempts exceeded.
type ATASecurity struct{ Supported, Enabled, Locked, Frozen, Expired bool }

func ataSecurity(w128 uint16) ATASecurity {
	return ATASecurity{w128&1 != 0, w128&2 != 0, w128&4 != 0, w128&8 != 0, w128&16 != 0}
}

func (s ATASecurity) String() string {
	switch {
	case !s.Supported:
		return "ATA security not supported"
	case s.Locked:
		return "ATA SECURITY ENABLED AND LOCKED: the drive refuses reads until its password is given"
	case s.Enabled:
		return "ATA security enabled (a password is set), not locked now"
	}
	f := "not frozen"
	if s.Frozen {
		f = "frozen"
	}
	return "ATA security supported, not enabled (" + f + ")"
}

func orNone(s string) string {
	if s == "" {
		return "(no SSC named)"
	}
	return s
}
