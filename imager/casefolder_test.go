package imager

import "testing"

func TestCaseFolder(t *testing.T) {
	for in, want := range map[string]string{
		"2026-0042": "2026-0042", "Case 42/A": "Case_42_A", "a/b c": "a_b_c", "..": "nocase", "": "nocase", "  ": "nocase",
		" ../x ": "_x", "Müller's": "M_ller_s", ".hidden.": "hidden", "C:\\x": "C__x", "x\x00y": "x_y",
	} {
		if got := CaseFolder(in); got != want {
			t.Errorf("CaseFolder(%q) = %q, want %q", in, got, want)
		}
	}
}
