package main

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseNet(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		in      string
		want    NetSettings
		wantErr string
	}{
		{"", NetSettings{Method: "dhcp"}, ""},
		{"dhcp", NetSettings{Method: "dhcp"}, ""},
		{"static:192.0.2.10/24,gw=192.0.2.1,dns=192.0.2.53,dns=198.51.100.53",
			NetSettings{Method: "static", Addr: netip.MustParsePrefix("192.0.2.10/24"), GW: a("192.0.2.1"), DNS: []netip.Addr{a("192.0.2.53"), a("198.51.100.53")}}, ""},
		{"static:10.1.2.3/16", NetSettings{Method: "static", Addr: netip.MustParsePrefix("10.1.2.3/16")}, ""},
		{"static:10.1.2.3", NetSettings{}, "not an IPv4 ADDR/PREFIX"},
		{"static:10.1.2.3/24,gw=10.9.9.9", NetSettings{}, "gateway 10.9.9.9 is not in 10.1.2.0/24"},
		{"static:10.1.2.3/24,gw=router", NetSettings{}, `gw="router" is not an IPv4 address`},
		{"static:10.1.2.3/24,mtu=9000", NetSettings{}, `mtu="9000" is not an IPv4 address`},
		{"static:10.1.2.3/24,via=10.1.2.1", NetSettings{}, `unknown field "via"`},
		{"bootp", NetSettings{}, "want dhcp or static"},
	} {
		got, err := ParseNet(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseNet(%q) = %v, %v; want error with %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseNet(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if back, err := ParseNet(got.String()); err != nil || !reflect.DeepEqual(back, got) {
			t.Errorf("ParseNet(%q).String() = %q does not parse back: %+v, %v", tc.in, got.String(), back, err)
		}
	}
}

func TestParseNetTarget(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    NetTarget
		str     string
		wantErr string
	}{
		{"smb://examiner@nas.lab/evidence", NetTarget{Scheme: "smb", User: "examiner", Host: "nas.lab", Share: "evidence"}, "smb://examiner@nas.lab/evidence", ""},
		{"smb://examiner@10.0.2.2:44500/evidence/case%2042/in", NetTarget{Scheme: "smb", User: "examiner", Host: "10.0.2.2", Port: 44500, Share: "evidence", Path: "case 42/in"}, "smb://examiner@10.0.2.2:44500/evidence/case 42/in", ""},
		{"nfs://nas.lab/srv/evidence/2026", NetTarget{Scheme: "nfs", Host: "nas.lab", Share: "/srv/evidence/2026"}, "nfs://nas.lab/srv/evidence/2026", ""},
		{"nfs://[2001:db8::1]:2050/x", NetTarget{Scheme: "nfs", Host: "2001:db8::1", Port: 2050, Share: "/x"}, "nfs://[2001:db8::1]:2050/x", ""},
		{"smb://examiner:hunter2@nas/evidence", NetTarget{}, "", "a password in the URL"},
		{"smb://nas/evidence", NetTarget{}, "", "no user named"},
		{"smb://examiner@nas/", NetTarget{}, "", "no share named"},
		{"nfs://nas", NetTarget{}, "", "no export named"},
		{"nfs://root@nas/x", NetTarget{}, "", "nfs:// takes no user"},
		{"smb://examiner@nas:0/evidence", NetTarget{}, "", "not 1-65535"},
		{"smb://examiner@nas/evidence/../etc", NetTarget{}, "", `".." in the path`},
		{"smb://examiner@nas/evidence?x=1", NetTarget{}, "", "no ?query"},
		{"s3://evidence/lab/2026", NetTarget{Scheme: "s3", Share: "evidence", Path: "lab/2026"}, "s3://evidence/lab/2026", ""},
		{"s3://evidence", NetTarget{Scheme: "s3", Share: "evidence"}, "s3://evidence", ""},
		{"s3://key:secret@evidence/lab", NetTarget{}, "", "no credentials"},
		{"s3://Evidence/lab", NetTarget{}, "", "not a bucket name"},
		{"ftp://nas/evidence", NetTarget{}, "", "not smb:// or nfs://"},
		{"smb:///evidence", NetTarget{}, "", "no server named"},
	} {
		got, err := ParseNetTarget(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseNetTarget(%q) = %+v, %v; want error with %q", tc.in, got, err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("ParseNetTarget(%q): the error shows the password: %v", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseNetTarget(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if got.String() != tc.str {
			t.Errorf("ParseNetTarget(%q).String() = %q; want %q", tc.in, got.String(), tc.str)
		}
	}
}

