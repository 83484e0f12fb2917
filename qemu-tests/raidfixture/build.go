package raidfixture

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coldimage/coldimage/initramfs/kernel"
)

// builderVersion changes whenever the guest script or the fixture format
// changes in a way not captured by the inputs hashed in cacheKey.
const builderVersion = "raidfixture-5"

// guestModules are loaded in the guest (with their dependencies, in order).
var guestModules = []string{
	"virtio_pci", "virtio_scsi", "sd_mod",
	"crc32c_generic", "md_mod", "linear", "raid0", "raid1", "raid10", "raid456",
}

// Result is what the guest recorded for one case.
type Result struct {
	Case    Case
	Dir     string   // directory holding the member images
	Members []string // member image paths, in creation (role) order
	Serials []string // the serial number each member had in the guest (SCSI VPD 0x80)
	// Error is set when the guest could not create the array.
	Error string
	// Size and SHA256 of /dev/mdN as the kernel read it.
	Size   int64
	SHA256 string
	// Size2 and SHA2562: the second volume of a "twovols" container.
	Size2   int64
	SHA2562 string
	// Examine[i] is `mdadm --examine` of member i after the array was stopped.
	Examine []string
	Detail  string
}

// Fixtures is a built (or cached) fixture set.
type Fixtures struct {
	Dir     string
	Key     string
	Results map[string]*Result
	Log     string // guest console, when built in this run
}

// Options configure Build.
type Options struct {
	CacheDir string               // default ~/.cache/coldimage
	Log      func(string, ...any) // progress lines
	Timeout  time.Duration        // guest run limit (default 25 min)
	Cases    []Case               // default Cases
}

func (o *Options) defaults() error {
	if o.CacheDir == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("cache directory: %w", err)
		}
		o.CacheDir = filepath.Join(d, "coldimage")
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if o.Timeout == 0 {
		o.Timeout = 25 * time.Minute
	}
	if o.Cases == nil {
		o.Cases = Cases
	}
	return nil
}

// Build returns the fixtures, from the cache when the inputs did not change,
// else by booting the guest.
func Build(ctx context.Context, opt Options) (*Fixtures, error) {
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	// prepare: resolve the Debian packages (names only; cheap).
	kpkg, err := kernel.Resolve(ctx)
	if err != nil {
		return nil, err
	}
	mdadmVer, err := aptVersion(ctx, "mdadm")
	if err != nil {
		return nil, err
	}
	bbVer, err := aptVersion(ctx, "busybox-static")
	if err != nil {
		return nil, err
	}
	// md arrays and external-metadata (DDF, IMSM: containers and mdmon) arrays
	// boot separate guests, cached separately, so trouble in one group does
	// not cost the other.
	var groups [2][]Case
	for _, c := range opt.Cases {
		if c.Metadata == "ddf" || c.Metadata == "imsm" {
			groups[1] = append(groups[1], c)
		} else {
			groups[0] = append(groups[0], c)
		}
	}
	all := &Fixtures{Results: map[string]*Result{}}
	for _, g := range groups {
		if len(g) == 0 {
			continue
		}
		fx, err := buildGroup(ctx, opt, g, kpkg, mdadmVer, bbVer)
		if err != nil {
			opt.Log("raid fixtures: %v", err)
			for _, c := range g {
				all.Results[c.Name] = &Result{Case: c, Error: "fixture guest failed: " + err.Error()}
			}
			continue
		}
		if all.Dir == "" {
			all.Dir = fx.Dir
		}
		all.Key += fx.Key
		all.Log += fx.Log
		for k, v := range fx.Results {
			all.Results[k] = v
		}
	}
	return all, nil
}

