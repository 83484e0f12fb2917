package imager

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// SessionSchema names the session.json format.
const SessionSchema = "coldimage.session/1"

// Session is session.json (with session.txt its text form): one imaging run
// of the appliance, unattended or through the console UI, written beside the
// per-source folders. Whatever path ran the session, the record has this one
// shape, so a reader needs one parser.
type Session struct {
	Schema  string `json:"schema"`
	Tool    Tool   `json:"tool"`
	Mode    string `json:"mode"` // unattended | menu | ui | ui-plain | host
	Kernel  string `json:"kernel,omitempty"`
	Cmdline string `json:"cmdline,omitempty"`
	// Settings are the lines of the boot medium's settings file
	// (COLDIMAGE.CFG) that applied under the kernel command line.
	Settings []string        `json:"settings,omitempty"`
	Started  string          `json:"started"`
	Finished string          `json:"finished"`
	Clock    Clock           `json:"clock"`
	Case     Case            `json:"case"`
	Hash     string          `json:"hash"`                 // the hash set, comma-separated
	Format   string          `json:"format"`               // raw | split | e01: FormatName's word, as acquisition.txt says it
	Split    int64           `json:"split_size,omitempty"` // bytes per piece of a "split" image
	Verify   bool            `json:"verify"`
	Target   SessionTarget   `json:"target"`
	Sources  []SessionSource `json:"sources"`
	Skipped  []SessionSkip   `json:"skipped"`
	Errors   []string        `json:"errors"`
	Events   []SessionEvent  `json:"events"`
	OK       int             `json:"ok"`
	Failed   int             `json:"failed"`
	// Result is "in-progress" from the session's first write (before any
	// source is read) until the last: then "ok" when every source ended
	// ok, else "failed". A record still saying in-progress is a run that
	// was cut off (power loss, crash) before it finished. Additive.
	Result string `json:"result,omitempty"`

	// writtenSHA256 is what WrittenSHA256 returns; never recorded.
	writtenSHA256 string
}

// WrittenSHA256 is the sha256 (hex) of the session.json bytes the last
// WriteSession of s wrote, or "" when that write failed or none was made:
// what the appliance prints on its COLDIMAGE DONE line, so the examiner can
// note it and `coldimage verify --session-sha256` can check it later.
func (s *Session) WrittenSHA256() string { return s.writtenSHA256 }

// NotWritten says the last attempt to write s did not reach its target:
// WrittenSHA256 is "" until the next write that does.
func (s *Session) NotWritten() { s.writtenSHA256 = "" }

// SessionTarget is where the images went.
type SessionTarget struct {
	Device string `json:"device"`
	FSType string `json:"fstype"`
	Label  string `json:"label"`
	UUID   string `json:"uuid"`
	Folder string `json:"folder"` // the session folder, from the target's root
	// The disk holding the target file system, and why it was allowed as
	// a target (its label matched coldimage.target.labels, it was named on
	// the command line, or the examiner confirmed its disk by serial).
	Disk     string `json:"disk,omitempty"`
	Model    string `json:"disk_model,omitempty"`
	Serial   string `json:"disk_serial,omitempty"`
	DiskSize int64  `json:"disk_size,omitempty"`
	Policy   string `json:"policy,omitempty"`
	// A network target (smb://, nfs://): its URL (never a password), the
	// server's address and port as connected, the mount options (password
	// left out), the protocol and security the kernel reports for the
	// session, and the port the appliance used. Device is then the URL.
	URL          string          `json:"url,omitempty"`
	Server       string          `json:"server,omitempty"`
	MountOptions string          `json:"mount_options,omitempty"`
	Security     string          `json:"security,omitempty"`
	Network      *SessionNetwork `json:"network,omitempty"`
	// Host names this machine on a target shared with others (its DMI
	// system serial, else its UUID, else its network port's MAC): the
	// session folder is <stamp>_<host>, so appliances writing the same
	// case to one share never meet.
	Host string `json:"host,omitempty"`
}

