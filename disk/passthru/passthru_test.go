package passthru

import (
	"encoding/binary"
	"strings"
	"testing"
)

// Replies below are built from the standards' field layouts (offsets in
// the parsers' comments), as a drive would send them.

func inquiryReply(vendor, product, rev string) []byte {
	b := make([]byte, 96)
	b[4] = 91 // additional length
	copy(b[8:16], pad(vendor, 8))
	copy(b[16:32], pad(product, 16))
	copy(b[32:36], pad(rev, 4))
	return b
}

func pad(s string, n int) string { return s + strings.Repeat(" ", n-len(s)) }

func vpd(page byte, body []byte) []byte {
	b := []byte{0, page, byte(len(body) >> 8), byte(len(body))}
	return append(b, body...)
}

func designator(assoc, typ byte, id []byte) []byte {
	return append([]byte{1, assoc<<4 | typ, 0, byte(len(id))}, id...)
}

func readCapReply(blocks uint64, bl uint32, exp byte) []byte {
	b := make([]byte, 32)
	binary.BigEndian.PutUint64(b[0:8], blocks-1)
	binary.BigEndian.PutUint32(b[8:12], bl)
	b[13] = exp
	return b
}

// ataIdentifyReply builds IDENTIFY DEVICE data: strings in words with their
// bytes swapped, 48-bit count, 4Kn physical sectors, WWN, rotation rate,
// and the checksum in word 255.
func ataIdentifyReply(model, serial, fw string, sectors uint64, wwn uint64, rpm uint16) []byte {
	b := make([]byte, 512)
	put := func(word int, v uint16) { binary.LittleEndian.PutUint16(b[2*word:], v) }
	str := func(from, words int, s string) {
		s = pad(s, 2*words)
		for i := 0; i < words; i++ {
			put(from+i, uint16(s[2*i])<<8|uint16(s[2*i+1]))
		}
	}
	str(10, 10, serial)
	str(23, 4, fw)
	str(27, 20, model)
	put(60, 0xffff)
	put(61, 0x0fff) // 28-bit count saturated
	put(83, 1<<10)  // 48-bit addressing
	for i := 0; i < 4; i++ {
		put(100+i, uint16(sectors>>(16*i)))
	}
	put(106, 0x4000|1<<13|3) // valid, 8 logical per physical
	for i := 0; i < 4; i++ {
		put(108+i, uint16(wwn>>(16*(3-i))))
	}
	put(217, rpm)
	put(255, 0xa5)
	var sum byte
	for _, c := range b {
		sum += c
	}
	b[511] = -sum
	return b
}

func nvmeCtrlReply(vid uint16, serial, model, fw string, nn uint32) []byte {
	b := make([]byte, 4096)
	binary.LittleEndian.PutUint16(b[0:2], vid)
	copy(b[4:24], pad(serial, 20))
	copy(b[24:64], pad(model, 40))
	copy(b[64:72], pad(fw, 8))
	binary.LittleEndian.PutUint32(b[516:520], nn)
	return b
}

func nvmeNSReply(nsze, ncap, nuse uint64, lbads byte, eui []byte) []byte {
	b := make([]byte, 4096)
	binary.LittleEndian.PutUint64(b[0:8], nsze)
	binary.LittleEndian.PutUint64(b[8:16], ncap)
	binary.LittleEndian.PutUint64(b[16:24], nuse)
	b[25] = 1        // two formats
	b[26] = 1        // the second in use
	b[128+2] = 9     // format 0: 512
	b[132+2] = lbads // format 1
	copy(b[120:128], eui)
	return b
}