func buildGroup(ctx context.Context, opt Options, cases []Case, kpkg, mdadmVer, bbVer string) (*Fixtures, error) {
	opt.Cases = cases
	casesJSON, _ := json.Marshal(opt.Cases)
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\nmdadm %s\nbusybox-static %s\n%s\n%s\n", builderVersion, kpkg, mdadmVer, bbVer, casesJSON, guestScriptTemplate)
	key := hex.EncodeToString(h.Sum(nil))[:16]
	dir := filepath.Join(opt.CacheDir, "raid-fixtures", key)
	// One builder at a time per key (tests and the command may race).
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	if fx, err := load(dir, opt.Cases); err == nil {
		opt.Log("raid fixtures: cached in %s", dir)
		fx.Key = key
		return fx, nil
	}
	opt.Log("raid fixtures: building %s (kernel %s, mdadm %s, busybox %s)", dir, kpkg, mdadmVer, bbVer)
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, err
	}
	logText, err := build(ctx, opt, tmp)
	if err != nil {
		return nil, err
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	fx, err := load(dir, opt.Cases)
	if err != nil {
		return nil, err
	}
	fx.Key = key
	fx.Log = logText
	return fx, nil
}

func aptVersion(ctx context.Context, pkg string) (string, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "policy", pkg).Output()
	if err != nil {
		return "", fmt.Errorf("apt-cache policy %s: %w", pkg, err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == "Candidate:" && f[1] != "(none)" {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("apt-cache policy %s: no candidate version (apt-get update?)", pkg)
}

// debTree downloads pkg into cache/debs and unpacks it into cache/tree-<deb>.
func debTree(ctx context.Context, cache, pkg string) (string, error) {
	debs := filepath.Join(cache, "debs")
	deb, err := kernel.Fetch(ctx, pkg, debs)
	if err != nil {
		return "", err
	}
	root := filepath.Join(cache, "tree-"+strings.TrimSuffix(filepath.Base(deb), ".deb"))
	if _, err := os.Stat(filepath.Join(root, ".done")); err == nil {
		return root, nil
	}
	os.RemoveAll(root)
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, root).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb -x %s: %w: %s", deb, err, bytes.TrimSpace(out))
	}
	return root, os.WriteFile(filepath.Join(root, ".done"), nil, 0o644)
}

// disk is one virtual disk of the guest.
type disk struct {
	path string
	lun  int
	size int64
}

// patternSector fills b (512 bytes) with the content of pattern sector s:
// every 16-byte unit holds the sector number, the unit index and a tag, so
// any misplaced sector or unit shows in the hash.
func patternSector(b []byte, s int64) {
	for u := 0; u < 32; u++ {
		binary.LittleEndian.PutUint64(b[u*16:], uint64(s))
		binary.LittleEndian.PutUint32(b[u*16+8:], uint32(u))
		binary.LittleEndian.PutUint32(b[u*16+12:], uint32(s*2654435761)^0xc01d1a6e)
	}
}

