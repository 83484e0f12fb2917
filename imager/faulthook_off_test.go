//go:build !coldimage_faulthook

package imager

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoFaultHookByDefault: a build without the test-only tag (make
// build, make appliance, make usb) has no fault hook: FaultHook does
// nothing for the marker serials, and go list compiles faulthook_off.go,
// never faulthook_on.go.
func TestNoFaultHookByDefault(t *testing.T) {
	if FaultHookCompiled {
		t.Fatal("FaultHookCompiled in a build without the coldimage_faulthook tag")
	}
	for _, p := range []FaultPoint{FaultFirstPiece, FaultListing} {
		FaultHook(p, "/dev/"+FaultSerialJob, FaultSerialJob+"-"+FaultSerialList) // must not panic
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the package's files")
	}
	out, err := exec.Command(goBin, "list", "-f", "{{join .GoFiles \" \"}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	files := " " + strings.TrimSpace(string(out)) + " "
	if !strings.Contains(files, " faulthook_off.go ") || strings.Contains(files, "faulthook_on.go") {
		t.Errorf("default build compiles %s; want faulthook_off.go and not faulthook_on.go", files)
	}
}
