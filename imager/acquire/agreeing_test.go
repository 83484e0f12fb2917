package acquire

import (
	"reflect"
	"testing"

	"github.com/coldimage/coldimage/imager"
)

func TestAgreeing(t *testing.T) {
	p := func(off, n int64, hex string) imager.Piece {
		return imager.Piece{Offset: off, Length: n, Alg: "sha256", Hex: hex}
	}
	stream := []imager.Piece{p(0, 16, "a"), p(16, 16, "b"), p(32, 16, "c")}
	for _, tc := range []struct {
		name           string
		target, stream []imager.Piece
		want           []imager.Piece
	}{
		{"all agree", stream, stream, stream},
		{"write-back lost in the second piece", []imager.Piece{p(0, 16, "a"), p(16, 16, "zeros"), p(32, 16, "c")}, stream, []imager.Piece{p(0, 16, "a")}},
		{"first piece lost", []imager.Piece{p(0, 16, "zeros"), p(16, 16, "b")}, stream, []imager.Piece{}},
		{"target's tail piece is short", []imager.Piece{p(0, 16, "a"), p(16, 16, "b"), p(32, 5, "x")}, stream, []imager.Piece{p(0, 16, "a"), p(16, 16, "b")}},
		{"target longer than the stream's pieces", []imager.Piece{p(0, 16, "a"), p(16, 16, "b"), p(32, 16, "c"), p(48, 16, "d")}, stream, stream},
		{"no stream pieces: the target's", []imager.Piece{p(0, 16, "a")}, nil, []imager.Piece{p(0, 16, "a")}},
	} {
		if got := agreeing(tc.target, tc.stream); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: agreeing = %v; want %v", tc.name, got, tc.want)
		}
	}
}
