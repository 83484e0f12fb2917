//go:build !coldimage_faulthook

package imager

// FaultHookCompiled says whether this build has the test-only fault hook
// (build tag coldimage_faulthook, faulthook_on.go). Shipped builds
// (make appliance, make usb, make build) never have it.
const FaultHookCompiled = false

// FaultHook is a no-op in every shipped build. Test builds made with the
// coldimage_faulthook tag panic here on purpose (faulthook_on.go).
func FaultHook(point FaultPoint, name, serial string) {}
