#!/usr/bin/env bash
# make demo: on a fresh machine, install what is needed, build the appliance,
# create demo evidence disks, boot QEMU unattended with the serial console
# shown live, and print the session summary read back from the target image.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $EUID -eq 0 && -z "${COLDIMAGE_NO_DEPS:-}" ]]; then ./scripts/install-deps.sh; fi
command -v qemu-system-x86_64 >/dev/null || { echo "demo: qemu-system-x86_64 is missing: run 'make deps' as root" >&2; exit 1; }
make --no-print-directory appliance
exec go run ./qemu-tests/cmd/demo -build build "$@"
