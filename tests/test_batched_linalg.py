"""Batched linear algebra: a leading batch of matrices A: R[b, n, n] through every linear-algebra record.

Oracles: NumPy's value matrix by matrix (np.stack over the batch), JAX (x64) on the record's own 2-D
reference under jax.vmap for Jacobians and Hessians, central finite differences of the NumPy value.
Every mode, compression on and off. The derivatives of a batched node are block-diagonal over the
batch: a gradient (and an H v) is checked to hold no tensor with two batch axes, in its IR and in
its generated code. Shape errors (batch mismatch, non-square) at parse time; a singular matrix of a
stack is named by its batch index. Last, the batched cases of autograd's tests/test_linalg.py.
"""
from __future__ import annotations

import re
import zlib

import numpy as np
import pytest

import tcnb
from tcnb import ShapeError, ir
from tcnb.graph import topological
from tcnb.primitives import REGISTRY
from conftest import concrete_shape, random_array
from helpers_calculus import central_diff

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
jsl = jax.scipy.linalg

MODES = ("forward", "reverse", "cross-country")
SIZES = {"b": 2, "n": 3, "k": 2, "m": 2}
FAMILIES = ("linalg", "decompositions", "matrix_functions")
UNBATCHED = {"kron"}   # NumPy's kron of stacks is the product over every axis, not a batch
BATCHED = sorted(n for n, r in REGISTRY.items() if r.family in FAMILIES and n not in UNBATCHED)
KIND = {"invertible": "spd", "spd": "spd", "symmetric": "symmetric", "triangular": "triangular"}


def _rng(seed):
    return np.random.default_rng(seed)


def stack(shape, rng, kind="normal"):
    """A stack (leading axes: the batch) of random matrices of one kind (conftest.random_array)."""
    batch, core = shape[:-2], shape[-2:]
    if kind == "normal" or len(shape) < 2:
        return rng.standard_normal(shape)
    return np.stack([random_array(core, rng, kind=kind) for _ in range(int(np.prod(batch)))]).reshape(shape)


def batched_source(example: str) -> str:
    """The record's example with a batch axis b in front of every declared tensor."""
    return re.sub(r"^(\w+): R\[", r"\1: R[b, ", example, flags=re.M)


def _example(name):
    rec = REGISTRY[name]
    src = batched_source(rec.example)
    prog = tcnb.parse(src)
    f = prog["f"]
    assert f.node.name == name and f.shape[0] == prog[f.node.args[0].name].shape[0]
    return rec, src, prog, f


def _inputs(rec, f, seed):
    rng = _rng(seed)
    return {arg.name: stack(concrete_shape(arg.shape, SIZES), rng, KIND.get(op.sample, "normal"))
            for arg, op in zip(f.node.args, rec.operands)}


def _np_stacked(rec, params):
    """The record's 2-D NumPy reference, matrix by matrix over the (first) batch axis."""
    return lambda *xs: np.stack([rec.reference(np, *[x[q] for x in xs], **params) for q in range(len(xs[0]))])


def _jax_vmapped(rec, params):
    return jax.vmap(lambda *xs: rec.reference(jnp, *xs, **params))


# ------------------------------------------------------------------ every record on a batch

