package ui

import (
	"context"
	"fmt"
	"strings"

	"github.com/gdamore/tcell/v2"
)

// NetForm is a network target as the examiner types it on the Target
// screen (n): the URL and how the appliance reaches it. Config.NetForm
// pre-fills it from the boot settings; Config.NetTarget turns it into a
// Target without touching the network (the network is joined and the
// store or share checked by the Target's Prepare, after the confirmation).
type NetForm struct {
	URL       string // s3://BUCKET/PREFIX, smb://USER@HOST[:PORT]/SHARE[/PATH] or nfs://HOST[:PORT]/EXPORT[/PATH]
	Net       string // how the network is joined: dhcp, or static:ADDR/PREFIX,gw=GW,dns=DNS
	Port      string // the network port: an interface name or MAC; "" the first with a carrier
	Endpoint  string // S3: https://HOST[:PORT]
	Region    string // S3
	AccessKey string // S3
	// Secret is the S3 secret key or the SMB password. It is typed, shown
	// as one * per character, and never drawn, logged or recorded.
	Secret string
	// SecretSet: the boot settings hold one; an empty Secret keeps it.
	SecretSet bool
	Pin       string // S3: sha256:HEX of the server's certificate; "" the CA bundle
	PlainHTTP bool   // S3: a plain http:// endpoint is allowed (coldimage.s3.insecure)
	Unsealed  bool   // SMB: encryption not required (coldimage.smb.seal=0)
}

// Scheme is the URL's scheme as typed (s3, smb, nfs), lower case.
func (f NetForm) Scheme() string {
	s, _, ok := strings.Cut(strings.TrimSpace(f.URL), "://")
	if !ok {
		return ""
	}
	return strings.ToLower(s)
}

// Network form fields, in order.
const (
	nfURL = iota
	nfNet
	nfPort
	nfEndpoint
	nfRegion
	nfAccess
	nfSecret
	nfPin
	nfPlain
	nfSeal
	nNetFields
)

// shown says whether a field belongs to the scheme typed.
func (f NetForm) shown(field int) bool {
	switch field {
	case nfEndpoint, nfRegion, nfAccess, nfPin, nfPlain:
		return f.Scheme() == "s3"
	case nfSecret:
		return f.Scheme() == "s3" || f.Scheme() == "smb"
	case nfSeal:
		return f.Scheme() == "smb"
	}
	return true
}

// label is a field's label for the scheme typed.
func (f NetForm) label(field int) string {
	switch field {
	case nfURL:
		return "Target URL"
	case nfNet:
		return "Network"
	case nfPort:
		return "Network port"
	case nfEndpoint:
		return "S3 endpoint"
	case nfRegion:
		return "Region"
	case nfAccess:
		return "Access key"
	case nfSecret:
		if f.Scheme() == "smb" {
			return "Password"
		}
		return "Secret key"
	case nfPin:
		return "TLS pin"
	case nfPlain:
		return "Plain http"
	case nfSeal:
		return "Encryption"
	}
	return ""
}

// text is the text field f edits (nil for the switches).
func (f *NetForm) text(field int) *string {
	switch field {
	case nfURL:
		return &f.URL
	case nfNet:
		return &f.Net
	case nfPort:
		return &f.Port
	case nfEndpoint:
		return &f.Endpoint
	case nfRegion:
		return &f.Region
	case nfAccess:
		return &f.AccessKey
	case nfSecret:
		return &f.Secret
	case nfPin:
		return &f.Pin
	}
	return nil
}

