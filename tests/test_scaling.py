"""Issue 11 item 9: cost grows linearly with the program, in derivation and in display.

Each case once took minutes (or raised RecursionError). No timings are asserted: each test runs
under a generous pytest timeout, and the values of the deep cases are checked against JAX or an
exact NumPy recurrence. Measured times: ``python benchmarks/scaling.py``.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest
import sympy

import tcnb
from tcnb import diff, ir
from tcnb.render.matrix import to_matrix

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402

from benchmarks.scaling import (chained_elementwise_program, layers_program, nested,  # noqa: E402
                                nested_program)


def _nest(x, depth, tanh=np.tanh):
    for _ in range(depth):
        x = tanh(x)
    return x


def _layers_hessian(X, d0, k):
    """Exact Hessian of sum(d_k), d_j = tanh(X d_{j-1}), by second-order forward recurrence."""
    n = len(d0)
    d, J, T = d0, np.eye(n), np.zeros((n, n, n))
    for _ in range(k):
        z, dz, d2z = X @ d, X @ J, np.einsum("ij,jab->iab", X, T)
        d = np.tanh(z)
        s1, s2 = 1 - d ** 2, -2 * d * (1 - d ** 2)
        J = s1[:, None] * dz
        T = s1[:, None, None] * d2z + s2[:, None, None] * dz[:, :, None] * dz[:, None, :]
    return T.sum(0)


def _layer_inputs(n=3, seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return 1.2 * q, rng.normal(size=n)  # gain > 1: the Hessian neither vanishes nor explodes


def _operands(node) -> int:
    return sum(len(n.operands) for n in ir.topological([node]) if isinstance(n, ir.Einsum))


# ------------------------------------------------------------------------------------- display

@pytest.mark.timeout(60)
@pytest.mark.parametrize("depth", [12, 16])
def test_nested_tanh_program_shows_quickly(depth):
    prog = tcnb.parse(nested_program(depth))
    assert repr(prog).count("tanh(") == depth
    assert prog._repr_latex_().count(r"\tanh") == depth
    assert prog["f"].matrix().count("tanh") == depth


@pytest.mark.timeout(60)
def test_thousand_layers_display_without_recursion_error():
    f = tcnb.parse(layers_program(1000))["f"]
    assert repr(f).count("tanh") == 1000
    tex = f.latex()
    assert "failed" not in tex and tex.count(r"\tanh") == 1000 and r"\begin{aligned}" in tex
    assert "tanh" in f.to_source(n=3) and f.stats(n=3)["nodes"] > 2000
    assert len(f.graph().body) > 4000


@pytest.mark.timeout(60)
def test_matrix_notation_of_a_deep_chain():
    text = to_matrix(tcnb.parse(layers_program(300))["d300"].node)
    assert text is not None and text.count("tanh(X ") == 300


# ----------------------------------------------------------------------------------- derivation

@pytest.mark.timeout(60)
def test_hessian_of_100_nested_tanh_matches_jax():
    prog = tcnb.parse(nested_program(100))
    x = np.linspace(-1.5, 1.5, 5)
    H = tcnb.hessian(prog["f"], "x").evaluate(x=x)
    ref = jax.hessian(lambda v: jnp.sum(_nest(v, 100, jnp.tanh)))(x)
    np.testing.assert_allclose(H, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.timeout(60)
def test_hessian_of_100_layers_matches_jax():
    X, d0 = _layer_inputs()
    H = tcnb.hessian(tcnb.parse(layers_program(100))["f"], "d0").evaluate(X=X, d0=d0)

    def f(d):
        for _ in range(100):
            d = jnp.tanh(X @ d)
        return jnp.sum(d)
    np.testing.assert_allclose(H, jax.hessian(f)(d0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(H, _layers_hessian(X, d0, 100), rtol=1e-9, atol=1e-12)


@pytest.mark.timeout(120)
def test_hessian_of_1000_layers():
    X, d0 = _layer_inputs()
    f = tcnb.parse(layers_program(1000))["f"]
    for mode in ("cross-country", "reverse"):
        H = tcnb.hessian(f, "d0", mode=mode).evaluate(X=X, d0=d0)
        np.testing.assert_allclose(H, _layers_hessian(X, d0, 1000), rtol=1e-8, atol=1e-12)


@pytest.mark.timeout(60)
def test_hessian_size_grows_linearly_with_the_chain():
    """The fused gradient is differentiated before fusion, and fused products are bounded: the
    Hessian's products hold O(k) operands, not O(k²)."""
    sizes = {}
    for k in (50, 200):
        f = tcnb.parse(layers_program(k))["f"]
        sizes[k] = (_operands(tcnb.hessian(f, "d0").node), _operands(tcnb.grad(f, "d0").node))
    assert sizes[200][0] < 4.5 * sizes[50][0]
    assert sizes[200][1] < 4.5 * sizes[50][1]
    assert max(len(n.operands) for n in ir.topological([tcnb.grad(f, "d0").node])
               if isinstance(n, ir.Einsum)) <= diff.MAX_FUSED