@pytest.mark.parametrize("name", BATCHED)
def test_batched_value_is_numpys_matrix_by_matrix(name):
    rec, _, _, f = _example(name)
    arrays = _inputs(rec, f, 0)
    names = [a.name for a in f.node.args]
    expected = _np_stacked(rec, dict(f.node.params))(*[arrays[n] for n in names])
    np.testing.assert_allclose(f.evaluate(**arrays), expected, rtol=1e-10, atol=1e-12)
    vm = _jax_vmapped(rec, dict(f.node.params))(*[jnp.asarray(arrays[n]) for n in names])
    np.testing.assert_allclose(expected, vm, rtol=1e-9, atol=1e-11)   # the two oracles agree


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", BATCHED)
def test_batched_jacobian_matches_jax_vmap_and_finite_differences(name, mode, compress):
    rec, _, prog, f = _example(name)
    arrays = _inputs(rec, f, 1)
    names = [a.name for a in f.node.args]
    params = dict(f.node.params)
    ref, ref_np = _jax_vmapped(rec, params), _np_stacked(rec, params)
    for k, var in enumerate(names):
        J = tcnb.jacobian(f, prog[var], mode=mode, compress=compress).evaluate(**arrays)
        expected = jax.jacfwd(ref, argnums=k)(*[jnp.asarray(arrays[n]) for n in names])
        np.testing.assert_allclose(J, expected, rtol=1e-8, atol=1e-10, err_msg=f"d{name}/d{var} ({mode})")

        def moved(x, k=k):
            args = [arrays[n] for n in names]
            args[k] = x
            return ref_np(*args)
        np.testing.assert_allclose(J, central_diff(moved, arrays[var]), rtol=1e-5, atol=1e-6,
                                   err_msg=f"d{name}/d{var} ({mode}) vs FD")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", BATCHED)
def test_batched_hessian_matches_jax(name, mode):
    rec, src, _, f = _example(name)
    arrays = _inputs(rec, f, 2)
    names = [a.name for a in f.node.args]
    ref = _jax_vmapped(rec, dict(f.node.params))
    prog = tcnb.parse(src + "\ns = sum(f * f)")
    for k, var in enumerate(names):
        H = tcnb.hessian(prog["s"], prog[var], mode=mode).evaluate(**arrays)
        expected = jax.hessian(lambda *xs: jnp.sum(ref(*xs) ** 2), argnums=k)(*[jnp.asarray(arrays[n]) for n in names])
        np.testing.assert_allclose(H, expected, rtol=1e-7, atol=1e-9, err_msg=f"{name}, {var}, {mode}")


def _batch_blocks(expr, b):
    """Nodes of ``expr``'s DAG with two axes of the batch size ``b`` (a b x b block structure)."""
    return [n for n in topological([expr.node]) if sum(1 for d in n.shape if d == b) >= 2]


def _code_blocks(expr):
    """The shape tuples of ``expr``'s generated code (b = 100) that hold the batch size twice (an
    (100, 5, 5) identity stack is fine, a (100, 5, 100, 5) array or a δ over the batch is not)."""
    code = expr.to_source(b=100, n=5, k=3, m=4)
    tuples = re.findall(r"\(([0-9, ]*)\)", code)
    return [t for t in tuples if [x.strip() for x in t.split(",")].count("100") >= 2] + \
        re.findall(r"_rt\.delta\(xp, \(100", code)


@pytest.mark.parametrize("name", BATCHED)
def test_gradient_through_a_batch_has_no_batch_blocks(name):
    rec, src, _, f = _example(name)
    prog = tcnb.parse(src + "\ns = sum(f * f)")
    batch = f.shape[0]
    names = [a.name for a in f.node.args]
    for var in names:
        for mode in MODES:
            g = tcnb.grad(prog["s"], var, mode=mode)
            assert not _batch_blocks(g, batch), (name, var, mode, _batch_blocks(g, batch)[:3])
            assert not _code_blocks(g), (name, var, mode, _code_blocks(g))


@pytest.mark.parametrize("mode", MODES)
def test_hessian_vector_product_through_a_batch_has_no_batch_blocks(mode):
    src = ("A: R[b, n, n]\nV: R[b, n, n]\nC: R[b, n, n]\n"
           "f = sum(logdet(A)) + sum(inv(A) * C) + sum(cholesky(A) * C) + sum(eigvalsh(A) ** 2)")
    prog = tcnb.parse(src)
    hv = tcnb.hvp(prog["f"], "A", prog["V"], mode=mode)
    assert not _batch_blocks(hv, prog["A"].shape[0])
    assert not _code_blocks(hv)
    rng = _rng(3)
    A, V, C = stack((2, 3, 3), rng, "spd"), rng.standard_normal((2, 3, 3)), rng.standard_normal((2, 3, 3))

    def oracle(A):
        return (jnp.sum(jnp.linalg.slogdet(A)[1]) + jnp.sum(jnp.linalg.inv(A) * C)
                + jnp.sum(jax.vmap(lambda a: jnp.linalg.cholesky((a + a.T) / 2))(A) * C)
                + jnp.sum(jax.vmap(lambda a: jnp.linalg.eigvalsh((a + a.T) / 2))(A) ** 2))
    expected = jax.jvp(jax.grad(oracle), (jnp.asarray(A),), (jnp.asarray(V),))[1]
    np.testing.assert_allclose(hv.evaluate(A=A, V=V, C=C), expected, rtol=1e-8, atol=1e-10)


