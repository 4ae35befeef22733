#!/usr/bin/env python
"""The paper's three experiments on CPU (Laue et al., AAAI 2020; tcnb issue 3).

(a) logreg: Hessian of logistic regression f(w) = sum(log(1 + exp(-y * (X @ w)))), X: 2n x n.
    Also: Hessian-vector products (tcnb.hvp vs jax.jit(jvp of grad)).
(b) matfac: matrix factorisation f(U) = ||T - U V^T||_F^2, V: n x k (k = 5); Hessian w.r.t. U,
    compressed (structured cores) and dense.
(c) relu:   a 10-layer ReLU net with softmax cross-entropy (batch 8, width n); Hessian w.r.t. the
    first layer's weight matrix W1 (n x n), compressed and dense.
Plus the derivation time (how long tcnb.hessian(...) takes to build the expression).

Each table row is one method, each column one size n; a cell is the median time of one call and its
ratio to the hand-written closed form in NumPy (the compressed closed form for compressed rows, the
dense one for dense rows). Every method is first checked against the closed form and JAX at a small
size, and at every size its H @ v is compared with the closed form's before it is timed; a mismatch is
printed as an ERROR and not timed. A point that would exceed the memory limit, or (extrapolated from
the previous size) take longer than --max-call seconds, is skipped with the reason in the footnotes.

    python benchmarks/paper.py [--quick] [--only logreg|matfac|relu] [--csv PATH]
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
import traceback
import warnings

import _common as C  # noqa: E402  (puts the repository root on sys.path)
import numpy as np

import tcnb

MODES = ["forward", "reverse", "cross-country"]
SHORT = {"forward": "fwd", "reverse": "rev", "cross-country": "cc"}
L_LAYERS = 10
BATCH = 8
RANK = 5

# ------------------------------------------------------------------------------ optional frameworks

try:
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)
    JAX_ERR = None
except Exception as exc:  # noqa: BLE001
    jax = jnp = None
    JAX_ERR = f"jax not importable ({type(exc).__name__}: {exc})"

try:
    import autograd
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp as a_logsumexp
    AG_ERR = None
except Exception as exc:  # noqa: BLE001
    autograd = anp = None
    AG_ERR = f"autograd not importable ({type(exc).__name__}: {exc})"

try:
    import torch
    import torch.func
    TORCH_ERR = None
except Exception as exc:  # noqa: BLE001
    torch = None
    TORCH_ERR = f"torch not importable ({type(exc).__name__}: {exc})"

try:
    from scipy.linalg.blas import dsyrk
except Exception:  # noqa: BLE001
    dsyrk = None


def _version(dist):
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:  # noqa: BLE001
        return "?"


class Skip(Exception):
    """A point not run, with the reason."""


# ------------------------------------------------------------------------------------ the methods

class Method:
    """One timed function family.

    build(ctx) -> zero-argument callable returning the result at ctx's size (may raise Skip).
    group: "compressed" | "dense" | "hvp" — which closed form the ratio is taken to.
    power: the default exponent for extrapolating one call's time to the next size.
    mem(n) -> estimated peak bytes (None: unknown); dense(out, ctx) and probe(out, ctx) convert the
    result to a dense array / to H @ v (defaults handle ndarrays, framework tensors, Structured).
    """

    def __init__(self, name, group, build, power, mem=None, dense=None, probe=None, kind="tcnb",
                 unavailable=None):
        self.name, self.group, self.build, self.power = name, group, build, power
        self.mem, self._dense, self._probe, self.kind = mem, dense, probe, kind
        self.unavailable = unavailable
        self.bad = None  # set to a message when the small-size check fails

    def dense(self, out, ctx):
        if self._dense is not None:
            return self._dense(out, ctx)
        if isinstance(out, tcnb.Structured):
            return np.asarray(out.dense())
        return as_numpy(out)

    def probe(self, out, ctx):
        if self._probe is not None:
            return self._probe(out, ctx)
        if isinstance(out, tcnb.Structured):
            return np.asarray(out @ ctx.v)
        if self.group == "hvp":
            return as_numpy(out)
        H = as_numpy(out)
        return np.tensordot(H, ctx.v, axes=ctx.v.ndim)


def as_numpy(out):
    if torch is not None and isinstance(out, torch.Tensor):
        return out.detach().cpu().numpy()
    return np.asarray(out)


class Ctx:
    """Arrays at one size: ctx.arrays (tcnb names), ctx.n, ctx.v (a direction shaped like w)."""

    def __init__(self, n, arrays, v):
        self.n, self.arrays, self.v = n, arrays, v


def tcnb_methods(H_of, group_sets, power, tcnb_mem=None):
    """tcnb rows: for each mode, the variants in group_sets: 'dense' (compile, compress=True),
    'uncompressed' (compile, compress=False), 'structured' (H.structured, compress=True)."""
    out = []
    for mode in MODES:
        for variant in group_sets:
            compress = variant != "uncompressed"
            label = {"dense": f"tcnb {SHORT[mode]} compressed -> dense",
                     "uncompressed": f"tcnb {SHORT[mode]} uncompressed (dense)",
                     "structured": f"tcnb {SHORT[mode]} compressed (structured)",
                     "plain": f"tcnb {SHORT[mode]}" + ("" if compress else " uncompressed")}[variant]
            group = "compressed" if variant == "structured" else "dense"

            def build(ctx, mode=mode, compress=compress, variant=variant):
                H = H_of(mode, compress)
                if variant == "structured":
                    return lambda: H.structured(**ctx.arrays)
                fn = H.compile()
                return lambda: fn(**ctx.arrays)
            out.append(Method(label, group, build, power, mem=tcnb_mem, kind="tcnb"))
            if variant == "plain" and compress:
                out.append(Method(f"tcnb {SHORT[mode]} uncompressed", "dense",
                                  lambda ctx, mode=mode: _compiled_call(H_of(mode, False), ctx), power,
                                  mem=tcnb_mem, kind="tcnb"))
    return out


def _compiled_call(H, ctx):
    fn = H.compile()
    return lambda: fn(**ctx.arrays)


def jax_hessian_method(f, argnames, power, group="dense", name="jax.jit(jax.hessian)"):
    """f(w, *rest) in jax.numpy; argnames: the tcnb array names, w first."""
    if jax is None:
        return Method(name, group, None, power, kind="jax", unavailable=JAX_ERR)
    hess = jax.jit(jax.hessian(f))

    def build(ctx):
        args = [jnp.asarray(ctx.arrays[a]) for a in argnames]
        compiled = hess.lower(*args).compile()
        try:
            ma = compiled.memory_analysis()
            need = ma.temp_size_in_bytes + ma.output_size_in_bytes + ma.argument_size_in_bytes
        except Exception:  # noqa: BLE001 - older jax: no analysis, rely on the estimate
            need = None
        if need is not None and need > LIMITS["mem"]:
            raise Skip(f"XLA needs {C.fmt_bytes(need)} > limit {C.fmt_bytes(LIMITS['mem'])}")
        return lambda: compiled(*args).block_until_ready()
    return Method(name, group, build, power, kind="jax")


def jax_hvp_method(f, argnames, power):
    if jax is None:
        return Method("jax.jit(jvp of grad)", "hvp", None, power, kind="jax", unavailable=JAX_ERR)

    def hvp(w, v, *rest):
        return jax.jvp(lambda u: jax.grad(f)(u, *rest), (w,), (v,))[1]
    hv = jax.jit(hvp)

    def build(ctx):
        args = [jnp.asarray(ctx.arrays[argnames[0]]), jnp.asarray(ctx.v)] + \
               [jnp.asarray(ctx.arrays[a]) for a in argnames[1:]]
        compiled = hv.lower(*args).compile()
        return lambda: compiled(*args).block_until_ready()
    return Method("jax.jit(jvp of grad)", "hvp", build, power, kind="jax")


def autograd_method(f_of_ctx, power, mem):
    """f_of_ctx(ctx) -> (scalar function of w, w0)."""
    if autograd is None:
        return Method("autograd.hessian", "dense", None, power, kind="autograd", unavailable=AG_ERR)

    def build(ctx):
        f, w0 = f_of_ctx(ctx)
        h = autograd.hessian(f)
        return lambda: h(w0)
    return Method("autograd.hessian", "dense", build, power, mem=mem, kind="autograd")


def torch_method(f_of_ctx, power, mem):
    if torch is None:
        return Method("torch.func.hessian", "dense", None, power, kind="torch", unavailable=TORCH_ERR)

    def build(ctx):
        f, w0 = f_of_ctx(ctx)
        h = torch.func.hessian(f)
        return lambda: h(w0)
    return Method("torch.func.hessian", "dense", build, power, mem=mem, kind="torch")


def tt(a):
    return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64)


# --------------------------------------------------------------------------- (a) logistic regression

LOGREG = """
X: R[m, n]
y: R[m]
w: R[n]
v: R[n]
f = sum(log(1 + exp(-y * (X @ w))))
"""


def logreg_data(n, seed=0):
    rng = np.random.default_rng(seed)
    m = 2 * n
    X = rng.standard_normal((m, n))
    y = rng.choice([-1.0, 1.0], size=m)
    w = rng.standard_normal(n) / np.sqrt(n)
    v = rng.standard_normal(n)
    return Ctx(n, dict(X=X, y=y, w=w), v)


def _d(X, y, w):
    s = 1.0 / (1.0 + np.exp(-y * (X @ w)))
    return s * (1.0 - s) * (y * y)


def logreg_closed(X, y, w):
    d = _d(X, y, w)
    return X.T @ (X * d[:, None])


def logreg_syrk(X, y, w):
    d = _d(X, y, w)
    return dsyrk(1.0, X * np.sqrt(d)[:, None], trans=1)  # upper triangle only


def logreg_experiment(prog):
    f, w = prog["f"], prog["w"]
    cache = {}

    def H_of(mode, compress):
        key = (mode, compress)
        if key not in cache:
            cache[key] = tcnb.hessian(f, w, mode=mode, compress=compress)
        return cache[key]

    def jf(w, X, y):
        return jnp.sum(jnp.log(1 + jnp.exp(-y * (X @ w))))

    def ag(ctx):
        X, y = ctx.arrays["X"], ctx.arrays["y"]
        return (lambda w: anp.sum(anp.log(1 + anp.exp(-y * anp.dot(X, w))))), ctx.arrays["w"]

    def th(ctx):
        X, y = tt(ctx.arrays["X"]), tt(ctx.arrays["y"])
        return (lambda w: torch.sum(torch.log(1 + torch.exp(-y * (X @ w))))), tt(ctx.arrays["w"])

    methods = [Method("closed form X.T @ (X * d[:, None])", "dense",
                      lambda ctx: (lambda: logreg_closed(**ctx.arrays)), 3, kind="closed")]
    if dsyrk is not None:
        def syrk_dense(out, ctx):
            return np.triu(out) + np.triu(out, 1).T

        def syrk_probe(out, ctx):
            return syrk_dense(out, ctx) @ ctx.v
        methods.append(Method("closed form, BLAS syrk (upper triangle)", "dense",
                              lambda ctx: (lambda: logreg_syrk(**ctx.arrays)), 3, kind="closed-extra",
                              dense=syrk_dense, probe=syrk_probe))
    methods += tcnb_methods(H_of, ["plain"], 3)
    # entry-by-entry baselines: n reverse passes (autograd) / vmapped over n tangents (jax, torch)
    methods.append(autograd_method(ag, 3, mem=lambda n: 8 * (4 * n * n + 10 * 2 * n)))
    methods.append(jax_hessian_method(jf, ["w", "X", "y"], 3))
    methods.append(torch_method(th, 3, mem=lambda n: 8 * (6 * n * 2 * n + 2 * n * n)))
    return methods


def logreg_hvp_methods(prog):
    f, w, v = prog["f"], prog["w"], prog["v"]
    cache = {}

    def hv_of(mode):
        if mode not in cache:
            cache[mode] = tcnb.hvp(f, w, v, mode=mode)
        return cache[mode]

    def closed(ctx):
        X, y, w_ = ctx.arrays["X"], ctx.arrays["y"], ctx.arrays["w"]
        vv = ctx.v
        return lambda: X.T @ (_d(X, y, w_) * (X @ vv))

    def jf(w, X, y):
        return jnp.sum(jnp.log(1 + jnp.exp(-y * (X @ w))))

    methods = [Method("closed form X.T @ (d * (X @ v))", "hvp", closed, 2, kind="closed")]
    for mode in MODES:
        def build(ctx, mode=mode):
            fn = hv_of(mode).compile()
            arrays = dict(ctx.arrays, v=ctx.v)
            return lambda: fn(**arrays)
        methods.append(Method(f"tcnb.hvp {SHORT[mode]}", "hvp", build, 2, kind="tcnb"))
    methods.append(jax_hvp_method(jf, ["w", "X", "y"], 2))
    return methods


# ---------------------------------------------------------------------------- (b) matrix factorisation

MATFAC = f"""
T: R[n, n]
U: R[n, k]
V: R[n, k]
f = sum((T - U @ V.T) ** 2)
"""


def matfac_data(n, seed=0):
    rng = np.random.default_rng(seed)
    T = rng.standard_normal((n, n))
    U = rng.standard_normal((n, RANK))
    V = rng.standard_normal((n, RANK))
    v = rng.standard_normal((n, RANK))
    return Ctx(n, dict(T=T, U=U, V=V), v)


def matfac_experiment(prog):
    f, U = prog["f"], prog["U"]
    cache = {}

    def H_of(mode, compress):
        key = (mode, compress)
        if key not in cache:
            cache[key] = tcnb.hessian(f, U, mode=mode, compress=compress)
        return cache[key]

    def closed_c(ctx):
        V = ctx.arrays["V"]
        return lambda: 2.0 * (V.T @ V)

    def closed_c_dense(out, ctx):
        return np.einsum("ab,ij->iajb", out, np.eye(ctx.n))

    def closed_c_probe(out, ctx):
        return ctx.v @ out  # (2 V^T V) symmetric: H[i,a,j,b] v[j,b] = (v @ 2VᵀV)[i,a]

    def closed_d(ctx):
        V = ctx.arrays["V"]
        eye = np.eye(ctx.n)
        return lambda: np.einsum("ab,ij->iajb", 2.0 * (V.T @ V), eye)

    def closed_d2(ctx):
        V, n = ctx.arrays["V"], ctx.n
        idx = np.arange(n)

        def call():
            H = np.zeros((n, RANK, n, RANK))
            H[idx, :, idx, :] = 2.0 * (V.T @ V)
            return H
        return call

    def jf(U, T, V):
        return jnp.sum((T - U @ V.T) ** 2)

    def ag(ctx):
        T, V = ctx.arrays["T"], ctx.arrays["V"]
        return (lambda U: anp.sum((T - anp.dot(U, V.T)) ** 2)), ctx.arrays["U"]

    def th(ctx):
        T, V = tt(ctx.arrays["T"]), tt(ctx.arrays["V"])
        return (lambda U: torch.sum((T - U @ V.T) ** 2)), tt(ctx.arrays["U"])

    dense_bytes = lambda n: 8 * (n * RANK) ** 2  # noqa: E731
    methods = [
        Method("closed form 2 VᵀV (compressed)", "compressed", closed_c, 1, kind="closed",
               dense=closed_c_dense, probe=closed_c_probe),
        Method("closed form einsum 2 (VᵀV) ⊗ I (dense)", "dense", closed_d, 2, kind="closed",
               mem=lambda n: 2 * dense_bytes(n)),
        Method("closed form zeros + diagonal blocks (dense)", "dense", closed_d2, 2, kind="closed-extra",
               mem=lambda n: 2 * dense_bytes(n)),
    ]
    methods += tcnb_methods(H_of, ["structured", "dense", "uncompressed"], 2)
    for m in methods:
        if m.kind == "tcnb" and m.group == "dense":
            m.mem = lambda n: 2 * dense_bytes(n)
    # autograd: n*k reverse passes, each O(n^2 k); jax / torch vmap n*k tangents of the n x n residual
    vm = lambda n: 8 * 3 * (n * RANK) * n * n  # noqa: E731
    methods.append(autograd_method(ag, 3, mem=lambda n: 4 * dense_bytes(n) + 8 * 4 * n * n))
    methods.append(jax_hessian_method(jf, ["U", "T", "V"], 3))  # memory: XLA's own analysis
    methods.append(torch_method(th, 3, mem=vm))
    return methods


# --------------------------------------------------------------------------------------- (c) ReLU net

def relu_program(L=L_LAYERS):
    lines = ["X: R[b, n]", "Y: R[b, n]"] + [f"W{i}: R[n, n]" for i in range(1, L + 1)]
    lines.append("h1 = relu(X @ W1)")
    for i in range(2, L):
        lines.append(f"h{i} = relu(h{i - 1} @ W{i})")
    lines.append(f"z = h{L - 1} @ W{L}")
    lines.append("f = sum(logsumexp(z, 1)) - sum(Y * z)")
    return "\n".join(lines)


def relu_data(n, seed=0, L=L_LAYERS):
    rng = np.random.default_rng(seed)
    arrays = {"X": rng.standard_normal((BATCH, n)),
              "Y": np.eye(n)[rng.integers(0, n, size=BATCH)]}
    for i in range(1, L + 1):
        arrays[f"W{i}"] = rng.standard_normal((n, n)) * np.sqrt(2.0 / n)
    return Ctx(n, arrays, rng.standard_normal((n, n)))


def relu_closed_cores(arrays, L=L_LAYERS):
    """(X, M) with H[i,j,k,l] = sum_b X[b,i] X[b,k] M[b,j,l] (relu'' = 0, so H = Jᵀ S J per sample).

    J_b = D1 W2 D2 W3 ... D9 W10 (d z_b / d a1_b, rows = a1), S_b = diag(p_b) - p_b p_bᵀ,
    M_b = J_b S_b J_bᵀ.
    """
    X = arrays["X"]
    Ws = [arrays[f"W{i}"] for i in range(1, L + 1)]
    h, masks = X, []
    for W in Ws[:-1]:
        a = h @ W
        masks.append((a > 0).astype(X.dtype))
        h = a * masks[-1]
    z = h @ Ws[-1]
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    A = masks[-1][:, :, None] * Ws[-1]                  # D9 W10, (b, n, n)
    for li in range(L - 2, 0, -1):                      # W9 ... W2, then D8 ... D1
        A = masks[li - 1][:, :, None] * (Ws[li] @ A)
    Ap = A * p[:, None, :]
    q = np.einsum("bjl,bl->bj", A, p)
    M = Ap @ A.transpose(0, 2, 1) - q[:, :, None] * q[:, None, :]
    return X, M


def relu_closed_dense(cores):
    """H[i,(j,k,l)] = sum_b X[b,i] Q[b,(j,k,l)], Q[b,j,k,l] = M[b,j,l] X[b,k]: one GEMM (inner dim b)
    writing H contiguously in its final (i, j, k, l) order."""
    X, M = cores
    b, n = X.shape
    Q = M[:, :, None, :] * X[:, None, :, None]
    return (X.T @ Q.reshape(b, -1)).reshape(n, n, n, n)


def relu_closed_probe(cores, ctx):
    X, M = cores
    u = X @ ctx.v                                     # (b, l)
    r = np.einsum("bjl,bl->bj", M, u)
    return X.T @ r


def relu_jax_net(W1, X, Y, *Ws):
    """The ReLU net's loss in jax.numpy (the baseline's function; Ws = W2 … WL)."""
    h = jax.nn.relu(X @ W1)
    for W in Ws[:-1]:
        h = jax.nn.relu(h @ W)
    z = h @ Ws[-1]
    return jnp.sum(jax.scipy.special.logsumexp(z, axis=1)) - jnp.sum(Y * z)


def relu_experiment(prog):
    f, W1 = prog["f"], prog["W1"]
    cache = {}

    def H_of(mode, compress):
        key = (mode, compress)
        if key not in cache:
            cache[key] = tcnb.hessian(f, W1, mode=mode, compress=compress)
        return cache[key]

    def ag(ctx):
        a = ctx.arrays
        Ws = [a[f"W{i}"] for i in range(2, L_LAYERS + 1)]

        def fn(W1):
            h = anp.maximum(anp.dot(a["X"], W1), 0.0)
            for W in Ws[:-1]:
                h = anp.maximum(anp.dot(h, W), 0.0)
            z = anp.dot(h, Ws[-1])
            return anp.sum(a_logsumexp(z, axis=1)) - anp.sum(a["Y"] * z)
        return fn, a["W1"]

    def th(ctx):
        a = {k: tt(x) for k, x in ctx.arrays.items()}
        Ws = [a[f"W{i}"] for i in range(2, L_LAYERS + 1)]

        def fn(W1):
            h = torch.relu(a["X"] @ W1)
            for W in Ws[:-1]:
                h = torch.relu(h @ W)
            z = h @ Ws[-1]
            return torch.sum(torch.logsumexp(z, dim=1)) - torch.sum(a["Y"] * z)
        return fn, a["W1"]

    dense_bytes = lambda n: 8 * n ** 4  # noqa: E731
    methods = [
        Method("closed form Jᵀ S J cores (compressed)", "compressed",
               lambda ctx: (lambda: relu_closed_cores(ctx.arrays)), 3, kind="closed",
               dense=lambda out, ctx: relu_closed_dense(out), probe=relu_closed_probe),
        Method("closed form Xᵀ (M ⊗ X) GEMM (dense)", "dense",
               lambda ctx: (lambda: relu_closed_dense(relu_closed_cores(ctx.arrays))), 4, kind="closed",
               mem=lambda n: 2 * dense_bytes(n)),
    ]
    methods += tcnb_methods(H_of, ["structured", "dense", "uncompressed"], 4)
    for m in methods:
        if m.kind == "tcnb":
            m.mem = lambda n: 2 * dense_bytes(n)   # the result is n^4 here, compressed or not
    # autograd: n^2 reverse passes; jax / torch: n^2 tangents through L layers of b x n activations
    vm = lambda n: 8 * (n * n) * (2 * L_LAYERS * BATCH * n) + 2 * dense_bytes(n)  # noqa: E731
    methods.append(autograd_method(ag, 4, mem=lambda n: 3 * dense_bytes(n)))
    methods.append(jax_hessian_method(relu_jax_net, ["W1", "X", "Y"] + [f"W{i}" for i in range(2, L_LAYERS + 1)], 4))
    methods.append(torch_method(th, 4, mem=vm))
    return methods


# ------------------------------------------------------------------------------------------ the runner

LIMITS = {"mem": 2 * C.GiB, "dense": 1 * C.GiB, "call": 5.0, "target": 0.3}


def close(a, b, rtol=1e-7):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        return False, f"shape {a.shape} != {b.shape}"
    scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
    err = float(np.max(np.abs(a - b))) if a.size else 0.0
    return bool(np.allclose(a, b, rtol=rtol, atol=1e-9 * scale)), f"max abs err {err:.3g} (scale {scale:.3g})"


def verify(exp_name, methods, ctx, errors):
    """Dense results of every method at a small size vs the first closed form, and that vs JAX."""
    ref_m = methods[0]
    ref = ref_m.dense(ref_m.build(ctx)(), ctx)
    jax_m = next((m for m in methods if m.kind == "jax" and m.unavailable is None), None)
    if jax_m is not None and jax_m.group != "hvp":
        ok, msg = close(jax_m.dense(jax_m.build(ctx)(), ctx), ref)
        if not ok:
            print(f"ERROR: {exp_name}: the closed form disagrees with JAX at n={ctx.n}: {msg}")
            errors.append(f"{exp_name}: closed form vs JAX ({msg})")
    for m in methods[1:]:
        if m.unavailable:
            continue
        try:
            out = m.build(ctx)()
            got = m.dense(out, ctx) if m.group != "hvp" else m.probe(out, ctx)
            want = ref if m.group != "hvp" else ref_m.probe(ref_m.build(ctx)(), ctx)
            ok, msg = close(got, want)
            if not ok:
                m.bad = f"mismatch at n={ctx.n}: {msg}"
        except Skip as exc:
            continue
        except Exception as exc:  # noqa: BLE001
            m.bad = f"{type(exc).__name__} at n={ctx.n}: {str(exc).splitlines()[0][:200]}"
        if m.bad:
            print(f"ERROR: {exp_name}: {m.name}: {m.bad} — not timed")
            errors.append(f"{exp_name}: {m.name}: {m.bad}")


def run_experiment(exp_name, title, methods, sizes, make_ctx, res, errors, check_n):
    print(f"\n[{exp_name}] checking every method against the closed form (and JAX) at n={check_n} ...",
          flush=True)
    verify(exp_name, methods, make_ctx(check_n), errors)
    extrap = C.Extrapolator()
    cells = {m.name: {} for m in methods}
    notes: list[str] = []
    refs = {}
    for n in sizes:
        ctx = make_ctx(n)
        probe_ref = None
        for m in methods:
            status, payload = _run_point(exp_name, m, n, ctx, extrap, probe_ref, res, errors)
            if status == "ok":
                median, probe = payload
                if m.kind == "closed" and m.group not in refs.get(n, {}):
                    refs.setdefault(n, {})[m.group] = median
                if probe_ref is None and m.kind == "closed":
                    probe_ref = probe
                ref_t = refs.get(n, {}).get(m.group)
                ratio = median / ref_t if ref_t else None
                res.rows[-1].update(ratio="" if ratio is None else ratio,
                                    ratio_to=f"closed form ({m.group})" if ratio is not None else "")
                cells[m.name][n] = C.fmt_time(median) + (f" ({C.fmt_ratio(ratio)})" if ratio is not None else "")
            else:
                notes.append(f"{m.name}, n={n}: {payload}")
                cells[m.name][n] = {"skip": f"skip[{len(notes)}]", "refused": f"refused[{len(notes)}]",
                                    "error": f"ERROR[{len(notes)}]"}[status]
            print(f"  n={n:<5d} {m.name:44s} {cells[m.name][n]}", flush=True)
    rows = [[m.name] + [cells[m.name].get(n, "-") for n in sizes] for m in methods]
    C.print_table(["method"] + [f"n={n}" for n in sizes], rows, title=title)
    for i, note in enumerate(notes, 1):
        print(f"  [{i}] {note}")
    sys.stdout.flush()


def _run_point(exp_name, m, n, ctx, extrap, probe_ref, res, errors):
    """('ok', (median, probe)) or ('skip'|'refused'|'error', reason); records a CSV row."""
    base = dict(experiment=exp_name, n=n, method=m.name)
    if m.unavailable:
        res.add(**base, status="skipped", note=m.unavailable)
        return "skip", f"skipped ({m.unavailable})"
    if m.bad:
        res.add(**base, status="error", note=m.bad)
        return "error", f"ERROR, not timed ({m.bad})"
    if m.mem is not None:
        need = m.mem(n)
        dense_need = need if m.group == "dense" and m.kind in ("tcnb", "closed") else 0
        if dense_need > 2 * LIMITS["dense"]:
            res.add(**base, status="skipped", note=f"dense result ~{C.fmt_bytes(need / 2)}")
            return "skip", (f"skipped (dense result ~{C.fmt_bytes(need / 2)} > "
                            f"dense limit {C.fmt_bytes(LIMITS['dense'])})")
        if need > LIMITS["mem"]:
            res.add(**base, status="skipped", note=f"estimated memory {C.fmt_bytes(need)}")
            return "skip", (f"skipped (estimated memory {C.fmt_bytes(need)} > limit "
                            f"{C.fmt_bytes(LIMITS['mem'])})")
    pred = extrap.predict(m.name, n, m.power)
    if pred is not None and pred > LIMITS["call"]:
        res.add(**base, status="skipped", note=f"predicted {pred:.3g} s per call")
        return "skip", (f"skipped (predicted {C.fmt_time(pred)} per call from n={extrap.last[m.name][0]} "
                        f"> {LIMITS['call']:g} s)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call = m.build(ctx)
            out, first = C.timed_once(call)        # warm-up: compiles / plans for this shape
            probe = m.probe(out, ctx)
            del out
            if probe_ref is not None:
                ok, msg = close(probe, probe_ref)
                if not ok:
                    msg = f"H @ v differs from the closed form's: {msg}"
                    print(f"ERROR: {exp_name}: {m.name} at n={n}: {msg} — not timed")
                    errors.append(f"{exp_name}: {m.name} n={n}: {msg}")
                    res.add(**base, status="error", note=msg)
                    return "error", f"ERROR, not timed ({msg})"
            if first > 3 * LIMITS["call"]:
                raise Skip(f"one call took {C.fmt_time(first)}; not repeated")
            t = C.measure(call, LIMITS["target"])
    except Skip as exc:
        res.add(**base, status="skipped", note=str(exc))
        return "skip", f"skipped ({exc})"
    except tcnb.MemoryBudgetError as exc:
        msg = str(exc).splitlines()[0][:300]
        res.add(**base, status="refused", note=msg)
        return "refused", f"refused by tcnb's memory budget ({msg})"
    except MemoryError:
        res.add(**base, status="error", note="MemoryError")
        return "error", "MemoryError"
    except Exception as exc:  # noqa: BLE001
        msg = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        errors.append(f"{exp_name}: {m.name} n={n}: {msg}")
        if os.environ.get("TCNB_BENCH_TRACEBACK"):
            traceback.print_exc()
        res.add(**base, status="error", note=msg)
        return "error", f"ERROR ({msg})"
    extrap.record(m.name, n, t["median"])
    res.add(**base, status="ok", median_s=t["median"], min_s=t["min"], number=t["number"],
            repeats=t["repeats"])
    return "ok", (t["median"], probe)


def derivation_times(res, quick):
    """How long tcnb.hessian(...) takes to build the expression: the first call in this process
    (including one-time SymPy work for the element-wise functions) and the median of repeats."""
    rows = []
    cases = [("logreg", LOGREG, "f", "w", 0.05), ("matfac", MATFAC, "f", "U", None),
             ("relu", relu_program(), "f", "W1", 1.0)]
    for name, src, fname, wname, goal in cases:
        t0 = time.perf_counter()
        prog = tcnb.parse(src)
        t_parse = time.perf_counter() - t0
        for mode in MODES:
            for compress in (True, False):
                try:
                    _, first = C.timed_once(lambda: tcnb.hessian(prog[fname], prog[wname], mode=mode,
                                                                 compress=compress))
                    t = C.measure(lambda: tcnb.hessian(prog[fname], prog[wname], mode=mode, compress=compress),
                                  0.1 if quick else 0.5, min_repeats=3)
                    verdict = "" if goal is None else ("ok" if t["median"] < goal else f"MISSED (goal < {goal * 1e3:g} ms)")
                    rows.append([name, SHORT[mode], "yes" if compress else "no", C.fmt_time(t_parse),
                                 C.fmt_time(first), C.fmt_time(t["median"]), verdict])
                    res.add(experiment="derivation", quantity=name, method=f"tcnb.hessian {mode}",
                            status="ok", median_s=t["median"], min_s=t["min"], number=t["number"],
                            repeats=t["repeats"], note=f"compress={compress}; first={first:.6g}; parse={t_parse:.6g}")
                except Exception as exc:  # noqa: BLE001
                    msg = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                    rows.append([name, SHORT[mode], "yes" if compress else "no", C.fmt_time(t_parse),
                                 "ERROR", msg, ""])
                    res.add(experiment="derivation", quantity=name, method=f"tcnb.hessian {mode}",
                            status="error", note=msg)
    C.print_table(["problem", "mode", "compress", "parse", "first call", "median", "goal"], rows,
                  title="Derivation time of tcnb.hessian (building the expression, no evaluation)")


def summary(res):
    """The issue-3 targets, read off the measured rows."""
    ok = [r for r in res.rows if r["status"] == "ok" and r["median_s"] != ""]

    def t(exp, method, n):
        for r in ok:
            if r["experiment"] == exp and r["method"] == method and r["n"] == n:
                return r["median_s"]
        return None

    def best_tcnb(exp, n, pred=lambda name: True):
        c = [(r["median_s"], r["method"]) for r in ok if r["experiment"] == exp and r["n"] == n
             and r["method"].startswith("tcnb") and pred(r["method"])]
        return min(c) if c else (None, None)

    lines = []
    for exp, ref, jaxname, sel, what in [
            ("logreg", "closed form X.T @ (X * d[:, None])", "jax.jit(jax.hessian)", lambda s: True,
             "logreg Hessian: best tcnb / closed form (goal <= 1.2 at n >= 300)"),
            ("matfac", "closed form 2 VᵀV (compressed)", None, lambda s: "structured" in s,
             "matfac compressed: best tcnb / closed form (goal <= 3)"),
            ("matfac", "closed form einsum 2 (VᵀV) ⊗ I (dense)", None, lambda s: "structured" not in s,
             "matfac dense: best tcnb / einsum materialisation (goal <= 1.5)"),
            ("relu", "closed form Jᵀ S J cores (compressed)", "jax.jit(jax.hessian)", lambda s: "structured" in s,
             "relu compressed: best tcnb / closed form (goal <= 2; and >= 100x faster than JAX)"),
            ("logreg-hvp", "closed form X.T @ (d * (X @ v))", "jax.jit(jvp of grad)", lambda s: True,
             "HVP: best tcnb.hvp / closed form (goal: no slower than JAX)")]:
        ns = sorted({r["n"] for r in ok if r["experiment"] == exp})
        parts = []
        for n in ns:
            tb, name = best_tcnb(exp, n, sel)
            tr = t(exp, ref, n)
            if tb is None or tr is None:
                continue
            s = f"n={n}: {tb / tr:.2f}x ({name.replace('tcnb ', '').replace('tcnb.hvp ', '')})"
            if jaxname:
                tj = t(exp, jaxname, n)
                if tj is not None:
                    s += f", JAX/tcnb {tj / tb:.1f}x"
            parts.append(s)
        if parts:
            lines.append(what + ":\n      " + "; ".join(parts))
    if lines:
        print("\nSummary against the issue-3 targets")
        print("===================================")
        for line in lines:
            print("  - " + line)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes and short timing (CI smoke)")
    ap.add_argument("--only", choices=["logreg", "matfac", "relu"], help="run one experiment")
    ap.add_argument("--threads", type=int, help="cap BLAS/OpenMP/XLA/torch threads (steadier timings "
                    "on a busy machine)")
    ap.add_argument("--csv", help="write a tidy CSV of every point to this path")
    ap.add_argument("--sizes", help="override the sizes of the chosen experiments, e.g. 10,30,100")
    ap.add_argument("--max-call", type=float, help="skip a point predicted to take longer per call "
                    "(seconds; default 5, quick 1)")
    ap.add_argument("--mem-limit", type=float, default=2.0,
                    help="GiB: skip a point estimated to need more; also tcnb's memory budget (default 2)")
    ap.add_argument("--dense-limit", type=float, default=1.0,
                    help="GiB: largest dense Hessian materialised (default 1)")
    ap.add_argument("--no-derivation", action="store_true", help="skip the derivation-time table")
    args = ap.parse_args(argv)

    LIMITS["mem"] = int(args.mem_limit * C.GiB)
    LIMITS["dense"] = int(args.dense_limit * C.GiB)
    LIMITS["call"] = args.max_call if args.max_call else (1.0 if args.quick else 5.0)
    LIMITS["target"] = 0.1 if args.quick else 0.3
    tcnb.config.memory_budget = LIMITS["mem"]
    if args.threads and torch is not None:
        torch.set_num_threads(args.threads)

    if args.quick:
        sizes = {"logreg": [10, 30, 100], "matfac": [10, 30, 100], "relu": [10, 20]}
    else:
        sizes = {"logreg": [10, 30, 100, 300, 1000], "matfac": [10, 30, 100, 300, 1000], "relu": [10, 30, 100]}
    if args.sizes:
        for k in sizes:
            sizes[k] = [int(s) for s in args.sizes.split(",")]
    todo = [args.only] if args.only else ["logreg", "matfac", "relu"]

    print(f"tcnb {tcnb.__version__} — the paper's experiments on CPU — {C.machine_line()}")
    vers = [f"jax {jax.__version__}" if jax else JAX_ERR,
            f"autograd {_version('autograd')}" if autograd else AG_ERR,
            f"torch {torch.__version__} ({torch.get_num_threads()} threads)" if torch else TORCH_ERR]
    print("baselines: " + "; ".join(vers))
    print(f"limits: memory {C.fmt_bytes(LIMITS['mem'])} (also tcnb.config.memory_budget), dense results "
          f"{C.fmt_bytes(LIMITS['dense'])}, {LIMITS['call']:g} s per call; cells: median (ratio to the "
          f"closed form of the same group: compressed rows vs the compressed closed form, dense rows vs "
          f"the dense one)")
    C.warn_if_busy()
    res = C.Results()
    errors: list[str] = []
    if not args.no_derivation:
        derivation_times(res, args.quick)

    if "logreg" in todo:
        prog = tcnb.parse(LOGREG)
        run_experiment("logreg", "(a) Hessian of logistic regression, X: 2n x n",
                       logreg_experiment(prog), sizes["logreg"], logreg_data, res, errors, check_n=6)
        run_experiment("logreg-hvp", "(a') Hessian-vector product of logistic regression",
                       logreg_hvp_methods(prog), sizes["logreg"], logreg_data, res, errors, check_n=6)
    if "matfac" in todo:
        prog = tcnb.parse(MATFAC)
        run_experiment("matfac", f"(b) Matrix factorisation ||T - U Vᵀ||², Hessian w.r.t. U (k = {RANK})",
                       matfac_experiment(prog), sizes["matfac"], matfac_data, res, errors, check_n=6)
    if "relu" in todo:
        prog = tcnb.parse(relu_program())
        run_experiment("relu", f"(c) {L_LAYERS}-layer ReLU net, softmax cross-entropy, batch {BATCH}: "
                       "Hessian w.r.t. W1 (n x n)",
                       relu_experiment(prog), sizes["relu"], relu_data, res, errors, check_n=5)
    summary(res)
    if args.csv:
        res.write_csv(args.csv)
        print(f"\nwrote {args.csv}")
    if errors:
        print(f"\n{len(errors)} error(s):")
        for e in errors:
            print("  " + e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
