package imager

import "testing"

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{"512", 512, false},
		{"0", 0, false},
		{"1K", 1024, false},
		{"650M", 650 << 20, false},
		{"2G", 2 << 30, false},
		{"4GiB", 4 << 30, false},
		{"4gib", 4 << 30, false},
		{"2GB", 2e9, false},
		{"10KB", 10000, false},
		{"1.5G", 3 << 29, false},
		{"1.5KB", 1500, false},
		{"512B", 512, false},
		{" 2 G ", 2 << 30, false},
		{"4194304T", 1 << 62, false},
		{"", 0, true},
		{"-1", 0, true},
		{"-1G", 0, true},
		{"+1G", 0, true},
		{"tenG", 0, true},
		{"NaN", 0, true},
		{"nan", 0, true},
		{"NaNG", 0, true},
		{"Inf", 0, true},
		{"+Inf", 0, true},
		{"-Inf", 0, true},
		{"infinity", 0, true},
		{"1e30", 0, true},
		{"1e3", 0, true}, // no exponents: sizes are typed as digits
		{"0x10", 0, true},
		{"1_000", 0, true},
		{"9223372036854775808", 0, true},
		{"4194305T", 0, true},
		{"8388608T", 0, true},
		{"1.1K", 0, true}, // 1126.4 bytes
		{"0.5", 0, true},
		{".5G", 0, true},
		{"1.G", 0, true},
		{"1/2G", 0, true},
		{"G", 0, true},
	} {
		got, err := ParseSize(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, bad=%v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}
