package ewf

import (
	"os"
	"testing"

	"github.com/coldimage/coldimage/imager"
)

// BenchmarkWriteE01 writes 256 MiB (first half random, second half zeros) in
// 8 MiB buffers, as the engine does; hashing is not included (the engine
// does it concurrently). Reports MB/s and the image/source size ratio.
func BenchmarkWriteE01(b *testing.B) {
	const size = 256 << 20
	data := append(testData("random", size/2, 1), make([]byte, size/2)...)
	final := imager.Final{Hashes: hexsum(data), SectorSize: 512, Size: size}
	b.SetBytes(size)
	var imageBytes int64
	for b.Loop() {
		dir := b.TempDir()
		opt := testOptions()
		opt.MediaSize = size
		w, err := Create(dir, "image", opt)
		if err != nil {
			b.Fatal(err)
		}
		for p := data; len(p) > 0; p = p[8<<20:] {
			if _, err := w.Write(p[:8<<20]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Finish(final); err != nil {
			b.Fatal(err)
		}
		imageBytes = 0
		for _, f := range w.Files() {
			fi, err := os.Stat(f)
			if err != nil {
				b.Fatal(err)
			}
			imageBytes += fi.Size()
		}
		os.RemoveAll(dir)
	}
	b.ReportMetric(float64(imageBytes)/size, "image/source")
}

// BenchmarkReadE01 reads back a 256 MiB image (half random, half zeros)
// sequentially in 8 MiB ReadAt calls, verifying every chunk.
func BenchmarkReadE01(b *testing.B) {
	const size = 256 << 20
	data := append(testData("random", size/2, 1), make([]byte, size/2)...)
	opt := testOptions()
	opt.MediaSize = size
	first, _ := writeImage(b, b.TempDir(), data, opt, nil)
	r, err := Open(first)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 8<<20)
	b.SetBytes(size)
	for b.Loop() {
		for off := int64(0); off < size; off += int64(len(buf)) {
			if _, err := r.ReadAt(buf, off); err != nil {
				b.Fatal(err)
			}
		}
	}
}