// SessionNetwork is the appliance's network port and its configuration,
// recorded for a network target.
type SessionNetwork struct {
	Interface  string   `json:"interface"`
	MAC        string   `json:"mac"`
	Driver     string   `json:"driver,omitempty"`
	Method     string   `json:"method"`    // dhcp | static:…
	Addresses  []string `json:"addresses"` // ADDR/PREFIX
	Gateway    string   `json:"gateway,omitempty"`
	DNS        []string `json:"dns,omitempty"`
	DHCPServer string   `json:"dhcp_server,omitempty"`
}

// SessionPartition is one partition of a source disk as its table says.
type SessionPartition struct {
	Name   string `json:"name"`
	Number int    `json:"number"`
	Start  int64  `json:"start"` // bytes from the start of the disk
	Size   int64  `json:"size"`
	Type   string `json:"type"` // GPT type GUID or MBR type
	FSType string `json:"fs_type,omitempty"`
	Label  string `json:"label,omitempty"`
}

// SessionSource is one source's outcome.
type SessionSource struct {
	Device     string             `json:"device"`
	ID         string             `json:"id"`
	Size       int64              `json:"size"`
	Model      string             `json:"model"`
	Serial     string             `json:"serial"`
	ReadOnly   bool               `json:"read_only"`
	PartTable  string             `json:"part_table,omitempty"`
	Partitions []SessionPartition `json:"partitions,omitempty"`
	Outdir     string             `json:"outdir"` // relative to the session folder
	OK         bool               `json:"ok"`
	Result     string             `json:"result"` // the record's result, "not started" or "error: …"
	Complete   bool               `json:"complete"`
	Verified   string             `json:"verified"` // match | MISMATCH | skipped | not run
	Hashes     map[string]string  `json:"hashes"`
	Unreadable []BadRange         `json:"unreadable"`
	Error      string             `json:"error,omitempty"`
	Record     string             `json:"record"` // acquisition.json, relative to the session folder
	Started    string             `json:"started"`
	Finished   string             `json:"finished"`
	Seconds    float64            `json:"seconds"`
}

// SessionSkip is a device the session did not image, and why.
type SessionSkip struct {
	Device string `json:"device"`
	Reason string `json:"reason"`
}

// SessionEvent is something the operator did that the record must show.
type SessionEvent struct {
	Time string `json:"time"`
	What string `json:"what"`
}

// Outcome fills a source's result fields from its acquisition record (rec
// may be nil when the run failed before writing one) and the run's error.
// noVerify says verification was switched off. Verified is "skipped" or
// Verification.Verdict(): "not run", "match", "MISMATCH", or, for a
// verification that stopped, its status ("not completed (aborted)", "not
// completed (error)") — never a mismatch.
func (r *SessionSource) Outcome(rec *Record, err error, noVerify bool) {
	if err != nil {
		r.Error = err.Error()
	}
	if r.Unreadable == nil {
		r.Unreadable = []BadRange{}
	}
	if rec == nil {
		if r.Error == "" {
			r.Error = "no acquisition record was written"
		}
		r.Result, r.Record, r.Verified = "error: "+r.Error, "", "not run"
		return
	}
	r.Result, r.Complete, r.Hashes, r.Record = rec.Result, rec.Complete, rec.Hashes, filepath.Join(r.Outdir, "acquisition.json")
	if rec.Unreadable != nil {
		r.Unreadable = rec.Unreadable
	}
	if noVerify {
		r.Verified = "skipped"
	} else {
		r.Verified = rec.Verification.Verdict()
	}
	r.OK = err == nil && rec.Result == ResultOK && rec.Complete
}

// Session results (Session.Result).
const (
	SessionInProgress = "in-progress"
	SessionOK         = "ok"
	SessionFailed     = "failed"
)

// Finish tallies the sources and sets the final result.
func (s *Session) Finish() {
	s.Tally()
	s.Result = SessionOK
	if s.Failed > 0 || len(s.Sources) == 0 {
		s.Result = SessionFailed
	}
}

// Tally counts the sources that ended ok and those that did not.
func (s *Session) Tally() {
	s.OK, s.Failed = 0, 0
	for _, r := range s.Sources {
		if r.OK {
			s.OK++
		} else {
			s.Failed++
		}
	}
}

