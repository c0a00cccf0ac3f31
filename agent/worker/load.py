"""Load reporting: how full this worker is, as LiveKit's dispatcher and the HPA should see it.

Two things limit calls on a pod: the number of calls it was sized for
(`VOICE_AGENT_MAX_CONCURRENT_CALLS`, from the benchmark's per-call CPU and memory) and the CPU
the container may actually use. The load is the larger of the two fractions, so the worker
stops taking calls (load >= `load_threshold`) before either runs out.

CPU is read from the container's cgroup, not the host: `psutil.cpu_percent()` inside a
container reports the node's CPUs and misreads a 2-core limit on a 64-core node as idle
(livekit/agents #2130, #7102). cgroup v2 (`cpu.max`, `cpu.stat`) first, then v1
(`cpu.cfs_quota_us`, `cpuacct.usage`), then the host's core count as the last resort.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

CGROUP_ROOT = Path("/sys/fs/cgroup")


class _Health(Protocol):
    def set_active_calls(self, active: int, max_calls: int) -> None: ...


class CgroupCPU:
    """CPU use of this cgroup as a fraction of its limit, between two samples."""

    def __init__(
        self, root: Path = CGROUP_ROOT, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._root = root
        self._clock = clock
        self._last: tuple[float, float] | None = None  # (wall seconds, cpu seconds)

    def limit_cores(self) -> float:
        """Cores this container may use: quota / period, or every host core when unlimited."""
        v2 = self._read(self._root / "cpu.max")
        if v2:
            quota, _, period = v2.partition(" ")
            if quota != "max" and period:
                return max(float(quota) / float(period), 0.01)
        quota_v1 = self._read(self._root / "cpu" / "cpu.cfs_quota_us")
        period_v1 = self._read(self._root / "cpu" / "cpu.cfs_period_us")
        if quota_v1 and period_v1 and int(quota_v1) > 0:
            return max(int(quota_v1) / int(period_v1), 0.01)
        return float(os.cpu_count() or 1)

    def _cpu_seconds(self) -> float | None:
        stat = self._read(self._root / "cpu.stat")
        if stat:
            for line in stat.splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
        v1 = self._read(self._root / "cpuacct" / "cpuacct.usage")
        if v1:
            return int(v1) / 1e9
        try:
            return time.process_time()  # last resort: this process only
        except OSError:
            return None

    def sample(self) -> float:
        """Utilisation since the previous sample (0.0 on the first call), capped to [0, 1]."""
        now, used = self._clock(), self._cpu_seconds()
        if used is None:
            return 0.0
        previous, self._last = self._last, (now, used)
        if previous is None or now <= previous[0]:
            return 0.0
        # e.g. 0.9 CPU-seconds used over 1 s of wall time with a 2-core limit -> 0.45
        fraction = (used - previous[1]) / ((now - previous[0]) * self.limit_cores())
        return min(max(fraction, 0.0), 1.0)

    @staticmethod
    def _read(path: Path) -> str | None:
        try:
            return path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None


class CallLoad:
    """The `load_fnc` given to AgentServer: max(active calls / capacity, cgroup CPU)."""

    def __init__(
        self, max_calls: int, *, health: _Health | None = None, cpu: CgroupCPU | None = None
    ) -> None:
        self.max_calls = max_calls
        self._health = health
        self._cpu = cpu or CgroupCPU()
        self._count_calls: Callable[[], int] = lambda: 0

    def attach(self, server: Any) -> None:
        """Count running jobs from the server (its `active_jobs` list)."""
        self._count_calls = lambda: len(server.active_jobs)

    def __call__(self, *_: Any) -> float:
        active = self._count_calls()
        if self._health is not None:
            self._health.set_active_calls(active, self.max_calls)
        return max(active / self.max_calls, self._cpu.sample())
