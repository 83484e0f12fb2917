#!/usr/bin/env bash
# Installs the Debian packages the builds and tests use. Idempotent; needs root.
set -euo pipefail
pkgs=(
	coreutils util-linux fdisk gdisk e2fsprogs dosfstools exfatprogs exfat-fuse ntfs-3g  # fixtures, independent checkers
	strace                           # the CLI write-block-first test watches syscalls
	cryptsetup-bin                   # a real LUKS2 header for the encryption findings
	apfsprogs libfsapfs-utils        # a real APFS container (mkapfs) and an independent reader (fsapfsinfo)
	xfsprogs btrfs-progs xorriso     # filesystem-probe fixtures
	ewf-tools                        # ewfverify/ewfinfo/ewfexport: independent E01 checker
	dc3dd rclone                     # benchmark baselines (rclone: S3 upload of a made image)
	gddrescue libnbd-bin fuse3       # benchmark: GNU ddrescue on the failing disk, mounted with nbdfuse
	qemu-system-x86 qemu-utils       # end-to-end tests
	nbdkit nbdkit-plugin-python      # slow failing disks for the rescue tests (NBD into QEMU)
	kmod busybox-static mdadm        # appliance/RAID fixture guests
	zstd xz-utils                    # initramfs compression checks
	time                             # /usr/bin/time for peak RSS in benchmarks
	samba                            # smbd: the SMB 3 server of the network-target tests (127.0.0.1 only)
	nfs-ganesha nfs-ganesha-vfs      # a user-space NFS 4 server for the same tests (the kernel has no nfsd here)
	shim-signed grub-efi-amd64-signed grub-pc-bin grub-common ovmf mtools sbsigntool  # USB image: signed boot chain, legacy GRUB, UEFI firmware, checks
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# versitygw: the real S3 gateway the S3-target tests start on 127.0.0.1 (not
# packaged by Debian; built once from the Go module proxy and cached).
vgw_bin="${COLDIMAGE_CACHE:-$HOME/.cache/coldimage}/bin"
if [[ ! -x "$vgw_bin/versitygw" ]] && command -v go >/dev/null; then
	mkdir -p "$vgw_bin"
	GOBIN="$vgw_bin" GOFLAGS=-mod=mod go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
fi