// normalise gives every list a value, so readers see [] rather than null.
func (s *Session) normalise() {
	if s.Schema == "" {
		s.Schema = SessionSchema
	}
	if s.Sources == nil {
		s.Sources = []SessionSource{}
	}
	if s.Skipped == nil {
		s.Skipped = []SessionSkip{}
	}
	if s.Errors == nil {
		s.Errors = []string{}
	}
	if s.Events == nil {
		s.Events = []SessionEvent{}
	}
	for i := range s.Sources {
		if s.Sources[i].Unreadable == nil {
			s.Sources[i].Unreadable = []BadRange{}
		}
	}
}

// WriteSession writes session.json and session.txt into dir, each synced and
// replaced atomically: the session is rewritten as it goes (an operator's
// action is logged at once), and a power cut leaves the old or the new one.
func WriteSession(dir string, s *Session) error {
	s.writtenSHA256 = ""
	s.normalise()
	b, err := marshalJSON(s)
	if err != nil {
		return fmt.Errorf("session record: %w", err)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "session.json"), b); err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	s.writtenSHA256 = hex.EncodeToString(sum[:])
	return WriteFileAtomic(filepath.Join(dir, "session.txt"), []byte(s.Text()))
}

// ReadSession loads session.json from dir.
func ReadSession(dir string) (*Session, error) {
	var s Session
	if err := readSchemaJSON(filepath.Join(dir, "session.json"), "session record", "coldimage.session/", &s, func() string { return s.Schema }); err != nil {
		return nil, err
	}
	return &s, nil
}

