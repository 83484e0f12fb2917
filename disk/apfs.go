package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// APFS, as Apple's "Apple File System Reference" lays it out: enough to
// find a container's volumes and tell which are encrypted.
//
// Every object starts with obj_phys_t (32 bytes): o_cksum (Fletcher-64 of
// the rest of the block) at 0, o_oid at 8, o_xid at 16, o_type at 24,
// o_subtype at 28.
//
// nx_superblock_t (block 0): nx_magic "NXSB" at 32, nx_block_size at 36,
// nx_block_count at 40, nx_uuid at 72, nx_omap_oid (physical) at 160,
// nx_max_file_systems at 180, nx_fs_oid[100] (virtual) at 184.
//
// omap_phys_t: om_tree_oid (physical) at 48.
//
// btree_node_phys_t: btn_flags at 32 (1 root, 2 leaf, 4 fixed-size keys
// and values), btn_level at 34, btn_nkeys at 36, btn_table_space {off,
// len} at 40; the table of contents starts at 56 + off, the keys after
// it, the values run backward from the node's end (a root node ends with
// a 40-byte btree_info_t). An object map's keys are omap_key_t {oid,
// xid}, its leaf values omap_val_t {flags u32, size u32, paddr u64}, its
// index values a child's physical address.
//
// apfs_superblock_t: apfs_magic "APSB" at 32, apfs_fs_flags at 264
// (APFS_FS_UNENCRYPTED 0x1), apfs_volname at 704 (256 bytes, UTF-8),
// apfs_role at 964.
const (
	apfsFSUnencrypted = 0x1
	btnodeLeaf        = 0x2
	btnodeRoot        = 0x1
	btnodeFixedKV     = 0x4
	apfsMaxDepth      = 8
	apfsBlockMin      = 4096
	apfsBlockMax      = 65536
)

// APFSVolume is one volume of an APFS container.
type APFSVolume struct {
	Name      string
	Encrypted bool // APFS_FS_UNENCRYPTED clear: FileVault, or per-file keys of a T2/Apple silicon Mac
}

// APFSVolumes reads an APFS container's volumes from the superblock in
// block 0, its object map and each volume's superblock, every block's
// checksum verified.
func APFSVolumes(r io.ReaderAt, size int64) ([]APFSVolume, error) {
	head := readBytes(r, size, 0, 40)
	if head == nil || string(head[32:36]) != "NXSB" {
		return nil, errors.New("no APFS container superblock")
	}
	bs := int64(binary.LittleEndian.Uint32(head[36:]))
	if bs < apfsBlockMin || bs > apfsBlockMax || bs&(bs-1) != 0 {
		return nil, fmt.Errorf("APFS block size %d", bs)
	}
	block := func(n uint64, what string) ([]byte, error) {
		if n == 0 || int64(n) > (1<<62)/bs {
			return nil, fmt.Errorf("APFS %s at block %d: out of range", what, n)
		}
		b := readBytes(r, size, int64(n)*bs, int(bs))
		if b == nil {
			return nil, fmt.Errorf("APFS %s at block %d: not readable", what, n)
		}
		if binary.LittleEndian.Uint64(b) != fletcher64(b[8:]) {
			return nil, fmt.Errorf("APFS %s at block %d: checksum mismatch", what, n)
		}
		return b, nil
	}
	nx := readBytes(r, size, 0, int(bs))
	if nx == nil || binary.LittleEndian.Uint64(nx) != fletcher64(nx[8:]) {
		return nil, errors.New("APFS container superblock: checksum mismatch")
	}
	om, err := block(binary.LittleEndian.Uint64(nx[160:]), "object map")
	if err != nil {
		return nil, err
	}
	maxFS := int(binary.LittleEndian.Uint32(nx[180:]))
	if maxFS > 100 {
		maxFS = 100
	}
	var vols []APFSVolume
	for i := 0; i < maxFS; i++ {
		oid := binary.LittleEndian.Uint64(nx[184+8*i:])
		if oid == 0 {
			continue
		}
		paddr, err := omapLookup(block, binary.LittleEndian.Uint64(om[48:]), oid, bs)
		if err != nil {
			return vols, fmt.Errorf("APFS volume %d (object %d): %w", i, oid, err)
		}
		v, err := block(paddr, "volume superblock")
		if err != nil {
			return vols, err
		}
		if string(v[32:36]) != "APSB" {
			return vols, fmt.Errorf("APFS volume %d at block %d: no APSB magic", i, paddr)
		}
		vols = append(vols, APFSVolume{
			Name:      cString(v[704:960]),
			Encrypted: binary.LittleEndian.Uint64(v[264:])&apfsFSUnencrypted == 0,
		})
	}
	return vols, nil
}