# ------------------------------------------------------------------ scalar objectives, all modes

def _check(src, wrt, arrays, oracle, hessian=True, rtol=1e-7):
    """grad (and Hessian) of the scalar f of ``src`` in every mode, compress on and off, against
    JAX's grad (hessian) of ``oracle`` and central differences of the oracle."""
    prog = tcnb.parse(src)
    f = prog["f"]
    names = sorted(arrays)
    args = [jnp.asarray(arrays[n]) for n in names]
    k = names.index(wrt)

    def at(x, fn):
        a = list(args)
        a[k] = jnp.asarray(x)
        return np.asarray(fn(*a))
    np.testing.assert_allclose(f.evaluate(**arrays), float(oracle(*args)), rtol=1e-10, atol=1e-12)
    g_ref = np.asarray(jax.grad(oracle, argnums=k)(*args))
    np.testing.assert_allclose(g_ref, central_diff(lambda x: at(x, oracle), arrays[wrt]), rtol=1e-5, atol=1e-6)
    H_ref = np.asarray(jax.hessian(oracle, argnums=k)(*args)) if hessian else None
    if hessian:
        H_fd = central_diff(lambda x: at(x, jax.grad(oracle, argnums=k)), arrays[wrt])
        np.testing.assert_allclose(H_ref, H_fd, rtol=1e-5, atol=1e-5)
    for mode in MODES:
        for compress in (True, False):
            g = tcnb.grad(f, wrt, mode=mode, compress=compress)
            np.testing.assert_allclose(g.evaluate(**arrays), g_ref, rtol=rtol, atol=1e-9, err_msg=f"grad {mode} {compress}")
            if compress:
                assert not _batch_blocks(g, prog[wrt].shape[0]), (mode, src)
            if hessian:
                H = tcnb.hessian(f, wrt, mode=mode, compress=compress).evaluate(**arrays)
                np.testing.assert_allclose(H, H_ref, rtol=rtol, atol=1e-8, err_msg=f"Hessian {mode} {compress}")


B, N, K = 4, 3, 2


def _vm(fn):
    return jax.vmap(fn)


