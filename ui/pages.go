package ui

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/gdamore/tcell/v2"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
)

// Styles: plain, reverse and bold only, which every VT100 has.
var (
	stPlain = tcell.StyleDefault
	stRev   = tcell.StyleDefault.Reverse(true)
	stBold  = tcell.StyleDefault.Bold(true)
)

// Screen rows: 0 title, 1 blank, 2..H-4 body, H-3 message, H-2 and H-1 keys.
func (a *app) draw() {
	w, h := a.scr.Size()
	a.frame = newFrame(w, h)
	titles := map[page]string{
		pageSources: "1/6 Sources", pageTarget: "2/6 Target", pageOther: "2/6 Target - other file systems", pageSerial: "2/6 Target - confirm the disk",
		pageClock: "3/6 Clock check", pageCase: "4/6 Case details",
		pageConfirm: "5/6 Confirm", pageProgress: "6/6 Imaging", pageSummary: "Summary", pageShell: "Emergency shell",
		pageNet: "2/6 Target - network",
	}
	title := fmt.Sprintf(" coldimage %s - %s", a.cfg.Version, titles[a.page])
	right, warn := a.writeState()
	right += " "
	a.put(0, 0, pad(title, w-len([]rune(right)))+right, stRev)
	if warn {
		a.put(1, 0, pad(" WARNING: "+strings.TrimSpace(right)+" - only the chosen target may be writable", w), stBold)
	}
	var keys [2]string
	switch a.page {
	case pageSources:
		keys = a.drawSources(w, h)
	case pageTarget:
		keys = a.drawTarget(w, h)
	case pageOther:
		keys = a.drawOther(w, h)
	case pageSerial:
		keys = a.drawSerial(w, h)
	case pageClock:
		keys = a.drawClock(w, h)
	case pageCase:
		keys = a.drawCase(w, h)
	case pageConfirm:
		keys = a.drawConfirm(w, h)
	case pageProgress:
		keys = a.drawProgress(w, h)
	case pageSummary:
		keys = a.drawSummary(w, h)
	case pageShell:
		keys = a.drawShell(w, h)
	case pageNet:
		keys = a.drawNet(w, h)
	}
	if a.msg != "" {
		// Up to three lines, so an error can name the device and what to do.
		l := wrap("! "+a.msg, w)
		if len(l) > 3 {
			l = []string{l[0], l[1], clip(strings.Join(l[2:], " "), w)}
		}
		for i, s := range l {
			a.put(h-2-len(l)+i, 0, pad(s, w), stBold)
		}
	}
	if a.q != nil {
		keys = a.q.lines
		for i, l := range keys {
			a.put(h-2+i, 0, pad(clip(l, w), w), stRev)
		}
		a.flush()
		return
	}
	a.put(h-2, 0, clip(keys[0], w), stPlain)
	a.put(h-1, 0, clip(keys[1], w), stPlain)
	a.flush()
}

// frame is the screen being composed. Screens draw the whole frame each
// time; flush hands tcell only the cells that differ from what it shows,
// so tcell sends only those (tcell's own Clear would resend every cell).
type frame struct {
	w, h  int
	r     []rune
	style []tcell.Style
}

func newFrame(w, h int) *frame {
	f := &frame{w: w, h: h, r: make([]rune, w*h), style: make([]tcell.Style, w*h)}
	for i := range f.r {
		f.r[i], f.style[i] = ' ', stPlain
	}
	return f
}

func (a *app) put(y, x int, s string, st tcell.Style) {
	f := a.frame
	for _, r := range s {
		if x >= 0 && x < f.w && y >= 0 && y < f.h {
			if !unicode.IsPrint(r) {
				r = '?' // control characters would move the terminal's cursor
			}
			f.r[y*f.w+x], f.style[y*f.w+x] = r, st
		}
		x++
	}
}

func (a *app) flush() {
	f := a.frame
	for y := 0; y < f.h; y++ {
		for x := 0; x < f.w; x++ {
			r, st := f.r[y*f.w+x], f.style[y*f.w+x]
			if cr, _, cst, _ := a.scr.GetContent(x, y); cr != r || cst != st {
				a.scr.SetContent(x, y, r, nil, st)
			}
		}
	}
	a.scr.HideCursor()
	a.scr.Show()
}