func TestMountArgs(t *testing.T) {
	srv, me := netip.MustParseAddr("10.0.2.2"), netip.MustParseAddr("10.0.2.15")
	smb := NetTarget{Scheme: "smb", User: "examiner", Host: "nas", Port: 44500, Share: "evidence"}
	for _, tc := range []struct {
		name    string
		t       NetTarget
		o       SMBOptions
		want    Mount
		wantErr string
	}{
		{"smb sealed", smb, SMBOptions{Password: "s3cret"}, Mount{Source: "//10.0.2.2/evidence", FSType: "cifs",
			Data:  "vers=3.1.1,seal,username=examiner,ip=10.0.2.2,port=44500,uid=0,gid=0,file_mode=0644,dir_mode=0755,cache=strict,soft,echo_interval=10,nobrl,password=s3cret",
			Shown: "vers=3.1.1,seal,username=examiner,ip=10.0.2.2,port=44500,uid=0,gid=0,file_mode=0644,dir_mode=0755,cache=strict,soft,echo_interval=10,nobrl"}, ""},
		{"smb unsealed", smb, SMBOptions{Password: "s3cret", Unsealed: true}, Mount{Source: "//10.0.2.2/evidence", FSType: "cifs",
			Data:  "vers=3,username=examiner,ip=10.0.2.2,port=44500,uid=0,gid=0,file_mode=0644,dir_mode=0755,cache=strict,soft,echo_interval=10,nobrl,password=s3cret",
			Shown: "vers=3,username=examiner,ip=10.0.2.2,port=44500,uid=0,gid=0,file_mode=0644,dir_mode=0755,cache=strict,soft,echo_interval=10,nobrl"}, ""},
		{"smb comma in password", smb, SMBOptions{Password: "a,b"}, Mount{}, "holds a comma"},
		{"nfs default port", NetTarget{Scheme: "nfs", Host: "nas", Share: "/srv/ev"}, SMBOptions{}, Mount{Source: "10.0.2.2:/srv/ev", FSType: "nfs4",
			Data:  "vers=4.2,proto=tcp,port=2049,addr=10.0.2.2,clientaddr=10.0.2.15,softerr,timeo=150,retrans=3",
			Shown: "vers=4.2,proto=tcp,port=2049,addr=10.0.2.2,clientaddr=10.0.2.15,softerr,timeo=150,retrans=3"}, ""},
	} {
		got, err := tc.t.MountArgs(srv, me, tc.o)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: err %v; want %q", tc.name, err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), tc.o.Password) {
				t.Errorf("%s: the error shows the password: %v", tc.name, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s:\n got %+v, %v\nwant %+v", tc.name, got, err, tc.want)
		}
		if tc.o.Password != "" && strings.Contains(got.Shown, tc.o.Password) {
			t.Errorf("%s: Shown carries the password", tc.name)
		}
	}
}

