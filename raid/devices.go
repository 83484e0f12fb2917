package raid

import (
	"fmt"
	"io"
	"os"

	"github.com/coldimage/coldimage/disk"
)

// ExamineInfos probes every disk and partition of a device listing for RAID
// metadata. Devices are opened O_RDONLY and their read-only flag is left as
// it is (listing has no side effects); partitions inside image files are
// read through a section of the file. The returned func closes what was
// opened: call it once the report's arrays are no longer read.
func ExamineInfos(infos []disk.Info) (*Report, func(), error) {
	var members []Member
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	var add func(i disk.Info, file *os.File)
	add = func(i disk.Info, file *os.File) {
		switch {
		case i.Size == 0:
		case i.Path != "":
			f, err := os.Open(i.Path)
			if err != nil {
				return // unreadable devices keep their listing as it is
			}
			files = append(files, f)
			members = append(members, Member{Name: i.Path, R: f, Size: i.Size, Serial: i.Serial}) // IMSM places members by serial
			if i.Kind == disk.KindFile {
				file = f
			}
		case file != nil && i.Kind == disk.KindPart:
			members = append(members, Member{Name: memberName(i), R: io.NewSectionReader(file, i.Start, i.Size), Size: i.Size})
		}
		for _, p := range i.Partitions {
			add(p, file)
		}
	}
	for _, i := range infos {
		add(i, nil)
	}
	rep, err := Examine(members)
	if err != nil {
		closeAll()
		return nil, func() {}, fmt.Errorf("examine RAID metadata: %w", err)
	}
	return rep, closeAll, nil
}

// memberName is how ExamineInfos names a device: its path, or for a
// partition inside an image file its listing name.
func memberName(i disk.Info) string {
	if i.Path != "" {
		return i.Path
	}
	return i.Name
}

// Annotate sets Info.RAID on every disk and partition of infos that the
// report found as a member ("md-1.2 raid1 clean 2/2 name (active)"), or
// that carries metadata of an array it could not group.
func Annotate(infos []disk.Info, rep *Report) {
	notes := Notes(rep)
	for _, mr := range rep.Members {
		if len(mr.Found) > 0 && notes[mr.Name] == "" {
			notes[mr.Name] = mr.Found[0].Format + " metadata"
		}
	}
	var walk func(is []disk.Info)
	walk = func(is []disk.Info) {
		for k := range is {
			if n := notes[memberName(is[k])]; n != "" && is[k].RAID == "" {
				is[k].RAID = n
			}
			walk(is[k].Partitions)
		}
	}
	walk(infos)
}

// Notes maps member names to a one-line description of their array.
func Notes(rep *Report) map[string]string {
	notes := map[string]string{}
	for _, a := range rep.Arrays {
		present := 0
		for _, m := range a.Members {
			if m.Name != "" && m.Status == StatusActive {
				present++
			}
		}
		n := fmt.Sprintf("%s %s %s %d/%d", a.Metadata, a.Level, a.State, present, a.RaidDevices)
		if a.Name != "" {
			n += " " + a.Name
		}
		for _, m := range a.Members {
			if m.Name != "" {
				notes[m.Name] = n + " (" + m.Status + ")"
			}
		}
	}
	return notes
}