func (a *app) drawSources(w, h int) [2]string {
	a.put(2, 0, clip("    DEVICE             SIZE  MODEL        SERIAL           TYPE         RO  FLAG", w), stBold)
	rows := a.rows()
	listH := h - 12
	if a.cur < a.top {
		a.top = a.cur
	}
	if a.cur >= a.top+listH {
		a.top = a.cur - listH + 1
	}
	for i := 0; i < listH && a.top+i < len(rows); i++ {
		d := rows[a.top+i]
		st := stPlain
		if a.top+i == a.cur {
			st = stRev
		}
		a.put(3+i, 0, pad(deviceRow(d, a.sel[d.Path], a.isTarget(d), a.drives.flag(d)), w), st)
	}
	if len(rows) == 0 {
		msg := "no devices found"
		if a.devErr != nil {
			msg = "listing devices failed: " + a.devErr.Error()
		}
		a.put(3, 4, clip(msg+"; press r to rescan", w-4), stBold)
	}
	a.put(h-9, 0, strings.Repeat("-", w), stPlain)
	if a.cur < len(rows) {
		for i, l := range append(deviceDetails(rows[a.cur]), a.drives.details(rows[a.cur])) {
			if i < 5 {
				a.put(h-8+i, 0, clip(l, w), stPlain)
			}
		}
	}
	return [2]string{
		"Up/Down (j/k) move   Space select/unselect   Enter next: target   r rescan",
		fmt.Sprintf("q power off/reboot/shell   Ctrl-L redraw   selected: %d source(s), %s", len(a.ch.Sources), imager.HumanBytes(a.ch.Bytes())),
	}
}

func deviceRow(d Device, sel, target bool, drive string) string {
	mark, name := rowMark(d, sel, target)
	return strings.TrimRight(fmt.Sprintf("%s %-12s %10s  %-12s %-16s %-12s %-3s %s", mark, clip(name, 12), imager.HumanBytes(d.Size),
		clip(d.Model, 12), clip(d.Serial, 16), clip(rowType(d, target), 12), rowRO(d), drive), " ")
}

// rowMark is a source row's selection mark ([ ], [x], or - where it cannot
// be selected) and its name, partitions indented under their disk.
func rowMark(d Device, sel, target bool) (mark, name string) {
	mark, name = "[ ]", d.Name
	if sel {
		mark = "[x]"
	}
	if d.Boot || target || d.Error != "" {
		mark = " - " // not selectable: the details line says why
	}
	if d.Kind == disk.KindPart {
		name = " " + name
	}
	return mark, name
}

// rowType is a source row's TYPE column: what the row is, or why it is
// not selectable.
func rowType(d Device, target bool) string {
	typ := d.PartTable
	if d.Kind == disk.KindPart || typ == "" {
		typ = d.FSType
	}
	if d.Kind == disk.KindPart && d.FSLabel != "" {
		typ = strings.TrimSpace(typ + " " + d.FSLabel)
	}
	switch {
	case d.Boot:
		typ = "BOOT MEDIUM"
	case target:
		typ = "TARGET"
	case d.Kind == "raid":
		typ = "RAID volume"
	case d.RAID != "", d.FSType == "linux_raid_member":
		typ = "RAID member" // the details line says which array
	case d.Kind == disk.KindFile && typ == "":
		typ = "file"
	}
	return typ
}

// rowRO is a source row's RO column.
func rowRO(d Device) string {
	switch {
	case d.Kind == "raid":
		return "yes" // members opened read-only
	case d.Kind == disk.KindFile:
		return "n/a"
	case !d.ReadOnly:
		return "NO!"
	}
	return "yes"
}