func TestNetSettingsFromFileAndCmdline(t *testing.T) {
	file := []byte("coldimage.target=smb://examiner@nas/evidence\r\ncoldimage.smb.password=hunter2\ncoldimage.net=static:192.0.2.10/24,gw=192.0.2.1\ncoldimage.smb.seal=0\ncoldimage.smb.password hunter2\n")
	c := ParseSettings(file, "coldimage.net.if=52:54:00:12:34:56 coldimage.smb.password=fromcmdline coldimage.net=bogus")
	if c.SMBPassword != "hunter2" {
		t.Errorf("SMBPassword = %q; want the settings file's (the kernel command line's is ignored)", c.SMBPassword)
	}
	if !c.SMBUnsealed {
		t.Errorf("coldimage.smb.seal=0 not applied")
	}
	if c.Net.Method != "dhcp" || c.Net.If != "52:54:00:12:34:56" {
		t.Errorf("Net = %+v; want dhcp (bogus value) on the named port", c.Net)
	}
	joined := strings.Join(c.Warnings, "\n")
	for _, w := range []string{"coldimage.smb.password is taken from the settings file only", `coldimage.net="bogus"`} {
		if !strings.Contains(joined, w) {
			t.Errorf("warnings %q lack %q", joined, w)
		}
	}
	if strings.Contains(joined, "fromcmdline") || strings.Contains(joined, "hunter2") {
		t.Errorf("a warning shows a password: %q", joined)
	}
	lines := settingLines(file)
	if got := strings.Join(lines, "\n"); strings.Contains(got, "hunter2") || !strings.Contains(got, "coldimage.smb.password=(set, not recorded)") {
		t.Errorf("settingLines = %q: the password must be redacted", got)
	}
}

func TestS3Settings(t *testing.T) {
	file := []byte("coldimage.target=s3://evidence/lab\ncoldimage.s3.endpoint=https://store.lab:9000\ncoldimage.s3.region=eu-1\ncoldimage.s3.access-key=AK\ncoldimage.s3.secret-key=S3cr3t/+\ncoldimage.tls.ca=LABCA.PEM\ncoldimage.tls.pin=sha256:00\ncoldimage.s3.insecure=maybe\n")
	c := ParseSettings(file, "coldimage.s3.secret-key=fromcmdline coldimage.s3.region=eu-2")
	want := S3Settings{Endpoint: "https://store.lab:9000", Region: "eu-2", AccessKey: "AK", SecretKey: "S3cr3t/+", CA: "LABCA.PEM", Pin: "sha256:00"}
	if fmt.Sprint(c.S3) != fmt.Sprint(want) {
		t.Errorf("S3 = %+v; want %+v (the command line wins, but not for the secret)", c.S3, want)
	}
	joined := strings.Join(c.Warnings, "\n")
	for _, w := range []string{"coldimage.s3.secret-key is taken from the settings file only", `coldimage.s3.insecure="maybe"`} {
		if !strings.Contains(joined, w) {
			t.Errorf("warnings %q lack %q", joined, w)
		}
	}
	if got := strings.Join(settingLines(file), "\n"); strings.Contains(got, "S3cr3t") || strings.Contains(joined, "fromcmdline") {
		t.Errorf("a secret is shown: %q %q", got, joined)
	}
}

func TestRedactCmdline(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"quiet coldimage.smb.password=hunter2 coldimage.auto=1", "quiet coldimage.smb.password=(set, not recorded) coldimage.auto=1"},
		{`coldimage.smb.password="two words" x`, "coldimage.smb.password=(set, not recorded) x"},
		{"coldimage.target=smb://u@h/s", "coldimage.target=smb://u@h/s"},
		{"coldimage.s3.secret-key=AbC/123+x coldimage.s3.access-key=AK", "coldimage.s3.secret-key=(set, not recorded) coldimage.s3.access-key=AK"},
	} {
		if got := redactCmdline(tc.in); got != tc.want {
			t.Errorf("redactCmdline(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestMeaningfulDMI(t *testing.T) {
	for v, want := range map[string]bool{
		"SRV-0042": true, "4C4C4544-0042-3510-8056-B4C04F4D4E32": true,
		"": false, "To be filled by O.E.M.": false, "Not Specified": false, "00000000-0000-0000-0000-000000000000": false,
		"FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF": false, "Default string": false, "System Serial Number": false, "0123456789": false,
	} {
		if got := meaningfulDMI(v); got != want {
			t.Errorf("meaningfulDMI(%q) = %v; want %v", v, got, want)
		}
	}
}
