package imager

import "strings"

// CaseFolder is the one sanitiser for the <case> folder of the target
// layout (/coldimage/<case>/<UTC stamp>/): every mode — console UI, text
// menu, unattended, coldimage ui — names a case's folder with it, so the
// same case string always lands in the same folder. Letters, digits, '-',
// '_' and '.' are kept (ASCII only: FAT, exFAT and ext4 all hold them, and
// a Windows examiner can type them); every other character, spaces and
// '/' included, becomes '_'. Leading and trailing dots are dropped (no "..",
// no hidden folder); an empty result is "nocase".
func CaseFolder(c string) string {
	var b strings.Builder
	for _, r := range strings.TrimSpace(c) {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if out := strings.Trim(b.String(), "."); out != "" {
		return out
	}
	return "nocase"
}
