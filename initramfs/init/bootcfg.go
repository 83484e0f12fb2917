package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/coldimage/coldimage/disk"
	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
)

// maxBootConfig bounds the settings file: it is a few lines of text.
const maxBootConfig = 64 << 10

// errNoBootConfig: the boot medium carries no settings file.
var errNoBootConfig = errors.New("no " + disk.BootConfigFile)

// readBootConfig reads the settings file from the FAT file system at path
// (our boot medium's EFI system partition, or an image of it) through a
// read-only descriptor with go-diskfs: nothing is mounted, nothing written.
func readBootConfig(path string) ([]byte, error) {
	return readBootFile(path, disk.BootConfigFile, maxBootConfig)
}

// readBootFile reads the file name (in the root folder, any case) from the
// FAT file system at path, read-only; errNoBootConfig when there is none.
func readBootFile(path, name string, limit int64) ([]byte, error) {
	fail := func(what string, err error) error {
		return fmt.Errorf("read %s from %s: %s%w", name, path, what, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fail("", err)
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fail("size: ", err)
	}
	fs, err := fat32.Read(file.New(f, true), size, 0, 512)
	if err != nil {
		return nil, fail("FAT32: ", err)
	}
	entries, err := fs.ReadDir(".") // io/fs path rules: "." is the root
	if err != nil {
		return nil, fail("root directory: ", err)
	}
	found := ""
	for _, e := range entries {
		if strings.EqualFold(e.Name(), strings.TrimPrefix(name, "/")) && !e.IsDir() {
			found = e.Name()
		}
	}
	if found == "" {
		if name == disk.BootConfigFile {
			return nil, errNoBootConfig
		}
		return nil, fail("", os.ErrNotExist)
	}
	r, err := fs.OpenFile("/"+found, os.O_RDONLY)
	if err != nil {
		return nil, fail("", err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fail("", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s on %s is larger than %d KiB: ignored", name, path, limit>>10)
	}
	return b, nil
}

// bootPartition is the partition of our boot medium holding the settings
// file: the FAT labelled BootLabel (or the GPT partition so named).
func bootPartition(devs []Device) (Device, bool) {
	for _, d := range devs {
		if d.IsPart() && carriesBootLabel(d) {
			return d, true
		}
	}
	return Device{}, false
}

// settingLines are the settings a file applied, for the console and the
// session record, secrets redacted.
func settingLines(b []byte) []string {
	var out []string
	for _, l := range fileLines(b) {
		out = append(out, redactSetting(l.text))
	}
	return out
}

// secretKeys are settings whose values are never printed or recorded.
var secretKeys = []string{"coldimage.smb.password", "coldimage.s3.secret-key"}

// secretOnCmdline matches a secret given on the kernel command line, quoted
// value included.
var secretOnCmdline = regexp.MustCompile(`(coldimage\.smb\.password|coldimage\.s3\.secret-key)=("[^"]*"|\S*)`)

// redactCmdline hides secrets on the kernel command line before it is shown
// or recorded (they are ignored there: the line is readable by everyone).
func redactCmdline(s string) string {
	return secretOnCmdline.ReplaceAllString(s, "$1=(set, not recorded)")
}

// redactLine hides all but the key of a malformed line that starts with a
// secret's key (coldimage.smb.password hunter2, without the =).
func redactLine(l string) string {
	for _, k := range secretKeys {
		if strings.HasPrefix(l, k) {
			return k + " …(not shown)"
		}
	}
	return l
}

// redactSetting hides the value of a secret setting line.
func redactSetting(l string) string {
	k, _, ok := strings.Cut(l, "=")
	if ok {
		for _, s := range secretKeys {
			if strings.TrimSpace(k) == s {
				return s + "=(set, not recorded)"
			}
		}
	}
	return redactLine(l)
}
