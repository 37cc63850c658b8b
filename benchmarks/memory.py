"""Peak memory of this process, for the benchmarks' tables."""

from __future__ import annotations

import resource


def peak_rss_mib() -> float:
    """The high-water mark of this process's resident memory, in MiB.

    /proc's VmHWM belongs to this program alone; getrusage's ru_maxrss also counts the
    parent's memory at the fork before exec, which misleads when a big parent starts
    the stage.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