OBJECTIVES = [
    # id, source (after the declarations), wrt, oracle(A, C, c, X, Y), A's kind
    ("sum_logdet", "f = sum(logdet(A))", "A", lambda A, C, c, X, Y: jnp.sum(jnp.linalg.slogdet(A)[1]), "spd"),
    ("logdet_weighted", "f = sum(logdet(A) * c)", "A", lambda A, C, c, X, Y: jnp.sum(jnp.linalg.slogdet(A)[1] * c), "normal"),
    ("det", "f = sum(det(A) * c)", "A", lambda A, C, c, X, Y: jnp.sum(jnp.linalg.det(A) * c), "normal"),
    ("inv", "f = sum(inv(A) * C)", "A", lambda A, C, c, X, Y: jnp.sum(jnp.linalg.inv(A) * C), "spd"),
    ("solve_matrices_A", "f = sum(solve(A, X) * Y)", "A",
     lambda A, C, c, X, Y: jnp.sum(jnp.linalg.solve(A, X) * Y), "spd"),
    ("solve_matrices_B", "f = sum(solve(A, X) ** 2 * Y)", "X",
     lambda A, C, c, X, Y: jnp.sum(jnp.linalg.solve(A, X) ** 2 * Y), "spd"),
    ("cholesky", "f = sum(cholesky(A) * C)", "A",
     lambda A, C, c, X, Y: jnp.sum(_vm(lambda a: jnp.linalg.cholesky((a + a.T) / 2))(A) * C), "spd"),
    ("solve_triangular", "f = sum(solve_triangular(A, X) ** 2 * Y)", "A",
     lambda A, C, c, X, Y: jnp.sum(_vm(lambda a, x: jsl.solve_triangular(a, x, lower=True))(A, X) ** 2 * Y), "triangular"),
    ("solve_triangular_upper", "f = sum(solve_triangular(A, X, lower=False) * Y)", "A",
     lambda A, C, c, X, Y: jnp.sum(_vm(lambda a, x: jsl.solve_triangular(a, x, lower=False))(A, X) * Y),
     "triangular_upper"),
    ("eigvalsh", "f = sum(eigvalsh(A) ** 2 * c[:, None])", "A",
     lambda A, C, c, X, Y: jnp.sum(_vm(lambda a: jnp.linalg.eigvalsh((a + a.T) / 2))(A) ** 2 * c[:, None]), "symmetric"),
    ("eigh_vectors", "f = sum(eigh_vectors(A) ** 2 * C)", "A",
     lambda A, C, c, X, Y: jnp.sum(_vm(lambda a: jnp.linalg.eigh((a + a.T) / 2)[1])(A) ** 2 * C), "symmetric"),
    ("svdvals", "f = sum(svdvals(A) ** 2 * c[:, None])", "A",
     lambda A, C, c, X, Y: jnp.sum(jnp.linalg.svd(A, compute_uv=False) ** 2 * c[:, None]), "normal"),
    ("svd_u", "f = sum(svd_u(A) ** 2 * C)", "A",
     lambda A, C, c, X, Y: jnp.sum(jnp.linalg.svd(A)[0] ** 2 * C), "normal"),
    ("svd_v", "f = sum(svd_v(A) ** 2 * C)", "A",
     lambda A, C, c, X, Y: jnp.sum(jnp.swapaxes(jnp.linalg.svd(A)[2], -1, -2) ** 2 * C), "normal"),
    ("pinv", "f = sum(pinv(A) * C)", "A", lambda A, C, c, X, Y: jnp.sum(jnp.linalg.pinv(A) * C), "normal"),
    ("expm", "f = sum(expm(A) * C)", "A", lambda A, C, c, X, Y: jnp.sum(jsl.expm(A / 2) * C), "half"),
    ("matrix_power", "f = sum(matrix_power(A, 3) * C)", "A",
     lambda A, C, c, X, Y: jnp.sum(jnp.linalg.matrix_power(A, 3) * C), "normal"),
    ("tril_triu", "f = sum(tril(A, -1) ** 2 * C + triu(A, 1) * C)", "A",
     lambda A, C, c, X, Y: jnp.sum(jnp.tril(A, -1) ** 2 * C + jnp.triu(A, 1) * C), "normal"),
    ("matmul", "f = sum((A @ X) * Y) + sum((A @ A) * C)", "A",
     lambda A, C, c, X, Y: jnp.sum((A @ X) * Y) + jnp.sum((A @ A) * C), "normal"),
]
DECL = f"A: R[{B}, {N}, {N}]\nC: R[{B}, {N}, {N}]\nc: R[{B}]\nX: R[{B}, {N}, {K}]\nY: R[{B}, {N}, {K}]\n"


def _objective_inputs(kind, seed):
    rng = _rng(seed)
    if kind == "half":
        A = rng.standard_normal((B, N, N)) / 2
    elif kind == "triangular_upper":
        A = np.swapaxes(stack((B, N, N), rng, "triangular"), -1, -2)
    else:
        A = stack((B, N, N), rng, kind)
    return {"A": A, "C": rng.standard_normal((B, N, N)), "c": rng.standard_normal(B),
            "X": rng.standard_normal((B, N, K)), "Y": rng.standard_normal((B, N, K))}


