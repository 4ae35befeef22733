"""The sizes a sweep runs at and the random arrays every tool gets at each of them.

Both are pure functions of their arguments (the arrays of a point are seeded by the seed, the name
and the sizes), so every tool at a point sees the same inputs and a rerun sees the same again.
"""
from __future__ import annotations

import math

import numpy as np

from ..dims import as_dim, resolve, resolve_shape

DEFAULT_SIZES = {"n": [10, 30, 100], "m": "2*n"}


def _draw(kind, shape, rng, dtype):
    shape = tuple(shape)
    if callable(kind):
        return np.asarray(kind(shape, rng), dtype=dtype)
    if isinstance(kind, np.ndarray):
        if kind.shape != shape:
            raise ValueError(f"a fixed input array has shape {kind.shape}, the point needs {shape}")
        return kind.astype(dtype)
    if kind in (None, "normal"):
        a = rng.standard_normal(shape)
    elif kind == "uniform" or kind == "unit":
        a = rng.uniform(0.0, 1.0, shape)
    elif kind == "positive":
        a = rng.uniform(0.5, 2.0, shape)
    elif kind == "pm1":
        a = rng.choice([-1.0, 1.0], size=shape)
    elif kind == "onehot":
        a = np.zeros(shape)
        if shape:
            idx = rng.integers(0, shape[-1], size=shape[:-1])
            np.put_along_axis(a, idx[..., None], 1.0, axis=-1)
    elif kind == "spd":
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"'spd' needs a square matrix, got shape {shape}")
        b = rng.standard_normal(shape)
        a = b @ b.T / shape[0] + np.eye(shape[0])
    elif kind == "scaled":  # weights of a layer: N(0, 1/fan_in), keeps deep nets' activations O(1)
        a = rng.standard_normal(shape) / math.sqrt(shape[-1] if shape else 1)
    else:
        raise ValueError(f"unknown input kind {kind!r} (normal, uniform, positive, pm1, onehot, spd, "
                         "scaled, a callable(shape, rng) or an array)")
    return np.asarray(a, dtype=dtype)


def _input_kind(inputs, name):
    if not inputs:
        return None
    if name in inputs:
        return inputs[name]
    import fnmatch
    for pat, kind in inputs.items():  # glob patterns: {"W*": "scaled"}
        if any(c in pat for c in "*?[") and fnmatch.fnmatchcase(name, pat):
            return kind
    return None


def make_inputs(variables: dict, sizes: dict, seed=0, inputs=None, dtype=np.float64) -> dict:
    """Random arrays for ``variables`` (name -> Expr) at ``sizes``; the same for every tool at a point.
    Each variable gets its own stream, seeded by (seed, name, sizes)."""
    import zlib
    out = {}
    for name in sorted(variables):
        shape = resolve_shape(variables[name].shape, sizes)
        key = zlib.crc32(f"{name}|{sorted(sizes.items())}".encode())
        rng = np.random.default_rng([int(seed), key])
        out[name] = _draw(_input_kind(inputs, name), shape, rng, dtype)
    return out


# =============================================================================== sizes

def expand_sizes(sizes, needed=None) -> tuple[list[dict], str | None]:
    """(points, x_name): the size bindings to run, smallest first, and the swept symbol.

    ``sizes``: {symbol: list of ints (swept; several lists are zipped), an int (fixed), or a string
    expression of other symbols such as "2*n"}; or a list of complete {symbol: int} dicts.
    """
    if isinstance(sizes, (list, tuple)):
        points = [dict(p) for p in sizes]
        if not points:
            raise ValueError("sizes is an empty list")
        varying = [k for k in points[0] if len({p.get(k) for p in points}) > 1]
        return points, (varying[0] if varying else next(iter(points[0]), None))
    sizes = dict(sizes)
    swept = {k: list(v) for k, v in sizes.items() if isinstance(v, (list, tuple, range))}
    lengths = {len(v) for v in swept.values()}
    if len(lengths) > 1:
        raise ValueError(f"swept sizes must have equal lengths (they are zipped): "
                         f"{ {k: len(v) for k, v in swept.items()} }")
    count = lengths.pop() if lengths else 1
    points = []
    for k in range(count):
        p = {name: int(v[k]) for name, v in swept.items()}
        p.update({name: int(v) for name, v in sizes.items() if isinstance(v, (int, np.integer))})
        pending = {name: v for name, v in sizes.items() if isinstance(v, str)}
        for _ in range(len(pending) + 1):
            for name, text in list(pending.items()):
                d = as_dim(text)
                if all(s.name in p for s in d.free_symbols):
                    p[name] = int(resolve(d, p))
                    del pending[name]
        if pending:
            raise ValueError(f"cannot resolve sizes {pending}: they refer to unknown symbols")
        points.append(p)
    for name, v in sizes.items():
        if not isinstance(v, (list, tuple, range, str, int, np.integer)):
            raise ValueError(f"size of {name!r}: expected a list of ints, an int or an expression string, "
                             f"got {v!r}")
    if needed is not None:
        missing = sorted(set(needed) - set(points[0]))
        if missing:
            raise ValueError(f"no size for {', '.join(missing)}: add e.g. sizes={{..., {missing[0]!r}: 10}}")
    x_name = next(iter(swept), None) or next(iter(sizes), None)
    points.sort(key=lambda p: p.get(x_name, 0) if x_name else 0)
    return points, x_name


def _parse_bytes(v) -> int:
    if isinstance(v, (int, float)):
        return int(v)
    import re
    m = re.fullmatch(r"\s*([\d.]+)\s*([kmgt]?)(i?b)?\s*", str(v).lower())
    if not m:
        raise ValueError(f"not a size in bytes: {v!r} (e.g. 2e9, '2GB', '512MiB')")
    mult = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}[m.group(2)]
    if m.group(3) == "ib":
        mult = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[m.group(2)]
    return int(float(m.group(1)) * mult)
