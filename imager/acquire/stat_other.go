//go:build !linux

package acquire

import "fmt"

func statDev(path string) (uint64, error) {
	return 0, fmt.Errorf("stat %s: device numbers are only read on Linux", path)
}
