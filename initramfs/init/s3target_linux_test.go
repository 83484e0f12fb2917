package main

import (
	"strings"
	"testing"

	"github.com/coldimage/coldimage/ui"
)

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

// typedNetTarget checks what the console UI's network form can be checked
// for without the network, and fills the target's settings from the form
// with the boot settings underneath: a secret left empty keeps the one in
// COLDIMAGE.CFG only when the form said one is set.
func TestTypedNetTarget(t *testing.T) {
	pin := "sha256:" + strings.Repeat("ab", 32)
	s3form := ui.NetForm{URL: "s3://evidence/lab", Net: "dhcp", Endpoint: "https://10.0.2.2:9000", AccessKey: "AK", Secret: "typed"}
	for _, tc := range []struct {
		name string
		boot Config
		form func(f *ui.NetForm)
		want string // error text, or "" for a target
	}{
		{"s3", DefaultConfig(), func(f *ui.NetForm) {}, ""},
		{"s3 pinned", DefaultConfig(), func(f *ui.NetForm) { f.Pin = pin }, ""},
		{"not a network URL", DefaultConfig(), func(f *ui.NetForm) { f.URL = "/dev/sdb1" }, "type s3://BUCKET/PREFIX"},
		{"bad bucket", DefaultConfig(), func(f *ui.NetForm) { f.URL = "s3://E/x" }, "bucket"},
		{"no endpoint", DefaultConfig(), func(f *ui.NetForm) { f.Endpoint = " " }, "no S3 endpoint"},
		{"plain http", DefaultConfig(), func(f *ui.NetForm) { f.Endpoint = "http://10.0.2.2:9000" }, "plain http"},
		{"plain http allowed", DefaultConfig(), func(f *ui.NetForm) { f.Endpoint, f.PlainHTTP = "http://10.0.2.2:9000", true }, ""},
		{"bad pin", DefaultConfig(), func(f *ui.NetForm) { f.Pin = "ab:cd" }, "a certificate pin is sha256:HEX"},
		{"no secret", DefaultConfig(), func(f *ui.NetForm) { f.Secret = "" }, "type the access key and the secret key"},
		{"secret from the settings", Config{S3: S3Settings{SecretKey: "cfg"}}, func(f *ui.NetForm) { f.Secret, f.SecretSet = "", true }, ""},
		{"bad network", DefaultConfig(), func(f *ui.NetForm) { f.Net = "static:10.0.2.15" }, "network"},
		{"static network", DefaultConfig(), func(f *ui.NetForm) { f.Net = "static:10.0.2.15/24,gw=10.0.2.2" }, ""},
		{"smb without password", DefaultConfig(), func(f *ui.NetForm) { f.URL, f.Secret = "smb://lab@10.0.2.2/ev/x", "" }, "type the password of user lab"},
		{"smb", DefaultConfig(), func(f *ui.NetForm) { f.URL = "smb://lab@10.0.2.2/ev/x" }, ""},
		{"nfs", DefaultConfig(), func(f *ui.NetForm) { f.URL, f.Secret = "nfs://10.0.2.2/srv/ev", "" }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &App{cfg: tc.boot}
			var mounted []string
			f := s3form
			tc.form(&f)
			tg, err := a.typedNetTarget(&mounted)(f)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want %q", err, tc.want)
			case tc.want == "" && (tg.Name != strings.TrimSpace(f.URL) || tg.Prepare == nil || tg.Release == nil || tg.Network == nil):
				t.Fatalf("target %+v", tg)
			}
			if err != nil && strings.Contains(err.Error(), "typed") {
				t.Errorf("the error shows the secret: %v", err)
			}
			if len(mounted) != 0 {
				t.Errorf("something was mounted: %v", mounted)
			}
		})
	}
}
