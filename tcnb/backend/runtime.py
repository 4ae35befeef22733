"""Small array helpers that generated code calls as ``_rt.<name>(xp, ...)``.

They are the operations with no single NumPy spelling: numerically stable softmax/logsumexp, and
writing a result onto the diagonal of a larger zero tensor (how an unit tensor in a dense result is
materialised, only when the user asks for a dense result), and the scipy.special-like namespace of
an array namespace (``_rt.special(xp).erf``).
"""
from __future__ import annotations

import math


def _error(kind: str, message: str, expected: str) -> Exception:
    """tcnb's error ``kind`` (BindingError, NumericalError), imported only on failure.

    Helpers name errors through this one function and import nothing from tcnb themselves, so
    standalone modules (tcnb/backend/standalone.py) can copy them and define their own ``_error``.
    """
    from .. import errors
    return getattr(errors, kind)(message, expected=expected)


def special(xp):
    """The scipy.special-like namespace for the array namespace ``xp``: scipy.special for NumPy,
    cupyx.scipy.special for CuPy (jax.scipy.special for jax.numpy).

    In tcnb this is the backend's ``special`` loader (registry.py binds it in ``Backend.runtime``);
    this default is the one standalone modules copy, so it imports nothing from tcnb.
    """
    import importlib
    root = getattr(xp, "__name__", type(xp).__name__)
    module = {"numpy": "scipy.special", "cupy": "cupyx.scipy.special",
              "jax.numpy": "jax.scipy.special"}.get(root)
    if module is None:
        raise _error("BindingError", f"no special functions (erf, gammaln, ...) are known for the array "
                     f"namespace {root}", "NumPy or CuPy arrays")
    return importlib.import_module(module)


def softmax(xp, a, axis):
    """Softmax along ``axis``, shifted by the maximum for stability."""
    shifted = a - a.max(axis=axis, keepdims=True)
    e = xp.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def logsumexp(xp, a, axis):
    """log(sum(exp(a))) along ``axis`` (all axes for None), shifted by the maximum."""
    mx = a.max(axis=axis, keepdims=True)
    out = xp.log(xp.exp(a - mx).sum(axis=axis, keepdims=True)) + mx
    return out.reshape(()) if axis is None else xp.squeeze(out, axis=axis)


def embed_diagonal(xp, values, out_labels: tuple, value_labels: tuple, shape: tuple):
    """A zero tensor of ``shape`` indexed by ``out_labels`` (a label may repeat) whose entries with
    equal indices for equal labels are ``values`` (indexed by the distinct ``value_labels``).
    Written in place through a strided view (NumPy, CuPy); the traced backends' ``_rt``
    (functional.py) uses :func:`embed_by_products` instead."""
    out = xp.zeros(shape, dtype=values.dtype)
    item = out.itemsize
    strides = [0] * len(value_labels)
    contiguous = [item * math.prod(shape[k + 1:]) for k in range(len(shape))]
    for pos, lab in enumerate(out_labels):
        strides[value_labels.index(lab)] += contiguous[pos]
    view_shape = tuple(shape[out_labels.index(lab)] for lab in value_labels)
    view = xp.lib.stride_tricks.as_strided(out, shape=view_shape, strides=tuple(strides))
    view[...] = values
    return out


def embed_by_products(xp, values, out_labels: tuple, value_labels: tuple, shape: tuple):
    """embed_diagonal's result without writing into an array: the first axis with a label takes
    the value's axis, each repeat of it is tied to that axis by an eye(), in one broadcast
    product (which XLA fuses into a single loop; traced code differentiates it)."""
    firsts = [lab for pos, lab in enumerate(out_labels) if lab not in out_labels[:pos]]
    order = [value_labels.index(lab) for lab in firsts]
    if order != list(range(len(order))):
        values = xp.transpose(values, order)
    rank = len(out_labels)
    out = xp.reshape(values, tuple(int(shape[p]) if lab not in out_labels[:p] else 1
                                   for p, lab in enumerate(out_labels)))
    for q, lab in enumerate(out_labels):
        p = out_labels.index(lab)
        if p == q:
            continue
        tie = [1] * rank
        tie[p], tie[q] = int(shape[p]), int(shape[q])
        out = out * xp.reshape(xp.eye(int(shape[q]), dtype=values.dtype), tuple(tie))
    return out