func deviceDetails(d Device) []string {
	var l []string
	l = append(l, fmt.Sprintf("%s: %s %s, %d bytes, sectors %d/%d, transport %s",
		d.Path, d.Kind, imager.HumanBytes(d.Size), d.Size, d.LogicalSector, d.PhysicalSector, orDash(d.Transport)))
	id := fmt.Sprintf("model %s  serial %s  source-id %s", orDash(d.Model), orDash(d.Serial), disk.ID(d.Info))
	if d.WWN != "" {
		id += "  wwn " + d.WWN
	}
	l = append(l, id)
	fs := orDash(d.FSType)
	if d.FSLabel != "" {
		fs += " label " + d.FSLabel
	}
	pt := orDash(d.PartTable)
	if d.Kind == disk.KindPart {
		pt = fmt.Sprintf("partition %d of %s, type %s", d.PartNumber, d.Parent, orDash(d.PartType))
	} else if len(d.Partitions) > 0 {
		pt += ", " + plural(len(d.Partitions), "partition")
	}
	l = append(l, fmt.Sprintf("table %s; filesystem %s", pt, fs))
	var notes []string
	if d.Boot {
		notes = append(notes, "OUR BOOT MEDIUM: shown, never imaged")
	}
	if d.RAID != "" {
		notes = append(notes, "RAID: "+d.RAID)
	}
	if len(d.Holders) > 0 {
		notes = append(notes, "held by "+strings.Join(d.Holders, ","))
	}
	switch {
	case d.Kind == "raid":
		notes = append(notes, "assembled here from its members, read-only; nothing is activated in the kernel")
	case d.Kind == disk.KindFile:
		notes = append(notes, "regular file, opened read-only")
	case d.ReadOnly:
		notes = append(notes, "read-only (BLKROGET=1)")
	default:
		notes = append(notes, "NOT READ-ONLY: use a hardware write-blocker")
	}
	l = append(l, strings.Join(notes, "; "))
	if d.Note != "" || d.Error != "" {
		l = append(l, strings.TrimSpace(d.Note+" "+d.Error))
	}
	return l
}

// plural renders "1 partition", "2 partitions".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// writeState is the header's word on write-blocking: which devices are
// writable now, and whether anything but the chosen target is.
func (a *app) writeState() (string, bool) {
	if a.cfg.Writable == nil {
		return "sources are opened read-only", false
	}
	var target, other []string
	for _, n := range a.cfg.Writable() {
		ok := false
		for _, t := range a.prepared {
			if n == t.Disk || "/dev/"+n == t.Name {
				ok = true
			}
		}
		if ok {
			target = append(target, n)
		} else {
			other = append(other, n)
		}
	}
	switch {
	case len(other) > 0:
		return fmt.Sprintf("%s WRITABLE!", strings.Join(other, ",")), true
	case len(target) > 0:
		names := []string{}
		for _, t := range a.prepared {
			names = append(names, strings.TrimPrefix(t.Name, "/dev/"))
		}
		slices.Sort(names)
		return "sources read-only · target " + strings.Join(names, ",") + " writable", false
	}
	return "every disk is read-only", false
}

func (a *app) drawTarget(w, h int) [2]string {
	need := a.ch.Need()
	offered := "file systems labelled " + strings.Join(orDefault(a.cfg.TargetLabels), " or ") + " and disks you confirmed by serial"
	for _, t := range a.targets {
		if t.Network != nil {
			offered = "file systems labelled " + strings.Join(orDefault(a.cfg.TargetLabels), " or ") + ", disks you confirmed by serial and the network share of coldimage.target"
			break
		}
	}
	intro := wrap(fmt.Sprintf("Images of %d source(s) (%s) need %s with their records. Offered: %s; sources, their disks and the boot medium never.",
		len(a.ch.Sources), imager.HumanBytes(a.ch.Bytes()), imager.HumanBytes(need), offered), w)
	for i, l := range intro[:min(3, len(intro))] {
		a.put(2+i, 0, l, stPlain)
	}
	a.targetRows(2+min(3, len(intro))+1, w, h, a.targets, a.tcur)
	if len(a.targets) == 0 {
		msg := fmt.Sprintf("no target offered: attach a disk with a file system labelled %s and press r", strings.Join(orDefault(a.cfg.TargetLabels), " or "))
		if a.tErr != nil {
			msg = "listing targets failed: " + a.tErr.Error()
		}
		a.put(6, 4, clip(msg, w-4), stBold)
	} else if a.tcur >= 0 {
		t := a.targets[a.tcur]
		var l []string
		l = append(l, wrap(fmt.Sprintf("%s on disk %s: %s, model %s, serial %s", t.Name, orDash(t.Disk), imager.HumanBytes(t.DiskSize), orDash(t.DiskModel), orDash(t.DiskSerial)), w)...)
		l = append(l, wrap(fmt.Sprintf("file system %s %s: %s; offered: %s", orDash(t.FSType), t.Label, orDash(t.State), orDash(a.offeredWhy(t))), w)...)
		for i, s := range l[:min(4, len(l))] {
			a.put(h-8+i, 0, s, stPlain)
		}
		switch t.Room(need) {
		case RoomNone:
			a.put(h-4, 0, clip(fmt.Sprintf(" WILL NOT FIT: %s needs %s, has %s free ", t.Name, imager.HumanBytes(need), imager.HumanBytes(t.Free)), w), stRev)
		case RoomIfCutOff:
			a.put(h-4, 0, clip(fmt.Sprintf(" SHORT OF ROOM: %s needs %s, has %s free: only a cut-off session on it can go on ", t.Name, imager.HumanBytes(need), imager.HumanBytes(t.Free)), w), stRev)
		}
	}
	other := ""
	if len(a.others) > 0 {
		other = fmt.Sprintf("  o %d other (confirm by serial)", len(a.others))
	}
	back := "Esc or b back to sources   nothing is unlocked before you confirm"
	if a.cfg.NetTarget != nil {
		back = "Esc/b back  n network (s3/smb/nfs)  nothing is unlocked before you confirm"
	}
	return [2]string{"Up/Down (j/k) move  Enter choose  r rescan" + other, back}
}

