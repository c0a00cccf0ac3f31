"""Plugin entry points, read once per process image.

`importlib.metadata.entry_points()` reads the metadata of every installed distribution from
disk: ~40 ms of CPU, which the call path paid twice per call (its config source and its sinks),
on the job's event loop at call start (200-500 ms stalls with several job processes starting).
Installed packages do not change while the worker runs, so the groups are read once: in the
warm process image (agent/worker/warm.py) the job processes inherit it.

Not keyed by `sys.path`: a job process's `sys.path` differs from the forkserver's, so such a key
would miss the preloaded entry. Code that installs a distribution while running (tests) calls
`plugin_group.cache_clear()`.
"""

from __future__ import annotations

import functools
from importlib.metadata import EntryPoint, entry_points


@functools.cache
def plugin_group(name: str) -> tuple[EntryPoint, ...]:
    """The entry points of group `name` (read on the first call, then from memory)."""
    return tuple(entry_points(group=name))