// omapLookup finds the physical block of virtual object oid (its newest
// version) in the object map B-tree whose root is at block root.
func omapLookup(block func(uint64, string) ([]byte, error), root, oid uint64, bs int64) (uint64, error) {
	node := root
	for depth := 0; depth < apfsMaxDepth; depth++ {
		b, err := block(node, "object map node")
		if err != nil {
			return 0, err
		}
		flags := binary.LittleEndian.Uint16(b[32:])
		nkeys := int(binary.LittleEndian.Uint32(b[36:]))
		tocOff, tocLen := int(binary.LittleEndian.Uint16(b[40:])), int(binary.LittleEndian.Uint16(b[42:]))
		if flags&btnodeFixedKV == 0 {
			return 0, errors.New("object map node without fixed-size entries")
		}
		keys := 56 + tocOff + tocLen
		vals := int(bs)
		if flags&btnodeRoot != 0 {
			vals -= 40 // btree_info_t
		}
		if 56+tocOff+4*nkeys > keys || keys > vals {
			return 0, fmt.Errorf("object map node at block %d: %d entries do not fit", node, nkeys)
		}
		leaf := flags&btnodeLeaf != 0
		found := -1
		for i := 0; i < nkeys; i++ {
			e := 56 + tocOff + 4*i
			k := keys + int(binary.LittleEndian.Uint16(b[e:]))
			if k+16 > vals {
				return 0, fmt.Errorf("object map node at block %d: key %d out of the node", node, i)
			}
			if koid := binary.LittleEndian.Uint64(b[k:]); koid == oid || (!leaf && koid < oid) {
				found = i // the last entry at or before oid: the newest xid for a leaf, the child for an index
			} else if koid > oid {
				break
			}
		}
		if found < 0 {
			return 0, errors.New("not in the object map")
		}
		v := vals - int(binary.LittleEndian.Uint16(b[56+tocOff+4*found+2:]))
		if leaf {
			if v < keys || v+16 > vals {
				return 0, fmt.Errorf("object map node at block %d: value out of the node", node)
			}
			return binary.LittleEndian.Uint64(b[v+8:]), nil // omap_val_t.ov_paddr
		}
		if v < keys || v+8 > vals {
			return 0, fmt.Errorf("object map node at block %d: child out of the node", node)
		}
		node = binary.LittleEndian.Uint64(b[v:])
	}
	return 0, errors.New("object map deeper than 8 levels")
}

// fletcher64 is APFS's object checksum over b (the block after o_cksum).
func fletcher64(b []byte) uint64 {
	const mod = 0xFFFFFFFF
	var lo, hi uint64
	for i := 0; i+4 <= len(b); i += 4 {
		lo = (lo + uint64(binary.LittleEndian.Uint32(b[i:]))) % mod
		hi = (hi + lo) % mod
	}
	c1 := mod - (lo+hi)%mod
	c2 := mod - (lo+c1)%mod
	return c2<<32 | c1
}

// apfsEncryption is the encryption finding of an APFS container: its
// encrypted volumes by name ("" when none is), or, when the volumes
// cannot be read, that they may be encrypted and why not known.
func apfsEncryption(r io.ReaderAt, size int64) string {
	vols, err := APFSVolumes(r, size)
	if err != nil {
		return Encryption("apfs") + " (not read: " + err.Error() + ")"
	}
	var enc, plain []string
	for _, v := range vols {
		if v.Encrypted {
			enc = append(enc, fmt.Sprintf("%q", v.Name))
		} else {
			plain = append(plain, fmt.Sprintf("%q", v.Name))
		}
	}
	if len(enc) == 0 {
		return ""
	}
	s := "APFS: encrypted volume " + strings.Join(enc, ", ") + " (FileVault, or the per-file keys of a T2 / Apple silicon Mac)"
	if len(plain) > 0 {
		s += "; not encrypted: " + strings.Join(plain, ", ")
	}
	return s
}