// offeredWhy says why a target is offered.
func (a *app) offeredWhy(t Target) string {
	if why := t.PolicyLabel(a.cfg.TargetLabels); why != "" {
		return why
	}
	if a.cfg.confirmed[t.confirmKey()] {
		return "disk confirmed by the examiner"
	}
	return ""
}

// targetRows draws a list of targets from row y; cur -1 highlights none.
func (a *app) targetRows(y, w, h int, ts []Target, cur int) {
	a.put(y, 0, clip("    TARGET           FS     LABEL            FREE       AFTER        DISK", w), stBold)
	need := a.ch.Need()
	for i, t := range ts {
		if y+1+i >= h-9 {
			a.put(y+1+i, 4, fmt.Sprintf("... %d more", len(ts)-i), stBold)
			break
		}
		free, after, st := "unknown", "checked before unlocking", stPlain
		if t.Free >= 0 {
			free = imager.HumanBytes(t.Free)
			if t.Free < need {
				after = "WILL NOT FIT"
				if t.Room(need) == RoomIfCutOff {
					after = "SHORT OF ROOM"
				}
			} else {
				after = imager.HumanBytes(t.Free - need)
			}
		}
		mark := "( )"
		if a.ch.Target != nil && a.ch.Target.Name == t.Name {
			mark = "(*)"
		}
		if i == cur {
			st = stRev
		}
		dsk := strings.TrimSpace(orDash(t.DiskModel) + " " + t.DiskSerial)
		a.put(y+1+i, 0, pad(fmt.Sprintf("%s %-16s %-6s %-16s %9s  %-12s %s", mark, clip(t.Name, 16), clip(orDash(t.FSType), 6), clip(orDash(t.Label), 16), free, clip(after, 12), dsk), w), st)
	}
}

func (a *app) drawOther(w, h int) [2]string {
	a.put(2, 0, clip("These file systems have no target label. They may belong to the seized machine:", w), stBold)
	a.put(3, 0, clip("choosing one means confirming its disk by serial on the next screen.", w), stBold)
	a.targetRows(5, w, h, a.others, a.ocur)
	return [2]string{"Up/Down (j/k) move   Enter confirm this disk by its serial", "Esc or b back to the offered targets"}
}

func (a *app) drawSerial(w, h int) [2]string {
	t := a.others[a.ocur]
	_, what := t.ConfirmCode()
	l := []string{
		fmt.Sprintf("Use %s as the TARGET? It will be made writable and written to.", t.Name),
		"",
		fmt.Sprintf("Disk      %s", orDash(t.Disk)),
		fmt.Sprintf("Model     %s", orDash(t.DiskModel)),
		fmt.Sprintf("Serial    %s", orDash(t.DiskSerial)),
		fmt.Sprintf("Size      %s (%d bytes, %s GiB)", imager.HumanBytes(t.DiskSize), t.DiskSize, SizeGiB(t.DiskSize)),
		fmt.Sprintf("File sys  %s %s, %s free, %s", orDash(t.FSType), orDash(t.Label), freeText(t.Free), orDash(t.State)),
		"Partitions of this disk:",
	}
	for _, p := range t.DiskParts {
		l = append(l, "  "+p)
	}
	if len(t.DiskParts) == 0 {
		l = append(l, "  none (the file system covers the disk)")
	}
	for i, s := range l {
		if 2+i < h-6 {
			a.put(2+i, 0, clip(s, w), stPlain)
		}
	}
	for i, s := range wrap(fmt.Sprintf("If this is not your evidence-storage disk, press Esc. To confirm, type %s:", what), w) {
		if i < 2 {
			a.put(h-6+i, 0, s, stBold)
		}
	}
	a.put(h-4, 2, pad(a.serial+"_", 40), stRev)
	return [2]string{"type, then Enter to confirm   Backspace delete", "Esc back: nothing is confirmed"}
}