@pytest.mark.parametrize("case", OBJECTIVES, ids=[o[0] for o in OBJECTIVES])
def test_objective(case):
    name, body, wrt, oracle, kind = case
    arrays = _objective_inputs(kind, zlib.crc32(name.encode()))
    src = DECL + body.replace("expm(A)", "expm(A / 2)")
    _check(src, wrt, arrays, lambda A, C, X, Y, c: oracle(A, C, c, X, Y))


@pytest.mark.parametrize("wrt", ["A", "x"])
def test_solve_with_a_stack_of_vectors(wrt):
    """B: R[b, n] is a stack of vectors (NumPy 2 needs B[..., None]; tcnb reads the rank)."""
    rng = _rng(5)
    arrays = {"A": stack((B, N, N), rng, "spd"), "x": rng.standard_normal((B, N)), "w": rng.standard_normal((B, N))}
    src = f"A: R[{B}, {N}, {N}]\nx: R[{B}, {N}]\nw: R[{B}, {N}]\nf = sum(solve(A, x) ** 2 * w)"
    _check(src, wrt, arrays, lambda A, w, x: jnp.sum(jnp.linalg.solve(A, x[..., None])[..., 0] ** 2 * w))
    tri = f"A: R[{B}, {N}, {N}]\nx: R[{B}, {N}]\nw: R[{B}, {N}]\nf = sum(solve_triangular(A, x) * w)"
    arrays["A"] = stack((B, N, N), rng, "triangular")
    _check(tri, wrt, arrays, lambda A, w, x: jnp.sum(
        _vm(lambda a, v: jsl.solve_triangular(a, v, lower=True))(A, x) * w))


def test_two_batch_axes():
    rng = _rng(6)
    A = stack((2, 4, N, N), rng, "spd")
    C = rng.standard_normal((2, 4, N, N))
    src = f"A: R[p, q, {N}, {N}]\nC: R[p, q, {N}, {N}]\nf = sum(inv(A) * C) + sum(logdet(A))"
    _check(src, "A", {"A": A, "C": C},
           lambda A, C: jnp.sum(jnp.linalg.inv(A) * C) + jnp.sum(jnp.linalg.slogdet(A)[1]))


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("src, words", [
    ("A: R[b, n, n]\nB: R[c, n]\nf = solve(A, B)", ["batch dimensions of B are (c)", "(b)"]),
    ("A: R[b, n, n]\nB: R[c, n, k]\nf = solve(A, B)", ["batch dimensions of B"]),
    ("A: R[b, n, n]\nB: R[n]\nf = solve(A, B)", ["B has rank 1", "rank 2 (vectors) or 3 (matrices)"]),
    ("A: R[b, n, n]\nB: R[b, m]\nf = solve(A, B)", ["B has m rows"]),
    ("A: R[b, n, n]\nB: R[b, m, k]\nf = solve(A, B)", ["B has m rows"]),
    ("L: R[b, n, n]\nB: R[c, n]\nf = solve_triangular(L, B)", ["batch dimensions of B"]),
    ("A: R[b, m, n]\nf = inv(A)", ["inv", "square", "m x n"]),
    ("A: R[b, m, n]\nf = det(A)", ["det", "square"]),
    ("A: R[b, m, n]\nf = logdet(A)", ["square"]),
    ("A: R[b, m, n]\nf = cholesky(A)", ["square"]),
    ("A: R[b, m, n]\nf = eigvalsh(A)", ["square"]),
    ("A: R[b, m, n]\nf = expm(A)", ["square"]),
    ("A: R[b, m, n]\nf = matrix_power(A, 2)", ["square"]),
    ("A: R[b, m, n]\nB: R[b, m]\nf = solve(A, B)", ["square"]),
    ("A: R[b, n, n]\nB: R[k, k]\nf = kron(A, B)", ["kron", "rank 3"]),
    ("A: R[b, m, n]\nB: R[c, n, k]\nf = A @ B", ["batch axes"]),
])
def test_shape_errors_at_parse_time(src, words):
    with pytest.raises(ShapeError) as err:
        tcnb.parse(src)
    for w in words:
        assert w in str(err.value), str(err.value)


