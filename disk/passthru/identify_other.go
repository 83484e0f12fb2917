//go:build !linux

package passthru

import "github.com/coldimage/coldimage/imager"

// Identify needs Linux's SG_IO and NVMe ioctls.
func Identify(path string) *imager.DeviceIdentity {
	return &imager.DeviceIdentity{Transport: "none", Commands: []string{}, Errors: []string{"passthrough identity needs Linux"}}
}
