//go:build !linux

package disk

// WriteBlocker sets block devices read-only (Linux only).
type WriteBlocker struct{}

func NewWriteBlocker() *WriteBlocker { return &WriteBlocker{} }

func IsBlockDevice(path string) bool { return false }

func (w *WriteBlocker) Block(path string) error { return ErrUnsupported }

func (w *WriteBlocker) BlockReadOnlyDisks() (disks, notSearched []string, err error) {
	return nil, nil, ErrUnsupported
}

func (w *WriteBlocker) Blocked() []string { return nil }

func (w *WriteBlocker) Close() error { return nil }

func OutputFileOnSource(file string, src Info) (bool, string, error) {
	return false, "", ErrUnsupported
}
