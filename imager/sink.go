package imager

// BadRange is a run of logical sectors the source would not give up. The engine
// writes zeros there (NIST benign fill) so every good byte keeps its offset.
type BadRange struct {
	LBA   int64  `json:"lba"`   // first unreadable logical sector
	Count int64  `json:"count"` // number of logical sectors
	Error string `json:"error"` // the last error the kernel returned for it
	// State is where the rescue left the range (StateNonTried,
	// StateNonTrimmed, StateNonScraped: not fully read yet, zero-filled
	// for now); empty for sectors that failed every read, retries included.
	State string `json:"state,omitempty"`
}

// Extend extends r by next when next continues it (adjacent, same error
// and state) and reports whether it did: the one rule by which the record,
// the events and the console merge ranges.
func (r *BadRange) Extend(next BadRange) bool {
	if r.LBA+r.Count != next.LBA || r.Error != next.Error || r.State != next.State {
		return false
	}
	r.Count += next.Count
	return true
}

// AppendRange appends r to l, extending l's last range when r continues it.
func AppendRange(l []BadRange, r BadRange) []BadRange {
	if k := len(l) - 1; k >= 0 && l[k].Extend(r) {
		return l
	}
	return append(l, r)
}

// Final is what a Sink is told once the whole stream has been written.
type Final struct {
	// Hashes of the whole stream (as written, zero fill included): algorithm
	// name ("md5", "sha1", "sha256", "blake3") → lowercase hex.
	Hashes map[string]string
	// Unreadable lists the zero-filled ranges in logical sectors of SectorSize.
	Unreadable []BadRange
	SectorSize int
	Size       int64 // total bytes written
}

// Sink receives the image stream in source order. The engine calls Write from a
// single goroutine; p is shared with hashers and other sinks and must not be
// modified or retained after Write returns.
type Sink interface {
	Write(p []byte) (int, error)
	// Finish is called once after the last successful Write. It stores what the
	// format keeps of Final, flushes, fsyncs and closes.
	Finish(f Final) error
	// Abort closes after an error, keeping everything written so far on disk.
	Abort() error
	// Files lists the files written so far, in order (full paths).
	Files() []string
}
