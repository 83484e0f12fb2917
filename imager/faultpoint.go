package imager

// FaultPoint names a place where a test build's fault hook may panic.
type FaultPoint string

// Fault points. The hook panics at FaultFirstPiece for a source whose
// serial or path holds FaultSerialJob, and at FaultListing for a device
// whose serial or path holds FaultSerialList; nowhere in shipped builds.
const (
	FaultFirstPiece FaultPoint = "first piece" // the engine read the first buffer of an acquisition
	FaultListing    FaultPoint = "listing"     // the console UI lists a device

	FaultSerialJob  = "PANIC-HOOK"
	FaultSerialList = "PANIC-LIST"
)
