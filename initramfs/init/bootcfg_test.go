package main

import (
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coldimage/coldimage/imager"
	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
)

// fatImage makes a 40 MiB FAT32 file system (no partition table, as the
// ESP partition device looks) holding files.
func fatImage(t *testing.T, files map[string]string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "esp.img")
	d, err := diskfs.Create(p, 40<<20, diskfs.SectorSize512)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := d.CreateFilesystem(disk.FilesystemSpec{Partition: 0, FSType: filesystem.TypeFat32, VolumeLabel: BootLabel})
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		f, err := fs.OpenFile("/"+name, os.O_CREATE|os.O_RDWR)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte(data)); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	d.Close()
	os.Chmod(p, 0o444)
	return p
}

func TestReadBootConfig(t *testing.T) {
	cfg := "# lab defaults\r\ncoldimage.examiner=Jane Doe\r\ncoldimage.case=LAB-7\r\n"
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
		err   string
	}{
		{"settings", map[string]string{"COLDIMAGE.CFG": cfg, "COLDIMAGE.TXT": "manifest"}, cfg, ""},
		{"lower-case name", map[string]string{"coldimage.cfg": cfg}, cfg, ""},
		{"none", map[string]string{"COLDIMAGE.TXT": "manifest"}, "", errNoBootConfig.Error()},
		{"too large", map[string]string{"COLDIMAGE.CFG": strings.Repeat("#", maxBootConfig+1)}, "", "larger than 64 KiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := fatImage(t, tc.files)
			before, _ := os.ReadFile(p)
			got, err := readBootConfig(p)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
			} else if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
			after, _ := os.ReadFile(p)
			if sha256.Sum256(before) != sha256.Sum256(after) {
				t.Error("reading the settings changed the file system image")
			}
		})
	}
	if _, err := readBootConfig(filepath.Join(t.TempDir(), "missing")); err == nil || errors.Is(err, errNoBootConfig) {
		t.Errorf("missing device: %v", err)
	}
	junk := filepath.Join(t.TempDir(), "junk")
	os.WriteFile(junk, make([]byte, 1<<20), 0o444)
	if _, err := readBootConfig(junk); err == nil || !strings.Contains(err.Error(), "FAT32") {
		t.Errorf("not a FAT: %v", err)
	}
}

func TestParseSettings(t *testing.T) {
	file := []byte("# comment\r\ncoldimage.examiner = Jane Doe\r\ncoldimage.case=\"LAB 7\"\ncoldimage.target=LABEL=LAB\ncoldimage.hash=sha256,md5\nexaminer=nokey\ncoldimage.console=ttyS1\ncoldimage.hpa=image\n")
	c := ParseSettings(file, "console=ttyS0,115200 coldimage.auto=1 coldimage.target=LABEL=EVIDENCE")
	if c.Examiner != "Jane Doe" || c.Case != "LAB 7" || c.Hash != "sha256,md5" {
		t.Errorf("file values not applied: %+v", c)
	}
	if c.Target != "LABEL=EVIDENCE" || !c.Auto || c.Console != "ttyS0" {
		t.Errorf("the command line must win: target %q auto %v console %q", c.Target, c.Auto, c.Console)
	}
	w := strings.Join(c.Warnings, "\n")
	for _, want := range []string{"line 6: \"examiner=nokey\" is not coldimage.KEY=VALUE", "line 7: coldimage.console is taken from the kernel command line only",
		"line 8: coldimage.hpa is taken from the kernel command line only"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}
	if c.HPA != imager.HPAReport {
		t.Errorf("coldimage.hpa from the settings file applied: %q", c.HPA)
	}
	if c := ParseSettings(file, "coldimage.hpa=image"); c.HPA != imager.HPAImage {
		t.Errorf("coldimage.hpa=image on the command line: %q", c.HPA)
	}
	if got := settingLines(file); len(got) != 7 || got[0] != "coldimage.examiner = Jane Doe" {
		t.Errorf("settingLines = %q", got)
	}
	if ParseSettings(nil, "coldimage.case=X").Case != ParseCmdline("coldimage.case=X").Case {
		t.Error("ParseCmdline and ParseSettings without a file differ")
	}
}