def delta(xp, dims: tuple, dtype):
    """The unit tensor δ of shape dims + dims, dense."""
    size = math.prod(dims)
    return xp.eye(size, dtype=dtype).reshape(tuple(dims) + tuple(dims))


def full(xp, shape, value, dtype):
    """A constant array of ``shape``."""
    return xp.full(shape, value, dtype=dtype)


def gram(xp, a, d, host=None):
    """a.T @ diag(d) @ a, exploiting symmetry.

    When d >= 0 (Hessians of convex losses: logistic regression's s(1-s)), b = a * sqrt(d) gives
    b.T @ b, which NumPy hands to BLAS syrk (one triangle, about half the flops of a general
    product). Otherwise the general product. The check reads d back, so it is only made where that
    costs no device sync: ``host`` (tcnb passes its backend's; standalone code asks the array
    whether its memory is the host's, NumPy's ``__array_interface__``).
    """
    if d is None:
        return a.T @ a
    if host is None:
        host = hasattr(d, "__array_interface__")
    if host and bool((d >= 0).all()):
        b = a * xp.sqrt(d)[:, None]
        return b.T @ b
    return a.T @ (a * d[:, None])


# ----------------------------------------------------------------- linear index maps (gather/scatter)

def _map_indices(xp, A, c, I_shape, J_shape):
    """For every I in the index ranges, the target index A·I + c (one array per target axis),
    checked against the target's shape: out-of-range accesses are an error, not zero padding."""
    grids = []
    for q, n in enumerate(I_shape):
        shape = [1] * len(I_shape)
        shape[q] = n
        grids.append(xp.arange(n).reshape(shape))
    out = []
    for p, row in enumerate(A):
        idx = c[p] + sum((a * grids[q] for q, a in enumerate(row) if a), start=xp.zeros((1,) * len(I_shape), dtype=int))
        idx = xp.broadcast_to(idx, tuple(I_shape))
        lo = int(idx.min()) if idx.size else 0
        hi = int(idx.max()) if idx.size else 0
        if idx.size and (lo < 0 or hi >= J_shape[p]):
            raise _error("BindingError",
                         f"an index map reaches index {lo if lo < 0 else hi} on an axis of size {J_shape[p]}",
                         "index ranges that keep every access inside the tensor")
        out.append(idx)
    return out


def gather(xp, t, axes, A, c, I_shape, J_shape):
    """u[I, rest] = t[A·I + c (on ``axes``), rest]: a contraction with the selection tensor over J."""
    t = xp.moveaxis(t, tuple(axes), tuple(range(len(axes))))
    idx = _map_indices(xp, A, c, I_shape, J_shape)
    return t[tuple(idx)]


