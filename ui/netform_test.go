package ui

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"
)

// netConfig is the fixture with network targets typed in: the form's
// callback refuses a URL that is not s3://, smb:// or nfs:// and a form
// without a secret, as the appliance's does, and remembers what it got.
func netConfig(got *[]NetForm) Config {
	cfg := fixtureConfig()
	cfg.NetForm = NetForm{Endpoint: "https://10.0.2.2:9000", SecretSet: false}
	cfg.NetTarget = func(f NetForm) (Target, error) {
		*got = append(*got, f)
		switch {
		case f.Scheme() != "s3" && f.Scheme() != "smb" && f.Scheme() != "nfs":
			return Target{}, errors.New("type s3://BUCKET/PREFIX, smb://USER@HOST/SHARE/PATH or nfs://HOST/EXPORT/PATH")
		case f.Scheme() != "nfs" && f.Secret == "":
			return Target{}, errors.New("type the secret")
		}
		return Target{Name: strings.TrimSpace(f.URL), FSType: f.Scheme(), Free: -1, State: "object store"}, nil
	}
	return cfg
}

// TestNetTargetForm: n on the Target screen opens the form; the fields
// follow the scheme typed; the secret is drawn as stars only; a bad URL or
// a missing secret keeps the form with a message; a good one is chosen and
// offered in the target list, and nothing was prepared.
func TestNetTargetForm(t *testing.T) {
	var got []NetForm
	a, v := testApp(t, "vt220", netConfig(&got))
	keys(a, " ", tcell.KeyEnter) // sda
	if a.page != pageTarget || !strings.Contains(v.dump(), "n network (s3/smb/nfs)  nothing is unlocked before you confirm") {
		t.Fatalf("page %d; the target screen does not offer n:\n%s", a.page, v.dump())
	}
	keys(a, "n")
	if a.page != pageNet {
		t.Fatalf("n opened page %d", a.page)
	}
	keys(a, "ftp://x/y", tcell.KeyF10)
	if a.page != pageNet || !strings.Contains(a.msg, "type s3://") {
		t.Fatalf("a bad URL left the form: page %d, msg %q", a.page, a.msg)
	}
	if s := v.dump(); strings.Contains(s, "Secret key") || strings.Contains(s, "S3 endpoint") {
		t.Errorf("S3 fields shown for ftp://:\n%s", s)
	}
	keys(a, tcell.KeyCtrlU, "s3://evidence/lab", tcell.KeyEnter)
	if s := v.dump(); !strings.Contains(s, "S3 endpoint") || !strings.Contains(s, "Secret key") || strings.Contains(s, "Password") {
		t.Errorf("the s3 fields are not shown:\n%s", s)
	}
	// Network, port, endpoint (pre-filled), region, access key, secret.
	keys(a, tcell.KeyEnter, tcell.KeyEnter, tcell.KeyEnter, "eu-lab-1", tcell.KeyEnter, "AKIDLAB", tcell.KeyEnter)
	if a.nfield != nfSecret {
		t.Fatalf("focus on field %d, want the secret", a.nfield)
	}
	keys(a, "s3cr3t-Value")
	s := v.dump()
	golden(t, "2-target-network", s)
	if strings.Contains(s, "s3cr3t") || !strings.Contains(s, strings.Repeat("*", len("s3cr3t-Value"))) {
		t.Fatalf("the secret is drawn, or not as stars:\n%s", s)
	}
	keys(a, tcell.KeyEnter, tcell.KeyEnter) // pin (empty), plain http
	keys(a, " ")                            // plain http on
	if !a.net.PlainHTTP || !strings.Contains(v.dump(), "ALLOWED: NOT ENCRYPTED") {
		t.Fatalf("Space did not allow plain http:\n%s", v.dump())
	}
	keys(a, " ", tcell.KeyEnter) // off again; Enter on the last field uses the form
	if a.page != pageClock || a.ch.Target == nil || a.ch.Target.Name != "s3://evidence/lab" {
		t.Fatalf("page %d, target %+v, msg %q", a.page, a.ch.Target, a.msg)
	}
	last := got[len(got)-1]
	want := NetForm{URL: "s3://evidence/lab", Net: "dhcp", Endpoint: "https://10.0.2.2:9000", Region: "eu-lab-1", AccessKey: "AKIDLAB", Secret: "s3cr3t-Value"}
	if last != want {
		t.Errorf("the form gave %+v, want %+v", last, want)
	}
	if !a.ch.Target.Given || len(a.prepared) != 0 {
		t.Errorf("typed target given=%v, prepared %v", a.ch.Target.Given, a.prepared)
	}
	// Back on the target list it is offered and chosen; r keeps it.
	keys(a, tcell.KeyEscape, "r")
	if a.page != pageTarget || a.tcur < 0 || a.targets[a.tcur].Name != "s3://evidence/lab" {
		t.Fatalf("after rescan: page %d cursor %d targets %v", a.page, a.tcur, a.targets)
	}
	if s := v.dump(); strings.Contains(s, "s3cr3t") {
		t.Errorf("the secret is on the target list:\n%s", s)
	}
	// smb: the password field, encryption required by default.
	keys(a, "n", tcell.KeyCtrlU, "smb://lab@10.0.2.2/evidence/x", tcell.KeyDown, tcell.KeyDown, tcell.KeyDown)
	if a.nfield != nfSecret || a.net.label(a.nfield) != "Password" {
		t.Fatalf("smb: focus on %q", a.net.label(a.nfield))
	}
	keys(a, tcell.KeyDown)
	if a.nfield != nfSeal || !strings.Contains(v.dump(), "required (seal)") {
		t.Fatalf("smb: focus %d; the screen:\n%s", a.nfield, v.dump())
	}
}

