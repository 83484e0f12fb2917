package raid

import (
	"testing"

	"github.com/coldimage/coldimage/disk"
)

func TestVolumeInfoSectors(t *testing.T) {
	a := &Array{Metadata: "md-1.2", UUID: "01234567:89abcdef:01234567:89abcdef", Level: "raid1", Name: "host:0"}
	for _, c := range []struct {
		name              string
		members           []disk.Info
		logical, physical int
	}{
		{"members unknown", nil, 512, 512},
		{"512e", []disk.Info{{LogicalSector: 512, PhysicalSector: 4096}, {LogicalSector: 512, PhysicalSector: 512}}, 512, 4096},
		{"4Kn", []disk.Info{{LogicalSector: 4096, PhysicalSector: 4096}, {LogicalSector: 4096, PhysicalSector: 4096}}, 4096, 4096},
		{"mixed", []disk.Info{{LogicalSector: 512, PhysicalSector: 512}, {LogicalSector: 4096, PhysicalSector: 4096}}, 4096, 4096},
	} {
		info := VolumeInfo(a, 1<<20, c.members)
		if info.LogicalSector != c.logical || info.PhysicalSector != c.physical || info.Kind != KindVolume || info.Name != a.SourceID() || !info.ReadOnly {
			t.Errorf("%s: %+v", c.name, info)
		}
	}
}
