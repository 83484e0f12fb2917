//go:build coldimage_faulthook

package imager

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestFaultHook (go test -tags coldimage_faulthook): the hook panics at
// the first piece of an acquisition whose source names PANIC-HOOK, and the
// engine turns that into the pass's *PanicError.
func TestFaultHook(t *testing.T) {
	if !FaultHookCompiled {
		t.Fatal("the tagged build says it has no hook")
	}
	FaultHook(FaultFirstPiece, "/tmp/plain.img", "SERIAL1") // no marker: nothing
	FaultHook(FaultListing, "/tmp/x", FaultSerialJob)       // the job's marker does not fire in the listing
	err := Safely("listing", func() error { FaultHook(FaultListing, "/dev/sdz", "X-"+FaultSerialList); return nil })
	if AsPanic(err) == nil {
		t.Errorf("listing hook: %v", err)
	}
	data := bytes.Repeat([]byte{7}, 1<<20)
	_, err = Run(context.Background(), Options{Name: "/tmp/" + FaultSerialJob + ".img", Source: bytes.NewReader(data), Size: int64(len(data)), Hashes: []string{"sha256"}})
	if AsPanic(err) == nil || !strings.Contains(err.Error(), "coldimage fault hook: PANIC-HOOK at the first piece") {
		t.Fatalf("Run: %v", err)
	}
	// Verification passes (another phase) are left alone.
	if _, err := Run(context.Background(), Options{Name: "/tmp/" + FaultSerialJob + ".img", Source: bytes.NewReader(data), Size: int64(len(data)), Phase: PhaseVerify}); err != nil {
		t.Fatalf("verify pass: %v", err)
	}
}
