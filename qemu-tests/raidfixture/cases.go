// Package raidfixture builds RAID member images with the real Linux md driver
// and Debian's mdadm inside a QEMU guest (TCG), and records what the kernel
// says about them: the SHA-256 of each assembled /dev/mdN, `mdadm --examine`
// of every member and `mdadm --detail` of every array.
//
// The host never runs mdadm and never needs md: everything that writes RAID
// metadata happens in the guest. Results are cached under
// ~/.cache/coldimage/raid-fixtures/<hash of the builder's inputs>/.
package raidfixture

// Case is one array the guest creates.
type Case struct {
	Name     string `json:"name"`     // unique; member files are <name>-<i>.img
	Metadata string `json:"metadata"` // mdadm --metadata: 0.90, 1.0, 1.1, 1.2
	Level    string `json:"level"`    // mdadm --level: linear, 0, 1, 4, 5, 6, 10
	Layout   string `json:"layout,omitempty"`
	ChunkKiB int    `json:"chunk_kib,omitempty"`
	DisksMiB []int  `json:"disks_mib"` // member sizes
	// Degraded lists member index sets that may be left out and still
	// assemble to the same bytes (within the level's redundancy).
	Degraded [][]int `json:"degraded,omitempty"`
	// TooMany lists member index sets whose absence makes the array unreadable.
	TooMany [][]int `json:"too_many,omitempty"`
	// Scenario adds steps after the array is filled and hashed:
	//   "stale":   stop, reassemble without the last member (so its event count lags), stop
	//   "faulty":  fail the last member, rewrite one block, stop (the member's own superblock lags)
	//   "spare":   the last member is created as a spare
	//   "twovols": (ddf, imsm) a second volume in the same container, filled
	//              from the pattern after the first volume's bytes
	//   "recovering": fail and remove the last member, add it back with recovery
	//              throttled, stop while it is being rebuilt (recovery_offset)
	//   "takeover0": create a RAID5 (parity-last) with one more, missing, parity
	//              member, then grow it to level 0 before filling it
	//   "reshape": add one more member and start growing raid-devices by one,
	//              throttled, then stop mid-reshape (the extra member is the last file)
	Scenario string `json:"scenario,omitempty"`
	// VolumeMiB (ddf, imsm) limits the space used on each member (mdadm --size).
	VolumeMiB int `json:"volume_mib,omitempty"`
}

func eq(n, mib int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = mib
	}
	return s
}