func freeText(n int64) string {
	if n < 0 {
		return "unknown"
	}
	return imager.HumanBytes(n)
}

func (a *app) drawClock(w, h int) [2]string {
	l := []string{
		"Check the clocks before imaging: the records carry the appliance's times.",
		"",
		a.rtcNote,
		"",
		"Read the real time from your watch or phone and type it, with the zone",
		"(e.g. 2026-04-02 10:41 CEST). It is recorded as you type it. Enter alone",
		"records that you gave no reading.",
	}
	for i, s := range l {
		a.put(2+i, 0, clip(s, w), stPlain)
	}
	a.put(10, 0, "Real time:", stBold)
	a.put(10, 11, pad(tail(a.clock+"_", w-12), w-12), stRev)
	return [2]string{"type the time, Enter continue", "Esc back to the target"}
}

// tail keeps the last w runes of s: a long field scrolls while typed.
func tail(s string, w int) string {
	if r := []rune(s); len(r) > w && w > 1 {
		return "<" + string(r[len(r)-w+1:])
	}
	return s
}

func (a *app) drawCase(w, h int) [2]string {
	labels := []string{"Case number", "Examiner", "Evidence number", "Notes", "Hashes", "Format", "Split size", "Verify"}
	for f := 0; f < nFields; f++ {
		y := 3 + f*2
		if f == fSplit && a.ch.Format != "split" {
			a.put(y, 2, clip(fmt.Sprintf("%-16s (only for split raw images)", labels[f]), w-2), stPlain)
			continue
		}
		lst := stPlain
		if f == a.field {
			lst = stBold
		}
		cur := ">"
		if f != a.field {
			cur = " "
		}
		a.put(y, 0, cur+" "+fmt.Sprintf("%-16s", labels[f]), lst)
		x := 19
		if p := a.textField(f); p != nil {
			fw := max(20, w-x-1)
			v, st := clip(*p, fw), stPlain
			if f == a.field {
				st = stRev
				v = tail(*p+"_", fw) // long text scrolls while typed
			}
			a.put(y, x, pad(v, fw), st)
			if f == fSplit && a.field != f {
				a.put(y, x, clip(v, fw), stPlain)
			}
			continue
		}
		switch f {
		case fHashes:
			for i, alg := range hashChoices {
				m := "[ ]"
				if slices.Contains(a.ch.Hashes, alg) {
					m = "[x]"
				}
				st := stPlain
				if f == a.field && i == a.hcur {
					st = stRev
				}
				a.put(y, x, m+" "+alg, st)
				x += len(alg) + 6
			}
		case fFormat:
			names := map[string]string{"raw": "raw", "split": "split raw", "e01": "E01"}
			for _, fm := range formats {
				m := "( )"
				if a.ch.Format == fm {
					m = "(*)"
				}
				a.put(y, x, m+" "+names[fm], stPlain)
				x += len(names[fm]) + 6
			}
		case fVerify:
			m := "[ ] off: images are NOT re-read"
			if a.ch.Verify {
				m = "[x] re-read source and image after imaging"
			}
			a.put(y, x, m, stPlain)
		}
	}
	hint := "Up/Down/Tab (Ctrl-P/N) move   type to edit, Backspace delete, Ctrl-U clear"
	switch a.field {
	case fHashes:
		hint = "Up/Down/Tab move   Left/Right pick a hash, Space switch it on/off"
	case fFormat:
		hint = "Up/Down/Tab move   Left/Right choose the image format"
	case fVerify:
		hint = "Up/Down/Tab move   Space switch verification on/off"
	}
	return [2]string{hint, "Enter next field (on Verify: continue)   F10/Ctrl-X continue   Esc back"}
}

