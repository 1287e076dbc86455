#!/usr/bin/env python3
"""Cost of one process, for `make bench`: runs a command RUNS times
(`{i}` in an argument becomes 1..RUNS) and prints the means of wall ms,
CPU ms (user + system, all threads) and minor page faults, read from each
child's own resource usage. A shell loop timed as a whole would also count
the shell's fork of every process (about half a millisecond here).

usage: per_process.py RUNS CMD ARG...   (output discarded; a failed run is an error)
"""
import os
import sys
import time


def main() -> None:
    runs = int(sys.argv[1])
    template = sys.argv[2:]
    devnull = os.open(os.devnull, os.O_WRONLY)
    wall = cpu = faults = 0.0
    for i in range(1, runs + 1):
        cmd = [a.replace("{i}", str(i)) for a in template]
        start = time.perf_counter()
        pid = os.posix_spawnp(cmd[0], cmd, os.environ,
                              file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1),
                                            (os.POSIX_SPAWN_DUP2, devnull, 2)])
        _, status, usage = os.wait4(pid, 0)
        wall += time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"run {i} failed ({os.waitstatus_to_exitcode(status)}): {' '.join(cmd)}")
        cpu += usage.ru_utime + usage.ru_stime
        faults += usage.ru_minflt
    print(f"{wall * 1000 / runs:.2f} {cpu * 1000 / runs:.2f} {faults / runs:.0f}")


if __name__ == "__main__":
    main()
