package raid

import (
	"bytes"
	"strings"
	"testing"

	"github.com/coldimage/coldimage/imager"
)

// panicMember stands for a member reader that crashes (malformed metadata
// giving a geometry the code did not expect).
type panicMember struct{}

func (panicMember) ReadAt(p []byte, off int64) (int, error) { panic("member reader bug") }

// TestMemberReadPanic: pieces read from several members at once run on
// goroutines of their own; one that panics fails the read with the panic
// as an error instead of ending the process (PID 1 reads volumes).
func TestMemberReadPanic(t *testing.T) {
	v := &Volume{arr: &Array{UUID: "u-1"}, devs: []*volDev{
		{name: "good", r: bytes.NewReader(make([]byte, 4096))},
		{name: "bad", r: panicMember{}},
	}}
	err := v.readPieces([]piece{{dev: 0, off: 0, buf: make([]byte, 512)}, {dev: 1, off: 0, buf: make([]byte, 512)}})
	if imager.AsPanic(err) == nil || !strings.Contains(err.Error(), "RAID member 1 reader of array u-1 crashed: panic: member reader bug") {
		t.Fatalf("readPieces: %v", err)
	}
}