@pytest.mark.timeout(60)
def test_hvp_of_a_long_chain_matches_the_hessian():
    X, d0 = _layer_inputs()
    src = layers_program(300) + "v: R[n]\n"
    prog = tcnb.parse(src)
    v = np.array([0.3, -1.0, 0.5])
    Hv = tcnb.hvp(prog["f"], "d0", prog["v"]).evaluate(X=X, d0=d0, v=v)
    np.testing.assert_allclose(Hv, _layers_hessian(X, d0, 300) @ v, rtol=1e-9, atol=1e-12)


# -------------------------------------------------------------------------------------- parsing

@pytest.mark.timeout(60)
@pytest.mark.parametrize("k", [300, 1000])
def test_chained_elementwise_definitions_parse(k):
    prog = tcnb.parse(chained_elementwise_program(k))
    x = np.linspace(-2, 2, 4)
    np.testing.assert_allclose(prog[f"a{k - 1}"].evaluate(x=x), _nest(x, k), rtol=1e-12)
    assert repr(prog[f"a{k - 1}"]).count("tanh") == k


def test_element_wise_fusion_stays_bounded():
    x = ir.Var.make("x", ("n",))
    two = ir.Elementwise.make(sympy.tanh(ir.T), ir.Elementwise.make(sympy.tanh(ir.T), x))
    assert two.arg is x  # small compositions are still one node
    node = x
    for _ in range(100):
        node = ir.Elementwise.make(sympy.tanh(ir.T), node)
    chain = [n for n in ir.topological([node]) if isinstance(n, ir.Elementwise)]
    assert len(chain) > 1
    assert all(ir.formula_size(n.fn) <= ir.FUSE_LIMIT for n in chain)
    assert all(ir.formula_shape(n.fn)[1] <= ir.FUSE_HEIGHT for n in chain)


# ------------------------------------------------------------------------------------- nesting

@pytest.mark.timeout(60)
def test_nesting_190_deep_parses_shows_and_differentiates():
    prog = tcnb.parse(nested_program(190))
    assert repr(prog).count("tanh(") == 190
    assert "failed" not in prog._repr_latex_()
    x = np.linspace(-1, 1, 3)
    H = tcnb.hessian(prog["f"], "x").evaluate(x=x)
    ref = jax.hessian(lambda v: jnp.sum(_nest(v, 190, jnp.tanh)))(x)
    np.testing.assert_allclose(H, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.timeout(60)
def test_nesting_199_deep_parses_from_a_deep_call_stack():
    """The reader has recursion room of its own: a caller 300 frames deep does not matter."""
    src = f"x: R[n]\nf = sum({nested('tanh', 198)})\n"

    def deep(k):
        return deep(k - 1) if k else tcnb.parse(src)
    assert repr(deep(300)).count("tanh(") == 198


@pytest.mark.timeout(60)
@pytest.mark.parametrize("body, line", [
    (nested("tanh", 2000), 2),                    # over Python's 200 brackets
    (" + ".join(["x"] * 2000), 2),                # 2000 levels of a + b + ...
    ("-" * 2000 + "x", 2),                        # 2000 unary minus
    (" + ".join(["x"] * 30000), 2),               # more than Python's own parser builds
])
def test_deeper_nesting_is_a_short_error(body, line):
    src = f"x: R[n]\nf = sum({body})\ng = f\n"
    with pytest.raises(tcnb.TensorSyntaxError) as info:
        tcnb.parse(src)
    msg = str(info.value)
    assert "nested too deeply" in msg and info.value.line == line
    assert len(msg) < 300, msg


def test_recursion_limit_is_restored():
    before = sys.getrecursionlimit()
    tcnb.parse(nested_program(50))
    with pytest.raises(tcnb.TensorSyntaxError):
        tcnb.parse(f"x: R[n]\nf = sum({'-' * 3000}x)\n")
    assert sys.getrecursionlimit() == before


# ----------------------------------------------------------------------------- program display

@pytest.mark.timeout(60)
def test_program_shows_definitions_by_earlier_names():
    """k chained definitions: each is shown as written (d3 = tanh(X d2)), so the whole program's
    text grows as O(k), not as O(k²) with every definition expanded."""
    prog = tcnb.parse(layers_program(1000))
    text = repr(prog)
    assert "d1000 = tanh((X *(ij,j->i) d999))   # shape (n)" in text
    assert text.count("tanh") == 1000 and len(text) < 60 * 1010
    tex = prog._repr_latex_()
    assert r"{d_{1000}}_{i} = \tanh{\left({\sum_{j} X_{ij} {d_{999}}_{j}} \right)}" in tex
    assert tex.count(r"\tanh") == 1000 and len(tex) < 100 * 1010
    display = pytest.importorskip("tcnb.notebook.display")  # the notebook extra
    assert display.ProgramView(prog, graph=False)._latex().count(r"\tanh") == 1000


def test_program_names_only_earlier_definitions():
    prog = tcnb.parse("x: R[n]\nb = tanh(tanh(x))\na = tanh(x)\nc = a * b\n")
    lines = repr(prog).splitlines()
    assert lines[1].startswith("b = tanh(tanh(x))")  # a comes later: not used in b
    # factor order follows node ids, which depend on which nodes are still alive (not on meaning)
    assert lines[3].startswith(("c = b *(i,i->i) a", "c = a *(i,i->i) b"))
    assert prog["c"].latex().count(r"\tanh") == 3  # an Expr on its own is written out in full