func (a *app) choiceLines() []string {
	c := a.ch
	var l []string
	l = append(l, fmt.Sprintf("Case %s   Examiner %s   Evidence %s", c.Case.Case, c.Case.Examiner, orDash(c.Case.Evidence)))
	if c.Case.Notes != "" {
		l = append(l, "Notes "+c.Case.Notes)
	}
	format := c.Format
	switch c.Format {
	case "split":
		format = "raw, split into files of " + imager.HumanBytes(c.Split)
	case "e01":
		format = "E01"
	}
	verify := "on (source and image re-read)"
	if !c.Verify {
		verify = "OFF"
	}
	l = append(l, fmt.Sprintf("Format %s   Verify %s", format, verify))
	hashes := imager.HashesFor(imageFormat(c.Format), c.Hashes)
	hl := "Hashes computed and recorded: " + strings.Join(hashes, " + ")
	if len(hashes) > len(c.Hashes) {
		hl += " (E01 stores " + strings.Join(extra(hashes, c.Hashes), "+") + " in its own header)"
	}
	l = append(l, hl)
	if c.ClockCheck != "" {
		l = append(l, c.ClockCheck)
	}
	l = append(l, "")
	l = append(l, fmt.Sprintf("Sources (%d, %s):", len(c.Sources), imager.HumanBytes(c.Bytes())))
	for _, d := range c.Sources {
		l = append(l, fmt.Sprintf("  %-14s %9s  %-18s %s", d.Name, imager.HumanBytes(d.Size), clip(orDash(d.Model), 18), clip(orDash(d.Serial), 20)))
		for _, e := range a.encryption(d) {
			l = append(l, "    WARNING "+e+": the image will hold ciphertext")
		}
		l = append(l, a.drives.warnings(d, a.cfg.HPA)...)
	}
	l = append(l, "")
	if t := c.Target; t != nil {
		l = append(l, fmt.Sprintf("Target %s (%s), %s free, needs %s; %s", t.Name, strings.Join(nonEmpty(orDash(t.FSType), t.Label), " "), freeText(t.Free), imager.HumanBytes(c.Need()), orDash(t.State)))
		if t.Disk != "" {
			l = append(l, fmt.Sprintf("  on disk %s: model %s, serial %s, %s; %s", t.Disk, orDash(t.DiskModel), orDash(t.DiskSerial), imager.HumanBytes(t.DiskSize), orDash(a.offeredWhy(*t))))
			l = append(l, fmt.Sprintf("  y makes %s (and disk %s) writable and mounts it; every other disk stays read-only", t.Name, t.Disk))
		}
		dir, stamp := strings.TrimSuffix(t.Dir, "/"), "<UTC time>"
		if dir == "" {
			dir = "<mount point>"
		}
		if t.Network != nil {
			// A share: its URL, and the machine's name after the time.
			dir, stamp = strings.TrimSuffix(t.Name, "/"), "<UTC time>_<this machine>"
		}
		l = append(l, fmt.Sprintf("  into %s/coldimage/%s/%s/<source-id>/", dir, imager.CaseFolder(c.Case.Case), stamp))
	}
	return l
}

// encryption lists what the source and its partitions (those in the
// device list, and those Inspect nested) tell about encryption.
func (a *app) encryption(d Device) []string {
	out := disk.EncryptionFindings(d.Info)
	for _, p := range a.devs {
		if p.Kind == disk.KindPart && p.Parent == d.Name && p.Encryption != "" && len(d.Info.Partitions) == 0 {
			out = append(out, p.Name+": "+p.Encryption)
		}
	}
	return out
}

// imageFormat is the image format a form choice writes ("split" is raw).
func imageFormat(f string) string {
	if f == "e01" {
		return "e01"
	}
	return "raw"
}

// extra lists what all has beyond chosen.
func extra(all, chosen []string) []string {
	var out []string
	for _, h := range all {
		if !slices.Contains(chosen, h) {
			out = append(out, h)
		}
	}
	return out
}

