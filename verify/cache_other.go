//go:build !linux

package verify

import "errors"

func dropCache(paths []string) error {
	return errors.New("dropping cached pages is implemented for Linux only")
}