func TestSCSIReplies(t *testing.T) {
	inq, err := parseInquiry(inquiryReply("QEMU", "QEMU HARDDISK", "2.5+"))
	if err != nil || inq.Vendor != "QEMU" || inq.Product != "QEMU HARDDISK" || inq.Rev != "2.5+" {
		t.Errorf("inquiry %+v %v", inq, err)
	}
	if _, err := parseInquiry(make([]byte, 20)); err == nil {
		t.Error("a 20-byte INQUIRY reply was taken")
	}
	pages, err := parseSupportedPages(vpd(0, []byte{0x00, 0x80, 0x83, 0xb1}))
	if err != nil || !pages[0x83] || pages[0xb2] {
		t.Errorf("pages %v %v", pages, err)
	}
	if s, err := parseUnitSerial(vpd(0x80, []byte("  SN-0042 "))); err != nil || s != "SN-0042" {
		t.Errorf("serial %q %v", s, err)
	}
	if _, err := parseUnitSerial(vpd(0x83, []byte("x"))); err == nil {
		t.Error("page 0x83 taken as 0x80")
	}
	body := append(designator(1, 3, []byte{0x50, 1, 2, 3, 4, 5, 6, 7}), // target port: not the unit's
		designator(0, 8, []byte("iqn.x"))...)
	body = append(body, designator(0, 3, []byte{0x50, 0x00, 0xc5, 0x00, 0x12, 0x34, 0x56, 0x78})...)
	body = append(body, designator(0, 2, []byte{0xac, 0xde, 0x48, 0, 0, 0, 0, 9})...)
	d, err := parseDeviceID(vpd(0x83, body))
	if err != nil || d.NAA != "5000c50012345678" || d.EUI64 != "acde480000000009" {
		t.Errorf("designators %+v %v", d, err)
	}
	if _, err := parseDeviceID(vpd(0x83, []byte{1, 3, 0, 200, 1})); err == nil {
		t.Error("a designator running past the page was taken")
	}
	if r, err := parseBlockChars(vpd(0xb1, []byte{0, 1, 0, 3})); err != nil || r != 1 {
		t.Errorf("rotation %d %v", r, err)
	}
	c, err := parseReadCap16(readCapReply(1<<21, 512, 3))
	if err != nil || c.Blocks != 1<<21 || c.LogicalSector != 512 || c.PhysicalSector != 4096 {
		t.Errorf("capacity %+v %v", c, err)
	}
	if _, err := parseReadCap16(readCapReply(10, 0, 0)); err == nil {
		t.Error("a zero block length was taken")
	}
}

func TestATAIdentify(t *testing.T) {
	b := ataIdentifyReply("WDC WD80EFAX-68KNBN0", "WD-CA1B2C3D", "81.00A81", 15628053168, 0x50014ee2b1234567, 5400)
	a, err := parseATAIdentify(b)
	if err != nil {
		t.Fatal(err)
	}
	want := ATAIdentity{Serial: "WD-CA1B2C3D", Firmware: "81.00A81", Model: "WDC WD80EFAX-68KNBN0", Sectors: 15628053168,
		LogicalSector: 512, PhysicalSector: 4096, WWN: "50014ee2b1234567", RotationRPM: 5400}
	if a != want {
		t.Errorf("got %+v\nwant %+v", a, want)
	}
	b[100]++ // the checksum no longer holds
	if _, err := parseATAIdentify(b); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("a bad checksum: %v", err)
	}
}

func TestNVMeIdentify(t *testing.T) {
	c, err := parseNVMeController(nvmeCtrlReply(0x1b36, "NVME0001", "QEMU NVMe Ctrl", "7.2.0", 3))
	if err != nil || c.VendorID != 0x1b36 || c.Serial != "NVME0001" || c.Model != "QEMU NVMe Ctrl" || c.Firmware != "7.2.0" || c.Namespaces != 3 {
		t.Errorf("controller %+v %v", c, err)
	}
	ns, err := parseNVMeNamespace(nvmeNSReply(2048, 2048, 100, 12, []byte{1, 2, 3, 4, 5, 6, 7, 8}))
	if err != nil || ns.Size != 2048 || ns.Used != 100 || ns.BlockSize != 4096 || ns.EUI64 != "0102030405060708" || ns.NGUID != "" {
		t.Errorf("namespace %+v %v", ns, err)
	}
	if _, err := parseNVMeNamespace(nvmeNSReply(1, 1, 1, 40, nil)); err == nil {
		t.Error("a 2^40-byte block was taken")
	}
	l := make([]byte, 4096)
	for i, id := range []uint32{1, 2, 5} {
		binary.LittleEndian.PutUint32(l[4*i:], id)
	}
	if ids, err := parseNVMeNSList(l); err != nil || len(ids) != 3 || ids[2] != 5 {
		t.Errorf("list %v %v", ids, err)
	}
	binary.LittleEndian.PutUint32(l[12:], 4) // 4 after 5
	if _, err := parseNVMeNSList(l); err == nil {
		t.Error("a list out of order was taken")
	}
}

