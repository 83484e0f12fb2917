package session

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/coldimage/coldimage/disk"
	"github.com/coldimage/coldimage/imager"
)

// CutOff finds, on a target mounted at dir, the newest session of the case
// caseID that was cut off (its session.json still says in-progress: a power
// loss or crash ended the run) and that imaged at least one of sources (by
// source-id); nil when there is none. Sessions that ended, whatever their
// result, are never continued. With host set (Plan.Host), only sessions
// whose folder carries it (<stamp>_<host>) are considered: another
// machine's are never continued.
func CutOff(dir, caseID string, sources []Source, host string) *Continuation {
	caseDir := filepath.Join("coldimage", imager.CaseFolder(caseID))
	ents, err := os.ReadDir(filepath.Join(dir, caseDir))
	if err != nil {
		return nil
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() > ents[j].Name() }) // newest stamp first
	want := map[string]bool{}
	for _, src := range sources {
		want[disk.ID(src.Info)] = true
	}
	for _, e := range ents {
		if !e.IsDir() || (host != "" && !strings.HasSuffix(e.Name(), "_"+host)) {
			continue
		}
		rel := filepath.Join(caseDir, e.Name())
		rec, err := imager.ReadSession(filepath.Join(dir, rel))
		if err != nil || rec.Result != imager.SessionInProgress {
			continue
		}
		for _, s := range rec.Sources {
			if want[s.ID] {
				return &Continuation{Folder: rel, Record: rec}
			}
		}
	}
	return nil
}