// Cases is every array the fixture covers.
var Cases = []Case{
	// md 0.90
	{Name: "v090-linear", Metadata: "0.90", Level: "linear", DisksMiB: []int{8, 12}, TooMany: [][]int{{1}}},
	// mdadm 4.2 refuses to create 0.90 RAID0 ("0.90 metadata does not support
	// layouts for RAID0"): make one the way old arrays were converted, a
	// degraded parity-last RAID5 taken over to RAID0 by the kernel.
	{Name: "v090-raid0-takeover", Metadata: "0.90", Level: "5", Layout: "parity-last", ChunkKiB: 64, DisksMiB: eq(3, 8), Scenario: "takeover0", TooMany: [][]int{{1}}},
	{Name: "v090-raid1", Metadata: "0.90", Level: "1", DisksMiB: eq(2, 8), Degraded: [][]int{{0}, {1}}},
	{Name: "v090-raid4", Metadata: "0.90", Level: "4", ChunkKiB: 64, DisksMiB: eq(3, 8), Degraded: [][]int{{0}, {2}}},
	{Name: "v090-raid5-ls", Metadata: "0.90", Level: "5", Layout: "left-symmetric", ChunkKiB: 64, DisksMiB: eq(4, 8), Degraded: [][]int{{1}}, TooMany: [][]int{{0, 1}}},
	{Name: "v090-raid6-ls", Metadata: "0.90", Level: "6", Layout: "left-symmetric", ChunkKiB: 64, DisksMiB: eq(5, 8), Degraded: [][]int{{0, 3}}, TooMany: [][]int{{0, 1, 2}}},
	{Name: "v090-raid10-n2", Metadata: "0.90", Level: "10", Layout: "n2", ChunkKiB: 64, DisksMiB: eq(4, 8), Degraded: [][]int{{0, 2}}, TooMany: [][]int{{0, 1}}},

	// md 1.0 (superblock at the end)
	{Name: "v10-raid1", Metadata: "1.0", Level: "1", DisksMiB: eq(2, 8), Degraded: [][]int{{0}}},
	{Name: "v10-raid5-la", Metadata: "1.0", Level: "5", Layout: "left-asymmetric", ChunkKiB: 32, DisksMiB: eq(4, 8), Degraded: [][]int{{3}}},
	{Name: "v10-raid10-o2", Metadata: "1.0", Level: "10", Layout: "o2", ChunkKiB: 64, DisksMiB: eq(3, 8), Degraded: [][]int{{1}}},

	// md 1.1 (superblock at 0)
	{Name: "v11-raid5-rs", Metadata: "1.1", Level: "5", Layout: "right-symmetric", ChunkKiB: 64, DisksMiB: eq(3, 8), Degraded: [][]int{{0}}},
	{Name: "v11-raid6-ra", Metadata: "1.1", Level: "6", Layout: "right-asymmetric", ChunkKiB: 64, DisksMiB: eq(4, 8), Degraded: [][]int{{1, 2}}},
	{Name: "v11-raid10-f2", Metadata: "1.1", Level: "10", Layout: "f2", ChunkKiB: 64, DisksMiB: eq(4, 8), Degraded: [][]int{{0, 2}}},

	// md 1.2 (superblock at 4 KiB)
	{Name: "v12-linear", Metadata: "1.2", Level: "linear", DisksMiB: []int{8, 12, 10}},
	{Name: "v12-raid0", Metadata: "1.2", Level: "0", ChunkKiB: 128, DisksMiB: eq(4, 8)},
	{Name: "v12-raid0-zones-orig", Metadata: "1.2", Level: "0", Layout: "original", ChunkKiB: 32, DisksMiB: []int{8, 12, 16, 16}},
	{Name: "v12-raid0-zones-alt", Metadata: "1.2", Level: "0", Layout: "alternate", ChunkKiB: 64, DisksMiB: []int{16, 8, 12, 16}},
	{Name: "v12-raid0-chunk96", Metadata: "1.2", Level: "0", ChunkKiB: 96, DisksMiB: []int{8, 8, 11}},
	{Name: "v10-raid0-zones-alt", Metadata: "1.0", Level: "0", Layout: "alternate", ChunkKiB: 32, DisksMiB: []int{12, 8, 10}},
	{Name: "v12-raid5-unequal", Metadata: "1.2", Level: "5", ChunkKiB: 64, DisksMiB: []int{10, 8, 12}, Degraded: [][]int{{1}}},
	{Name: "v12-raid1", Metadata: "1.2", Level: "1", DisksMiB: eq(3, 8), Degraded: [][]int{{0, 1}, {2}}},
	{Name: "v12-raid4", Metadata: "1.2", Level: "4", ChunkKiB: 64, DisksMiB: eq(4, 8), Degraded: [][]int{{1}, {3}}},
	{Name: "v12-raid5-la", Metadata: "1.2", Level: "5", Layout: "left-asymmetric", ChunkKiB: 64, DisksMiB: eq(4, 8), Degraded: [][]int{{0}, {2}}},
	{Name: "v12-raid5-ra", Metadata: "1.2", Level: "5", Layout: "right-asymmetric", ChunkKiB: 64, DisksMiB: eq(4, 8), Degraded: [][]int{{1}}},
	{Name: "v12-raid5-ls", Metadata: "1.2", Level: "5", Layout: "left-symmetric", ChunkKiB: 512, DisksMiB: eq(4, 8), Degraded: [][]int{{0}, {1}, {2}, {3}}, TooMany: [][]int{{1, 3}}},
	{Name: "v12-raid5-rs", Metadata: "1.2", Level: "5", Layout: "right-symmetric", ChunkKiB: 16, DisksMiB: eq(5, 8), Degraded: [][]int{{4}}},
	{Name: "v12-raid5-pf", Metadata: "1.2", Level: "5", Layout: "parity-first", ChunkKiB: 64, DisksMiB: eq(4, 8), Degraded: [][]int{{0}, {2}}},
	{Name: "v12-raid5-pl", Metadata: "1.2", Level: "5", Layout: "parity-last", ChunkKiB: 64, DisksMiB: eq(4, 8), Degraded: [][]int{{3}, {1}}},
	{Name: "v12-raid6-la", Metadata: "1.2", Level: "6", Layout: "left-asymmetric", ChunkKiB: 64, DisksMiB: eq(5, 8), Degraded: [][]int{{0, 1}, {2, 4}}},
	{Name: "v12-raid6-ra", Metadata: "1.2", Level: "6", Layout: "right-asymmetric", ChunkKiB: 64, DisksMiB: eq(5, 8), Degraded: [][]int{{0, 3}}},
	{Name: "v12-raid6-ls", Metadata: "1.2", Level: "6", Layout: "left-symmetric", ChunkKiB: 64, DisksMiB: eq(6, 8), Degraded: [][]int{{0, 1}, {1, 4}, {2}}, TooMany: [][]int{{0, 1, 5}}},
	{Name: "v12-raid6-rs", Metadata: "1.2", Level: "6", Layout: "right-symmetric", ChunkKiB: 64, DisksMiB: eq(5, 8), Degraded: [][]int{{1, 2}}},
	{Name: "v12-raid6-pf", Metadata: "1.2", Level: "6", Layout: "parity-first", ChunkKiB: 64, DisksMiB: eq(5, 8), Degraded: [][]int{{0, 2}, {3, 4}}},
	{Name: "v12-raid6-pl", Metadata: "1.2", Level: "6", Layout: "parity-last", ChunkKiB: 64, DisksMiB: eq(5, 8), Degraded: [][]int{{0, 4}, {1, 2}}},
	{Name: "v12-raid6-ddf-zr", Metadata: "1.2", Level: "6", Layout: "ddf-zero-restart", ChunkKiB: 64, DisksMiB: eq(5, 8), Degraded: [][]int{{0, 1}, {2, 3}}},
	{Name: "v12-raid6-ddf-nr", Metadata: "1.2", Level: "6", Layout: "ddf-N-restart", ChunkKiB: 64, DisksMiB: eq(5, 8), Degraded: [][]int{{0, 4}, {1, 3}}},
	{Name: "v12-raid6-ddf-nc", Metadata: "1.2", Level: "6", Layout: "ddf-N-continue", ChunkKiB: 64, DisksMiB: eq(5, 8), Degraded: [][]int{{1, 2}, {0, 3}}},
	{Name: "v12-raid6-la6", Metadata: "1.2", Level: "6", Layout: "left-asymmetric-6", ChunkKiB: 64, DisksMiB: eq(5, 8), Degraded: [][]int{{0, 1}, {4}}},
	{Name: "v12-raid6-ra6", Metadata: "1.2", Level: "6", Layout: "right-asymmetric-6", ChunkKiB: 64, DisksMiB: eq(5, 8), Degraded: [][]int{{1, 2}}},
	{Name: "v12-raid6-ls6", Metadata: "1.2", Level: "6", Layout: "left-symmetric-6", ChunkKiB: 64, DisksMiB: eq(5, 8), Degraded: [][]int{{0, 3}}},
	{Name: "v12-raid6-rs6", Metadata: "1.2", Level: "6", Layout: "right-symmetric-6", ChunkKiB: 64, DisksMiB: eq(5, 8), Degraded: [][]int{{2, 4}}},
	{Name: "v12-raid6-pf6", Metadata: "1.2", Level: "6", Layout: "parity-first-6", ChunkKiB: 64, DisksMiB: eq(5, 8), Degraded: [][]int{{0, 1}}},
	{Name: "v12-raid10-n2", Metadata: "1.2", Level: "10", Layout: "n2", ChunkKiB: 64, DisksMiB: eq(4, 8), Degraded: [][]int{{1, 2}}, TooMany: [][]int{{2, 3}}},
	{Name: "v12-raid10-n2-odd", Metadata: "1.2", Level: "10", Layout: "n2", ChunkKiB: 32, DisksMiB: eq(3, 8), Degraded: [][]int{{0}}},
	{Name: "v12-raid10-n3", Metadata: "1.2", Level: "10", Layout: "n3", ChunkKiB: 64, DisksMiB: eq(4, 8), Degraded: [][]int{{0, 1}}},
	{Name: "v12-raid10-f2", Metadata: "1.2", Level: "10", Layout: "f2", ChunkKiB: 64, DisksMiB: eq(5, 8), Degraded: [][]int{{0}, {4}}},
	{Name: "v12-raid10-o2", Metadata: "1.2", Level: "10", Layout: "o2", ChunkKiB: 64, DisksMiB: eq(4, 8), Degraded: [][]int{{1, 3}}},
	{Name: "v12-raid10-f3", Metadata: "1.2", Level: "10", Layout: "f3", ChunkKiB: 64, DisksMiB: eq(3, 8), Degraded: [][]int{{0, 1}}},

	// Scenarios.
	{Name: "v12-raid1-stale", Metadata: "1.2", Level: "1", DisksMiB: eq(3, 8), Scenario: "stale"},
	{Name: "v090-raid1-stale", Metadata: "0.90", Level: "1", DisksMiB: eq(3, 8), Scenario: "stale"},
	{Name: "v12-raid5-faulty", Metadata: "1.2", Level: "5", Layout: "left-symmetric", ChunkKiB: 64, DisksMiB: eq(4, 8), Scenario: "faulty"},
	{Name: "v12-raid1-spare", Metadata: "1.2", Level: "1", DisksMiB: eq(3, 8), Scenario: "spare"},
	{Name: "v090-raid5-spare", Metadata: "0.90", Level: "5", ChunkKiB: 64, DisksMiB: eq(4, 8), Scenario: "spare"},
	{Name: "v12-raid1-recovering", Metadata: "1.2", Level: "1", DisksMiB: eq(2, 8), Scenario: "recovering"},
	{Name: "v12-raid5-recovering", Metadata: "1.2", Level: "5", Layout: "left-symmetric", ChunkKiB: 64, DisksMiB: eq(4, 8), Scenario: "recovering"},
	{Name: "v12-raid5-reshape", Metadata: "1.2", Level: "5", Layout: "left-symmetric", ChunkKiB: 64, DisksMiB: eq(4, 8), Scenario: "reshape"},

	// External metadata (containers, mdmon). Volumes are limited to
	// VolumeMiB per member to keep the guest's work small.
	{Name: "ddf-raid5", Metadata: "ddf", Level: "5", ChunkKiB: 64, DisksMiB: eq(4, 64), VolumeMiB: 16, Degraded: [][]int{{1}}},
	{Name: "ddf-raid1", Metadata: "ddf", Level: "1", DisksMiB: eq(2, 64), VolumeMiB: 16, Degraded: [][]int{{0}}},
	{Name: "ddf-raid0", Metadata: "ddf", Level: "0", ChunkKiB: 64, DisksMiB: eq(3, 64), VolumeMiB: 16},
	{Name: "ddf-raid10", Metadata: "ddf", Level: "10", ChunkKiB: 64, DisksMiB: eq(4, 64), VolumeMiB: 16, Degraded: [][]int{{0}}},
	{Name: "ddf-raid6", Metadata: "ddf", Level: "6", ChunkKiB: 64, DisksMiB: eq(5, 64), VolumeMiB: 16, Degraded: [][]int{{0, 3}}},
	{Name: "imsm-raid5", Metadata: "imsm", Level: "5", ChunkKiB: 64, DisksMiB: eq(3, 64), VolumeMiB: 16, Degraded: [][]int{{2}}},
	{Name: "imsm-raid1", Metadata: "imsm", Level: "1", DisksMiB: eq(2, 64), VolumeMiB: 16, Degraded: [][]int{{1}}},
	{Name: "imsm-raid0", Metadata: "imsm", Level: "0", ChunkKiB: 64, DisksMiB: eq(2, 64), VolumeMiB: 16},
	{Name: "ddf-two-volumes", Metadata: "ddf", Level: "5", ChunkKiB: 64, DisksMiB: eq(3, 64), VolumeMiB: 8, Scenario: "twovols"},
	{Name: "imsm-two-volumes", Metadata: "imsm", Level: "5", ChunkKiB: 64, DisksMiB: eq(3, 64), VolumeMiB: 8, Scenario: "twovols"},
	{Name: "imsm-raid10", Metadata: "imsm", Level: "10", ChunkKiB: 64, DisksMiB: eq(4, 64), VolumeMiB: 16, Degraded: [][]int{{0}}},
}
