package raid

import "crypto/subtle"

// Arithmetic in GF(2^8) with the polynomial x^8+x^4+x^3+x^2+1 (0x11d) and
// generator 2, as used by the Linux md RAID6 Q syndrome: Q = Σ g^slot · D_slot.

var gfExp [512]byte
var gfLog [256]int

// gfTables[c][x] = c·x, built once (64 KiB).
var gfTables [256][256]byte

func init() {
	x := 1
	for i := 0; i < 255; i++ {
		gfExp[i] = byte(x)
		gfLog[x] = i
		x <<= 1
		if x&0x100 != 0 {
			x ^= 0x11d
		}
	}
	for i := 255; i < 512; i++ {
		gfExp[i] = gfExp[i-255]
	}
	for c := 0; c < 256; c++ {
		for x := 0; x < 256; x++ {
			gfTables[c][x] = gfMul(byte(c), byte(x))
		}
	}
}

func gfMul(a, b byte) byte {
	if a == 0 || b == 0 {
		return 0
	}
	return gfExp[gfLog[a]+gfLog[b]]
}

func gfInv(a byte) byte {
	if a == 0 {
		panic("raid: GF(2^8) inverse of 0")
	}
	return gfExp[255-gfLog[a]]
}

// gfPow2 is g^n for the generator g = 2.
func gfPow2(n int) byte { return gfExp[n%255] }

// gfMulTable returns the 256-entry table of c·x.
func gfMulTable(c byte) *[256]byte { return &gfTables[c] }

// gfMulAdd does dst ^= c·src.
func gfMulAdd(dst, src []byte, c byte) {
	if c == 0 {
		return
	}
	if c == 1 {
		xorInto(dst, src)
		return
	}
	t := gfMulTable(c)
	for i, v := range src[:len(dst)] {
		dst[i] ^= t[v]
	}
}

// gfMulBuf does buf = c·buf.
func gfMulBuf(buf []byte, c byte) {
	t := gfMulTable(c)
	for i, v := range buf {
		buf[i] = t[v]
	}
}

func xorInto(dst, src []byte) { subtle.XORBytes(dst, dst, src[:len(dst)]) }