func writePattern(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	sec := make([]byte, 512)
	for s := int64(0); s < size/512; s++ {
		patternSector(sec, s)
		w.Write(sec)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func build(ctx context.Context, opt Options, out string) (string, error) {
	// Kernel and modules (initramfs/kernel: Debian's package, deps from .modinfo).
	kcache := filepath.Join(opt.CacheDir, "raidfixture-kernel")
	work := filepath.Join(out, "guest")
	prep, err := kernel.Prepare(ctx, kcache, work, guestModules, nil, opt.Log)
	if err != nil {
		return "", err
	}
	mdadmRoot, err := debTree(ctx, kcache, "mdadm")
	if err != nil {
		return "", err
	}
	bbRoot, err := debTree(ctx, kcache, "busybox-static")
	if err != nil {
		return "", err
	}

	// Disks: LUN 0 pattern, LUN 1 results, then members.
	var disks []disk
	var maxTotal int64
	lun := 2
	script := &strings.Builder{}
	for ci, c := range opt.Cases {
		var total int64
		var vars []string
		for i, mib := range c.DisksMiB {
			p := filepath.Join(out, fmt.Sprintf("%s-%d.img", c.Name, i))
			size := int64(mib) << 20
			total += size
			f, err := os.Create(p)
			if err != nil {
				return "", err
			}
			if err := f.Truncate(size); err != nil {
				f.Close()
				return "", err
			}
			f.Close()
			disks = append(disks, disk{path: p, lun: lun, size: size})
			vars = append(vars, fmt.Sprintf("$D%d", lun))
			lun++
		}
		maxTotal = max(maxTotal, total)
		fmt.Fprintf(script, "run_case %s %d %s %s %s %d %s %d %q\n", c.Name, ci, c.Metadata, c.Level,
			orDash(c.Layout), c.ChunkKiB, orDash(c.Scenario), c.VolumeMiB, strings.Join(vars, " "))
	}
	patPath := filepath.Join(out, "guest", "pattern.img")
	patSize := (maxTotal + 1<<20) &^ (1<<20 - 1)
	if err := writePattern(patPath, patSize); err != nil {
		return "", err
	}
	resPath := filepath.Join(out, "guest", "results.img")
	if err := os.WriteFile(resPath, nil, 0o644); err != nil {
		return "", err
	}
	if err := os.Truncate(resPath, 16<<20); err != nil {
		return "", err
	}
	disks = append([]disk{{path: patPath, lun: 0}, {path: resPath, lun: 1}}, disks...)

	// Initramfs.
	initrd := filepath.Join(work, "initrd.cpio")
	if err := writeInitramfs(initrd, prep, mdadmRoot, bbRoot, script.String(), len(disks)); err != nil {
		return "", err
	}

	// Run.
	args := []string{
		"-accel", "tcg", "-m", "1024", "-smp", "2", "-nodefaults", "-no-reboot",
		"-display", "none", "-serial", "stdio",
		"-kernel", prep.Vmlinuz, "-initrd", initrd,
		"-append", "console=ttyS0 panic=-1 loglevel=3 scsi_mod.max_luns=1024 scsi_mod.scan=sync",
		"-device", "virtio-scsi-pci,id=scsi0",
	}
	for _, d := range disks {
		id := fmt.Sprintf("d%d", d.lun)
		args = append(args, "-drive", fmt.Sprintf("file=%s,format=raw,if=none,id=%s,cache=unsafe", d.path, id),
			"-device", fmt.Sprintf("scsi-hd,drive=%s,bus=scsi0.0,channel=0,scsi-id=0,lun=%d,serial=%s", id, d.lun, diskSerial(d.lun)))
	}
	rctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()
	cmd := exec.CommandContext(rctx, "qemu-system-x86_64", args...)
	var console bytes.Buffer
	pr := &lineLogger{log: opt.Log}
	cmd.Stdout = multiWriter{&console, pr}
	cmd.Stderr = multiWriter{&console, pr}
	start := time.Now()
	opt.Log("raid fixtures: booting guest with %d disks", len(disks))
	runErr := cmd.Run()
	os.WriteFile(filepath.Join(out, "console.log"), console.Bytes(), 0o644)
	opt.Log("raid fixtures: guest ran %s", time.Since(start).Round(time.Second))
	if runErr != nil {
		return console.String(), fmt.Errorf("qemu: %w (console in %s)", runErr, filepath.Join(out, "console.log"))
	}
	if !strings.Contains(console.String(), "@@DONE") {
		return console.String(), fmt.Errorf("guest did not finish (console in %s)", filepath.Join(out, "console.log"))
	}
	res, err := os.ReadFile(resPath)
	if err != nil {
		return "", err
	}
	if i := bytes.IndexByte(res, 0); i >= 0 {
		res = res[:i]
	}
	if !bytes.Contains(res, []byte("@@HASH ")) {
		return console.String(), fmt.Errorf("guest recorded no array hashes (console in %s)", filepath.Join(out, "console.log"))
	}
	if err := os.WriteFile(filepath.Join(out, "results.txt"), res, 0o644); err != nil {
		return "", err
	}
	// Keep the pattern and the result disk out of the cache.
	os.Remove(patPath)
	os.Remove(resPath)
	return console.String(), nil
}

// diskSerial is the serial number the guest sees for the disk at lun.
func diskSerial(lun int) string { return fmt.Sprintf("CIFX%04d", lun) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type multiWriter []interface{ Write([]byte) (int, error) }

func (m multiWriter) Write(p []byte) (int, error) {
	for _, w := range m {
		w.Write(p)
	}
	return len(p), nil
}

// lineLogger forwards the guest's progress markers to the log.
type lineLogger struct {
	log func(string, ...any)
	buf []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSpace(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
		if strings.HasPrefix(line, "@@") {
			l.log("guest: %s", line)
		}
	}
	return len(p), nil
}

func writeInitramfs(path string, prep *kernel.Prepared, mdadmRoot, bbRoot, cases string, ndisks int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	c := newCpio(w)
	for _, d := range []string{"dev", "proc", "sys", "run/mdadm", "tmp", "bin", "sbin", "etc/mdadm", "lib64"} {
		c.mkdirAll(d)
	}
	c.chardev("dev/console", 5, 1)
	c.chardev("dev/null", 1, 3)
	c.hostFile("bin/busybox", filepath.Join(bbRoot, "bin", "busybox"), 0o755)
	mdadmBin := filepath.Join(mdadmRoot, "sbin", "mdadm")
	c.hostFile("sbin/mdadm", mdadmBin, 0o755)
	c.hostFile("sbin/mdmon", filepath.Join(mdadmRoot, "sbin", "mdmon"), 0o755)
	libs, err := sharedLibs(mdadmBin)
	if err != nil {
		f.Close()
		return err
	}
	for _, l := range libs {
		c.hostFile(l, l, 0o755)
	}
	c.tree("", prep.ModRoot)
	var mods []string
	for _, m := range prep.Modules {
		mods = append(mods, "/lib/modules/"+prep.Release+"/"+m.Path)
	}
	c.file("modules.list", 0o644, []byte(strings.Join(mods, "\n")+"\n"))
	init := strings.ReplaceAll(guestScriptTemplate, "@NDISKS@", strconv.Itoa(ndisks))
	c.file("init", 0o755, []byte(init))
	c.file("cases.sh", 0o644, []byte(cases))
	c.file("etc/mdadm/mdadm.conf", 0o644, []byte("HOMEHOST coldimage\nAUTO -all\n"))
	if err := c.close(); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var lddRE = regexp.MustCompile(`(?:=>\s*)?(/\S+)\s+\(0x`)

// sharedLibs lists the host libraries (and the dynamic loader) bin needs.
func sharedLibs(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w: %s", bin, err, out)
	}
	if bytes.Contains(out, []byte("not found")) {
		return nil, fmt.Errorf("ldd %s: missing libraries (install them on the host): %s", bin, out)
	}
	var libs []string
	for _, m := range lddRE.FindAllStringSubmatch(string(out), -1) {
		libs = append(libs, m[1])
	}
	sort.Strings(libs)
	return libs, nil
}

func walkFiles(root string, fn func(rel string)) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			fn(filepath.ToSlash(rel))
		}
		return nil
	})
}

