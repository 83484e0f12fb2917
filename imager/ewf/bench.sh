#!/bin/sh
# Compare coldimage's E01 writer with ewfacquire on one raw file.
#   imager/ewf/bench.sh [RAWFILE]
# Without RAWFILE (or when it does not exist) it creates one of $BENCH_SIZE
# bytes (default 2 GiB): first half random, second half zeros.
# Prints wall time, MB/s, CPU seconds (user+sys, independent of other load)
# and image size of both writers, then our Reader's read-back (as coldimage
# verify reads an E01) next to ewfverify.
set -eu
cd "$(dirname "$0")/../.."
src=${1:-${TMPDIR:-/tmp}/coldimage-e01-bench.raw}
size=${BENCH_SIZE:-2147483648}
work=$(mktemp -d "${TMPDIR:-/tmp}/e01bench.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

for t in ewfacquire ewfverify /usr/bin/time; do
	command -v "$t" >/dev/null || { echo "bench.sh: $t missing (apt-get install ewf-tools time)" >&2; exit 1; }
done
if [ ! -e "$src" ]; then
	half=$((size / 2 / 1048576))
	head -c "$((half * 1048576))" /dev/urandom >"$src"
	head -c "$((size - half * 1048576))" /dev/zero >>"$src"
fi
cat "$src" >/dev/null # page-cache the source for both runs
bytes=$(stat -c %s "$src")
field() { echo " $1" | sed "s/.* $2=\([0-9.]*\).*/\1/"; }

go build -o "$work/e01bench" ./imager/ewf/internal/e01bench
ours=$("$work/e01bench" -o "$work/ours" -segment-size 2147483648 -readback "$src")
w=$(echo "$ours" | head -n 1)
r=$(echo "$ours" | tail -n 1)

/usr/bin/time -f "%e %U %S" -o "$work/acq.time" \
	ewfacquire -u -q -c fast -d sha256 -f encase6 -S 2147483648 -t "$work/ewfacquire" \
	-C bench -E bench -e bench -D bench -N bench "$src" >"$work/ewfacquire.log" 2>&1 ||
	{ cat "$work/ewfacquire.log" >&2; exit 1; }
ref_size=$(cat "$work"/ewfacquire.E* | wc -c)
/usr/bin/time -f "%e %U %S" -o "$work/ver.time" ewfverify -q "$work/ewfacquire.E01" >"$work/ewfverify.log" 2>&1 ||
	{ cat "$work/ewfverify.log" >&2; exit 1; }

awk -v b="$bytes" -v os="$(field "$w" seconds)" -v oc="$(field "$w" cpu_seconds)" -v oz="$(field "$w" image_bytes)" \
	-v bs="$(field "$r" seconds)" -v bc="$(field "$r" cpu_seconds)" -v rz="$ref_size" \
	-v acq="$(cat "$work/acq.time")" -v ver="$(cat "$work/ver.time")" 'BEGIN {
	split(acq, a, " "); split(ver, v, " ")
	rs = a[1]; rc = a[2] + a[3]; vs = v[1]; vc = v[2] + v[3]
	printf "%-36s %9s %9s %9s %14s\n", "E01, " b " bytes", "seconds", "MB/s", "CPU s", "image bytes"
	printf "%-36s %9.2f %9.1f %9.2f %14d\n", "coldimage ewf (md5+sha1+sha256)", os, b/os/1e6, oc, oz
	printf "%-36s %9.2f %9.1f %9.2f %14d\n", "ewfacquire -c fast -d sha256", rs, b/rs/1e6, rc, rz
	printf "%-36s %9.2f %9.1f %9.2f\n", "coldimage ewf read-back + sha256", bs, b/bs/1e6, bc
	printf "%-36s %9.2f %9.1f %9.2f\n", "ewfverify (md5)", vs, b/vs/1e6, vc
	printf "write throughput %.2fx ewfacquire (target >= 3x); CPU %.2fx less; size ratio %.4f (target within 5%%)\n", rs/os, rc/oc, oz/rz
}'