// Without NetTarget (the host) n does nothing and the key help does not
// offer it.
func TestNetTargetNotOffered(t *testing.T) {
	a, v := testApp(t, "vt220", fixtureConfig())
	keys(a, " ", tcell.KeyEnter, "n")
	if a.page != pageTarget || strings.Contains(v.dump(), "network target") {
		t.Fatalf("page %d:\n%s", a.page, v.dump())
	}
}

// In line mode n asks the fields one by one; the secret goes through
// HideInput and is never printed.
func TestPlainNetTarget(t *testing.T) {
	var got []NetForm
	cfg := netConfig(&got)
	hidden := 0
	cfg.HideInput = func() func() { hidden++; return func() {} }
	in := strings.Join([]string{
		"sda",
		"n", "s3://evidence/lab", "", "", "", "eu-lab-1", "AKIDLAB", "", "", "", // no secret: refused
		"n", "", "", "", "", "", "", "pl41n-s3cr3t", "", "no",
	}, "\n") + "\n"
	var out bytes.Buffer
	cfg.In, cfg.Out, cfg.Plain, cfg.Version = strings.NewReader(in), &out, true, "1.0.0"
	cfg.Now = func() time.Time { return time.Date(2026, 11, 22, 5, 30, 0, 0, time.UTC) }
	Run(context.Background(), cfg)
	o := out.String()
	t.Logf("transcript:\n%s", o)
	if !strings.Contains(o, "network targets (s3://, smb://, nfs://): type n") || !strings.Contains(o, "! type the secret") {
		t.Fatalf("the transcript:\n%s", o)
	}
	if strings.Contains(o, "pl41n-s3cr3t") || hidden != 2 {
		t.Errorf("secret printed, or echo not turned off for it (%d times):\n%s", hidden, o)
	}
	if len(got) != 2 || got[1].Secret != "pl41n-s3cr3t" || got[1].Region != "eu-lab-1" || got[1].URL != "s3://evidence/lab" {
		t.Errorf("forms %+v", got)
	}
	if !strings.Contains(o, "target s3://evidence/lab chosen") || !strings.Contains(o, "Clock check") && !strings.Contains(o, "clock") {
		t.Errorf("the target was not chosen:\n%s", o)
	}
}