def scatter(xp, t, axes, A, c, I_shape, J_shape, injective, scatter_add=None):
    """u[J, rest] = Σ_{I : A·I + c = J} t[I (on ``axes``), rest]: the adjoint of gather.

    ``scatter_add(xp, out, index, values)`` sums repeated targets: tcnb passes its backend's
    (registry.py); by default NumPy's spelling, ``xp.add.at``, which CuPy 12 and later share.
    """
    t = xp.moveaxis(t, tuple(axes), tuple(range(len(axes))))
    rest = t.shape[len(axes):]
    idx = _map_indices(xp, A, c, I_shape, J_shape)
    size = 1
    for n in J_shape:
        size *= n
    flat = xp.ravel_multi_index(tuple(i.reshape(-1) for i in idx), tuple(J_shape)) if idx else \
        xp.zeros(int(t.size // max(1, _prod(rest))), dtype=int)
    out = xp.zeros((size,) + tuple(rest), dtype=t.dtype)
    vals = t.reshape((-1,) + tuple(rest))
    if injective:
        out[flat] = vals
    elif scatter_add is not None:
        out = scatter_add(xp, out, flat, vals)
    else:
        xp.add.at(out, flat, vals)
    return out.reshape(tuple(J_shape) + tuple(rest))


def index_map_dense(xp, A, c, I_shape, J_shape, dtype):
    """The selection tensor itself, dense (only when a result really is this sparse 0/1 tensor)."""
    out = xp.zeros(tuple(I_shape) + tuple(J_shape), dtype=dtype)
    idx = _map_indices(xp, A, c, I_shape, J_shape)
    grids = xp.indices(tuple(I_shape)) if I_shape else []
    out[tuple(grids) + tuple(idx)] = 1
    return out


def _prod(shape):
    p = 1
    for n in shape:
        p *= n
    return p


# ---------------------------------------------------------------------- checked linear algebra
# LAPACK either raises its own LinAlgError on a singular matrix or, on a nearly singular one,
# returns entries of size 1/eps without a word. Both become a NumericalError naming the node, so
# a wrong number never leaves tcnb silently.

def _finite(xp, a, what):
    if not bool(xp.isfinite(a).all()):
        raise _error("NumericalError", f"{what}: the matrix has NaN or infinite entries", "finite inputs")


def _singular(what, detail="the matrix is singular"):
    return _error("NumericalError", f"{what}: {detail}", "a nonsingular (well-conditioned) matrix")


def _the_matrix(bad) -> str:
    """'the matrix' (one matrix: ``bad`` is a 0-d flag), or 'the matrix at batch index (2, 0)' for
    the first flagged entry of a stack's flags ``bad`` (an array over the batch axes)."""
    if getattr(bad, "ndim", 0) == 0:
        return "the matrix"
    flat = [int(q) for q in _host_flags(bad)]
    first, shape, index = flat.index(1), tuple(int(d) for d in bad.shape), []
    for d in reversed(shape):
        index.append(first % d)
        first //= d
    return f"the matrix at batch index {tuple(reversed(index))}"


def _host_flags(bad):
    """A boolean array as a flat Python list (read back from a device array too)."""
    flat = bad.reshape(-1)
    return flat.get().tolist() if hasattr(flat, "get") else flat.tolist()


def _each(xp, a, test):
    """Flags over the batch axes of a stack ``a``: whether ``test(matrix)`` fails for each matrix
    (for the error path: which matrix made the stacked LAPACK call fail)."""
    import numpy
    flat = a.reshape((-1,) + tuple(a.shape[-2:]))
    return numpy.array([bool(test(m)) for m in flat]).reshape(tuple(a.shape[:-2]))


def _raises(xp, fn):
    def test(m):
        try:
            fn(m)
        except xp.linalg.LinAlgError:
            return True
        return False
    return test


def _ill_conditioned(xp, a, a_inv):
    """Flags over the batch axes: 1-norm condition number past 1/eps (the inverse carries no
    correct digits), or a non-finite inverse."""
    eps = xp.finfo(a.dtype).eps
    # (functions, not methods: a torch tensor's .max(axis) is a (values, indices) pair)
    norm = xp.max(xp.sum(xp.abs(a), axis=-2), axis=-1)
    norm_inv = xp.max(xp.sum(xp.abs(a_inv), axis=-2), axis=-1)
    cond = norm * norm_inv
    return ~xp.isfinite(cond) | (cond * eps > 1.0)


def inv(xp, a, what="inv"):
    """Matrix inverse (a stack of matrices allowed); NumericalError for non-finite entries or a
    singular or ill-conditioned matrix (naming its batch index), instead of a silently huge result.
    """
    _finite(xp, a, what)
    try:
        out = xp.linalg.inv(a)
    except xp.linalg.LinAlgError:
        bad = _each(xp, a, _raises(xp, xp.linalg.inv)) if a.ndim > 2 else xp.asarray(True)
        raise _singular(what, f"{_the_matrix(bad)} is singular") from None
    bad = _ill_conditioned(xp, a, out)
    if bool(bad.any()):
        raise _singular(what, f"{_the_matrix(bad)} is singular to working precision "
                              "(condition number over 1/eps)")
    return out


def det(xp, a, what="det"):
    """det(A); a singular A has determinant 0, which is a value like any other."""
    _finite(xp, a, what)
    return xp.linalg.det(a)


def logdet(xp, a, what="logdet"):
    """log|det A| (as numpy's slogdet): the sign is dropped, a singular A is an error (-inf)."""
    _finite(xp, a, what)
    sign, value = xp.linalg.slogdet(a)
    if not bool((sign != 0).all()):
        raise _singular(what, f"{_the_matrix(sign == 0)} is singular, so log|det| is -inf")
    return value


def solve(xp, a, b, what="solve"):
    """x with a @ x = b, refusing singular or non-finite systems. A stack of matrices a takes a
    stack of vectors b (one axis fewer) or of matrices (as many axes)."""
    _finite(xp, a, what)
    _finite(xp, b, what + " (right-hand side)")
    vector = b.ndim < a.ndim
    if a.shape[-1] == 1:  # 1 x 1 blocks: a division, which LAPACK would not check either
        if not bool((a != 0).all()):
            raise _singular(what, f"{_the_matrix(a[..., 0, 0] == 0)} (1 x 1) is zero")
        return b / a[..., 0] if vector else b / a
    factored = _lu_checked(xp, a, what)
    if factored is not None:  # one matrix on NumPy: LU, LAPACK's condition estimate, two triangular solves
        return _scipy_linalg(xp).lu_solve(factored, b, check_finite=False)
    inv(xp, a, what)  # elsewhere the singularity check needs the inverse's norm
    if vector:
        return xp.linalg.solve(a, b[..., None])[..., 0]
    return xp.linalg.solve(a, b)


def _lu_checked(xp, a, what):
    """SciPy's LU factors of one matrix on NumPy, refused (NumericalError) where LAPACK's 1-norm
    condition estimate (gecon, O(n²) after the O(n³) factorisation) passes 1/eps: the same test as
    the inverse-based check, at a third of the cost. None where SciPy cannot do it (CuPy, stacks)."""
    lin = _scipy_linalg(xp)
    if lin is None or xp.__name__ != "numpy" or a.ndim != 2:
        return None
    getrf, gecon = lin.get_lapack_funcs(("getrf", "gecon"), (a,))
    lu, piv, info = getrf(a)  # (LAPACK's own call: an exactly singular matrix is info > 0, no warning)
    rcond = 0.0 if info > 0 else gecon(lu, float(xp.abs(a).sum(axis=0).max()), norm="1")[0]
    if not rcond > xp.finfo(a.dtype).eps:
        raise _singular(what, "the matrix is singular to working precision (condition number over 1/eps)"
                        if rcond > 0 else "the matrix is singular")
    return lu, piv


# ---------------------------------------------------------------------- decompositions
# The symmetric-input functions (cholesky, eigvalsh, eigh_vectors) read the symmetric part of A, as
# jax.numpy does; eigenvectors and singular vectors carry a fixed sign (the largest entry of each
# column of V, resp. U, is positive), so that values and derivatives agree between backends.

def _scipy_linalg(xp):
    """scipy.linalg for NumPy arrays, cupyx.scipy.linalg for CuPy, None when there is none."""
    try:
        if xp.__name__ == "numpy":
            import scipy.linalg as lin
        else:
            import cupyx.scipy.linalg as lin
    except ImportError:
        return None
    return lin


def _sym(a):
    return (a + a.swapaxes(-1, -2)) / 2


def _column_signs(xp, v):
    """+1 / -1 per column (of each matrix of a stack): the sign of the column's entry of largest
    magnitude, shaped to multiply v."""
    idx = xp.argmax(xp.abs(v), axis=-2)
    s = xp.sign(xp.take_along_axis(v, idx[..., None, :], axis=-2))
    return xp.where(s == 0, 1, s)


def cholesky(xp, a, what="cholesky"):
    """Lower-triangular L with L Lᵀ = (A + Aᵀ)/2 (a stack of matrices allowed); NumericalError
    unless A is positive definite (naming the batch index of the first that is not)."""
    _finite(xp, a, what)
    try:
        out = xp.linalg.cholesky(_sym(a))
    except xp.linalg.LinAlgError:
        out = None
    if out is None or not bool(xp.isfinite(out).all()):  # CuPy returns NaN instead of raising
        if a.ndim == 2:
            which = "the matrix"
        elif out is None:
            which = _the_matrix(_each(xp, a, _raises(xp, lambda m: xp.linalg.cholesky(_sym(m)))))
        else:
            which = _the_matrix(~xp.isfinite(out).all(axis=(-2, -1)))
        raise _error("NumericalError", f"{what}: {which} is not positive definite",
                     "a symmetric positive definite matrix")
    return out


def check_structure(xp, a, name, structure):
    """The promise of a declaration ``name: Sym[n]`` (``SPD[n]``): ``a`` is symmetric to a relative
    tolerance (BindingError otherwise), and for SPD positive definite (a Cholesky attempt;
    NumericalError otherwise). Returns ``a``."""
    decl = f"{name}: {'Sym' if structure == 'sym' else 'SPD'}[n]"
    if not bool(xp.isfinite(a).all()):
        raise _error("NumericalError", f"variable '{name}' ({decl}) has NaN or infinite entries", "finite entries")
    scale = float(xp.abs(a).max()) if a.size else 0.0
    tol = (1e-4 if a.dtype == xp.float32 else 1e-10) * scale
    asym = float(xp.abs(a - a.T).max()) if a.size else 0.0
    if asym > tol:
        raise _error("BindingError", f"variable '{name}' is declared {decl} but its array is not symmetric: "
                     f"max |{name} - {name}ᵀ| = {asym:.3g} (largest entry {scale:.3g})",
                     f"a symmetric array, e.g. ({name} + {name}.T) / 2")
    if structure == "spd":
        try:
            out = xp.linalg.cholesky(a)
        except xp.linalg.LinAlgError:
            out = None
        if out is None or not bool(xp.isfinite(out).all()):  # CuPy returns NaN instead of raising
            raise _error("NumericalError", f"variable '{name}' is declared {decl} but its array is not "
                         "positive definite (its Cholesky factorization fails)",
                         "a symmetric positive definite array, e.g. B Bᵀ + c I with c > 0")
    return a


def solve_triangular(xp, a, b, lower=True, what="solve_triangular"):
    """x with T x = b, T the lower (upper) triangle of a; NumericalError for a zero diagonal entry.
    A stack of matrices takes a stack of vectors (one axis fewer) or of matrices."""
    _finite(xp, a, what)
    _finite(xp, b, what + " (right-hand side)")
    d = xp.abs(xp.diagonal(a, axis1=-2, axis2=-1))
    bad = (d <= xp.finfo(a.dtype).tiny).any(axis=-1) | (xp.min(d, axis=-1) < xp.finfo(a.dtype).eps * xp.max(d, axis=-1))
    if bool(bad.any()):
        raise _singular(what, f"{_the_matrix(bad)} (triangular) has a zero (or negligible) diagonal entry")
    vector = b.ndim < a.ndim
    if vector:
        b = b[..., None]
    lin = _scipy_linalg(xp)
    if lin is not None and (a.ndim == 2 or xp.__name__ == "numpy"):  # (SciPy's takes stacks)
        out = lin.solve_triangular(a, b, lower=lower)
    else:
        out = xp.linalg.solve(xp.tril(a) if lower else xp.triu(a), b)
    return out[..., 0] if vector else out


def eigvalsh(xp, a, what="eigvalsh"):
    """Eigenvalues of (A + Aᵀ)/2, ascending."""
    _finite(xp, a, what)
    return xp.linalg.eigvalsh(_sym(a))


def eigh_vectors(xp, a, what="eigh_vectors"):
    """Orthonormal eigenvectors of (A + Aᵀ)/2 as columns (ascending eigenvalues), signs fixed."""
    _finite(xp, a, what)
    _, v = xp.linalg.eigh(_sym(a))
    return v * _column_signs(xp, v)


def svdvals(xp, a, what="svdvals"):
    """Singular values, descending."""
    _finite(xp, a, what)
    return xp.linalg.svd(a, compute_uv=False)


def svd_vectors(xp, a, right=False, what="svd"):
    """Thin SVD's U (or V, ``right``) with columns signed so that each column of U has its largest
    entry positive (V's columns flipped with U's)."""
    _finite(xp, a, what)
    u, _, vt = xp.linalg.svd(a, full_matrices=False)
    s = _column_signs(xp, u)
    return vt.swapaxes(-1, -2) * s if right else u * s


def pinv(xp, a, what="pinv"):
    """Moore–Penrose pseudo-inverse."""
    _finite(xp, a, what)
    return xp.linalg.pinv(a)


def _expm_taylor(xp, a):
    """exp(a) (a stack of matrices) by scaling and squaring a degree-18 Taylor polynomial."""
    norm = float(xp.abs(a).sum(axis=-2).max()) if a.size else 0.0
    s = max(0, int(math.ceil(math.log2(norm))) + 1) if norm > 0 else 0
    b = a / 2.0 ** s
    eye = xp.eye(a.shape[-1], dtype=a.dtype)
    out, term = eye + 0 * b, eye + 0 * b
    for k in range(1, 19):
        term = term @ b / k
        out = out + term
    for _ in range(s):
        out = out @ out
    return out


def expm(xp, a, what="expm"):
    """The matrix exponential (a stack of matrices allowed): SciPy's (or CuPy's) Padé
    approximation, else scaling and squaring in ``xp``."""
    _finite(xp, a, what)
    lin = _scipy_linalg(xp)
    if lin is not None and hasattr(lin, "expm") and (a.ndim == 2 or xp.__name__ == "numpy"):
        return lin.expm(a)  # (CuPy's takes one matrix, SciPy's a stack too)
    return _expm_taylor(xp, a)


def expm_derivative(xp, a, order=1, what="expm_derivative"):
    """The dense tensor D[i, j, k1, l1, ..., kp, lp] = ∂^p expm(A)[i, j] / ∂A[k1, l1] ... ∂A[kp, lp].

    Van Loan's block form, for every p-tuple of unit directions E = e_k e_lᵀ at once (a stack of
    n^(2p) block matrices): the top-right block of expm of the block-bidiagonal matrix with A on the
    diagonal and E1, ..., Ep above it is the ordered integral of e^(sA) E1 ... Ep; the derivative is
    its sum over the p! orders.
    """
    import itertools
    if a.ndim > 2:  # a stack: one tensor per matrix
        parts = [expm_derivative(xp, m, order, what) for m in a.reshape((-1,) + tuple(a.shape[-2:]))]
        return xp.stack(parts).reshape(tuple(a.shape[:-2]) + parts[0].shape)
    n, p = a.shape[-1], int(order)
    nn = n * n
    size = (p + 1) * n
    m = xp.zeros((nn ** p, size, size), dtype=a.dtype)
    for q in range(p + 1):
        m[:, q * n:(q + 1) * n, q * n:(q + 1) * n] = a
    idx = xp.arange(nn ** p)
    for q in range(p):
        d = (idx // nn ** (p - 1 - q)) % nn
        m[idx, q * n + d // n, (q + 1) * n + d % n] = 1
    top = expm(xp, m, what)[:, :n, p * n:]
    ordered = xp.moveaxis(top.reshape((n, n) * p + (n, n)), (2 * p, 2 * p + 1), (0, 1))
    out = None
    for perm in itertools.permutations(range(p)):
        axes = (0, 1) + tuple(2 + 2 * perm[q] + r for q in range(p) for r in (0, 1))
        term = xp.transpose(ordered, axes)
        out = term if out is None else out + term
    return xp.ascontiguousarray(out)


def cumsum(xp, a, axis, reverse=False):
    """Cumulative sum along ``axis`` (None: a vector's only axis), from the end when ``reverse``."""
    ax = 0 if axis is None else axis
    if not reverse:
        return xp.cumsum(a, axis=ax)
    return xp.flip(xp.cumsum(xp.flip(a, ax), axis=ax), ax)


def _excluded(xp, v, k):
    """E[..., p1..pk] = prod of v[..., q] over q not in {p1..pk} (0 where two p coincide), without
    division: exclusive cumulative products from both ends (k = 1), then one position set to 1 at a
    time (k > 1)."""
    n = v.shape[-1]
    if k == 1:
        one = xp.ones(v.shape[:-1] + (1,), dtype=v.dtype)
        left = xp.concatenate([one, xp.cumprod(v[..., :-1], axis=-1)], axis=-1)
        right = xp.flip(xp.concatenate([one, xp.cumprod(xp.flip(v, -1)[..., :-1], axis=-1)], axis=-1), -1)
        return left * right
    eye = xp.eye(n, dtype=v.dtype)
    parts = []
    for p in range(n):
        e = _excluded(xp, xp.where(eye[p] > 0, 1.0, v), k - 1)
        for axis in range(k - 1):  # p taken already: zero
            keep = (1.0 - eye[p]).reshape((n,) + (1,) * (k - 2 - axis))
            e = e * keep
        parts.append(e)
    return xp.stack(parts, axis=-1)


def prod_others(xp, a, axis, k=1):
    """Products of all entries but k along ``axis`` (all entries for None): a.shape followed by
    k - 1 more positions along the axis (None: k - 1 more copies of a.shape). Exact at zeros."""
    if axis is None:
        e = _excluded(xp, a.reshape(a.shape[:0] + (-1,)), k)
        return e.reshape(tuple(a.shape) * k)
    e = _excluded(xp, xp.moveaxis(a, axis, -1), k)
    r = a.ndim
    return xp.moveaxis(e, r - 1, axis)