// Text renders the session for people: session.txt.
func (s *Session) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "coldimage %s session (%s)\n", s.Tool.Version, s.Mode)
	fmt.Fprintf(&b, "case %q  examiner %q  evidence %q\n", s.Case.Case, s.Case.Examiner, s.Case.Evidence)
	if s.Case.Notes != "" {
		fmt.Fprintf(&b, "notes: %s\n", s.Case.Notes)
	}
	fmt.Fprintf(&b, "started %s  finished %s\n", s.Started, s.Finished)
	fmt.Fprintf(&b, "host clock %s", s.Clock.Host)
	if s.Clock.RTC != "" {
		fmt.Fprintf(&b, ", hardware clock %s", s.Clock.RTC)
	}
	if s.Clock.Note != "" {
		fmt.Fprintf(&b, " (%s)", s.Clock.Note)
	}
	b.WriteString("\n")
	if s.Clock.Check != "" {
		fmt.Fprintf(&b, "%s\n", s.Clock.Check)
	}
	if s.Kernel != "" || s.Cmdline != "" {
		fmt.Fprintf(&b, "kernel %s\ncmdline %s\n", s.Kernel, s.Cmdline)
	}
	for _, l := range s.Settings {
		fmt.Fprintf(&b, "setting from the boot medium: %s\n", l)
	}
	fmt.Fprintf(&b, "target %s (%s", s.Target.Device, orDash(s.Target.FSType))
	if s.Target.Label != "" {
		fmt.Fprintf(&b, ", label %q", s.Target.Label)
	}
	if s.Target.UUID != "" {
		fmt.Fprintf(&b, ", uuid %s", s.Target.UUID)
	}
	fmt.Fprintf(&b, ") folder %s\n", s.Target.Folder)
	if s.Target.Disk != "" {
		fmt.Fprintf(&b, "target disk %s: model %q, serial %q, %s\n", s.Target.Disk, s.Target.Model, s.Target.Serial, HumanBytes(s.Target.DiskSize))
	}
	if s.Target.URL != "" {
		fmt.Fprintf(&b, "target server %s, mounted with %s\n", orDash(s.Target.Server), orDash(s.Target.MountOptions))
		if s.Target.Host != "" {
			fmt.Fprintf(&b, "this machine on the shared target: %s (in the session folder's name)\n", s.Target.Host)
		}
		if s.Target.Security != "" {
			fmt.Fprintf(&b, "target security: %s\n", s.Target.Security)
		}
	}
	if n := s.Target.Network; n != nil {
		fmt.Fprintf(&b, "network: %s (MAC %s, driver %s) %s %s", n.Interface, n.MAC, orDash(n.Driver), n.Method, strings.Join(n.Addresses, " "))
		if n.Gateway != "" {
			fmt.Fprintf(&b, ", gateway %s", n.Gateway)
		}
		if len(n.DNS) > 0 {
			fmt.Fprintf(&b, ", dns %s", strings.Join(n.DNS, " "))
		}
		if n.DHCPServer != "" {
			fmt.Fprintf(&b, ", dhcp server %s", n.DHCPServer)
		}
		b.WriteString("\n")
	}
	if s.Target.Policy != "" {
		fmt.Fprintf(&b, "target allowed because: %s\n", s.Target.Policy)
	}
	format := orDash(s.Format)
	if s.Format == "split" && s.Split > 0 {
		format += fmt.Sprintf(" (raw image in pieces of up to %d bytes (%s) each)", s.Split, HumanBytes(s.Split))
	}
	fmt.Fprintf(&b, "format %s, hashes %s, verify %v\n\n", format, s.Hash, s.Verify)
	for _, r := range s.Sources {
		status := "OK"
		if !r.OK {
			status = "FAILED"
		}
		fmt.Fprintf(&b, "%-6s %s (%s, %s, model %q, serial %q, read-only %v) → %s: result %s, complete %v, verification %s\n",
			status, r.ID, r.Device, HumanBytes(r.Size), r.Model, r.Serial, r.ReadOnly, r.Outdir, r.Result, r.Complete, r.Verified)
		for _, p := range r.Partitions {
			fmt.Fprintf(&b, "       partition %d %s: start %d, size %d (%s), type %s, %s %q\n", p.Number, p.Name, p.Start, p.Size, HumanBytes(p.Size), orDash(p.Type), orDash(p.FSType), p.Label)
		}
		for _, alg := range HashAlgs(r.Hashes) {
			fmt.Fprintf(&b, "       %-7s %s\n", alg, r.Hashes[alg])
		}
		for _, u := range r.Unreadable {
			fmt.Fprintf(&b, "       unreadable LBA %d+%d (zero-filled): %s\n", u.LBA, u.Count, u.Error)
		}
		if r.Error != "" {
			fmt.Fprintf(&b, "       error: %s\n", r.Error)
		}
	}
	for _, k := range s.Skipped {
		fmt.Fprintf(&b, "SKIP   %s: %s\n", k.Device, k.Reason)
	}
	for _, e := range s.Errors {
		fmt.Fprintf(&b, "ERROR  %s\n", e)
	}
	events := append([]SessionEvent(nil), s.Events...)
	sort.SliceStable(events, func(i, j int) bool { return events[i].Time < events[j].Time })
	for _, e := range events {
		fmt.Fprintf(&b, "%s %s\n", e.Time, e.What)
	}
	fmt.Fprintf(&b, "\nok=%d failed=%d", s.OK, s.Failed)
	if s.Result != "" {
		fmt.Fprintf(&b, " result=%s", s.Result)
	}
	b.WriteString("\n")
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ParseSession decodes session.json from its bytes b, read from path.
func ParseSession(path string, b []byte) (*Session, error) {
	var s Session
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if !strings.HasPrefix(s.Schema, "coldimage.session/") {
		return nil, fmt.Errorf("%s: schema %q is not a coldimage session record (coldimage.session/…)", path, s.Schema)
	}
	return &s, nil
}

// States of a session or an acquisition, as `coldimage sessions` lists them.
const (
	StateInProgress = "in-progress" // its durable record says it had not ended (running, or cut off)
	StateOK         = "ok"
	StateIncomplete = "incomplete"
	StateMismatch   = "mismatch"
)

// State is the session's state: in-progress while its record says so,
// mismatch when a verification of a source differed, ok when every source
// ended ok, else incomplete.
func (s *Session) State() string {
	if s.Result == ResultInProgress || s.Finished == "" {
		return StateInProgress
	}
	for _, src := range s.Sources {
		if strings.EqualFold(src.Verified, "mismatch") || src.Result == ResultMismatch {
			return StateMismatch
		}
	}
	if s.Failed == 0 && s.OK == len(s.Sources) && len(s.Sources) > 0 {
		return StateOK
	}
	return StateIncomplete
}

// State is the acquisition's state, in the words of Session.State.
func (r *Record) State() string {
	switch r.Result {
	case ResultInProgress:
		return StateInProgress
	case ResultOK:
		return StateOK
	case ResultMismatch:
		return StateMismatch
	}
	return StateIncomplete
}
