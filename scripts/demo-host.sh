#!/usr/bin/env bash
# Host-side demo: builds a small evidence disk image (GPT, an ext4 and a FAT
# partition with files), acquires it with coldimage, verifies it, prints the record.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $EUID -eq 0 && -z "${COLDIMAGE_NO_DEPS:-}" ]]; then ./scripts/install-deps.sh; fi
for t in sfdisk mkfs.ext4 mkfs.vfat sha256sum; do
	command -v "$t" >/dev/null || { echo "demo: $t is missing: run 'make deps' as root" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/coldimage-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
disk="$work/evidence.img"
echo "== making a 64 MiB demo evidence disk: $disk"
truncate -s 64M "$disk"
sfdisk -q "$disk" <<'PT'
label: gpt
start=2048, size=61440, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="data"
start=63488, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name="usb"
PT
mkdir -p "$work/files"
echo "quarterly figures — do not distribute" > "$work/files/secret.txt"
head -c 3000000 /dev/urandom > "$work/files/blob.bin"
truncate -s 30M "$work/p1.img"
mkfs.ext4 -q -L DATA -d "$work/files" "$work/p1.img"
dd if="$work/p1.img" of="$disk" bs=512 seek=2048 conv=notrunc status=none
truncate -s $(( (131072 - 63488 - 34) * 512 )) "$work/p2.img"
mkfs.vfat -n USB "$work/p2.img" >/dev/null
dd if="$work/p2.img" of="$disk" bs=512 seek=63488 conv=notrunc status=none
host_sha=$(sha256sum "$disk" | cut -d' ' -f1)

echo; echo "== coldimage list $disk"
bin/coldimage list "$disk"
echo; echo "== coldimage acquire --case DEMO-1 --examiner 'A. Examiner' --evidence E001 $disk $work/out"
bin/coldimage acquire --case DEMO-1 --examiner "A. Examiner" --evidence E001 --notes "host demo" "$disk" "$work/out"
echo; echo "== sha256sum -c image.sha256 (coreutils, independent of coldimage)"
(cd "$work/out" && sha256sum -c image.sha256)
echo "host sha256 of the source: $host_sha"
grep -q "$host_sha" "$work/out/image.sha256" && echo "matches the image's recorded SHA-256"
echo; echo "== coldimage verify $work/out --source $disk"
bin/coldimage verify "$work/out" --source "$disk"
echo; echo "== acquisition.txt"
cat "$work/out/acquisition.txt"
