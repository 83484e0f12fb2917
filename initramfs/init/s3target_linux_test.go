package main

import "testing"

func TestSessionOf(t *testing.T) {
	for rel, want := range map[string]bool{
		"coldimage/CASE-1/20261201T100000Z_SRV-0042/session.json":               true,
		"coldimage/CASE-1/20261201T100000Z_SRV-0042/vdb_X/acquisition.json":     true,
		"coldimage/CASE-1/20261201T100000Z_SRV-0043/session.json":               false, // another machine
		"coldimage/CASE-1/20261201T100000Z_XSRV-0042/session.json":              false, // another machine whose id ends the same
		"coldimage/CASE-1/20261201T100000Z/session.json":                        false, // a session without a host
		"other/CASE-1/20261201T100000Z_SRV-0042/session.json":                   false,
		"coldimage/20261201T100000Z_SRV-0042":                                   false,
		"coldimage/CASE-1/20261201T100000Z_SRV-0042/vdb_X/sub/acquisition.json": true,
	} {
		if got := sessionOf(rel, "SRV-0042"); got != want {
			t.Errorf("sessionOf(%q) = %v, want %v", rel, got, want)
		}
	}
	if sessionOf("coldimage/C/20261201T100000Z_/session.json", "") {
		t.Error("an empty host matched")
	}
}
