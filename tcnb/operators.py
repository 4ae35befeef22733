"""Matrix-free curvature: a derivative as a SciPy LinearOperator, and what is built on one.

``D @ v`` is formed symbolically — the derivative's expression contracted with a new variable over
its column axes, then fused, so the contraction order is planned for the sizes (for a Hessian of a
sum over samples, Σₘ Xₘᵢ dₘ (Xₘ · v): two matrix-vector products, never the n × n matrix) — and
compiled once. ``eigsh``, ``cg``, ``minres`` and ``lobpcg`` then work on curvature of any size.
"""
from __future__ import annotations

import math

import numpy

from . import diff, ir
from .config import config
from .dims import resolve_shape
from .errors import DerivativeError


def _fresh(base: str, taken: set) -> str:
    name, k = base, 0
    while name in taken:
        k += 1
        name = f"{base}{k}"
    return name


def products(D):
    """(Expr of D @ v, Expr of uᵀ D, the names of v and u): the derivative's rows are its first
    ``split`` axes, its columns the rest."""
    r = D.split
    rows, cols = D.shape[:r], D.shape[r:]
    taken = {v.name for v in ir.variables(D.node)} | {v.name for v in D.known_names}
    vname = _fresh("direction", taken)
    uname = _fresh("cotangent", taken | {vname})
    v, u = ir.Var.make(vname, cols), ir.Var.make(uname, rows)
    R = tuple(("r", k) for k in range(len(rows)))
    C = tuple(("c", k) for k in range(len(cols)))
    mv = diff.fuse(ir.Einsum.make([D.node, v], [R + C, C], R))
    rmv = diff.fuse(ir.Einsum.make([D.node, u], [R + C, R], C))
    known = D.known_names | {v, u}
    plain = dict(kind=None, order=0, of=None, wrt=None, known_names=known, split=None, indices=None)
    return (D._replace(node=mv, name=f"{D.name or 'D'} @ {vname}", **plain),
            D._replace(node=rmv, name=f"{uname} @ {D.name or 'D'}", **plain), vname, uname)


def _compiled_products(D, backend):
    """products(D), compiled on ``backend``: kept on D, so that the operators of one derivative at
    many points (a widget's sliders, an optimiser's iterations) derive and compile the products once."""
    backend = backend or config.default_backend
    key = ("products", backend)
    hit = D._compiled.get(key)
    if hit is None:
        mv, rmv, vname, uname = products(D)
        hit = D._compiled.put(key, (mv.compile(backend), rmv.compile(backend), vname, uname))
    return hit


def linear_operator(D, backend=None, /, **arrays):
    """D at the given arrays as a scipy.sparse.linalg.LinearOperator (C-order flattening of the row
    and column axes); each matvec is one call of compiled code."""
    from scipy.sparse.linalg import LinearOperator
    if D.rank == 0:
        raise DerivativeError(f"{D.display_name} is a scalar, not an operator")
    fmv, frmv, vname, uname = _compiled_products(D, backend)
    _, sizes, _ = D.compile(backend).bind(arrays)
    shape = resolve_shape(D.shape, sizes)
    rows, cols = tuple(shape[:D.split]), tuple(shape[D.split:])

    def call(fn, name, x, shape):
        out = fn(**arrays, **{name: numpy.asarray(x, dtype=float).reshape(shape)})
        return numpy.asarray(out).reshape(-1)

    return LinearOperator((math.prod(rows), math.prod(cols)), dtype=float,
                          matvec=lambda x: call(fmv, vname, x, cols),
                          rmatvec=lambda y: call(frmv, uname, y, rows))


def top_eigenvalues(H, k: int = 6, /, return_vectors: bool = False, **arrays):
    """The k largest eigenvalues of a symmetric derivative (a Hessian) by Lanczos (``eigsh``) on its
    operator, largest first; with ``return_vectors`` also the unit eigenvectors, shaped like the
    variable plus a last axis (which eigenvalue). ``H``: an Expr (with its arrays) or the compressed
    value ``Expr.structured(...)`` returns, whose products contract its stored factors."""
    from scipy.sparse.linalg import eigsh
    from .structured import Structured
    if isinstance(H, Structured):
        op, name, cols = H.as_linear_operator(), "the compressed result", H.shape[H.split:]
    else:
        op, name, cols = linear_operator(H, **arrays), H.display_name, None
    n = op.shape[0]
    if op.shape[0] != op.shape[1]:
        raise DerivativeError(f"{name} is not square ({op.shape[0]} × {op.shape[1]})")
    if not 1 <= k < n:
        raise DerivativeError(f"k = {k} eigenvalues of a {n} × {n} operator", expected=f"1 <= k < {n}")
    vals, vecs = eigsh(op, k=k, which="LA")
    order = numpy.argsort(vals)[::-1]
    if not return_vectors:
        return vals[order]
    if cols is None:
        _, sizes, _ = H.compile().bind(arrays)
        cols = resolve_shape(H.shape[H.split:], sizes)
    return vals[order], vecs[:, order].reshape(tuple(cols) + (k,))
