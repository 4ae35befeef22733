"""Settings a user may change: ``tcnb.config.memory_budget = 8 * 2**30``.

The memory budget is the largest dense array (bytes) tcnb will create; past it, evaluation refuses
with a MemoryBudgetError naming the size, before memory runs out. Default: a quarter of the memory
available when tcnb is imported (so a few such arrays still fit), or the TCNB_MEMORY_BUDGET
environment variable (bytes).
"""
from __future__ import annotations

import os


class _Config:
    """Settings: ``memory_budget`` (bytes; default a quarter of the available memory) and

    ``default_backend`` (default ``"numpy"``), read from TCNB_MEMORY_BUDGET and TCNB_BACKEND.
    """
    def __init__(self):
        self.memory_budget = int(float(os.environ.get("TCNB_MEMORY_BUDGET", _available_bytes() // 4)))
        self.default_backend = os.environ.get("TCNB_BACKEND", "numpy")

    def __repr__(self):
        return f"tcnb.config(memory_budget={self.memory_budget}, default_backend={self.default_backend!r})"


def _available_bytes() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 16 * 2**30


config = _Config()


def human_bytes(n: float) -> str:
    """A byte count for messages, in binary units (``1.5 MiB``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n} B"
