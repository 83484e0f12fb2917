package main

import "testing"

// TestBootOrder pins the order the issue requires: kernel file systems,
// then the uevent socket, and only then drivers; devices are write-blocked
// before and after driver loading, and before anything reads a disk.
func TestBootOrder(t *testing.T) {
	idx := map[string]int{}
	for i, s := range bootSteps {
		if _, dup := idx[s.Name]; !dup {
			idx[s.Name] = i
		}
	}
	pos := func(n string) int {
		i, ok := idx[n]
		if !ok {
			t.Fatalf("no step %q", n)
		}
		return i
	}
	for _, tc := range [][2]string{
		{"mount proc, sysfs, devtmpfs, tmpfs", "open uevent socket"},
		{"mount proc, sysfs, devtmpfs, tmpfs", "console on ttyS0 and tty0"},
		{"open uevent socket", "load storage and file-system drivers"},
		{"read kernel command line", "console on the tty console= names"},
		{"write-block devices present at boot", "load storage and file-system drivers"},
		{"load storage and file-system drivers", "write-block every device seen"},
		// The only step that reads a disk (the boot medium's settings file)
		// comes after every device is write-blocked.
		{"write-block every device seen", "read the examiner's settings from the boot medium"},
	} {
		if pos(tc[0]) >= pos(tc[1]) {
			t.Errorf("%q must come before %q", tc[0], tc[1])
		}
	}
	if n := len(bootSteps); bootSteps[n-2].Name != "write-block every device seen" || bootSteps[n-1].Name != "read the examiner's settings from the boot medium" {
		t.Errorf("the boot sequence must end with the write-block sweep, then the settings file")
	}
}