def _singular_stack(kind):
    rng = _rng(7)
    A = stack((3, N, N), rng, "spd")
    if kind == "singular":
        A[1] = np.ones((N, N))
    elif kind == "indefinite":
        A[2] = -np.eye(N)
    elif kind == "zero diagonal":
        A = stack((3, N, N), rng, "triangular")
        A[2, 1, 1] = 0.0
    return A


@pytest.mark.parametrize("src, kind, index, words", [
    ("f = inv(A)", "singular", 1, "singular"),
    ("f = logdet(A)", "singular", 1, "singular"),
    ("f = solve(A, x)", "singular", 1, "singular"),
    ("f = cholesky(A)", "indefinite", 2, "not positive definite"),
    ("f = solve_triangular(A, x)", "zero diagonal", 2, "diagonal"),
])
def test_a_bad_matrix_of_a_stack_is_named_by_its_batch_index(src, kind, index, words):
    f = tcnb.parse(f"A: R[b, n, n]\nx: R[b, n]\n{src}")["f"]
    with pytest.raises(tcnb.NumericalError) as err:
        f.evaluate(A=_singular_stack(kind), x=np.ones((3, N)))
    assert f"batch index ({index},)" in str(err.value) and words in str(err.value), str(err.value)


def test_one_singular_matrix_keeps_its_message():
    f = tcnb.parse("A: R[n, n]\nf = inv(A)")["f"]
    with pytest.raises(tcnb.NumericalError, match="the matrix is singular") as err:
        f.evaluate(A=np.ones((3, 3)))
    assert "batch" not in str(err.value)


def test_the_batch_size_one_and_the_standalone_module():
    """A batch of one matrix, and the standalone module (runtime helpers copied in) on a stack."""
    rng = _rng(8)
    A = stack((1, N, N), rng, "spd")
    f = tcnb.parse("A: R[b, n, n]\nf = sum(logdet(A)) + sum(cholesky(A))")["f"]
    g = tcnb.grad(f, "A")
    np.testing.assert_allclose(f.evaluate(A=A), np.linalg.slogdet(A)[1].sum() + np.linalg.cholesky(A).sum())
    scope = {}
    exec(g.to_source(standalone=True), scope)
    fn = scope[scope["__all__"][0]]
    A3 = stack((3, N, N), rng, "spd")
    np.testing.assert_allclose(fn(A3), g.evaluate(A=A3), rtol=1e-12)


# ------------------------------------------------------------------ ported from autograd's tests/test_linalg.py
# (HIPS/autograd: its batched real cases, "_3d", "stacked" and "broadcast(ing)"). autograd's check_grads
# checks reverse-mode first and second derivatives against numerical ones; here every output's
# Jacobian (all three modes) is checked against JAX and central differences, and the Hessian of a
# random projection sum(C * out) against JAX.

_SWAP = {3: "einsum('bij->bji', {})", 4: "einsum('pqij->pqji', {})"}


def _sym_src(rank, tri="tril"):
    """S = (tril(A) + tril(A)ᵀ)/2 over the last two axes (autograd's check_symmetric_matrix_grads)."""
    return f"S = ({tri}(A) + {_SWAP[rank].format(tri + '(A)')}) / 2\n"


def _j_signs(v):
    idx = jnp.argmax(jnp.abs(v), axis=-2)
    return jnp.sign(jnp.take_along_axis(v, idx[..., None, :], axis=-2))


def _j_sym(A, tri=jnp.tril):
    return (tri(A) + jnp.swapaxes(tri(A), -1, -2)) / 2


def _j_eigh(S):
    w, v = jnp.linalg.eigh(S)
    return [w, v * _j_signs(v)]


def _j_svd(A):
    u, s, vt = jnp.linalg.svd(A, full_matrices=False)
    sg = _j_signs(u)
    return [u * sg, s, jnp.swapaxes(vt, -1, -2) * sg]


def _psd_stack(rng, count, d, shift=0.0):
    mats = [rng.standard_normal((d, d)) for _ in range(count)]
    return np.stack([m @ m.T + shift * np.eye(d) for m in mats])


