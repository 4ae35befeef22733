"""Corpus of element-wise definitions with linear (affine) index maps (issue 7, Urban & van der Smagt).

Every ``MapCase`` holds
- ``src``: a tcnb program; ``of``: the definition under test; ``wrt``: the arguments to differentiate by,
- ``sizes``: the dimension binding (passed to ``evaluate`` as keywords, so that compound dimensions
  such as ``R[m + n - 1]`` need no solving),
- ``ref``: the same function written with explicit Python loops over the entries in NumPy — the
  independent value reference (and what the finite differences are taken of),
- ``jax``: the same function written vectorised with jax.numpy index arrays — the derivative oracle,
- ``loss`` / ``loss_jax``: optionally a scalar definition of ``src`` built from the map and its JAX twin,
  whose Hessian w.r.t. ``hess_wrt`` is checked (the second-derivative subset).

The two references share nothing with tcnb nor with each other: the loops index entry by entry,
the JAX versions build integer index grids.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402


def loop(shape, f) -> np.ndarray:
    """The array of ``shape`` whose entry at I is ``f(*I)`` (Python loop: a reference, not fast)."""
    out = np.empty(tuple(shape))
    for idx in itertools.product(*(range(s) for s in shape)):
        out[idx] = f(*idx)
    return out


def grid(*sizes):
    """Broadcastable integer index grids: grid(3, 4) -> (i[:, None], j[None, :])."""
    return tuple(jnp.arange(s).reshape([s if q == p else 1 for q in range(len(sizes))])
                 for p, s in enumerate(sizes))


# ------------------------------------------------------------------ numerical helpers (self-contained)

# finite differences, seeds, shapes, random arrays and the tolerance check are shared with the
# calculus corpus
from helpers_calculus import (assert_close, central_diff, fd_of, random_array,  # noqa: E402,F401
                              resolve_shape, seed_for)


def sigmoid(t):
    return 1.0 / (1.0 + jnp.exp(-t))


@dataclass(frozen=True)
class MapCase:
    name: str
    src: str
    of: str
    wrt: tuple
    sizes: dict
    ref: Callable            # ref(sizes, **arrays) -> np.ndarray, Python loops
    jax: Callable            # jax(sizes, **arrays) -> jnp array, vectorised
    kinds: dict = field(default_factory=dict)   # argument -> helpers_calculus input kind
    loss: str | None = None                     # scalar definition in src for the Hessian check
    loss_jax: Callable | None = None            # loss_jax(sizes, **arrays) -> jnp scalar
    hess_wrt: tuple = ()
    tags: frozenset = frozenset()


CASES: list[MapCase] = []


def case(name, src, of, wrt, sizes, ref, jax_fn, **kw):
    assert name not in {c.name for c in CASES}, name
    kw["tags"] = frozenset(kw.get("tags", ()))
    c = MapCase(name=name, src=src.strip() + "\n", of=of, wrt=tuple(wrt), sizes=dict(sizes),
                ref=ref, jax=jax_fn, **kw)
    CASES.append(c)
    return c


def by_name(name: str) -> MapCase:
    return next(c for c in CASES if c.name == name)


# ================================================================== the three examples

def _exp_sum_jax(s, x):
    i, j = grid(s["m"], s["n"])
    return jnp.exp(x[i + j])


case("urban_exp_sum", """
x: R[m + n - 1]
Y[i:m, j:n] = exp(x[i + j])
L = sum(log(1 + Y))
""", "Y", ["x"], dict(m=3, n=4),
    lambda s, x: loop((s["m"], s["n"]), lambda i, j: np.exp(x[i + j])),
    _exp_sum_jax,
    kinds={"x": "small"},
    loss="L", loss_jax=lambda s, x: jnp.sum(jnp.log(1 + _exp_sum_jax(s, x))), hess_wrt=("x",),
    tags={"issue", "sum_of_indices"})

case("urban_diag_sq", """
X: R[n, n]
F[i] = X[i, i] ** 2
L = sum(sin(F))
""", "F", ["X"], dict(n=4),
    lambda s, X: loop((s["n"],), lambda i: X[i, i] ** 2),
    lambda s, X: jnp.diagonal(X) ** 2,
    loss="L", loss_jax=lambda s, X: jnp.sum(jnp.sin(jnp.diagonal(X) ** 2)), hess_wrt=("X",),
    tags={"issue", "diagonal"})


def _kjolstad_ref(s, a, b, c, d):
    def entry(i, j):
        u = sum((a[i, k] + b[j, k]) ** 2 * c[i, i] + d[i + k] ** 3 for k in range(s["p"]))
        return np.exp(-u)
    return loop((s["m"], s["n"]), entry)


def _kjolstad_jax(s, a, b, c, d):
    i, j, k = grid(s["m"], s["n"], s["p"])
    u = jnp.sum((a[i, k] + b[j, k]) ** 2 * jnp.diagonal(c)[i] + d[i + k] ** 3, axis=2)
    return jnp.exp(-u)


# f[i, j] = exp(-Σ_k ((a[i,k] + b[j,k])² c[i,i] + d[i+k]³)). Index notation sums term by term (the
# Einstein convention), and an index used once is summed only when the right side is one term, so
# each sum over k is a definition of its own; s lacks j, which the range j:n on the left broadcasts.
case("kjolstad", """
a: R[m, p]
b: R[n, p]
c: R[m, m]
d: R[m + p - 1]
t[i, j] = (a[i, k] + b[j, k]) ** 2 * c[i, i]
g[i:m, k:p] = d[i + k] ** 3
s[i] = g[i, k]
u[i:m, j:n] = t[i, j] + s[i]
f[i, j] = exp(-u[i, j])
L = sum(f)
""", "f", ["a", "b", "c", "d"], dict(m=3, n=2, p=3),
    _kjolstad_ref, _kjolstad_jax,
    kinds={"a": "small", "b": "small", "c": "unit", "d": "small"},
    loss="L", loss_jax=lambda s, **A: jnp.sum(_kjolstad_jax(s, **A)), hess_wrt=("d", "a"),
    tags={"issue", "sum_of_indices", "diagonal", "summed_index"})

# ================================================================== convolutions, strides, dilation


def _conv_jax(s, w, z):
    i, k = grid(s["m"], s["p"])
    return jnp.sum(w[k] * z[i + k], axis=1)


case("conv1d", """
w: R[p]
z: R[m + p - 1]
y[i:m] = w[k] * z[i + k]
L = sum(tanh(y) ** 2)
""", "y", ["w", "z"], dict(m=4, p=3),
    lambda s, w, z: loop((s["m"],), lambda i: sum(w[k] * z[i + k] for k in range(s["p"]))),
    _conv_jax,
    loss="L", loss_jax=lambda s, w, z: jnp.sum(jnp.tanh(_conv_jax(s, w, z)) ** 2), hess_wrt=("w", "z"),
    tags={"convolution", "summed_index"})

case("strided", """
s2: R[2*m]
st[i:m] = s2[2*i + 1] ** 3
""", "st", ["s2"], dict(m=3),
    lambda s, s2: loop((s["m"],), lambda i: s2[2 * i + 1] ** 3),
    lambda s, s2: s2[2 * jnp.arange(s["m"]) + 1] ** 3,
    tags={"strided"})

case("dilated", """
w: R[p]
x: R[m + 2*p - 2]
y[i:m] = w[k] * sin(x[i + 2*k])
""", "y", ["w", "x"], dict(m=3, p=3),
    lambda s, w, x: loop((s["m"],), lambda i: sum(w[k] * np.sin(x[i + 2 * k]) for k in range(s["p"]))),
    lambda s, w, x: jnp.sum(w[grid(s["m"], s["p"])[1]]
                            * jnp.sin(x[grid(s["m"], s["p"])[0] + 2 * grid(s["m"], s["p"])[1]]), axis=1),
    tags={"dilated", "convolution", "summed_index"})


def _conv2d_jax(s, K, img):
    i, j, a, b = grid(s["m"], s["n"], s["p"], s["q"])
    return jnp.sum(K[a, b] * img[i + a, j + b], axis=(2, 3))


case("conv2d", """
K: R[p, q]
img: R[m + p - 1, n + q - 1]
out[i:m, j:n] = K[a, b] * img[i + a, j + b]
L = sum(tanh(out))
""", "out", ["K", "img"], dict(m=3, n=2, p=2, q=3),
    lambda s, K, img: loop((s["m"], s["n"]), lambda i, j: sum(
        K[a, b] * img[i + a, j + b] for a in range(s["p"]) for b in range(s["q"]))),
    _conv2d_jax,
    kinds={"K": "small", "img": "small"},
    loss="L", loss_jax=lambda s, K, img: jnp.sum(jnp.tanh(_conv2d_jax(s, K, img))), hess_wrt=("K", "img"),
    tags={"convolution", "conv2d", "summed_index"})

# ================================================================== diagonals, anti-diagonals, reversal

case("diag_times_matrix", """
X: R[n, n]
D[i, j] = X[i, j] * X[i, i]
""", "D", ["X"], dict(n=3),
    lambda s, X: loop((s["n"], s["n"]), lambda i, j: X[i, j] * X[i, i]),
    lambda s, X: X * jnp.diagonal(X)[:, None],
    tags={"diagonal"})

case("antidiagonal", """
X: R[n, n]
a[i] = X[i, n - 1 - i] * X[i, i]
""", "a", ["X"], dict(n=4),
    lambda s, X: loop((s["n"],), lambda i: X[i, s["n"] - 1 - i] * X[i, i]),
    lambda s, X: X[jnp.arange(s["n"]), s["n"] - 1 - jnp.arange(s["n"])] * jnp.diagonal(X),
    tags={"antidiagonal", "dim_offset", "diagonal"})

case("reversal", """
r: R[n]
rev[i:n] = tanh(r[n - 1 - i]) * r[i]
""", "rev", ["r"], dict(n=5),
    lambda s, r: loop((s["n"],), lambda i: np.tanh(r[s["n"] - 1 - i]) * r[i]),
    lambda s, r: jnp.tanh(r[::-1]) * r,
    tags={"reversal", "dim_offset"})

case("anti_trace", """
X: R[n, n]
d[i] = X[i, n - 1 - i]
L = sum(d) ** 2 + sum(d ** 3)
""", "L", ["X"], dict(n=4),
    lambda s, X: (lambda d: np.array(sum(d) ** 2 + sum(t ** 3 for t in d)))(
        [X[i, s["n"] - 1 - i] for i in range(s["n"])]),
    lambda s, X: (lambda d: jnp.sum(d) ** 2 + jnp.sum(d ** 3))(
        X[jnp.arange(s["n"]), s["n"] - 1 - jnp.arange(s["n"])]),
    loss="L", loss_jax=lambda s, X: (lambda d: jnp.sum(d) ** 2 + jnp.sum(d ** 3))(
        X[jnp.arange(s["n"]), s["n"] - 1 - jnp.arange(s["n"])]), hess_wrt=("X",),
    tags={"antidiagonal", "trace", "scalar_loss"})

case("diagonal_sums", """
X: R[n, 2*n - 1]
h[j:n] = X[i, i + j]
""", "h", ["X"], dict(n=3),
    lambda s, X: loop((s["n"],), lambda j: sum(X[i, i + j] for i in range(s["n"]))),
    lambda s, X: jnp.sum(X[grid(s["n"], s["n"])[0], grid(s["n"], s["n"])[0] + grid(s["n"], s["n"])[1]],
                         axis=0),
    tags={"trace", "summed_index"})

case("diagonal_3d", """
A: R[m, n, m + n - 1]
B[i, j] = exp(A[i, j, i + j])
""", "B", ["A"], dict(m=2, n=3),
    lambda s, A: loop((s["m"], s["n"]), lambda i, j: np.exp(A[i, j, i + j])),
    lambda s, A: jnp.exp(A[grid(s["m"], s["n"])[0], grid(s["m"], s["n"])[1],
                           grid(s["m"], s["n"])[0] + grid(s["m"], s["n"])[1]]),
    kinds={"A": "small"}, tags={"diagonal", "sum_of_indices"})

# ================================================================== broadcasts and shifts

case("broadcast", """
x: R[m]
Y[i:m, j:n] = x[i] ** 2
""", "Y", ["x"], dict(m=3, n=4),
    lambda s, x: loop((s["m"], s["n"]), lambda i, j: x[i] ** 2),
    lambda s, x: jnp.broadcast_to((x ** 2)[:, None], (s["m"], s["n"])),
    tags={"broadcast"})

case("broadcast_strided", """
x: R[2*m - 1]
v: R[n]
Y[i:m, j:n] = exp(x[2*i]) * v[j]
""", "Y", ["x", "v"], dict(m=3, n=2),
    lambda s, x, v: loop((s["m"], s["n"]), lambda i, j: np.exp(x[2 * i]) * v[j]),
    lambda s, x, v: jnp.exp(x[2 * jnp.arange(s["m"])])[:, None] * v[None, :],
    kinds={"x": "small"}, tags={"broadcast", "strided"})

case("shift", """
x: R[n + 2]
v: R[n]
s[i:n] = x[i + 2] * v[i] + x[i + 1] ** 2
""", "s", ["x", "v"], dict(n=4),
    lambda s, x, v: loop((s["n"],), lambda i: x[i + 2] * v[i] + x[i + 1] ** 2),
    lambda s, x, v: x[2:] * v + x[1:-1] ** 2,
    tags={"shift"})

case("constant_index", """
x: R[n]
y[j:n] = x[0] * x[j] + sin(x[n - 1])
""", "y", ["x"], dict(n=4),
    lambda s, x: loop((s["n"],), lambda j: x[0] * x[j] + np.sin(x[s["n"] - 1])),
    lambda s, x: x[0] * x + jnp.sin(x[s["n"] - 1]),
    tags={"constant_index", "broadcast"})

case("transposed_offset", """
A: R[n + 1, m]
B[i:m, j:n] = A[j + 1, i] ** 2
""", "B", ["A"], dict(m=3, n=2),
    lambda s, A: loop((s["m"], s["n"]), lambda i, j: A[j + 1, i] ** 2),
    lambda s, A: (A[1:, :] ** 2).T,
    tags={"shift", "transpose"})

case("block_reshape", """
x: R[2*m]
Y[i:m, j:2] = x[2*i + j] ** 2
""", "Y", ["x"], dict(m=3),
    lambda s, x: loop((s["m"], 2), lambda i, j: x[2 * i + j] ** 2),
    lambda s, x: (x ** 2).reshape(s["m"], 2),
    tags={"strided", "injective"})

# ================================================================== Toeplitz, products of maps, chains


def _toeplitz_jax(s, t):
    i, j = grid(s["n"], s["n"])
    return t[i - j + s["n"] - 1]


case("toeplitz", """
t: R[2*n - 1]
T[i:n, j:n] = t[i - j + n - 1]
""", "T", ["t"], dict(n=3),
    lambda s, t: loop((s["n"], s["n"]), lambda i, j: t[i - j + s["n"] - 1]),
    _toeplitz_jax, tags={"toeplitz", "dim_offset"})


def _tmv_jax(s, t, v):
    return _toeplitz_jax(s, t) @ v


case("toeplitz_matvec", """
t: R[2*n - 1]
v: R[n]
Tv[i:n] = t[i - j + n - 1] * v[j]
L = sum(cos(Tv))
""", "Tv", ["t", "v"], dict(n=4),
    lambda s, t, v: loop((s["n"],), lambda i: sum(t[i - j + s["n"] - 1] * v[j] for j in range(s["n"]))),
    _tmv_jax,
    kinds={"t": "small", "v": "small"},
    loss="L", loss_jax=lambda s, t, v: jnp.sum(jnp.cos(_tmv_jax(s, t, v))), hess_wrt=("t", "v"),
    tags={"toeplitz", "summed_index", "dim_offset"})


def _two_maps_jax(s, x):
    i, j = grid(s["m"], s["n"])
    return x[i + j] * x[i - j + s["n"] - 1]


case("two_maps_product", """
x: R[m + n - 1]
P[i:m, j:n] = x[i + j] * x[i - j + n - 1]
L = sum(P) + sum(P * P)
""", "P", ["x"], dict(m=3, n=3),
    lambda s, x: loop((s["m"], s["n"]), lambda i, j: x[i + j] * x[i - j + s["n"] - 1]),
    _two_maps_jax,
    loss="L", loss_jax=lambda s, x: jnp.sum(_two_maps_jax(s, x)) + jnp.sum(_two_maps_jax(s, x) ** 2),
    hess_wrt=("x",), tags={"product_of_maps", "dim_offset"})

case("two_maps_two_args", """
x: R[2*m + n - 2]
y: R[m + 2*n - 2]
Q[i:m, j:n] = x[2*i + j] * y[i + 2*j]
""", "Q", ["x", "y"], dict(m=3, n=2),
    lambda s, x, y: loop((s["m"], s["n"]), lambda i, j: x[2 * i + j] * y[i + 2 * j]),
    lambda s, x, y: x[2 * grid(s["m"], s["n"])[0] + grid(s["m"], s["n"])[1]]
    * y[grid(s["m"], s["n"])[0] + 2 * grid(s["m"], s["n"])[1]],
    tags={"product_of_maps", "strided"})

case("mixed_sign", """
x: R[2*m + n - 2]
y[i:m, j:n] = cos(x[2*i - j + n - 1])
""", "y", ["x"], dict(m=3, n=3),
    lambda s, x: loop((s["m"], s["n"]), lambda i, j: np.cos(x[2 * i - j + s["n"] - 1])),
    lambda s, x: jnp.cos(x[2 * grid(s["m"], s["n"])[0] - grid(s["m"], s["n"])[1] + s["n"] - 1]),
    tags={"dim_offset", "non_injective"})


def _chain_jax(s, x, W):
    i, j = grid(s["m"], s["n"])
    Z = jnp.tanh(W * x[i + j] + jnp.sin(x[i - j + s["n"] - 1]))
    return sigmoid(Z) * Z


def _chain_ref(s, x, W):
    Z = loop((s["m"], s["n"]), lambda i, j: np.tanh(W[i, j] * x[i + j] + np.sin(x[i - j + s["n"] - 1])))
    return 1.0 / (1.0 + np.exp(-Z)) * Z


case("elementwise_chain", """
x: R[m + n - 1]
W: R[m, n]
Z[i, j] = tanh(W[i, j] * x[i + j] + sin(x[i - j + n - 1]))
G = sigmoid(Z) * Z
L = sum(log(1 + G * G))
""", "G", ["x", "W"], dict(m=3, n=2),
    _chain_ref, _chain_jax,
    loss="L", loss_jax=lambda s, x, W: jnp.sum(jnp.log(1 + _chain_jax(s, x, W) ** 2)), hess_wrt=("x", "W"),
    tags={"chain", "product_of_maps"})

case("map_of_definition", """
x: R[m + n - 1]
h = tanh(x)
g[i:m, j:n] = h[i + j] ** 2
""", "g", ["x"], dict(m=2, n=3),
    lambda s, x: loop((s["m"], s["n"]), lambda i, j: np.tanh(x[i + j]) ** 2),
    lambda s, x: jnp.tanh(x[grid(s["m"], s["n"])[0] + grid(s["m"], s["n"])[1]]) ** 2,
    tags={"chain", "sum_of_indices"})


def _conv_loss_jax(s, w, z, t):
    return jnp.sum((_conv_jax(s, w, z) - t) ** 2)


case("conv_loss", """
w: R[p]
z: R[m + p - 1]
t: R[m]
c[i:m] = w[k] * z[i + k]
L = sum((c - t) ** 2)
""", "L", ["w", "z", "t"], dict(m=4, p=2),
    lambda s, w, z, t: np.array(sum((sum(w[k] * z[i + k] for k in range(s["p"])) - t[i]) ** 2
                                    for i in range(s["m"]))),
    _conv_loss_jax,
    loss="L", loss_jax=_conv_loss_jax, hess_wrt=("w", "z"),
    tags={"scalar_loss", "convolution", "summed_index"})

# (case, argument) pairs for the Jacobian tests; (case, argument) pairs for the Hessian subset
JACOBIAN_CASES = [(c, w) for c in CASES for w in c.wrt]
HESSIAN_CASES = [(c, w) for c in CASES if c.loss for w in c.hess_wrt]
