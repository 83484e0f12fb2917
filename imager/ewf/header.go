package ewf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/klauspost/compress/zlib"
)

// Header2 section data: zlib-compressed UTF-16LE text with byte order mark,
// lines ending in "\n", in the EnCase 6 layout (3 categories):
//
//	line 1    "3"                      number of categories
//	line 2    "main"
//	line 3    a c n e t md sn av ov m u p dc   (tab separated identifiers)
//	line 4    the values, tab separated
//	line 5    ""
//	line 6–11 "srce" category (no sources recorded)
//	line 12–17 "sub" category (no subjects recorded)
//
// m and u are POSIX timestamps; p is "0" (no password).
//
// Header section data: zlib-compressed ASCII, lines ending in "\r\n":
//
//	"1", "main", c n a e t av ov m u p, values, ""
//
// where m and u are "yyyy m d h m s" in the clock's own zone.

// headerValues holds the values stored in header2/header, by identifier.
type headerValues struct {
	Description, Case, Evidence, Examiner, Notes string
	Model, Serial, Version, Platform             string
	Acquired, System                             time.Time
}

// maxHeaderText bounds the decompressed size of a header section (EnCase
// itself stops responding for values of 1 MiB).
const maxHeaderText = 4 << 20

// clean removes characters that would break the tab/newline structure.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\r', '\n':
			return ' '
		}
		return r
	}, s)
}

func epoch(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.Unix(), 10)
}

func header2Text(v headerValues) string {
	vals := []string{clean(v.Description), clean(v.Case), clean(v.Evidence), clean(v.Examiner), clean(v.Notes),
		clean(v.Model), clean(v.Serial), clean(v.Version), clean(v.Platform), epoch(v.Acquired), epoch(v.System), "0", ""}
	return "3\nmain\na\tc\tn\te\tt\tmd\tsn\tav\tov\tm\tu\tp\tdc\n" + strings.Join(vals, "\t") + "\n\n" +
		"srce\n0\t1\np\tn\tid\tev\ttb\tlo\tpo\tah\tgu\taq\n0\t0\n\t\t\t\t\t-1\t-1\t\t\t\n\n" +
		"sub\n0\t1\np\tn\tid\tnu\tco\tgu\n0\t0\n\t\t\t\t1\t\n\n"
}

func headerTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmt.Sprintf("%d %d %d %d %d %d", t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second())
}

func ascii(s string) string {
	return strings.Map(func(r rune) rune {
		if r > 0x7e || (r < 0x20 && r != '\t') {
			return '?'
		}
		return r
	}, clean(s))
}

func headerText(v headerValues) string {
	vals := []string{ascii(v.Case), ascii(v.Evidence), ascii(v.Description), ascii(v.Examiner), ascii(v.Notes),
		ascii(v.Version), ascii(v.Platform), headerTime(v.Acquired), headerTime(v.System), "0"}
	return "1\r\nmain\r\nc\tn\ta\te\tt\tav\tov\tm\tu\tp\r\n" + strings.Join(vals, "\t") + "\r\n\r\n"
}

func encodeUTF16LE(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2, 2+2*len(u))
	b[0], b[1] = 0xff, 0xfe
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return b
}

func zlibBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&buf, zlib.BestCompression) // level is valid: error impossible
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func marshalHeader2(v headerValues) []byte { return zlibBytes(encodeUTF16LE(header2Text(v))) }
func marshalHeader(v headerValues) []byte  { return zlibBytes([]byte(headerText(v))) }

// inflateText decompresses a header section, refusing more than maxHeaderText bytes.
func inflateText(b []byte) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("zlib: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxHeaderText+1))
	if err != nil {
		return nil, fmt.Errorf("zlib: %w", err)
	}
	if len(out) > maxHeaderText {
		return nil, fmt.Errorf("more than %d bytes of text", maxHeaderText)
	}
	return out, nil
}

// parseHeader2 decodes header2 data into identifier → value of its main category.
func parseHeader2(b []byte) (map[string]string, error) {
	t, err := inflateText(b)
	if err != nil {
		return nil, fmt.Errorf("header2: %w", err)
	}
	if len(t) < 2 || len(t)%2 != 0 {
		return nil, fmt.Errorf("header2: %d bytes is not UTF-16 text", len(t))
	}
	var order binary.ByteOrder
	switch {
	case t[0] == 0xff && t[1] == 0xfe:
		order = binary.LittleEndian
	case t[0] == 0xfe && t[1] == 0xff:
		order = binary.BigEndian
	default:
		return nil, fmt.Errorf("header2: no UTF-16 byte order mark (% x)", t[:2])
	}
	u := make([]uint16, 0, len(t)/2-1)
	for i := 2; i < len(t); i += 2 {
		u = append(u, order.Uint16(t[i:]))
	}
	m, err := parseMain(string(utf16.Decode(u)))
	if err != nil {
		return nil, fmt.Errorf("header2: %w", err)
	}
	return m, nil
}

// parseHeader decodes header (ASCII) data into identifier → value.
func parseHeader(b []byte) (map[string]string, error) {
	t, err := inflateText(b)
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	m, err := parseMain(string(t))
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	return m, nil
}

// parseMain finds the "main" category and pairs its identifiers and values.
func parseMain(s string) (map[string]string, error) {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for i := 0; i+2 < len(lines); i++ {
		if lines[i] != "main" {
			continue
		}
		keys, vals := strings.Split(lines[i+1], "\t"), strings.Split(lines[i+2], "\t")
		m := make(map[string]string, len(keys))
		for j, k := range keys {
			if j < len(vals) {
				m[k] = vals[j]
			} else {
				m[k] = ""
			}
		}
		return m, nil
	}
	return nil, fmt.Errorf("no main category")
}