def _broadcast_hmat(rng):
    mat = rng.standard_normal((2, 3, 6, 6)) + 10 * np.eye(6)
    return np.einsum("...ij,...kj->...ik", mat, mat)


_VB = np.random.default_rng(11)
_B1 = _VB.standard_normal((5, 4))          # test_solve_arg1_3d's B: a stack of vectors
_B2 = _VB.standard_normal((5, 4, 6))       # test_solve_arg1_3d_3d's B: a stack of matrices
SVD_OUT = ["svd_u(A)", "svdvals(A)", "svd_v(A)"]
PORTED = [
    # name, tcnb outputs of A, oracle outputs, input maker
    ("test_inv_3d", ["inv(A)"], lambda A: [jnp.linalg.inv(A)],
     lambda rng: rng.standard_normal((4, 4, 4)) + 5 * np.eye(4)),
    ("test_inv_3d (4-d)", ["inv(A)"], lambda A: [jnp.linalg.inv(A)],
     lambda rng: rng.standard_normal((4, 4, 4, 4)) + 5 * np.eye(4)),
    ("test_solve_arg1_3d", ["solve(A, B1)"], lambda A: [jnp.linalg.solve(A, jnp.asarray(_B1)[..., None])[..., 0]],
     lambda rng: rng.standard_normal((5, 4, 4)) + 5 * np.eye(4)),
    ("test_solve_arg1_3d_3d", ["solve(A, B2)"], lambda A: [jnp.linalg.solve(A, jnp.asarray(_B2))],
     lambda rng: rng.standard_normal((5, 4, 4)) + 5 * np.eye(4)),
    ("test_det_3d", ["det(A)"], lambda A: [jnp.linalg.det(A)], lambda rng: rng.standard_normal((3, 3, 3))),
    ("test_slogdet_3d", ["sum(logdet(A))"], lambda A: [jnp.sum(jnp.linalg.slogdet(A)[1])],
     lambda rng: _psd_stack(rng, 3, 5, 5.0)),
    ("test_eigvalh_lower_broadcasting", [_sym_src(4) + "eigvalsh(S)", _sym_src(4) + "eigh_vectors(S)"],
     lambda A: _j_eigh(_j_sym(A)), _broadcast_hmat),
    ("test_eigvalh_upper_broadcasting", [_sym_src(4, "triu") + "eigvalsh(S)", _sym_src(4, "triu") + "eigh_vectors(S)"],
     lambda A: _j_eigh(_j_sym(A, jnp.triu)), _broadcast_hmat),
    ("test_cholesky_broadcast", [_sym_src(3) + "cholesky(S)"], lambda A: [jnp.linalg.cholesky(_j_sym(A))],
     lambda rng: _psd_stack(rng, 3, 6)),
    ("test_svd_wide_3d", SVD_OUT, _j_svd, lambda rng: rng.standard_normal((4, 3, 5))),
    ("test_svd_square_3d", SVD_OUT, _j_svd, lambda rng: rng.standard_normal((3, 4, 4))),
    ("test_svd_tall_3d", SVD_OUT, _j_svd, lambda rng: rng.standard_normal((4, 5, 3))),
    ("test_svd_only_s_3d", ["svdvals(A)"], lambda A: [jnp.linalg.svd(A, compute_uv=False)],
     lambda rng: rng.standard_normal((4, 5, 3))),
    ("test_norm_nuclear_axis", ["sum(svdvals(einsum('ijk->kij', A)), axis=1)"],
     lambda A: [jnp.linalg.norm(A, ord="nuc", axis=(0, 1))], lambda rng: rng.standard_normal((6, 5, 4))),
] + [
    (f"test_pinv (stacked, M={M})", ["pinv(A)"], lambda A: [jnp.linalg.pinv(A)],
     (lambda M: lambda rng: rng.standard_normal((2, 5, M)))(M)) for M in range(2, 8)
] + [
    (f"test_pinv (stacked, low rank, M={M})", ["pinv(" + _SWAP[3].format("A") + " @ A)"],
     lambda A: [jnp.linalg.pinv(jnp.swapaxes(A, -1, -2) @ A)],
     (lambda M: lambda rng: rng.standard_normal((2, 5, M)))(M)) for M in range(2, 8)
]


