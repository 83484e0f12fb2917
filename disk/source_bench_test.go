//go:build linux

package disk

import (
	"io"
	"os"
	"testing"
)

// BenchmarkSourceRead reads a 256 MiB file in 1 MiB aligned chunks: with
// O_DIRECT (bypasses the page cache) and buffered (page-cached).
func BenchmarkSourceRead(b *testing.B) {
	p := sparseFileB(b, 256<<20)
	for _, bc := range []struct {
		name string
		opt  OpenOptions
	}{{"direct", OpenOptions{}}, {"buffered", OpenOptions{NoDirect: true}}} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := OpenSource(p, bc.opt)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			buf := AlignedBuffer(1 << 20)
			b.SetBytes(256 << 20)
			for i := 0; i < b.N; i++ {
				for off := int64(0); ; off += int64(len(buf)) {
					if _, err := s.ReadAt(buf, off); err == io.EOF {
						break
					} else if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

func sparseFileB(b *testing.B, size int) string {
	p := b.TempDir() + "/bench.bin"
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}