// load reads a finished fixture directory.
func load(dir string, cases []Case) (*Fixtures, error) {
	res, err := os.ReadFile(filepath.Join(dir, "results.txt"))
	if err != nil {
		return nil, err
	}
	fx := &Fixtures{Dir: dir, Results: map[string]*Result{}}
	lun := 2 // as assigned by build: 0 pattern, 1 results, then members in order
	for _, c := range cases {
		r := &Result{Case: c, Dir: dir}
		for i := range c.DisksMiB {
			r.Members = append(r.Members, filepath.Join(dir, fmt.Sprintf("%s-%d.img", c.Name, i)))
			r.Serials = append(r.Serials, diskSerial(lun))
			lun++
		}
		r.Examine = make([]string, len(c.DisksMiB))
		fx.Results[c.Name] = r
	}
	sc := bufio.NewScanner(bytes.NewReader(res))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var block *string
	for sc.Scan() {
		line := sc.Text()
		if block != nil {
			if line == "@@END" {
				block = nil
				continue
			}
			*block += line + "\n"
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		r := fx.Results[f[1]]
		if r == nil {
			continue
		}
		switch f[0] {
		case "@@ERR":
			r.Error += strings.Join(f[2:], " ") + "\n"
		case "@@HASH":
			if len(f) == 4 {
				r.Size, _ = strconv.ParseInt(f[2], 10, 64)
				r.SHA256 = f[3]
			}
		case "@@HASH2":
			if len(f) == 4 {
				r.Size2, _ = strconv.ParseInt(f[2], 10, 64)
				r.SHA2562 = f[3]
			}
		case "@@EXAMINE":
			if len(f) == 3 {
				i, err := strconv.Atoi(f[2])
				if err == nil && i >= 0 && i < len(r.Examine) {
					block = &r.Examine[i]
				}
			}
		case "@@DETAIL":
			block = &r.Detail
		}
	}
	return fx, nil
}

// guestScriptTemplate is the guest's /init.
const guestScriptTemplate = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin MDADM_NO_UDEV=1 IMSM_NO_PLATFORM=1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo 1 > /proc/sys/kernel/printk
for m in $(cat /modules.list); do insmod $m || echo "@@MODFAIL $m"; done
echo 200000 > /proc/sys/dev/raid/speed_limit_min
echo 2000000 > /proc/sys/dev/raid/speed_limit_max
n=0
while [ "$(ls /sys/block | grep -c '^sd')" -lt @NDISKS@ ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done
for d in /sys/block/sd*; do
	a=$(basename $(readlink $d/device)); eval D${a##*:}=/dev/$(basename $d)
done
echo "@@DISKS $(ls /sys/block | grep -c '^sd')"
R=/tmp/results
: > $R

run_case() {
	name=$1; idx=$2; meta=$3; level=$4; layout=$5; chunk=$6; scen=$7; volmib=$8; devs=$9
	md=/dev/md$idx
	echo "@@CASE $name"
	set -- $devs
	ndev=$#
	create="$devs"
	opts=""
	if [ "$scen" = reshape ] || [ "$scen" = spare ]; then
		ndev=$((ndev-1)); create=""; i=0
		for d in $devs; do i=$((i+1)); [ $i -le $ndev ] && create="$create $d"; extra=$d; done
	fi
	container=""
	case $meta in
	ddf|imsm)
		container=/dev/md$((idx+200))
		echo "@@STEP $name container"
		if ! yes | timeout 300 mdadm --create $container --run --force --metadata=$meta --raid-devices=$ndev $create > /tmp/out 2>&1; then
			echo "@@ERR $name container: $(tr '\n' ' ' < /tmp/out)" >> $R; cat /tmp/out; return
		fi
		opts="--level=$level --raid-devices=$ndev --size=$((volmib*1024))"
		create=$container
		;;
	*)
		opts="--metadata=$meta --level=$level --raid-devices=$ndev --homehost=coldimage --name=$name"
		;;
	esac
	[ "$scen" = spare ] && create="$devs" && opts="$opts --spare-devices=1"
	[ "$layout" != - ] && opts="$opts --layout=$layout"
	[ "$chunk" != 0 ] && opts="$opts --chunk=$chunk"
	echo "@@STEP $name create $opts"
	if [ "$scen" = takeover0 ]; then
		opts=$(echo "$opts" | sed "s/--raid-devices=$ndev/--raid-devices=$((ndev+1))/"); create="$create missing"
	fi
	if ! yes | timeout 300 mdadm --create $md --run --force $opts $create > /tmp/out 2>&1; then
		echo "@@ERR $name create: $(tr '\n' ' ' < /tmp/out)" >> $R
		echo "@@ERR $name create failed"; cat /tmp/out
		[ -n "$container" ] && mdadm --stop $container
		return
	fi
	if [ "$scen" = takeover0 ]; then
		timeout 120 mdadm --grow $md --level=0 > /tmp/out 2>&1 || echo "@@ERR $name takeover: $(tr '\n' ' ' < /tmp/out)" >> $R
		echo "@@STEP $name level $(cat /sys/block/md$idx/md/level)"
	fi
	[ -n "$container" ] && { cat /tmp/out; cat /proc/mdstat; ps | grep -v ' \[' ; }
	echo "@@STEP $name wait"
	timeout 600 mdadm --wait $md > /dev/null 2>&1
	size=$(blockdev --getsize64 $md)
	echo "@@STEP $name fill $size"
	head -c $size $D0 > $md
	sync
	echo "@@STEP $name wait"
	timeout 600 mdadm --wait $md > /dev/null 2>&1
	echo 3 > /proc/sys/vm/drop_caches
	echo "@@STEP $name hash"
	h=$(sha256sum < $md | cut -d' ' -f1)
	echo "@@HASH $name $size $h" >> $R
	echo "@@DETAIL $name" >> $R; mdadm --detail $md >> $R 2>&1; echo "@@END" >> $R
	case $scen in
	twovols)
		md2=/dev/md$((idx+100))
		echo "@@STEP $name second volume"
		if yes | timeout 300 mdadm --create $md2 --run --force $opts $create > /tmp/out 2>&1; then
			timeout 600 mdadm --wait $md2 > /dev/null 2>&1
			size2=$(blockdev --getsize64 $md2)
			tail -c +$((size+1)) $D0 | head -c $size2 > $md2
			sync
			timeout 600 mdadm --wait $md2 > /dev/null 2>&1
			echo 3 > /proc/sys/vm/drop_caches
			echo "@@HASH2 $name $size2 $(sha256sum < $md2 | cut -d' ' -f1)" >> $R
			timeout 300 mdadm --stop $md2 > /tmp/out 2>&1 || echo "@@ERR $name stop second: $(tr '\n' ' ' < /tmp/out)" >> $R
		else
			echo "@@ERR $name second volume: $(tr '\n' ' ' < /tmp/out)" >> $R
		fi
		;;
	stale)
		mdadm --stop $md > /dev/null 2>&1
		last=""; keep=""
		for d in $devs; do [ -n "$last" ] && keep="$keep $last"; last=$d; done
		mdadm --assemble --run $md $keep > /tmp/out 2>&1 || echo "@@ERR $name assemble: $(tr '\n' ' ' < /tmp/out)" >> $R
		dd if=$md of=$md bs=4096 count=1 conv=notrunc 2>/dev/null
		sync
		;;
	faulty)
		for d in $devs; do last=$d; done
		mdadm $md --fail $last > /tmp/out 2>&1 || echo "@@ERR $name fail: $(tr '\n' ' ' < /tmp/out)" >> $R
		dd if=$md of=$md bs=4096 count=1 conv=notrunc 2>/dev/null
		sync
		;;
	recovering)
		for d in $devs; do last=$d; done
		mdadm $md --fail $last > /tmp/out 2>&1 && mdadm $md --remove $last >> /tmp/out 2>&1 || echo "@@ERR $name fail/remove: $(tr '\n' ' ' < /tmp/out)" >> $R
		mdadm --zero-superblock $last > /dev/null 2>&1
		echo 100 > /sys/block/md$idx/md/sync_speed_max
		echo 100 > /sys/block/md$idx/md/sync_speed_min
		mdadm $md --add $last > /tmp/out 2>&1 || echo "@@ERR $name add: $(tr '\n' ' ' < /tmp/out)" >> $R
		sleep 4
		cat /proc/mdstat
		;;
	reshape)
		mdadm $md --add $extra > /tmp/out 2>&1 || echo "@@ERR $name add: $(tr '\n' ' ' < /tmp/out)" >> $R
		echo 10 > /sys/block/md$idx/md/sync_speed_max
		echo 10 > /sys/block/md$idx/md/sync_speed_min
		timeout 120 mdadm --grow $md --raid-devices=$# > /tmp/out 2>&1 || echo "@@ERR $name grow: $(tr '\n' ' ' < /tmp/out)" >> $R
		sleep 3
		cat /proc/mdstat
		;;
	esac
	timeout 300 mdadm --stop $md > /tmp/out 2>&1 || echo "@@ERR $name stop: $(tr '\n' ' ' < /tmp/out)" >> $R
	if [ -n "$container" ]; then
		timeout 300 mdadm --stop $container > /tmp/out 2>&1 || echo "@@ERR $name stop container: $(tr '\n' ' ' < /tmp/out)" >> $R
	fi
	i=0
	for d in $devs; do
		echo "@@EXAMINE $name $i" >> $R; mdadm --examine $d >> $R 2>&1; echo "@@END" >> $R
		i=$((i+1))
	done
	cat $R > $D1
	echo "@@OK $name"
}

. /cases.sh
sync
cat $R > $D1
sync
echo "@@DONE"
poweroff -f
`