func (a *app) drawConfirm(w, h int) [2]string {
	if a.offer != nil {
		return a.drawCutOff(w, h)
	}
	a.put(2, 0, clip("Nothing has been written or unlocked yet. Check everything below:", w), stBold)
	var lines []string
	for _, l := range a.choiceLines() {
		lines = append(lines, wrap(l, w)...)
	}
	body := h - 8 // rows 4 .. h-5; the message and keys below
	a.scroll = max(0, min(a.scroll, len(lines)-body))
	for i := 0; i < body && a.scroll+i < len(lines); i++ {
		a.put(4+i, 0, lines[a.scroll+i], stPlain)
	}
	second := "Esc or b back to change anything (nothing is lost)"
	if len(lines) > body {
		a.put(3, 0, clip(fmt.Sprintf("(lines %d-%d of %d: Up/Down scroll)", a.scroll+1, min(len(lines), a.scroll+body), len(lines)), w), stBold)
		second = "Up/Down (j/k) scroll   " + second
	}
	return [2]string{"y start imaging now", second}
}

// drawCutOff asks what to do with a cut-off session of the case found on
// the target (the target is mounted; no source has been read).
func (a *app) drawCutOff(w, h int) [2]string {
	a.put(2, 0, clip("A session of this case was cut off on this target. Continue it?", w), stBold)
	lines := cutOffLines(a.offer, "c", "n")
	for i, l := range lines {
		if 4+i >= h-4 {
			break
		}
		a.put(4+i, 0, clip(l, w), stPlain)
	}
	return [2]string{"c continue the cut-off session   n start a new session", "Esc or b back (the target is unmounted and write-blocked again)"}
}

// cutOffLines describe a cut-off session and the two answers.
// The answers are named cont and fresh (keys or words).
func cutOffLines(f *CutOffFound, cont, fresh string) []string {
	var out []string
	out = append(out, wrap(f.Error(), 76)...)
	out = append(out, "")
	out = append(out, wrap(cont+": the session goes on in its folder. Sources imaged ok before the cut are kept; the one in progress resumes from its last checkpoint (its image is read back and checked first); the others start. Both runs are recorded.", 76)...)
	out = append(out, wrap(fresh+": a new session folder; the cut-off one is left as it is.", 76)...)
	return out
}

func (a *app) drawProgress(w, h int) [2]string {
	rows, gen := a.board.snapshot()
	a.lastGen = gen
	per := 4
	if len(rows)*4 > h-6 {
		per = 3
	}
	for i, r := range rows {
		y := 2 + i*per
		if y+2 >= h-3 {
			a.put(h-4, 0, clip(fmt.Sprintf("... and %d more source(s)", len(rows)-i), w), stBold)
			break
		}
		state := "running"
		switch {
		case r.Done:
			state = "done: " + r.Result
		case !r.Acq.Started:
			state = "queued" // coldimage.jobs sources run at a time
		case r.Rescue != "":
			state = r.Rescue
		}
		a.put(y, 0, clip(fmt.Sprintf("%-26s %9s  unreadable sectors %d  %s", clip(r.ID, 26), imager.HumanBytes(r.Size), r.Bad, state), w), stBold)
		a.put(y+1, 0, clip(phaseLine("acquire", r.Acq, true), w), stPlain)
		a.put(y+2, 0, clip(phaseLine("verify", r.Ver, !a.ch.Verify), w), stPlain)
	}
	if a.asking {
		return [2]string{"Abort imaging? Every source stops; what was imaged stays, recorded as incomplete.", "y abort now   n or Esc keep imaging"}
	}
	if a.aborted {
		return [2]string{"Aborted: every source is stopping and writing its record.", "The summary follows. Ctrl-L repaints the screen."}
	}
	return [2]string{"Imaging and verifying. No key is needed; the summary follows.", "a abort (asks first)   refreshes at most once a second   Ctrl-L repaint"}
}

func phaseLine(name string, p phaseState, skipped bool) string {
	if !p.Started && !p.Done {
		if name == "verify" && skipped {
			return fmt.Sprintf("  %-7s off", name)
		}
		return fmt.Sprintf("  %-7s waiting", name)
	}
	s := fmt.Sprintf("  %-7s %s %3d%% %9s %6.1f MB/s", name, bar(p.Bytes, p.Total, 20), pct(p.Bytes, p.Total), imager.HumanBytes(p.Bytes), p.Rate/1e6)
	switch {
	case p.Err != "":
		s += "  FAILED: " + p.Err
	case p.Done:
		s += "  done"
	default:
		s += "  ETA " + FormatETA(secs(p.ETASec))
	}
	return s
}

