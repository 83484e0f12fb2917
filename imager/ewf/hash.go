package ewf

import (
	"encoding/binary"
	"fmt"
	"hash/adler32"
)

// Hash section data (MD5 of the media):
//
//	offset size field
//	0      16   MD5
//	16     16   unknown (zero)
//	32     4    Adler-32 of bytes 0–31
//
// Digest section data (EnCase 6.12+):
//
//	offset size field
//	0      16   MD5
//	16     20   SHA-1
//	36     40   zero
//	76     4    Adler-32 of bytes 0–75
const (
	hashDataSize   = 36
	digestDataSize = 80
)

func marshalHash(md5 [16]byte) []byte {
	b := make([]byte, hashDataSize)
	copy(b, md5[:])
	binary.LittleEndian.PutUint32(b[32:36], adler32.Checksum(b[:32]))
	return b
}

func parseHash(b []byte) (md5 [16]byte, err error) {
	if len(b) < hashDataSize {
		return md5, fmt.Errorf("hash data: %d bytes, need %d", len(b), hashDataSize)
	}
	if err := verifyAdler("hash data", b[:32], binary.LittleEndian.Uint32(b[32:36])); err != nil {
		return md5, err
	}
	copy(md5[:], b)
	return md5, nil
}

func marshalDigest(md5 [16]byte, sha1 [20]byte) []byte {
	b := make([]byte, digestDataSize)
	copy(b, md5[:])
	copy(b[16:36], sha1[:])
	binary.LittleEndian.PutUint32(b[76:80], adler32.Checksum(b[:76]))
	return b
}

func parseDigest(b []byte) (md5 [16]byte, sha1 [20]byte, err error) {
	if len(b) < digestDataSize {
		return md5, sha1, fmt.Errorf("digest data: %d bytes, need %d", len(b), digestDataSize)
	}
	if err := verifyAdler("digest data", b[:76], binary.LittleEndian.Uint32(b[76:80])); err != nil {
		return md5, sha1, err
	}
	copy(md5[:], b)
	copy(sha1[:], b[16:36])
	return md5, sha1, nil
}
