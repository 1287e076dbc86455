#!/usr/bin/env python3
"""Puts binaries in the page cache as an installed binary would be, for
`make bench`: each is dropped from the cache and read back in one pass. As
the linker leaves its output (written through a memory map, in 4 KiB
pages), every page of code costs its own fault: ~0.5 ms more per process
start here, which would be counted as the ingestor's.

usage: settle.py PATH...
"""
import os
import sys

for path in sys.argv[1:]:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        while os.read(fd, 1 << 20):
            pass
    finally:
        os.close(fd)