// smartReply is SMART READ DATA with attributes 5, 9, 197 and 198 and its
// checksum.
func smartReply(realloc, hours, pending, unc int64) []byte {
	b := make([]byte, 512)
	for i, a := range []struct {
		id  byte
		raw int64
	}{{1, 0}, {5, realloc}, {9, hours}, {197, pending}, {198, unc}} {
		e := b[2+12*i:]
		e[0], e[3] = a.id, 100
		for k := 0; k < 6; k++ {
			e[5+k] = byte(a.raw >> (8 * k))
		}
	}
	var sum byte
	for _, c := range b {
		sum += c
	}
	b[511] = -sum
	return b
}

func TestHealth(t *testing.T) {
	for _, r := range []struct {
		cdb []byte
		n   int
	}{{smartCDB(0xD0), 512}, {smartCDB(0xDA), 0}} {
		if _, err := checkCDB(r.cdb, r.n); err != nil || r.cdb[10] != 0x4f || r.cdb[12] != 0xc2 {
			t.Errorf("SMART % x: %v", r.cdb, err)
		}
	}
	for _, f := range []byte{0xD4 /* EXECUTE OFF-LINE IMMEDIATE */, 0xD6 /* WRITE LOG */, 0xD8 /* ENABLE */, 0xD9 /* DISABLE */} {
		c := smartCDB(0xD0)
		c[4] = f
		if _, err := checkCDB(c, 512); err == nil {
			t.Errorf("SMART feature %#02x allowed", f)
		}
	}
	if _, err := lookup(IfaceNVMe, 0x02, nvmeKey(0x02, nvmeSMARTCDW10)); err != nil {
		t.Error(err)
	}
	if _, err := lookup(IfaceNVMe, 0x02, nvmeKey(0x02, 127<<16|0x03)); err == nil {
		t.Error("Get Log Page for the firmware slot log allowed")
	}
	h, err := parseATASMART(smartReply(8, 26280, 2, 1))
	if err != nil || h != (ATAHealth{8, 26280, 2, 1}) || h.String() != "8 reallocated sectors, 2 pending sectors, 1 offline uncorrectable, 26280 power-on hours" {
		t.Errorf("%+v %q %v", h, h, err)
	}
	bad := smartReply(0, 1, 0, 0)
	bad[20]++
	if _, err := parseATASMART(bad); err == nil {
		t.Error("a bad SMART checksum was taken")
	}
	for lba, want := range map[uint64]string{0xC24F00: "passed", 0x2CF400: "FAILING", 0: "not known"} {
		if got := smartStatus(&ataRegs{LBA: lba}); !strings.Contains(got, want) {
			t.Errorf("RETURN STATUS %#x: %q", lba, got)
		}
	}
	log := make([]byte, 512)
	log[0], log[3], log[5] = 0x04, 90, 7
	binary.LittleEndian.PutUint64(log[128:], 1234)
	binary.LittleEndian.PutUint64(log[160:], 3)
	n, err := parseNVMeHealth(log)
	if err != nil || n.PercentageUsed != 7 || n.PowerOnHours != 1234 || n.MediaErrors != 3 || !strings.Contains(n.String(), "CRITICAL WARNING 0x04") {
		t.Errorf("%+v %q %v", n, n, err)
	}
}

