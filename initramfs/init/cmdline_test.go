package main

import (
	"reflect"
	"testing"
	"time"

	"github.com/coldimage/coldimage/imager"
)

func TestParseCmdline(t *testing.T) {
	def := DefaultConfig()
	for _, tc := range []struct {
		name string
		in   string
		want func(c *Config)
	}{
		{"empty", "console=ttyS0,115200 quiet", func(c *Config) { c.Console = "ttyS0" }},
		{"last console wins", "console=ttyS0,115200 console=tty0 coldimage.term=vt100", func(c *Config) { c.Console, c.Term = "tty0", "vt100" }},
		{"explicit console", "console=tty0 console=ttyS1 coldimage.console=/dev/tty0 coldimage.ui=menu", func(c *Config) { c.Console, c.UI = "tty0", "menu" }},
		{"auto full", `coldimage.auto=1 coldimage.target=LABEL=EVIDENCE coldimage.sources=sda,nvme0n1,SERIAL=X1 coldimage.hash=sha256 coldimage.case="CASE 42" coldimage.examiner=jd coldimage.evidence=E1`,
			func(c *Config) {
				c.Auto, c.Target, c.Sources, c.Hash = true, "LABEL=EVIDENCE", []string{"sda", "nvme0n1", "SERIAL=X1"}, "sha256"
				c.Case, c.Examiner, c.Evidence = "CASE 42", "jd", "E1"
			}},
		{"dev prefix dropped", "coldimage.sources=/dev/sdb coldimage.target=/dev/sdc1", func(c *Config) {
			c.Sources, c.Target = []string{"sdb"}, "/dev/sdc1"
		}},
		{"target labels", "coldimage.target.labels=EVIDENCE*,LAB-?? coldimage.target.labels.x=1", func(c *Config) {
			c.TargetLabels = []string{"EVIDENCE*", "LAB-??"}
			c.Warnings = []string{"unknown kernel parameter coldimage.target.labels.x"}
		}},
		{"bad target label pattern", "coldimage.target.labels=[x,OK", func(c *Config) {
			c.TargetLabels = []string{"OK"}
			c.Warnings = []string{`coldimage.target.labels: "[x" is not a label pattern; ignored`}
		}},
		{"auto off", "coldimage.auto=0 coldimage.ui=plain coldimage.raid=members", func(c *Config) { c.UI, c.RAID = "plain", "members" }},
		{"resume off, pieces of 64 MiB", "coldimage.resume=0 coldimage.piece-size=64M", func(c *Config) { c.Resume, c.PieceSize = false, 64<<20 }},
		{"no pieces", "coldimage.piece-size=0 coldimage.resume=1", func(c *Config) { c.PieceSize = -1 }},
		{"bad resume and piece size warn", "coldimage.resume=maybe coldimage.piece-size=4K", func(c *Config) {
			c.Warnings = []string{`coldimage.resume="maybe" is not 1 or 0; resuming`, `coldimage.piece-size="4K": want 0 or a size of at least 1M; using the default`}
		}},
		{"rescue bounds", "coldimage.retries=0 coldimage.rescue-time=2h coldimage.slow-read=0 coldimage.device-timeout=0", func(c *Config) {
			c.Rescue = imager.RescueSettings{Retries: -1, Time: 2 * time.Hour, SlowRead: -1, DeviceTimeout: -1}
		}},
		{"hidden areas imaged", "coldimage.hpa=image", func(c *Config) { c.HPA = imager.HPAImage }},
		{"hidden areas reported", "coldimage.hpa=report", func(c *Config) {}},
		{"bad hidden-area choice warns", "coldimage.hpa=1", func(c *Config) {
			c.Warnings = []string{`coldimage.hpa="1" is not report or image; hidden areas are reported, not imaged`}
		}},
		{"replug wait", "coldimage.replug-wait=90s", func(c *Config) { c.ReplugWait = 90 * time.Second }},
		{"s3 retry", "coldimage.s3.retry-for=20m", func(c *Config) { c.S3.RetryFor = 20 * time.Minute }},
		{"bad s3 retry warns", "coldimage.s3.retry-for=10ms", func(c *Config) {
			c.Warnings = []string{`coldimage.s3.retry-for="10ms" is not a duration of 1s or more such as 5m; using 5m0s`}
		}},
		{"bad replug wait warns", "coldimage.replug-wait=soon", func(c *Config) {
			c.Warnings = []string{`coldimage.replug-wait="soon" is not a duration such as 10m; using 10m0s`}
		}},
		{"rescue values", "coldimage.retries=4 coldimage.slow-read=1500ms coldimage.device-timeout=5s", func(c *Config) {
			c.Rescue = imager.RescueSettings{Retries: 4, SlowRead: 1500 * time.Millisecond, DeviceTimeout: 5 * time.Second}
		}},
		{"bad rescue values warn", "coldimage.retries=-2 coldimage.rescue-time=30 coldimage.slow-read=-1s", func(c *Config) {
			c.Warnings = []string{`coldimage.retries="-2" is not 0 or more; using 2`,
				`coldimage.rescue-time="30" is not a duration such as 30m or 5s; using the default`,
				`coldimage.slow-read="-1s" is not a duration such as 30m or 5s; using the default`}
		}},
		{"bad values warn", "coldimage.raid=all coldimage.jobs=x coldimage.bogus=1", func(c *Config) {
			c.Warnings = []string{`coldimage.raid="all" is not members|volumes|both; using both`, `coldimage.jobs="x" is not a positive number`, "unknown kernel parameter coldimage.bogus"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := def
			tc.want(&want)
			if got := ParseCmdline(tc.in); !reflect.DeepEqual(got, want) {
				t.Fatalf("ParseCmdline(%q)\n got %+v\nwant %+v", tc.in, got, want)
			}
		})
	}
	if !ParseCmdline("coldimage.sources=all").AllSources() || ParseCmdline("coldimage.sources=sda").AllSources() {
		t.Error("AllSources wrong")
	}
}
