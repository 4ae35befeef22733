"""Every name a generated function binds comes from one allocator that knows the user's names.

Why: generated code used to call its temporaries ``t1, t2, ...`` and its fixed parameters ``xp``,
``_rt``, ``dtype`` whatever the program called its tensors, so a tensor named ``t1`` was overwritten
by the first temporary (a wrong number) and one named ``xp`` was a duplicate parameter (a bare
SyntaxError). As SymPy's ``lambdify`` dummifies unsafe arguments, a user name keeps its spelling
unless the generated code needs that name itself (or Python reserves it); then the parameter gets
a fresh dummy (``v_xp``). Temporaries are fresh names no parameter, dummy or earlier temporary
has.
"""
from __future__ import annotations

import builtins
import keyword
import re

FIXED = ("xp", "_rt", "dtype")   # names the generated code itself uses, besides the function's

_RESERVED = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins))


class Names:
    """Parameters for the user's variables and fresh temporaries, never colliding."""

    def __init__(self, user_names, fixed=FIXED):
        self.fixed = tuple(fixed)
        self.taken = set(self.fixed)
        user_names = list(dict.fromkeys(user_names))
        self.taken |= {u for u in user_names if self._safe(u)}
        self.param = {u: u if self._safe(u) else self._dummy(u) for u in user_names}
        self.temps: set = set()       # every temporary handed out, for the last-use analysis
        self._next: dict = {}

    def _safe(self, name: str) -> bool:
        return name.isidentifier() and name not in _RESERVED and name not in self.fixed

    def _dummy(self, user: str) -> str:
        stem = "v_" + (re.sub(r"\W", "_", user) or "var")
        name, k = stem, 1
        while name in self.taken or name in _RESERVED:
            k += 1
            name = f"{stem}{k}"
        self.taken.add(name)
        return name

    def local(self, name: str) -> str:
        """A local variable for ``name`` (a dimension symbol): the name itself when free, else a
        dummy (``v_n`` when a parameter is called ``n``)."""
        if self._safe(name) and name not in self.taken:
            self.taken.add(name)
            return name
        return self._dummy(name)

    def fresh(self, stem: str = "t") -> str:
        """``stem1``, ``stem2``, ... skipping every name already taken."""
        k = self._next.get(stem, 0)
        while True:
            k += 1
            name = f"{stem}{k}"
            if name not in self.taken and name not in _RESERVED:
                break
        self._next[stem] = k
        self.taken.add(name)
        self.temps.add(name)
        return name

    def stream(self, stem: str):
        """An endless iterator of fresh names (for SymPy's common-subexpression symbols)."""
        while True:
            yield self.fresh(stem)
