package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

func TestHasKey(t *testing.T) {
	for _, c := range []struct {
		bitmap string
		want   bool
	}{
		{"10000000000000 0", true},                    // the ACPI Power Button: bit 116 in the second word
		{"100000 0 0 0 0 0 0 10000000000000 0", true}, // a keyboard-sized bitmap
		{"0 fffffffffffffffe", false},
		{"", false},
		{"zz 0", false},
	} {
		if got := hasKey(c.bitmap, keyPower); got != c.want {
			t.Errorf("hasKey(%q) = %v, want %v", c.bitmap, got, c.want)
		}
	}
}

func TestIsPowerPress(t *testing.T) {
	ev := func(typ, code uint16, value int32) []byte {
		b := make([]byte, inputEventSize)
		binary.LittleEndian.PutUint16(b[16:], typ)
		binary.LittleEndian.PutUint16(b[18:], code)
		binary.LittleEndian.PutUint32(b[20:], uint32(value))
		return b
	}
	for _, c := range []struct {
		b    []byte
		want bool
	}{
		{ev(evKey, keyPower, 1), true},
		{ev(evKey, keyPower, 0), false}, // release
		{ev(evKey, 115, 1), false},
		{ev(0, keyPower, 1), false},
		{ev(evKey, keyPower, 1)[:20], false},
	} {
		if got := isPowerPress(c.b); got != c.want {
			t.Errorf("%x: %v, want %v", c.b, got, c.want)
		}
	}
}

func TestPowerKeyDevicesAndMounts(t *testing.T) {
	sys := t.TempDir()
	for name, caps := range map[string]string{"event0": "10000000000000 0", "event1": "0 ff"} {
		d := filepath.Join(sys, name, "device", "capabilities")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(d, "key"), []byte(caps+"\n"), 0o644)
	}
	got, err := powerKeyDevices(sys)
	if err != nil || len(got) != 1 || got[0] != "/dev/input/event0" {
		t.Fatalf("powerKeyDevices: %v %v", got, err)
	}
	mounts := filepath.Join(t.TempDir(), "mounts")
	os.WriteFile(mounts, []byte("proc /proc proc rw 0 0\n/dev/vdc1 /run/coldimage/target-vdc1 ext4 rw 0 0\n/dev/vdd1 /run/coldimage/target ext4 rw 0 0\n"), 0o644)
	if m := mountedTargets(mounts); len(m) != 2 || m[0].dir != "/run/coldimage/target" {
		t.Fatalf("mountedTargets: %v", m)
	}
}
