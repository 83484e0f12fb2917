# nbdkit python plugin: a read-only disk whose bad sectors fail slowly,
# as a failing drive's do (it retries inside for seconds, then reports an
# unrecoverable read error). Used by the QEMU rescue tests:
#   nbdkit -r --unix SOCK python failing_disk.py file=IMG bad=RANGES delay=SECONDS [readdelay=SECONDS]
# RANGES is a file of "START END" byte ranges (END exclusive), one a line.
# A read touching a bad byte sleeps `delay` seconds and fails with EIO;
# every other read sleeps `readdelay` (a slow disk, so a test can act
# mid-run).
import builtins
import errno
import os
import time

import nbdkit

API_VERSION = 2
path = None
bad = []
delay = 1.0
readdelay = 0.0


def config(key, value):
    global path, delay, readdelay
    if key == "file":
        path = value
    elif key == "bad":
        with builtins.open(value) as f:
            for line in f:
                if line.strip():
                    a, b = line.split()
                    bad.append((int(a), int(b)))
    elif key == "delay":
        delay = float(value)
    elif key == "readdelay":
        readdelay = float(value)
    else:
        raise Exception("unknown parameter " + key)


def open(readonly):
    return os.open(path, os.O_RDONLY)


def get_size(h):
    return os.fstat(h).st_size


def can_write(h):
    return False


def pread(h, buf, offset, flags):
    end = offset + len(buf)
    for a, b in bad:
        if a < end and b > offset:
            time.sleep(delay)
            nbdkit.set_error(errno.EIO)
            raise Exception("unrecoverable read error at byte %d" % max(a, offset))
    if readdelay > 0:
        time.sleep(readdelay)
    buf[:] = os.pread(h, len(buf), offset)