// hint is what a field takes, shown under the form.
func (f NetForm) hint(field int) string {
	switch field {
	case nfURL:
		return "s3://BUCKET/PREFIX, smb://USER@HOST/SHARE/PATH or nfs://HOST/EXPORT/PATH"
	case nfNet:
		return "dhcp, or static:ADDR/PREFIX,gw=GW,dns=DNS (e.g. static:10.1.2.3/24,gw=10.1.2.1)"
	case nfPort:
		return "an interface name or MAC address; empty: the first port with a link"
	case nfEndpoint:
		return "https://HOST[:PORT] of the store (http:// only with Plain http on)"
	case nfRegion:
		return "the store's region; empty: us-east-1"
	case nfAccess:
		return "the access key id"
	case nfSecret:
		if f.SecretSet {
			return "typed, never shown or recorded; empty: the one in COLDIMAGE.CFG"
		}
		return "typed, never shown or recorded"
	case nfPin:
		return "sha256:HEX of the server's certificate; empty: the CA bundle (coldimage.tls.ca) or the system's"
	case nfPlain:
		return "Space: allow an unencrypted http:// endpoint (flagged in the record)"
	case nfSeal:
		return "Space: require SMB 3 encryption (seal) or not (flagged in the record)"
	}
	return ""
}

// value is how field f is drawn: the secret as stars, never its text.
func (f NetForm) value(field int) string {
	switch field {
	case nfSecret:
		if f.Secret == "" && f.SecretSet {
			return "(from COLDIMAGE.CFG)"
		}
		return strings.Repeat("*", len([]rune(f.Secret)))
	case nfPlain:
		if f.PlainHTTP {
			return "[x] ALLOWED: NOT ENCRYPTED"
		}
		return "[ ] https only"
	case nfSeal:
		if f.Unsealed {
			return "[ ] NOT REQUIRED"
		}
		return "[x] required (seal)"
	}
	if p := f.text(field); p != nil {
		return *p
	}
	return ""
}

// drawNet is the network target form.
func (a *app) drawNet(w, h int) [2]string {
	intro := wrap("Where the images go over the network. Nothing touches the network now: it is joined and the store or share checked after you confirm (5/6).", w)
	for i, l := range intro[:min(2, len(intro))] {
		a.put(2+i, 0, l, stPlain)
	}
	y := 5
	for f := 0; f < nNetFields; f++ {
		if !a.net.shown(f) {
			continue
		}
		cur, lst := " ", stPlain
		if f == a.nfield {
			cur, lst = ">", stBold
		}
		a.put(y, 0, cur+" "+fmt.Sprintf("%-13s", a.net.label(f)), lst)
		x := 16
		fw := max(20, w-x-1)
		v, st := clip(a.net.value(f), fw), stPlain
		if f == a.nfield {
			st = stRev
			if a.net.text(f) != nil {
				v = tail(a.net.value(f)+"_", fw)
			}
		}
		a.put(y, x, pad(v, fw), st)
		y++
	}
	for i, l := range wrap(a.net.hint(a.nfield), w-2) {
		if i < 2 {
			a.put(y+1+i, 2, l, stPlain)
		}
	}
	return [2]string{"Up/Down/Tab move   type to edit, Backspace delete, Ctrl-U clear, Space switch",
		"Enter next field (last: use it)   F10/Ctrl-X use it   Esc back to the targets"}
}

// netStep moves the form's focus by d over the fields the scheme shows.
func (a *app) netStep(d int) {
	for f := a.nfield + d; f >= 0 && f < nNetFields; f += d {
		if a.net.shown(f) {
			a.nfield = f
			return
		}
	}
}

// lastNetField is the last field the scheme shows.
func (a *app) lastNetField() int {
	for f := nNetFields - 1; f > 0; f-- {
		if a.net.shown(f) {
			return f
		}
	}
	return 0
}

func (a *app) keyNet(ev *tcell.EventKey) {
	switch ev.Key() {
	case tcell.KeyEscape:
		a.page = pageTarget
		return
	case tcell.KeyUp, tcell.KeyBacktab, tcell.KeyCtrlP:
		a.netStep(-1)
		return
	case tcell.KeyDown, tcell.KeyTab, tcell.KeyCtrlN:
		a.netStep(1)
		return
	case tcell.KeyEnter:
		if a.nfield < a.lastNetField() {
			a.netStep(1)
			return
		}
		a.netDone()
		return
	case tcell.KeyF10, tcell.KeyCtrlX:
		a.netDone()
		return
	}
	if p := a.net.text(a.nfield); p != nil {
		editText(p, ev, 300)
		return
	}
	if ev.Key() == tcell.KeyRune && ev.Rune() == ' ' {
		switch a.nfield {
		case nfPlain:
			a.net.PlainHTTP = !a.net.PlainHTTP
		case nfSeal:
			a.net.Unsealed = !a.net.Unsealed
		}
	}
}

