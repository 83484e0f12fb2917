package main

import (
	"os"
	"strings"
	"testing"
)

// The initramfs has no C library: only a static busybox is taken.
func TestCheckStatic(t *testing.T) {
	if _, err := os.Stat("/bin/busybox"); err == nil {
		if err := checkStatic("/bin/busybox"); err != nil {
			t.Errorf("busybox-static's /bin/busybox refused: %v", err)
		}
	}
	// A dynamically linked binary of the host (coreutils).
	for _, p := range []string{"/bin/ls", "/usr/bin/ls"} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if err := checkStatic(p); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
			t.Errorf("checkStatic(%s) = %v, want dynamically linked", p, err)
		}
		return
	}
}