// level0Reply is a Level 0 Discovery: the 48-byte header, the TPer
// feature (0001h), the Locking feature (0002h) with flags, and an SSC.
func level0Reply(locking byte, ssc uint16) []byte {
	b := make([]byte, 48)
	b = append(b, 0x00, 0x01, 0x10, 12, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	b = append(b, 0x00, 0x02, 0x10, 12, locking, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	b = append(b, byte(ssc>>8), byte(ssc), 0x10, 16)
	b = append(b, make([]byte, 16)...)
	binary.BigEndian.PutUint32(b[0:4], uint32(len(b)-4))
	return b
}

func TestTCG(t *testing.T) {
	if c := securityInCDB(2048); c[0] != 0xA2 || c[1] != 1 || c[2] != 0 || c[3] != 1 {
		t.Errorf("CDB % x", c)
	} else if _, err := checkCDB(c, 2048); err != nil {
		t.Error(err)
	}
	if _, err := lookup(IfaceNVMe, 0x82, nvmeKey(0x82, 0x01<<24|0x0001<<8)); err != nil {
		t.Error(err)
	}
	o, err := parseLevel0(level0Reply(0x1f, 0x0203)) // supported, enabled, locked, encryption, MBR shadowing
	if err != nil || !o.Locked || !o.MediaEncryption || len(o.SSC) != 1 || o.SSC[0] != "Opal 2" {
		t.Fatalf("%+v %v", o, err)
	}
	for _, s := range []string{"TCG Opal 2", "A RANGE IS LOCKED", "MBR SHADOWING ON"} {
		if !strings.Contains(o.String(), s) {
			t.Errorf("%q lacks %q", o.String(), s)
		}
	}
	if o, _ := parseLevel0(level0Reply(0x09, 0x0302)); o.Locked || o.LockingEnabled || !strings.Contains(o.String(), "locking supported, not enabled") {
		t.Errorf("Pyrite, not enabled: %+v %s", o, o)
	}
	bad := level0Reply(0, 0x0203)
	bad[48+16+3] = 200
	if _, err := parseLevel0(bad); err == nil {
		t.Error("a feature running past the data was taken")
	}
	for w, want := range map[uint16]string{0: "not supported", 1: "supported, not enabled (not frozen)", 9: "(frozen)", 7: "ENABLED AND LOCKED", 3: "enabled (a password is set), not locked"} {
		if got := ataSecurity(w).String(); !strings.Contains(got, want) {
			t.Errorf("word 128 %#x: %q, want %q", w, got, want)
		}
	}
}

// covered names, for every allow-listed command, the test that builds its
// request and parses its reply. A command added to the list without one
// fails TestAllowListCovered.
var covered = map[string]string{
	"INQUIRY":                                       "TestSCSIReplies",
	"INQUIRY VPD supported pages":                   "TestSCSIReplies",
	"INQUIRY VPD unit serial number":                "TestSCSIReplies",
	"INQUIRY VPD device identification":             "TestSCSIReplies",
	"INQUIRY VPD block device characteristics":      "TestSCSIReplies",
	"READ CAPACITY(16)":                             "TestSCSIReplies",
	"SECURITY PROTOCOL IN (TCG Level 0 Discovery)":  "TestTCG",
	"NVMe Security Receive (TCG Level 0 Discovery)": "TestTCG",
	"ATA IDENTIFY DEVICE":                           "TestATAIdentify",
	"ATA READ NATIVE MAX ADDRESS EXT":               "TestHiddenAreas",
	"ATA DEVICE CONFIGURATION IDENTIFY":             "TestHiddenAreas",
	"ATA SMART READ DATA":                           "TestHealth",
	"ATA SMART RETURN STATUS":                       "TestHealth",
	"NVMe Get Log Page SMART / Health Information":  "TestHealth",
	"NVMe Get Log Page Sanitize Status":             "TestSanitizeStatus",
	"NVMe Identify Namespace":                       "TestNVMeIdentify",
	"NVMe Identify Controller":                      "TestNVMeIdentify",
	"NVMe Identify active namespace list":           "TestNVMeIdentify",
	"NVMe Identify allocated namespace list":        "TestNVMeIdentify",
	"NVMe Identify allocated namespace":             "TestNVMeIdentify",
}

func TestAllowListCovered(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range AllowList() {
		if covered[c.Name] == "" {
			t.Errorf("%q (%s opcode %#02x) is on the allow-list without a test: add one and name it in covered", c.Name, c.Iface, c.Opcode)
		}
		if seen[c.Name] {
			t.Errorf("%q is listed twice", c.Name)
		}
		seen[c.Name] = true
	}
	for name := range covered {
		if !seen[name] {
			t.Errorf("covered names %q, which is not on the allow-list", name)
		}
	}
	if len(AllowList()) != 20 {
		t.Errorf("%d commands on the allow-list: a change to it must be reviewed here too", len(AllowList()))
	}
}

// TestRequestsAreOnTheList: every request the package builds is one the
// list allows.
func TestRequestsAreOnTheList(t *testing.T) {
	for _, cdb := range [][]byte{inquiryCDB(false, 0, 96), inquiryCDB(true, 0, 252), inquiryCDB(true, 0x80, 252),
		inquiryCDB(true, 0x83, 1020), inquiryCDB(true, 0xb1, 64), readCap16CDB(32)} {
		op, sub := scsiKey(cdb)
		if _, err := lookup(IfaceSCSI, op, sub); err != nil {
			t.Errorf("% x: %v", cdb, err)
		}
	}
	for _, r := range []struct {
		cdb []byte
		n   int
	}{{ataPassThrough16(0xEC), 512}, {dcoIdentifyCDB(), 512}, {readNativeMaxCDB(), 0}} {
		if _, err := checkCDB(r.cdb, r.n); err != nil {
			t.Errorf("ATA PASS-THROUGH % x: %v", r.cdb, err)
		}
	}
}

// TestHiddenAreas reads the registers READ NATIVE MAX ADDRESS EXT returns
// (both sense formats), the DCO IDENTIFY data, and what they hide.
func TestHiddenAreas(t *testing.T) {
	// Descriptor sense: RECOVERED ERROR, 00h/1Dh, an ATA Status Return
	// descriptor with LBA 0x0001_2345_6789 (47:40 in byte 10 … 7:0 in byte 7).
	desc := []byte{0x72, 0x01, 0x00, 0x1d, 0, 0, 0, 14,
		0x09, 0x0c, 0x01, 0x00, 0, 0, 0x23, 0x89, 0x01, 0x67, 0x00, 0x45, 0x40, 0x50}
	r := ataReturn(desc)
	if r == nil || r.LBA != 0x0001_2345_6789 || !r.Full || r.Status != 0x50 {
		t.Fatalf("descriptor sense: %+v", r)
	}
	// Fixed sense: LBA 7:0 … 23:16 in bytes 9–11, LBA UPPER NON-ZERO in byte 8.
	fixed := []byte{0x70, 0, 0x01, 0x00, 0x50, 0x40, 0x00, 10, 0x80, 0xff, 0x3f, 0x00, 0x00, 0x1d}
	if r := ataReturn(fixed); r == nil || r.LBA != 0x3fff || !r.Full {
		t.Errorf("fixed sense: %+v", r)
	}
	fixed[8] |= 1 << 5
	if r := ataReturn(fixed); r == nil || r.Full {
		t.Errorf("fixed sense with the upper LBA bits set: %+v", r)
	}
	if r := ataReturn([]byte{0x70, 0, 5, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x20, 0x00}); r != nil {
		t.Errorf("an ILLEGAL REQUEST read as registers: %+v", r)
	}
	dco := make([]byte, 512)
	binary.LittleEndian.PutUint16(dco[0:], 2)
	binary.LittleEndian.PutUint64(dco[6:], 976773167) // words 3–6: maximum LBA
	dco[510] = 0xa5
	var sum byte
	for _, c := range dco {
		sum += c
	}
	dco[511] = -sum
	if n, err := parseDCO(dco); err != nil || n != 976773168 {
		t.Errorf("DCO: %d %v", n, err)
	}
	dco[7]++
	if _, err := parseDCO(dco); err == nil {
		t.Error("a DCO reply with a bad checksum was taken")
	}
	for _, tc := range []struct {
		accessible, native int64
		full               bool
		dco                int64
		hpa, dcoHidden     int64
		say                string
	}{
		{976773168, 976773168, true, 976773168, 0, 0, "no host protected area; no device configuration overlay"},
		{976771120, 976773168, true, 976773168, 2048, 0, "HPA: 2048 sectors hidden"},
		{976773168, 976773168, true, 1953525168, 0, 976752000, "DCO: 976752000 sectors hidden"},
		{16384, 0, true, 0, -1, -1, "HPA: not known"},
		{1 << 30, 1 << 30, false, 0, -1, -1, "no host protected area found (the SCSI-ATA translation returned the native max's low 24 bits only"},
		{1<<30 - 2048, 1 << 30, false, 0, -1, -1, "HPA: PRESENT, size not known"},
	} {
		hpa, dh, say := hiddenArea(tc.accessible, tc.native, tc.full, tc.dco)
		if hpa != tc.hpa || dh != tc.dcoHidden || !strings.Contains(say, tc.say) {
			t.Errorf("hiddenArea(%d, %d, %v, %d) = %d, %d, %q; want %d, %d, %q", tc.accessible, tc.native, tc.full, tc.dco, hpa, dh, say, tc.hpa, tc.dcoHidden, tc.say)
		}
	}
}

// TestRefusesWhatIsNotListed: commands that write, erase, change the
// capacity or the security state are refused before anything is sent (the
// descriptor is invalid, so anything sent would fail differently).
func TestRefusesWhatIsNotListed(t *testing.T) {
	d := &dev{fd: -1}
	for _, tc := range []struct {
		name string
		cdb  []byte
	}{
		{"WRITE(10)", []byte{0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0}},
		{"FORMAT UNIT", []byte{0x04, 0, 0, 0, 0, 0}},
		{"SECURITY PROTOCOL OUT", make12(0xB5)},
		{"INQUIRY VPD 0xB2 (not listed)", inquiryCDB(true, 0xb2, 64)},
		{"ATA SET MAX ADDRESS", ataPassThrough16(0xF9)},
		{"ATA SECURITY ERASE UNIT", ataPassThrough16(0xF4)},
		{"ATA WRITE SECTORS", ataPassThrough16(0x30)},
		{"ATA IDENTIFY as PIO data-out", func() []byte { c := ataPassThrough16(0xEC); c[1] = 5 << 1; c[2] &^= 1 << 3; return c }()},
		{"ATA DCO RESTORE", func() []byte { c := dcoIdentifyCDB(); c[4] = 0xC0; return c }()},
		{"ATA DCO FREEZE LOCK", func() []byte { c := dcoIdentifyCDB(); c[4] = 0xC1; return c }()},
		{"ATA DCO SET", func() []byte { c := dcoIdentifyCDB(); c[4] = 0xC3; return c }()},
		{"ATA READ NATIVE MAX with data", readNativeMaxCDB()},
	} {
		if _, err := d.scsi(tc.cdb, 512); err == nil || !strings.Contains(err.Error(), "not sent") {
			t.Errorf("%s: %v, want a refusal before sending", tc.name, err)
		}
	}
	for _, c := range []struct {
		op    byte
		cdw10 uint32
	}{{0x80, 0} /* Format NVM */, {0x84, 0} /* Sanitize */, {0x0D, 0} /* Namespace Management */, {0x15, 0} /* Namespace Attachment */, {0x09, 0}, /* Set Features */
		{0x81, 0x01<<24 | 0x0001<<8} /* Security Send */, {0x82, 0x01<<24 | 0x0002<<8} /* Security Receive, another ComID */, {0x82, 0x02<<24 | 0x0001<<8} /* protocol 02h */} {
		if _, err := d.nvme(c.op, 1, c.cdw10); err == nil || !strings.Contains(err.Error(), "not sent") {
			t.Errorf("NVMe admin %#02x cdw10 %#x: %v, want a refusal", c.op, c.cdw10, err)
		}
	}
	other := securityInCDB(512)
	other[3] = 0x02 // ComID 0002h
	if _, err := d.scsi(other, 512); err == nil || !strings.Contains(err.Error(), "not sent") {
		t.Errorf("SECURITY PROTOCOL IN for ComID 0002h: %v", err)
	}
	if _, err := d.scsi([]byte{0xB5, 1, 0, 1, 0, 0, 0, 0, 2, 0, 0, 0}, 512); err == nil || !strings.Contains(err.Error(), "not sent") {
		t.Errorf("SECURITY PROTOCOL OUT: %v", err)
	}
	for _, tc := range []struct {
		name string
		cdb  []byte
	}{
		{"ATA SET MAX ADDRESS EXT, non-data", func() []byte { c := readNativeMaxCDB(); c[14] = 0x37; return c }()},
		{"ATA SECURITY FREEZE LOCK, non-data", func() []byte { c := readNativeMaxCDB(); c[14] = 0xF5; return c }()},
		{"ATA IDENTIFY without data", func() []byte { c := readNativeMaxCDB(); c[14] = 0xEC; return c }()},
		{"TEST UNIT READY (no data, not listed)", make([]byte, 6)},
	} {
		if _, err := d.scsi(tc.cdb, 0); err == nil || !strings.Contains(err.Error(), "not sent") {
			t.Errorf("%s: %v, want a refusal before sending", tc.name, err)
		}
	}
	if len(d.log) != 0 {
		t.Errorf("refused commands were logged as sent: %v", d.log)
	}
}

func make12(op byte) []byte { c := make([]byte, 12); c[0] = op; return c }

func FuzzParsers(f *testing.F) {
	f.Add(inquiryReply("ATA", "x", "1"))
	f.Add(vpd(0x83, designator(0, 3, []byte{0x50, 1, 2, 3, 4, 5, 6, 7})))
	f.Add(readCapReply(100, 4096, 0))
	f.Add(ataIdentifyReply("m", "s", "f", 1000, 1, 7200))
	f.Add(nvmeNSReply(8, 8, 8, 12, nil))
	f.Add(level0Reply(0x1f, 0x0203))
	f.Add(smartReply(1, 2, 3, 4))
	f.Add([]byte{0x72, 0x01, 0x00, 0x1d, 0, 0, 0, 14, 0x09, 0x0c, 0x01, 0x00, 0, 0, 0x23, 0x89, 0x01, 0x67, 0x00, 0x45, 0x40, 0x50})
	f.Fuzz(func(t *testing.T, b []byte) {
		parseInquiry(b)
		for _, p := range []byte{0x00, 0x80, 0x83, 0xb1} {
			if len(b) > 1 {
				b[1] = p
			}
			parseSupportedPages(b)
			parseUnitSerial(b)
			parseDeviceID(b)
			parseBlockChars(b)
		}
		parseReadCap16(b)
		parseATAIdentify(b)
		parseNVMeController(b)
		parseNVMeNamespace(b)
		parseNVMeNSList(b)
		ataReturn(b)
		parseDCO(b)
		parseLevel0(b)
		parseATASMART(b)
		parseNVMeHealth(b)
	})
}

// TestSanitizeStatus: the Sanitize Status log (LID 81h) is the one more
// log page listed, read as the spec lays it out (SPROG bytes 0–1, SSTAT
// bytes 2–3: status bits 2–0, passes 7–3, Global Data Erased bit 8).
func TestSanitizeStatus(t *testing.T) {
	if _, err := lookup(IfaceNVMe, 0x02, nvmeKey(0x02, nvmeSanitizeCDW10)); err != nil {
		t.Error(err)
	}
	log := func(sprog, sstat uint16) []byte {
		b := make([]byte, 512)
		binary.LittleEndian.PutUint16(b[0:], sprog)
		binary.LittleEndian.PutUint16(b[2:], sstat)
		return b
	}
	for _, c := range []struct {
		b    []byte
		want string
	}{
		{log(0xFFFF, 0), "never sanitized"},
		{log(0xFFFF, 1|1<<8), "SANITIZED: the most recent sanitize completed; GLOBAL DATA ERASED: no user data written since the last sanitize or format (or manufacture)"},
		{log(0x8000, 2), "SANITIZE IN PROGRESS (50 %)"},
		{log(0, 3|2<<3), "the most recent sanitize FAILED"},
		{log(0xFFFF, 4), "SANITIZED: the most recent sanitize completed (no deallocation)"},
	} {
		s, err := parseNVMeSanitize(c.b)
		if err != nil || s.String() != c.want {
			t.Errorf("% x: %q, %v; want %q", c.b[:4], s, err, c.want)
		}
	}
	if s, _ := parseNVMeSanitize(log(0, 3|2<<3)); s.Passes != 2 {
		t.Errorf("passes %d, want 2", s.Passes)
	}
	if _, err := parseNVMeSanitize(make([]byte, 19)); err == nil {
		t.Error("a short log was taken")
	}
}
