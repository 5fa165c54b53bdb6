"""What a server process spent, read from the kernel's own counters, for the benchmarks.

A load benchmark on one machine measures whichever side runs out of CPU first; these
helpers let it report the server's CPU seconds (``/proc/<pid>/stat`` utime + stime) over
the steady part of a run, and tell whether a load generator was saturated (then the
figures describe the client, and the run is marked invalid).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

# A generator that used this share of one core during the measured window was the
# bottleneck, not the server.
SATURATED_SHARE = 0.9

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (its threads included)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces; the fields after its ")" are fixed.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_kb(pid: int) -> int:
    """Resident memory of a process, in KB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent not idle (from /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / _TICKS


@dataclass
class CpuWindow:
    """CPU used by some processes between ``start()`` and ``stop()``, by their counters."""

    pids: list[int]
    _cpu0: list[float] = field(default_factory=list)
    _t0: float = 0.0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    rss_kb: int = 0
    # Cores the whole machine kept busy over the window (everyone's work, this run's too):
    # near the core count, latencies measure the neighbours as much as the server.
    machine_busy_cores: float = 0.0
    _busy0: float = 0.0

    def start(self) -> None:
        self._cpu0 = [cpu_seconds(p) for p in self.pids]
        self._busy0 = machine_busy_seconds()
        self._t0 = time.perf_counter()

    def stop(self) -> CpuWindow:
        self.wall_s = time.perf_counter() - self._t0
        self.cpu_s = sum(cpu_seconds(p) - c for p, c in zip(self.pids, self._cpu0, strict=True))
        busy = machine_busy_seconds() - self._busy0
        self.machine_busy_cores = busy / self.wall_s if self.wall_s > 0 else 0.0
        self.rss_kb = sum(rss_kb(p) for p in self.pids)
        return self

    @property
    def share(self) -> float:
        """Cores used on average over the window (1.0 = one core busy throughout)."""
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0


@dataclass
class OwnCpu:
    """This process's CPU over a window, for a load generator to report about itself."""

    _cpu0: float = 0.0
    _t0: float = 0.0

    def start(self) -> None:
        self._cpu0 = time.process_time()
        self._t0 = time.perf_counter()

    def share(self) -> float:
        wall = time.perf_counter() - self._t0
        return (time.process_time() - self._cpu0) / wall if wall > 0 else 0.0


def per_thousand(cpu_s: float, messages: int) -> float | None:
    """CPU seconds per 1,000 messages (``None`` when nothing was counted)."""
    return round(cpu_s * 1000 / messages, 4) if messages else None


def generators_valid(shares: list[float]) -> bool:
    """A run is valid when no load generator came near a full core."""
    return all(s < SATURATED_SHARE for s in shares)
