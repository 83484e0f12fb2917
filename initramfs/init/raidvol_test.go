package main

import (
	"github.com/coldimage/coldimage/disk"
	"reflect"
	"testing"
)

func TestAddVolumes(t *testing.T) {
	all := []Device{
		{Info: disk.Info{Name: "vda"}}, {Info: disk.Info{Name: "vdb"}}, {Info: disk.Info{Name: "vdc"}},
		{Info: disk.Info{Name: "vdd"}}, {Info: disk.Info{Name: "vdd1", Kind: disk.KindPart, Parent: "vdd"}},
	}
	sources := []Device{all[0], all[1], all[2]}
	vol := Device{Info: disk.Info{Name: "md-1"}, Members: []string{"vda", "vdb"}}
	onTarget := Device{Info: disk.Info{Name: "md-2"}, Members: []string{"vdc", "vdd1"}}
	names := func(ds []Device) []string {
		var n []string
		for _, d := range ds {
			n = append(n, d.Name)
		}
		return n
	}
	for _, tc := range []struct {
		mode     string
		want     []string
		wantSkip []string
	}{
		{"members", []string{"vda", "vdb", "vdc"}, nil},
		{"both", []string{"vda", "vdb", "vdc", "md-1"}, []string{"md-2"}},
		{"volumes", []string{"vdc", "md-1"}, []string{"md-2", "vda", "vdb"}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			got, skipped := addVolumes(append([]Device(nil), sources...), []Device{vol, onTarget}, all, tc.mode, "vdd", nil)
			if !reflect.DeepEqual(names(got), tc.want) {
				t.Errorf("sources %v, want %v", names(got), tc.want)
			}
			var sk []string
			for _, s := range skipped {
				sk = append(sk, s.Device)
			}
			if !reflect.DeepEqual(sk, tc.wantSkip) {
				t.Errorf("skipped %v, want %v", sk, tc.wantSkip)
			}
		})
	}
	// A member on the boot medium keeps the volume out too.
	got, _ := addVolumes(nil, []Device{vol}, all, "both", "", map[string]bool{"vdb": true})
	if len(got) != 0 {
		t.Errorf("volume with a member on the boot medium selected: %v", names(got))
	}
	if v := (Device{Info: disk.Info{Name: "md-1"}, Members: []string{"vda"}}); v.Dev() != "md-1" || v.ID() != "md-1" {
		t.Errorf("volume Dev %q ID %q", v.Dev(), v.ID())
	}
}