@pytest.mark.parametrize("case", PORTED, ids=[c[0] for c in PORTED])
def test_ported_from_autograd(case):
    name, outs, oracle, make = case
    A = make(np.random.default_rng(zlib.crc32(name.encode())))
    arrays = {"A": A, "B1": _B1, "B2": _B2}
    decl = f"A: R[{', '.join(map(str, A.shape))}]\nB1: R[5, 4]\nB2: R[5, 4, 6]\n"
    expected = oracle(jnp.asarray(A))
    for k, out in enumerate(outs):
        *pre, last = out.split("\n")
        src = decl + "".join(p + "\n" for p in pre) + f"f = {last}"
        f = tcnb.parse(src)["f"]
        np.testing.assert_allclose(f.evaluate(**arrays), expected[k], rtol=1e-9, atol=1e-11)
        J_ref = np.asarray(jax.jacfwd(lambda X: oracle(X)[k])(jnp.asarray(A)))
        J_fd = central_diff(lambda X: np.asarray(oracle(jnp.asarray(X))[k]), A)
        np.testing.assert_allclose(J_ref, J_fd, rtol=1e-5, atol=1e-5)
        for mode in MODES:
            J = tcnb.jacobian(f, "A", mode=mode).evaluate(**arrays)
            np.testing.assert_allclose(J, J_ref, rtol=1e-7, atol=1e-8, err_msg=f"{name}[{k}] {mode}")
        C = np.random.default_rng(k).standard_normal(np.shape(expected[k]))
        dims = ", ".join(map(str, np.shape(C)))
        prog2 = tcnb.parse(src + (f"\nC: R[{dims}]\ng = sum(C * f)" if dims else "\ng = 0.7 * f"))
        C = C if dims else 0.7
        H_ref = np.asarray(jax.hessian(lambda X: jnp.sum(C * oracle(X)[k]))(jnp.asarray(A)))
        H = tcnb.hessian(prog2["g"], "A", mode="reverse").evaluate(**arrays, **({"C": C} if dims else {}))
        # pinv(xᵀx) of a rank-deficient xᵀx: its rank-5 part is ill-conditioned (σ down to 1e-2 for
        # M = 6) and the Hessian's P³ terms amplify round-off; tcnb and JAX then agree to 2e-5 and
        # differ from central differences of their own gradients by the same amount
        rtol = 1e-4 if "low rank" in name else 1e-6
        np.testing.assert_allclose(H, H_ref, rtol=rtol, atol=1e-7, err_msg=f"{name}[{k}] Hessian")


def test_tuple_functions_on_a_stack():
    """w, V = eigh(A) and U, s, Vt = svd(A) of a stack: Vt swaps the last two axes of each matrix."""
    rng = _rng(9)
    A = rng.standard_normal((3, 4, 2))
    S = stack((3, 3, 3), rng, "symmetric")
    prog = tcnb.parse("A: R[b, m, n]\nS: R[b, k, k]\nU, s, Vt = svd(A)\nw, V = eigh(S)\n"
                      "f = sum(s) + sum(w * w)")
    np.testing.assert_allclose(prog["U"].evaluate(A=A) @ (prog["s"].evaluate(A=A)[..., None] * prog["Vt"].evaluate(A=A)),
                               A, atol=1e-12)
    V, w = prog["V"].evaluate(S=S), prog["w"].evaluate(S=S)
    np.testing.assert_allclose(V @ (w[..., None] * np.swapaxes(V, -1, -2)), S, atol=1e-12)
    g = tcnb.grad(prog["f"], "A").evaluate(A=A, S=S)
    expected = jax.grad(lambda X: jnp.sum(jnp.linalg.svd(X, compute_uv=False)))(jnp.asarray(A))
    np.testing.assert_allclose(g, expected, rtol=1e-10, atol=1e-12)
