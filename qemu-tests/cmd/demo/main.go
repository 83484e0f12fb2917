// Command demo boots the appliance under QEMU (TCG) with demo evidence
// disks and an ext4 target labelled EVIDENCE, shows the serial console
// live, and prints the session summary read back from the target image.
//
//	go run ./qemu-tests/cmd/demo -build build
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"

	qt "github.com/coldimage/coldimage/qemu-tests"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	build := fs.String("build", "build", "directory with vmlinuz and initramfs.cpio.*")
	work := fs.String("work", "", "where the demo disks go (default BUILD/demo)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	a, err := qt.FindAppliance(*build)
	if err != nil {
		return err
	}
	if *work == "" {
		*work = filepath.Join(*build, "demo")
	}
	os.RemoveAll(*work)
	if err := os.MkdirAll(*work, 0o755); err != nil {
		return err
	}
	p := func(n string) string { return filepath.Join(*work, n) }
	fmt.Fprintln(stdout, "demo: making evidence disks and an ext4 target labelled EVIDENCE in", *work)
	steps := []struct {
		name string
		make func() error
	}{
		{"gpt-ext4.img (GPT, ext4 partition)", func() error { return qt.MakeGPTExt4(p("gpt-ext4.img"), 32, "DEMODATA") }},
		{"mbr-vfat-swap.img (MBR, FAT32 + swap)", func() error { return qt.MakeMBRVfatSwap(p("mbr-vfat-swap.img"), 24) }},
		{"random.img (seeded random bytes)", func() error { return qt.WritePattern(p("random.img"), 16<<20, 42) }},
		{"target.img (GPT, ext4 EVIDENCE)", func() error { return qt.MakeGPTExt4(p("target.img"), 160, "EVIDENCE") }},
	}
	for _, s := range steps {
		if err := s.make(); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintln(stdout, "demo:  ", s.name)
	}
	hashes := map[string]string{}
	for _, f := range []string{"gpt-ext4.img", "mbr-vfat-swap.img", "random.img"} {
		if hashes[f], err = qt.SHA256File(p(f)); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, "demo: booting the appliance (QEMU, TCG); serial console follows")
	v, err := qt.Start(qt.Config{Kernel: a.Kernel, Initrd: a.Initrd, Echo: stdout, Log: p("console.log"),
		Append: "console=tty0 console=ttyS0,115200 panic=0 quiet coldimage.auto=1 coldimage.target=LABEL=EVIDENCE coldimage.case=DEMO-1 coldimage.examiner=demo coldimage.evidence=D1",
		Drives: []qt.Drive{{File: p("gpt-ext4.img"), Serial: "DEMO-GPT"}, {File: p("mbr-vfat-swap.img"), Serial: "DEMO-MBR"},
			{File: p("random.img"), Serial: "DEMO-RND"}, {File: p("target.img"), Serial: "DEMO-TARGET"}}})
	if err != nil {
		return err
	}
	defer v.Kill()
	if _, err := v.Expect(`COLDIMAGE DONE ok=\d+ failed=\d+`, 20*time.Minute); err != nil {
		return err
	}
	if err := v.Wait(2 * time.Minute); err != nil {
		return err
	}
	for f, h := range hashes {
		got, err := qt.SHA256File(p(f))
		if err != nil {
			return err
		}
		if got != h {
			return fmt.Errorf("evidence disk %s CHANGED (sha256 %s, was %s)", f, got, h)
		}
	}
	fmt.Fprintln(stdout, "demo: evidence disks unchanged (sha256 before = after)")
	parts, err := qt.Partitions(p("target.img"))
	if err != nil || len(parts) != 1 {
		return fmt.Errorf("target partitions: %v %v", parts, err)
	}
	if err := qt.Extract(p("target.img"), parts[0], p("target-part.img")); err != nil {
		return err
	}
	out := p("target-files")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if o, err := qt.Run("debugfs", "-R", "rdump /coldimage "+out, p("target-part.img")); err != nil {
		return fmt.Errorf("debugfs: %v\n%s", err, o)
	}
	txt, _ := filepath.Glob(filepath.Join(out, "coldimage", "*", "*", "session.txt"))
	if len(txt) != 1 {
		return fmt.Errorf("no session.txt on the target")
	}
	b, err := os.ReadFile(txt[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\ndemo: session summary read back from the target (%s):\n\n%s", txt[0], b)
	if !regexp.MustCompile(`ok=\d+ failed=0`).Match(b) {
		return fmt.Errorf("some sources failed")
	}
	return nil
}
