package ewf

import (
	"bytes"
	"encoding/binary"
	"hash/adler32"
	"math"

	"github.com/klauspost/compress/zlib"
)

// batch is up to batchChunks consecutive chunks of the stream.
type batch struct {
	raw    []byte
	n      int
	chunks []chunkOut
	out    []byte // stored form of the chunks, back to back
	done   chan struct{}
}

// chunkOut is one chunk as stored: zlib data, or raw data + Adler-32 (LE).
// In a batch, data is out[start:end], or the shared compressed zero chunk.
type chunkOut struct {
	data       []byte
	start, end int
	zero       bool
	compressed bool
}

type compressor struct {
	level int
	buf   bytes.Buffer
	zw    *zlib.Writer
	// zh retries with Huffman coding only when zw found nothing to gain:
	// the fast levels emit stored blocks for data with few repeats that
	// still has a skewed byte distribution (text, some tables).
	zh *zlib.Writer
}

func newCompressor(level int) *compressor {
	c := &compressor{level: level}
	if level != LevelNone {
		zl := zlib.BestSpeed
		if level == LevelBest {
			zl = zlib.BestCompression
		}
		c.zw, _ = zlib.NewWriterLevel(&c.buf, zl) // valid level: no error
		c.zh, _ = zlib.NewWriterLevel(&c.buf, zlib.HuffmanOnly)
	}
	return c
}

// compressChunk returns raw compressed when that is not larger than raw,
// otherwise raw followed by its Adler-32. The result may alias c's buffer.
func compressChunk(c *compressor, raw []byte) chunkOut {
	c.buf.Reset()
	var sum uint32
	if c.zw != nil {
		c.zw.Reset(&c.buf)
		c.zw.Write(raw) // writes to a bytes.Buffer cannot fail
		c.zw.Close()
		z := c.buf.Bytes()
		if len(z) <= len(raw) {
			return chunkOut{data: z, compressed: true}
		}
		if skewed(raw) {
			c.buf.Reset()
			c.zh.Reset(&c.buf)
			c.zh.Write(raw)
			c.zh.Close()
			if z = c.buf.Bytes(); len(z) <= len(raw) {
				return chunkOut{data: z, compressed: true}
			}
		}
		// The zlib trailer is the Adler-32 of raw, big-endian: reuse it.
		sum = binary.BigEndian.Uint32(z[len(z)-4:])
		c.buf.Reset()
	} else {
		sum = adler32.Checksum(raw)
	}
	c.buf.Write(raw)
	var t [4]byte
	binary.LittleEndian.PutUint32(t[:], sum)
	c.buf.Write(t[:])
	return chunkOut{data: c.buf.Bytes()}
}

// isZero reports whether b holds only zero bytes.
func isZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// entropyLimit is the estimated bits per byte above which Huffman coding
// alone is not tried: it would not gain the few percent it needs.
const entropyLimit = 7.5

// xlog2x[c] = c·log2(c) for the counts of a 4096-byte sample.
var xlog2x = func() (t [4097]float64) {
	for c := 1; c < len(t); c++ {
		t[c] = float64(c) * math.Log2(float64(c))
	}
	return t
}()

// skewed estimates, from up to 4096 bytes sampled across b, whether its
// byte distribution is uneven enough for Huffman coding to shrink it.
func skewed(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	var hist [256]int
	step := max(len(b)/4096, 1)
	n := 0
	for i := 0; i < len(b) && n < 4096; i += step {
		hist[b[i]]++
		n++
	}
	sum := 0.0
	for _, c := range hist {
		sum += xlog2x[c]
	}
	bits := math.Log2(float64(n)) - sum/float64(n)
	return bits < entropyLimit
}
