#!/bin/sh
# Compare coldimage's E01 writer with ewfacquire on one raw file.
#   imager/ewf/bench.sh [RAWFILE]
# Without RAWFILE (or when it does not exist) it creates one of $BENCH_SIZE
# bytes (default 2 GiB): first half random, second half zeros.
# Prints MB/s and image size of both, and the ratios.
set -eu
cd "$(dirname "$0")/../.."
src=${1:-${TMPDIR:-/tmp}/coldimage-e01-bench.raw}
size=${BENCH_SIZE:-2147483648}
work=$(mktemp -d "${TMPDIR:-/tmp}/e01bench.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

command -v ewfacquire >/dev/null || { echo "bench.sh: ewfacquire missing (apt-get install ewf-tools)" >&2; exit 1; }
if [ ! -e "$src" ]; then
	half=$((size / 2 / 1048576))
	head -c "$((half * 1048576))" /dev/urandom >"$src"
	head -c "$((size - half * 1048576))" /dev/zero >>"$src"
fi
cat "$src" >/dev/null # page-cache the source for both runs
bytes=$(stat -c %s "$src")

go build -o "$work/e01bench" ./imager/ewf/internal/e01bench
ours=$("$work/e01bench" -o "$work/ours" -segment-size 2147483648 "$src")
ours_s=$(echo "$ours" | sed 's/.*seconds=\([0-9.]*\).*/\1/')
ours_size=$(echo "$ours" | sed 's/.*image_bytes=\([0-9]*\).*/\1/')

t0=$(date +%s.%N)
ewfacquire -u -q -c fast -d sha256 -f encase6 -S 2147483648 -t "$work/ewfacquire" \
	-C bench -E bench -e bench -D bench -N bench "$src" >"$work/ewfacquire.log" 2>&1 ||
	{ cat "$work/ewfacquire.log" >&2; exit 1; }
t1=$(date +%s.%N)
ref_s=$(echo "$t1 - $t0" | bc -l)
ref_size=$(cat "$work"/ewfacquire.E* | wc -c)

awk -v b="$bytes" -v os="$ours_s" -v oz="$ours_size" -v rs="$ref_s" -v rz="$ref_size" 'BEGIN {
	printf "%-34s %10s %10s %14s\n", "E01 writer (" b " bytes)", "seconds", "MB/s", "image bytes"
	printf "%-34s %10.2f %10.1f %14d\n", "coldimage ewf (md5+sha1+sha256)", os, b/os/1e6, oz
	printf "%-34s %10.2f %10.1f %14d\n", "ewfacquire -c fast -d sha256", rs, b/rs/1e6, rz
	printf "throughput ratio %.2fx (target >= 3x), size ratio %.4f (target within 5%%)\n", rs/os, oz/rz
}'