func (a *app) summaryLines() []string {
	if a.session == nil {
		return []string{"No imaging in this step. Choose what to do next:"}
	}
	return summaryLines(a.session, 76)
}

// summaryLines is the result of a session for people: both modes and
// unattended runs print it. Paths longer than width (0: no limit) are
// broken over lines.
func summaryLines(s *Session, width int) []string {
	var l []string
	l = append(l, fmt.Sprintf("%d ok, %d failed.  Session folder:", s.OK, s.Failed))
	for d := imager.Where(s.Dir); d != ""; { // an object store's URL, not its staging folder
		n := len(d)
		if width > 0 {
			n = min(n, width)
		}
		l = append(l, "  "+d[:n])
		d = d[n:]
	}
	for _, r := range s.Sources {
		l = append(l, "")
		state := imager.ResultText(r.Result)
		if r.OK {
			state = "OK"
		}
		l = append(l, fmt.Sprintf("%s  %s  verification: %s  unreadable ranges: %d", r.ID, state, r.Verified, len(r.Unreadable)))
		for _, alg := range imager.HashAlgs(r.Hashes) {
			l = append(l, fmt.Sprintf("  %-6s %s", alg, r.Hashes[alg]))
		}
		for i, u := range r.Unreadable {
			if i == 3 {
				l = append(l, fmt.Sprintf("  ... %d more ranges in the record", len(r.Unreadable)-3))
				break
			}
			l = append(l, fmt.Sprintf("  unreadable LBA %d+%d (zero-filled): %s", u.LBA, u.Count, u.Error))
		}
		if r.Error != "" {
			l = append(l, "  error: "+r.Error)
		}
		if r.Record != "" {
			l = append(l, "  record "+strings.TrimPrefix(r.Record, s.Dir+"/"))
		}
	}
	return l
}

func (a *app) drawSummary(w, h int) [2]string {
	var lines []string
	for _, l := range a.summaryLines() {
		lines = append(lines, wrap(l, w)...) // errors and paths in full
	}
	body := h - 5
	a.scroll = min(a.scroll, max(0, len(lines)-body))
	for i := 0; i < body && a.scroll+i < len(lines); i++ {
		a.put(2+i, 0, clip(lines[a.scroll+i], w), stPlain)
	}
	var acts []string
	acts = append(acts, "m image more")
	for _, act := range a.cfg.Actions {
		k, t := actionText(act)
		if act == ActionShell {
			t = "emergency shell"
		}
		acts = append(acts, k+" "+t)
	}
	second := "Up/Down (j/k) scroll"
	if a.session == nil {
		second = "Esc or b back to sources"
	} else if len(lines) <= body {
		second = "records and session.txt are written and synced"
	}
	return [2]string{strings.Join(acts, "   "), second}
}

func (a *app) drawShell(w, h int) [2]string {
	lines := []string{
		"Open the emergency shell?",
		"",
		"The shell is for diagnosis only. Opening it is logged in the session",
		"record with the time. Sources stay read-only unless you change that",
		"yourself, and anything you change there is your responsibility.",
	}
	for i, l := range lines {
		a.put(3+i, 2, clip(l, w-2), stPlain)
	}
	return [2]string{"y open the shell (logged)", "n or Esc back to the summary"}
}

// wrap breaks s into lines of at most w runes, at spaces where it can.
func wrap(s string, w int) []string {
	var out []string
	for len([]rune(s)) > w {
		r := []rune(s)
		cut := w
		for i := w; i > w/2; i-- {
			if r[i] == ' ' {
				cut = i
				break
			}
		}
		out = append(out, strings.TrimRight(string(r[:cut]), " "))
		s = strings.TrimLeft(string(r[cut:]), " ")
	}
	return append(out, s)
}

func pad(s string, w int) string {
	s = clip(s, w)
	if n := w - len([]rune(s)); n > 0 {
		s += strings.Repeat(" ", n)
	}
	return s
}

func clip(s string, w int) string {
	if r := []rune(s); len(r) > w {
		if w <= 3 {
			return string(r[:max(0, w)])
		}
		return string(r[:w-3]) + "..."
	}
	return s
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