// netDone makes a target of the form and chooses it, or says what is
// wrong and stays on the form. Nothing touches the network here.
func (a *app) netDone() {
	t, note, err := a.useNet()
	if err != nil {
		a.msg = err.Error()
		return
	}
	a.msg = strings.TrimSpace(fmt.Sprintf("target %s chosen; the network is joined when you confirm. %s", t.Name, note))
	a.enterClock()
}

// useNet turns the form into the typed target, offers it in the target
// list (in place of one of the same name) and chooses it. Both modes use
// it.
func (a *app) useNet() (Target, string, error) {
	if a.cfg.NetTarget == nil {
		return Target{}, "", fmt.Errorf("network targets are not offered here")
	}
	t, err := a.cfg.NetTarget(a.net)
	if err != nil {
		return Target{}, "", err
	}
	t.Given = true
	a.typed = &t
	a.refreshTargets()
	for i, x := range a.targets {
		if x.Name == t.Name {
			a.tcur = i
		}
	}
	note, err := a.chooseTarget(t)
	return t, note, err
}

// netForm asks the network form's fields one by one in line mode and
// chooses the target (true), or says what is wrong (false). The secret is
// asked with the terminal's echo off (Config.HideInput).
func (p *plain) netForm(ctx context.Context) (bool, error) {
	a := p.a
	p.printf("\nNetwork target: nothing touches the network now; it is joined and the store or share checked after you confirm.\nEnter keeps the value in [ ], - clears it, < goes back.\n")
	for f := 0; f < nNetFields; f++ {
		if !a.net.shown(f) {
			continue
		}
		q := fmt.Sprintf("%s (%s)", a.net.label(f), a.net.hint(f))
		switch f {
		case nfSecret:
			v, err := p.askSecret(ctx, q)
			if err != nil {
				return false, err
			}
			if v != "" || !a.net.SecretSet {
				a.net.Secret = v
			}
		case nfPlain:
			yes, err := p.askYesNo(ctx, "allow plain http, NOT ENCRYPTED? yes/no", a.net.PlainHTTP)
			if err != nil {
				return false, err
			}
			a.net.PlainHTTP = yes
		case nfSeal:
			yes, err := p.askYesNo(ctx, "require SMB encryption (seal)? yes/no", !a.net.Unsealed)
			if err != nil {
				return false, err
			}
			a.net.Unsealed = !yes
		default:
			ptr := a.net.text(f)
			v, err := p.ask(ctx, q, *ptr)
			if err != nil {
				return false, err
			}
			if v == "-" {
				v = "" // clears a pre-filled value
			}
			*ptr = v
		}
	}
	t, note, err := a.useNet()
	if err != nil {
		p.printf("! %v\n", err)
		return false, nil
	}
	p.printf("target %s chosen; the network is joined when you confirm\n", t.Name)
	if note != "" {
		p.printf("! %s\n", note)
	}
	return true, nil
}

// askYesNo asks a yes/no question, on the default.
func (p *plain) askYesNo(ctx context.Context, q string, on bool) (bool, error) {
	def := "no"
	if on {
		def = "yes"
	}
	v, err := p.ask(ctx, q, def)
	return strings.EqualFold(v, "yes") || strings.EqualFold(v, "y"), err
}

// askSecret asks for a secret with the terminal's echo off; the answer is
// never printed.
func (p *plain) askSecret(ctx context.Context, q string) (string, error) {
	if p.cfg.HideInput != nil {
		restore := p.cfg.HideInput()
		defer func() {
			restore()
			p.printf("\n")
		}()
	}
	p.printf("%s: ", q)
	return p.line(ctx) // as typed: a secret may begin or end with blanks
}
