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
// Header section data: zlib-compressed ASCII (values transliterated by
// ascii: "Müller's" is stored as "Mueller's"; header2 keeps the original),
// lines ending in "\r\n":
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

// ascii makes a value fit the legacy header section, which is ASCII: EnCase
// before version 6 and other old readers see only this section, while
// header2 (UTF-16) keeps every value exactly as given. The transliteration
// is fixed, rune by rune, so the same value always reads the same:
//
//   - German umlauts and ß are spelled out: ä→ae ö→oe ü→ue Ä→Ae Ö→Oe Ü→Ue
//     ß→ss ("Müller's" → "Mueller's");
//   - every other letter of Latin-1 and Latin Extended-A (U+00C0–U+017F)
//     loses its diacritic (é→e, ñ→n, å→a, ø→o, ł→l, č→c, ő→o) or is
//     spelled out (æ→ae, œ→oe, þ→th, ĳ→ij);
//   - typographic punctuation becomes its ASCII form: ‘ ’ ‚ ‛ ′ ´ → ',
//     “ ” „ ‟ ″ → ", ‐ ‑ ‒ – — ― − → -, … → ..., « » → << >>, × → x,
//     ÷ → /, no-break space → space;
//   - anything else that is not printable ASCII becomes '?'.
//
// Tabs and line breaks were already made spaces by clean.
func ascii(s string) string {
	var b strings.Builder
	for _, r := range clean(s) {
		switch {
		case r >= 0x20 && r <= 0x7e:
			b.WriteRune(r)
		case r >= 0xc0 && r <= 0xff:
			b.WriteString(latin1Fold[r-0xc0])
		case r >= 0x100 && r <= 0x17f:
			if t, ok := latinExtAFold[r]; ok {
				b.WriteString(t)
			} else {
				b.WriteByte(latinExtABase[r-0x100])
			}
		default:
			if t, ok := punctFold[r]; ok {
				b.WriteString(t)
			} else {
				b.WriteByte('?')
			}
		}
	}
	return b.String()
}

// latin1Fold transliterates U+00C0 … U+00FF.
var latin1Fold = [64]string{
	"A", "A", "A", "A", "Ae", "A", "AE", "C", "E", "E", "E", "E", "I", "I", "I", "I",
	"D", "N", "O", "O", "O", "O", "Oe", "x", "O", "U", "U", "U", "Ue", "Y", "Th", "ss",
	"a", "a", "a", "a", "ae", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
	"d", "n", "o", "o", "o", "o", "oe", "/", "o", "u", "u", "u", "ue", "y", "th", "y",
}

// latinExtABase is the base letter of U+0100 … U+017F; latinExtAFold
// overrides the letters spelled out with more than one.
const latinExtABase = "AaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIi" + // U+0100–0131
	"??" + // U+0132–0133: ĳ, see latinExtAFold
	"JjKkkLlLlLlLlLlNnNnNn" + // U+0134–0148
	"?" + // U+0149 ŉ
	"NnOoOoOo" + // U+014A–0151
	"??" + // U+0152–0153: œ
	"RrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZzs" // U+0154–017F

var latinExtAFold = map[rune]string{'Ĳ': "IJ", 'ĳ': "ij", 'ŉ': "'n", 'Œ': "OE", 'œ': "oe"}

var punctFold = map[rune]string{
	'\u00a0': " ", '\u00ab': "<<", '\u00bb': ">>", '\u00b4': "'",
	'\u2018': "'", '\u2019': "'", '\u201a': "'", '\u201b': "'", '\u2032': "'",
	'\u201c': "\"", '\u201d': "\"", '\u201e': "\"", '\u201f': "\"", '\u2033': "\"",
	'\u2010': "-", '\u2011': "-", '\u2012': "-", '\u2013': "-", '\u2014': "-", '\u2015': "-", '\u2212': "-",
	'\u2026': "...",
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
