package main

import (
	"fmt"
	"strings"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/raid"
)

// BootLabel is the file-system label and GPT partition name of our own
// boot medium (make usb); a disk carrying either is never a source and
// never a target.
const BootLabel = disk.BootLabel

// MatchTarget finds the device named by spec (LABEL=, UUID=, SERIAL=,
// /dev/NAME or NAME). SERIAL= picks the single partition with a file
// system on that disk, or the disk itself when it holds one.
func MatchTarget(devs []Device, spec string) (Device, error) {
	if spec == "" {
		return Device{}, fmt.Errorf("no target given (coldimage.target=LABEL=…|UUID=…|SERIAL=…|/dev/NAME)")
	}
	k, v, hasEq := strings.Cut(spec, "=")
	var hits []Device
	for _, d := range devs {
		switch {
		case !hasEq || strings.HasPrefix(spec, "/dev/"):
			if d.Name == strings.TrimPrefix(spec, "/dev/") {
				hits = append(hits, d)
			}
		case k == "LABEL":
			if d.FSType != "" && d.FSLabel == v {
				hits = append(hits, d)
			}
		case k == "UUID":
			if d.FSType != "" && strings.EqualFold(d.FSUUID, v) {
				hits = append(hits, d)
			}
		case k == "SERIAL":
			if d.Serial == v && d.FSType != "" {
				hits = append(hits, d)
			}
		default:
			return Device{}, fmt.Errorf("target %q: want LABEL=, UUID=, SERIAL= or /dev/NAME", spec)
		}
	}
	switch len(hits) {
	case 0:
		return Device{}, fmt.Errorf("target %s not found", spec)
	case 1:
		return hits[0], nil
	}
	var names []string
	for _, h := range hits {
		names = append(names, h.Name)
	}
	return Device{}, fmt.Errorf("target %s is ambiguous: %s", spec, strings.Join(names, ", "))
}

// carriesBootLabel: a file system labelled BootLabel, or a GPT partition so named.
func carriesBootLabel(d Device) bool {
	return d.FSType != "" && d.FSLabel == BootLabel || d.IsPart() && d.PartLabel == BootLabel
}

// BootDisks are the disks holding a file system labelled BootLabel or a
// GPT partition named BootLabel (the name survives a relabelled FAT).
func BootDisks(devs []Device) map[string]bool {
	m := map[string]bool{}
	for _, d := range devs {
		if carriesBootLabel(d) {
			m[d.Disk()] = true
		}
	}
	return m
}

// Skip is a device not imaged, and why.
type Skip = imager.SessionSkip

// SelectSources picks the devices to image. all: every whole disk except
// the target's disk, our boot medium, virtual and empty devices. Named
// sources (kernel names, partitions allowed, SERIAL=X, or a RAID volume's
// source-id md-…/ddf-…/imsm-… found by volumes) are taken as given but
// refused when they are or share a disk with the target, or are the boot
// medium; a volume is refused when one of its members would be. Devices
// that could not be made read-only are skipped unless consent names them.
// volumes is called only when a source names a volume.
func SelectSources(devs []Device, cfg Config, target *Device, boot map[string]bool, consent map[string]bool, volumes func() []Device) (src []Device, skipped []Skip, err error) {
	targetDisk := ""
	if target != nil {
		targetDisk = target.Disk()
	}
	byName := map[string]Device{}
	for _, d := range devs {
		byName[d.Name] = d
	}
	eligible := func(d Device, named bool) string {
		switch {
		case targetDisk != "" && d.Disk() == targetDisk:
			if named {
				return fmt.Sprintf("on the target's disk %s", targetDisk)
			}
			return "target disk"
		case boot[d.Disk()]:
			return "our boot medium"
		case isVirtual(d.Name):
			return "virtual device"
		case d.Size == 0 || strings.Contains(d.ROErr, "no medium"):
			return "no medium"
		case !d.RO && !consent[d.Name]:
			return "could not be made read-only (" + d.ROErr + "); needs the operator's explicit consent"
		}
		return ""
	}
	if cfg.AllSources() {
		for _, d := range devs {
			if d.IsPart() {
				continue
			}
			if why := eligible(d, false); why != "" {
				skipped = append(skipped, Skip{Device: d.Name, Reason: why})
				continue
			}
			src = append(src, d)
		}
		return src, skipped, nil
	}
	var errs []string
	seen := map[string]bool{}
	for _, want := range cfg.Sources {
		var d Device
		var ok bool
		if s, isSerial := strings.CutPrefix(want, "SERIAL="); isSerial {
			for _, x := range devs {
				if !x.IsPart() && x.Serial == s {
					d, ok = x, true
				}
			}
		} else if raid.IsSourceID(want) {
			d, ok = findVolume(want, volumes)
		} else {
			d, ok = byName[want]
		}
		if !ok {
			errs = append(errs, fmt.Sprintf("source %s not found", want))
			continue
		}
		why := ""
		if len(d.Members) > 0 {
			for _, m := range d.Members {
				if md, known := byName[m]; !known {
					why = "member " + m + " not found"
				} else if w := eligible(md, true); w != "" && why == "" {
					why = "member " + m + ": " + w
				}
			}
		} else {
			why = eligible(d, true)
		}
		if why != "" {
			errs = append(errs, fmt.Sprintf("source %s refused: %s", want, why))
			continue
		}
		if !seen[d.Name] {
			seen[d.Name] = true
			src = append(src, d)
		}
	}
	if len(errs) > 0 {
		return src, skipped, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return src, skipped, nil
}

// findVolume looks a volume up by source-id; volumes are read once.
func findVolume(id string, volumes func() []Device) (Device, bool) {
	if volumes == nil {
		return Device{}, false
	}
	for _, v := range volumes() {
		if v.Name == id {
			return v, true
		}
	}
	return Device{}, false
}
