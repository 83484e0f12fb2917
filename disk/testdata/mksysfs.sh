#!/bin/sh
# Builds a fake /sys in directory $1 with the shapes the kernel uses for
# SATA, NVMe, USB, virtio, loop, md, zram and ram devices. The tests run it
# into a temporary directory (sysfs paths contain ':', which Go module zips
# do not allow, so the tree itself is not checked in).
set -e
S=${1:?usage: mksysfs.sh DIR}
mkdir -p "$S/block" "$S/class/block" "$S/dev/block"

# attr DIR NAME VALUE
attr() { mkdir -p "$1"; printf '%s\n' "$3" > "$1/$2"; }
# disk DEVDIR NAME SECTORS LOGICAL PHYSICAL MAJ:MIN
disk() {
	d=$S/devices/$1/$2
	attr "$d" size "$3"; attr "$d" ro 0; attr "$d" removable 0
	attr "$d/queue" logical_block_size "$4"; attr "$d/queue" physical_block_size "$5"
	attr "$d" dev "$6"
	mkdir -p "$d/holders" "$d/slaves"
	ln -s "../devices/$1/$2" "$S/block/$2"
	ln -s "../../devices/$1/$2" "$S/class/block/$2"
	ln -s "../../devices/$1/$2" "$S/dev/block/$6"
}
# part DEVDIR DISK NAME NUMBER START SECTORS MAJ:MIN
part() {
	d=$S/devices/$1/$2/$3
	attr "$d" partition "$4"; attr "$d" start "$5"; attr "$d" size "$6"; attr "$d" ro 0; attr "$d" dev "$7"
	mkdir -p "$d/holders"
	ln -s "../../devices/$1/$2/$3" "$S/class/block/$3"
	ln -s "../../devices/$1/$2/$3" "$S/dev/block/$7"
}

# SATA disk behind libata: serial only in VPD page 0x80, space padded.
ata=pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0
attr "$S/devices/$ata" model "WDC WD10EZEX-08W  "
attr "$S/devices/$ata" wwid "naa.50014ee2b1234567"
printf '\000\200\000\024     WD-WCC6Y1234567' > "$S/devices/$ata/vpd_pg80"
disk "$ata/block" sda 1953525168 512 4096 8:0
ln -s ../../../0:0:0:0 "$S/devices/$ata/block/sda/device"
part "$ata/block" sda sda1 1 2048 1953521664 8:1
# md127 is built on sda1
ln -s ../../../../../../../../../../virtual/block/md127 "$S/devices/$ata/block/sda/sda1/holders/md127"
disk virtual/block md127 1953388544 512 4096 9:127
ln -s ../../../../pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda1 "$S/devices/virtual/block/md127/slaves/sda1"

# NVMe namespace: model/serial on the controller, wwid on the namespace.
nv=pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0
attr "$S/devices/$nv" model "Samsung SSD 980 PRO 1TB                 "
attr "$S/devices/$nv" serial "S5GXNX0R123456      "
disk "$nv" nvme0n1 1953525168 512 512 259:0
attr "$S/devices/$nv/nvme0n1" wwid "eui.002538b111b22c33"
ln -s ../../nvme0 "$S/devices/$nv/nvme0n1/device"
part "$nv" nvme0n1 nvme0n1p1 1 2048 1048576 259:1
part "$nv" nvme0n1 nvme0n1p2 2 1050624 1952474511 259:2

# USB stick: no VPD serial; the USB device (idVendor) has it.
usb=pci0000:00/0000:00:14.0/usb2/2-1
attr "$S/devices/$usb" idVendor 0781
attr "$S/devices/$usb" serial 4C530001230101110531
scsi=$usb/2-1:1.0/host6/target6:0:0/6:0:0:0
attr "$S/devices/$scsi" model "Cruzer Blade    "
disk "$scsi/block" sdb 30031872 512 512 8:16
attr "$S/devices/$scsi/block/sdb" removable 1
ln -s ../../../6:0:0:0 "$S/devices/$scsi/block/sdb/device"

# virtio-blk: serial on the disk itself, no model.
vd=pci0000:00/0000:00:02.0/virtio1
mkdir -p "$S/devices/$vd"
disk "$vd/block" vda 536870912 512 512 254:0
attr "$S/devices/$vd/block/vda" serial overlayblk
ln -s ../../../virtio1 "$S/devices/$vd/block/vda/device"

# loop0 bound to an image, loop1 unbound; zram0 and ram0 are never listed.
disk virtual/block loop0 131072 512 512 7:0
attr "$S/devices/virtual/block/loop0/loop" backing_file /images/evidence.dd
attr "$S/devices/virtual/block/loop0" ro 1
disk virtual/block loop1 0 512 512 7:1
disk virtual/block zram0 8388608 4096 4096 252:0
disk virtual/block ram0 131072 512 512 1:0
