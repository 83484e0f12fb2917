// Package disk discovers block devices, partitions and image files and opens
// them read-only for acquisition.
//
// Read-only is the only mode: every source is opened O_RDONLY|O_CLOEXEC (never
// O_RDWR or O_WRONLY, never mounted). On block devices OpenSource sets the
// kernel read-only flag (BLKROSET) and confirms it (BLKROGET) before the first
// byte is read. Identity (model, serial, WWN, transport) comes from sysfs
// below SysRoot, partition tables are read with go-diskfs through a read-only
// file, and filesystem types are guessed from on-disk magic numbers by one
// prober per format (probe_*.go).
package disk

// BootLabel marks our own boot medium (make usb): it is the FAT volume label
// of the stick's EFI system partition and that partition's GPT name. The
// appliance never images a disk carrying either, nor writes to it.
const BootLabel = "COLDIMAGE"

// BootConfigFile is the examiner's settings file in the root of the boot
// medium's EFI system partition: lines of coldimage.KEY=VALUE as on the
// kernel command line, which wins where both set a key. The appliance
// reads it through a read-only file descriptor, never by mounting.
const BootConfigFile = "COLDIMAGE.CFG"
