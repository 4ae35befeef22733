"""A dict that holds at most ``maxsize`` entries, so long sessions do not pin every graph and every
piece of generated code ever built.

Lookups are plain ``dict.get`` (the evaluation fast path pays nothing); ``put`` evicts the oldest
entry when full and ``get_fresh`` moves a hit to the young end, for least-recently-used order
where hits are rare enough to afford it.
"""
from __future__ import annotations


class Bounded(dict):
    """A dict of at most ``maxsize`` entries, oldest evicted first (see the module docstring)."""
    __slots__ = ("maxsize",)

    def __init__(self, maxsize: int):
        super().__init__()
        self.maxsize = maxsize

    def put(self, key, value):
        """Store ``value`` under ``key``, evicting the oldest entry when full; returns ``value``."""
        if key not in self and len(self) >= self.maxsize:
            del self[next(iter(self))]
        self[key] = value
        return value

    def get_fresh(self, key):
        """Like ``get`` (None on a miss), but a hit becomes the youngest entry: least-recently-used order."""
        value = self.pop(key, None)
        if value is not None:
            self[key] = value
        return value
