package main

import (
	"flag"
	"io"
	"reflect"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{"512", 512, false},
		{"1K", 1024, false},
		{"650M", 650 << 20, false},
		{"2G", 2 << 30, false},
		{"4GiB", 4 << 30, false},
		{"2GB", 2e9, false},
		{"1.5G", 3 << 29, false},
		{"", 0, true},
		{"-1G", 0, true},
		{"tenG", 0, true},
	} {
		got, err := parseSize(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, bad=%v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func TestParseInterleaved(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantPos []string
		wantSrc string
	}{
		{[]string{"out", "--source", "/dev/sda"}, []string{"out"}, "/dev/sda"},
		{[]string{"--source", "x", "out"}, []string{"out"}, "x"},
		{[]string{"a", "b", "--", "--source"}, []string{"a", "b", "--source"}, ""},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		src := fs.String("source", "", "")
		pos, err := parseInterleaved(fs, tc.args, io.Discard)
		if err != nil || !reflect.DeepEqual(pos, tc.wantPos) || *src != tc.wantSrc {
			t.Errorf("%v: pos %v src %q err %v; want %v %q", tc.args, pos, *src, err, tc.wantPos, tc.wantSrc)
		}
	}
}
