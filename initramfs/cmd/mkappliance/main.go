// Command mkappliance builds the appliance: Debian's kernel (build/vmlinuz)
// and a u-root busybox-mode initramfs (build/initramfs.cpio.zst) holding our
// PID 1 as /init, coldimage, a few u-root commands, Debian's busybox-static
// as /bin/busybox and /bin/sh for the emergency shell (u-root's gosh is
// /bin/sh only when busybox-static cannot be had), and the selected kernel
// modules with a generated modules.dep. build/shell records which shell.
//
// prepare (kernel + modules, busybox) → build (mkuimage, uncompressed cpio) →
// write (zstd, size check). Run from the module root:
//
//	go run ./initramfs/cmd/mkappliance -out build
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/coldimage/coldimage/initramfs/kernel"
	"github.com/coldimage/coldimage/initramfs/modules"
	"github.com/klauspost/compress/zstd"
	"github.com/u-root/gobusybox/src/pkg/golang"
	"github.com/u-root/mkuimage/cpio"
	"github.com/u-root/mkuimage/uimage"
	"github.com/u-root/mkuimage/uimage/builder"
	"github.com/u-root/uio/llog"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mkappliance:", err)
		os.Exit(1)
	}
}

// Commands in the busybox binary. Our init must stay "init" (→ /init).
var defaultCommands = []string{
	"./initramfs/init",
	"./cmd/coldimage",
	"github.com/u-root/u-root/cmds/core/cat",
	"github.com/u-root/u-root/cmds/core/dmesg",
	"github.com/u-root/u-root/cmds/core/gosh",
	"github.com/u-root/u-root/cmds/core/ls",
	"github.com/u-root/u-root/cmds/core/mount",
	"github.com/u-root/u-root/cmds/core/shutdown",
	"github.com/u-root/u-root/cmds/core/umount",
}

// versionVar is coldimage's version variable (make build sets it the same way).
const versionVar = "github.com/coldimage/coldimage/cmd/coldimage.Version"

// MaxCompressed is the size limit of the issue: 40 MiB.
const MaxCompressed = 40 << 20

func defaultCache() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "coldimage", "kernel")
	}
	return filepath.Join(os.TempDir(), "coldimage-kernel")
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mkappliance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cache := fs.String("cache", defaultCache(), "kernel package cache")
	out := fs.String("out", "build", "output directory")
	version := fs.String("version", "", "appliance version (default: git describe)")
	cmds := fs.String("cmds", strings.Join(defaultCommands, ","), "commands in the busybox binary")
	tags := fs.String("tags", "", "comma-separated Go build tags for the binaries: test appliances only (qemu-tests builds one with coldimage_faulthook); make appliance and make usb pass none")
	if err := fs.Parse(args); err != nil {
		return err
	}
	buildTags := splitTags(*tags)
	logf := func(f string, a ...any) { fmt.Fprintf(stdout, "mkappliance: "+f+"\n", a...) }
	t0 := time.Now()

	// prepare
	stage, err := os.MkdirTemp("", "mkappliance-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	p, err := kernel.Prepare(ctx, *cache, *out, modules.Names(), modules.Forbidden, logf)
	if err != nil {
		return fmt.Errorf("prepare kernel: %w", err)
	}
	if *version == "" {
		*version = gitVersion()
	}
	*version = taggedVersion(*version, buildTags)
	if len(buildTags) > 0 {
		logf("TEST BUILD: Go build tags %s; version %s (never ship it)", strings.Join(buildTags, ","), *version)
	}
	shellRecord := "u-root gosh (no job control)"
	shellOpts := []uimage.Modifier{uimage.WithShell("gosh")}
	if bb, err := fetchBusybox(ctx, *cache, logf); err != nil {
		fmt.Fprintf(stderr, "mkappliance: WARNING: no %s (%v): the emergency shell is u-root's gosh, without job control\n", busyboxPkg, err)
	} else {
		shellRecord = bb.Record()
		shellOpts = []uimage.Modifier{uimage.WithFiles(bb.Path + ":bin/busybox"), uimage.WithShell("/bin/busybox")}
		logf("emergency shell: %s, from %s", shellRecord, bb.From)
	}
	if err := os.WriteFile(filepath.Join(*out, "shell"), []byte(shellRecord+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "version"), []byte(*version+"\n"), 0o644); err != nil {
		return err
	}

	// build
	cpioPath := filepath.Join(stage, "initramfs.cpio")
	base, err := baseArchive(*version, p.Release, shellRecord)
	if err != nil {
		return err
	}
	env := golang.Default(golang.DisableCGO(), golang.WithGOOS("linux"), golang.WithGOARCH("amd64"), golang.WithBuildTag(buildTags...))
	l := llog.New(slog.LevelWarn, func(f string, a ...any) { fmt.Fprintf(stderr, f+"\n", a...) })
	err = uimage.Create(l, append([]uimage.Modifier{
		uimage.WithReplaceEnv(env),
		uimage.WithBaseArchive(base),
		uimage.WithCommands(&golang.BuildOpts{ExtraArgs: []string{
			// Later -ldflags win over gobusybox's own "-s -w -buildid=";
			// busybox mode keeps each command's package path, so -X works.
			"-ldflags", "-s -w -buildid= -X " + versionVar + "=" + *version,
		}}, &builder.GBBBuilder{}, strings.Split(*cmds, ",")...),
		uimage.WithInit("init"),
		uimage.WithFiles(filepath.Join(p.ModRoot, "lib") + ":lib"),
		uimage.WithSkipLDD(),
		uimage.WithTempDir(stage),
		uimage.WithCPIOOutput(cpioPath),
	}, shellOpts...)...)
	if err != nil {
		return fmt.Errorf("mkuimage: %w", err)
	}

	// write
	for _, old := range []string{"initramfs.cpio.zst", "initramfs.cpio.xz", "initramfs.cpio.gz"} {
		os.Remove(filepath.Join(*out, old))
	}
	dst := filepath.Join(*out, "initramfs.cpio.zst")
	raw, n, err := compress(cpioPath, dst)
	if err != nil {
		return err
	}
	logf("kernel %s (%s), %d modules", p.Release, filepath.Base(p.Deb), len(p.Modules))
	logf("%s: %.1f MiB (cpio %.1f MiB), version %s, %.0fs", dst, float64(n)/(1<<20), float64(raw)/(1<<20), *version, time.Since(t0).Seconds())
	if n > MaxCompressed {
		return fmt.Errorf("%s is %d bytes, over the %d-byte limit", dst, n, MaxCompressed)
	}
	return nil
}

