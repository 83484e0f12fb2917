//go:build !linux

package disk

// KernelHPA: only Linux's kernel log is read.
func KernelHPA(name string) []string { return nil }
