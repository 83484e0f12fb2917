package disk

import (
	"os"
	"testing"
	"time"
)

// TestKernelLogReturns: reading the kernel log ends at its last record
// instead of waiting for the next one (through os.File it waited forever:
// the appliance never started imaging).
func TestKernelLogReturns(t *testing.T) {
	if _, err := os.Stat("/dev/kmsg"); err != nil {
		t.Skip("no /dev/kmsg")
	}
	done := make(chan []string, 1)
	go func() { done <- kernelLog() }()
	select {
	case l := <-done:
		t.Logf("%d kernel log records", len(l))
	case <-time.After(10 * time.Second):
		t.Fatal("reading the kernel log did not return within 10 s")
	}
}
