package ewf

import "fmt"

// maxSegments is the last segment number with an extension: E01…E99, then
// EAA…EZZ, FAA…ZZZ (99 + 22·26·26).
const maxSegments = 99 + 22*26*26

// segmentExt returns the extension (without dot) of segment n (1-based).
// upper selects "E01" over "e01".
func segmentExt(n int, upper bool) (string, error) {
	if n < 1 || n > maxSegments {
		return "", fmt.Errorf("segment number %d outside 1…%d (E01…ZZZ)", n, maxSegments)
	}
	var s string
	if n <= 99 {
		s = fmt.Sprintf("E%02d", n)
	} else {
		k := n - 100
		s = string([]byte{byte('E' + k/676), byte('A' + k/26%26), byte('A' + k%26)})
	}
	if !upper {
		b := []byte(s)
		for i := range b {
			if b[i] >= 'A' && b[i] <= 'Z' {
				b[i] += 'a' - 'A'
			}
		}
		s = string(b)
	}
	return s, nil
}