// baseArchive is u-root's default skeleton (dev/console, /tmp, /etc…) plus
// the appliance version, kernel release and the emergency shell's origin.
func baseArchive(version, release, shell string) (*cpio.Archive, error) {
	a := uimage.DefaultRamfs()
	for _, r := range []cpio.Record{
		cpio.Directory("etc/coldimage", 0o755),
		cpio.StaticFile("etc/coldimage/version", version+"\n", 0o444),
		cpio.StaticFile("etc/coldimage/kernel-release", release+"\n", 0o444),
		cpio.StaticFile("etc/coldimage/shell", shell+"\n", 0o444),
		cpio.Directory("run", 0o755),
		cpio.Directory("lib", 0o755),
		cpio.Directory("lib/modules", 0o755),
	} {
		if err := a.WriteRecord(r); err != nil {
			return nil, fmt.Errorf("base archive record %s: %w", r.Name, err)
		}
	}
	return a, nil
}

// splitTags parses -tags: comma- (or space-) separated, empty ones dropped.
func splitTags(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

// taggedVersion marks a build made with tags in its version (which the
// appliance prints in COLDIMAGE READY and records in every record):
// v1.2+coldimage_faulthook can never pass for a release.
func taggedVersion(v string, tags []string) string {
	if len(tags) == 0 {
		return v
	}
	return v + "+" + strings.Join(tags, "+")
}

func gitVersion() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty", "--tags").Output()
	if err != nil {
		return "dev"
	}
	return strings.TrimSpace(string(out))
}

// compress writes src zstd-compressed to dst (the Debian kernel has
// CONFIG_RD_ZSTD) and returns the raw and compressed sizes.
func compress(src, dst string) (int64, int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, 0, err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return 0, 0, err
	}
	zw, err := zstd.NewWriter(out, zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithEncoderCRC(true))
	if err != nil {
		out.Close()
		return 0, 0, err
	}
	raw, err := io.Copy(zw, in)
	if err == nil {
		err = zw.Close()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return 0, 0, fmt.Errorf("compress %s: %w", dst, err)
	}
	fi, err := os.Stat(tmp)
	if err != nil {
		return 0, 0, err
	}
	return raw, fi.Size(), os.Rename(tmp, dst)
}
