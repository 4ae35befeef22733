"""The render layer: LaTeX in index notation, matrix notation, graphviz DOT/SVG, cost statistics."""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

import tcnb
from tcnb import ir
from tcnb.functions import elementwise_code
from tcnb.render import matrix as matrix_mod
from tcnb.render import stats, to_digraph, to_latex, to_matrix, to_matrix_latex, to_svg

SRC = """
X: R[m, n]
y: R[m]
w: R[n]
s: R[m]
A: R[n, n]
B: R[n, n]
x: R[n]
v: R[n]
Z: R[m, n]
T: R[n, k]
U: R[n, k]
V: R[k, k]
f = sum(log(1 + exp(-y * (X @ w))))
Gram = X.T @ X
G[i, j] = X[k, i] * s[k] * X[k, j]
tr = trace(inv(A) @ B)
d = det(A)
ld = logdet(A + B)
sm = softmax(Z, axis=1)
lse = logsumexp(x)
mf = sum((T - U @ V.T)**2)
q = x @ A @ x
mv = X @ w
ip = dot(x, v)
total = sum(x)
o = outer(x, v)
"""
EXTRA = """
c: R
e1 = sum(relu(X @ w) ** 2) + c * sum(abs(w))
e2 = sum(tanh(A @ x) * sin(x) / (1 + cos(x)**2))
e4 = sum(sqrt(exp(X @ w) + 1)) / 2 + sum(sign(x) * x)
e5 = x @ inv(A + A.T) @ x - logdet(A @ A.T) + trace(A) ** 2
e6 = sum(softmax(X, axis=0) * X) + logsumexp(X @ w)
e7 = mean(square(y - X @ w)) + 0.001 * norm2(w)
e8 = sum(diag(x) @ A @ diag(x)) + sum(diagonal(A) * x)
e9 = sum(outer(x, x) * A) - dot(x, x) / 3
e10 = sum(G) + sum(X @ A @ X.T) + s @ X @ x
"""
EXTRA_WRT = {"e1": ["w", "X"], "e2": ["x", "A"], "e4": ["w", "x"], "e5": ["x", "A"], "e6": ["w", "X"],
             "e7": ["w"], "e8": ["x", "A"], "e9": ["x", "A"], "e10": ["x", "X", "s"]}
MODES = ["reverse", "forward", "cross-country"]
SRC_NAMES = [line.split("=")[0].split("[")[0].strip() for line in SRC.splitlines() if "=" in line]


@pytest.fixture(scope="module")
def p():
    return tcnb.parse(SRC)


# ------------------------------------------------------------------------------- LaTeX well-formedness

def _check_tex(tex: str):
    """Balanced braces and \\left/\\right, no double sub/superscripts: what MathJax rejects."""
    depth = 0
    body = tex.replace(r"\{", "").replace(r"\}", "")
    for ch in body:
        depth += ch == "{"
        depth -= ch == "}"
        assert depth >= 0, tex
    assert depth == 0, tex
    assert len(re.findall(r"\\left\b", tex)) == len(re.findall(r"\\right\b", tex)), tex
    group = r"\{(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*\}"
    assert not re.search(r"_" + group + r"_", tex), f"double subscript: {tex}"
    assert not re.search(r"\^" + group + r"\^", tex), f"double superscript: {tex}"
    assert "\\begin{aligned}" in tex or "&" not in tex
    assert tex.count("\\begin{aligned}") == tex.count("\\end{aligned}")


def _derivatives(p):
    out = []
    for fname, wname in [("f", "w"), ("mf", "U"), ("tr", "A"), ("d", "A"), ("ld", "A"),
                         ("lse", "x"), ("q", "x")]:
        f, wrt = p[fname], p[wname]
        out.append(tcnb.grad(f, wrt))
        for mode in MODES:
            for compress in (True, False):
                out.append(tcnb.hessian(f, wrt, mode=mode, compress=compress))
    out.append(tcnb.jacobian(p["sm"], p["Z"]))
    return out


def test_latex_of_logistic_loss(p):
    tex = p["f"].latex()
    _check_tex(tex)
    assert tex.startswith("f = ")
    assert r"\sum_{i}" in tex and r"\sum_{j}" in tex
    assert "X_{ij}" in tex and "w_{j}" in tex and "y_{i}" in tex
    # log(1 + exp(t)) is canonicalised to softplus by the IR; either spelling is fine
    assert r"\operatorname{softplus}" in tex or r"\log" in tex


def test_latex_of_gradient_and_hessian_every_mode(p):
    f, w = p["f"], p["w"]
    g = tcnb.grad(f, w).latex()
    _check_tex(g)
    assert r"\nabla_{w} f" in g and r"\sigma" in g
    for mode in MODES:
        for compress in (True, False):
            H = tcnb.hessian(f, w, mode=mode, compress=compress)
            tex = H.latex()
            _check_tex(tex)
            assert r"\nabla^{2}_{w} f" in tex, (mode, compress, tex)
            assert "X_{" in tex and "y_{" in tex and r"\sigma" in tex
            assert r"\sum_{" in tex
    # the uncompressed reverse Hessian multiplies by a unit tensor; the compressed one does not
    assert r"\delta_" in tcnb.hessian(f, w, mode="reverse", compress=False).latex()
    assert r"\delta_" not in tcnb.hessian(f, w, mode="reverse", compress=True).latex()


def test_latex_of_all_derivatives_is_well_formed(p):
    for e in _derivatives(p):
        for tex in (to_latex(e.node, e.name, derivative=e), to_latex(e.node),
                    to_latex(e.node, e.name, e.indices, derivative=e)):
            _check_tex(tex)
            assert "text{" not in tex or "axis" in tex  # no fallback used
            assert r"\operatorname{f}" not in tex
        m = to_matrix_latex(e.node)
        if m is not None:
            _check_tex(m)
            assert r"\operatorname{f}" not in m


def test_latex_general_functions(p):
    tr = p["tr"].latex()
    _check_tex(tr)
    assert "A^{-1}" in tr and "B_{" in tr and r"\sum_{" in tr
    assert r"\det" in p["d"].latex()
    ld = p["ld"].latex()
    assert r"\det" in ld and r"\left(A + B\right)" in ld
    sm = p["sm"].latex()
    _check_tex(sm)
    assert r"\operatorname{softmax}" in sm and "axis" in sm
    assert r"\operatorname{logsumexp}\left(x\right)" in p["lse"].latex()
    grad_tr = tcnb.grad(p["tr"], p["A"]).latex()  # inv(A) is shared: defined once as a whole
    _check_tex(grad_tr)
    assert grad_tr.count("A^{-1}") == 1 and "t_{1} &= A^{-1}" in grad_tr


def test_latex_index_notation(p):
    G = p["G"]
    tex = to_latex(G.node, "G", indices=("i", "j"))
    _check_tex(tex)
    assert tex.startswith("G_{ij} = ")
    assert r"\sum_{k}" in tex
    for factor in ("X_{ki}", "X_{kj}", "s_{k}"):
        assert factor in tex
    assert to_latex(p["Gram"].node, "Gram").endswith(r"\sum_{k} X_{ki} X_{kj}")


def test_latex_unit_tensor_and_ones():
    n = ir.Var.make("x", ["n"])
    diag = ir.Einsum.make([n, ir.Delta.make(["n"])], [("i",), ("i", "j")], ("i", "j"))
    # the factors of a product are ordered by node creation (ids), so either order may be printed
    assert to_latex(diag, "D") in (r"D_{ij} = x_{i} \delta_{ij}", r"D_{ij} = \delta_{ij} x_{i}")
    # a ones-tensor that only broadcasts is dropped
    bc = ir.Einsum.make([n, ir.Const.make(1.0, ["m"])], [("i",), ("j",)], ("i", "j"))
    assert to_latex(bc, "Y") == "Y_{ij} = x_{i}"
    assert r"\mathbb{1}" in to_latex(ir.Const.make(1.0, ["n"]))


def test_latex_shared_subexpressions_stay_linear():
    x = ir.Var.make("x", ["n"])
    node = x
    for _ in range(30):  # each level uses the previous one twice: the tree has 2^30 leaves
        node = ir.Einsum.make([node, node], [("i",), ("i",)], ("i",))
        node = ir.Add.make([node, x])
    tex = to_latex(node, "z")
    _check_tex(tex)
    assert tex.startswith(r"\begin{aligned}")
    assert len(tex) < 200 * 40
    names = re.findall(r"^\{?t_\{(\d+)\}", tex, flags=re.M)
    assert len(names) == len(set(names)) > 10  # each shared node defined once


def test_latex_shared_names_avoid_variables():
    t = ir.Var.make("t", ["n"])
    sq = ir.Einsum.make([t, t], [("i",), ("i",)], ("i",))
    node = ir.Add.make([ir.Elementwise.make(ir.T ** 3, sq), sq])
    tex = to_latex(node, "z")
    _check_tex(tex)
    assert r"\tau_{1}" in tex and "t_{i}" in tex


def test_matrix_latex_uses_odot_for_entrywise_products(p):
    H = tcnb.hessian(p["f"], p["w"], mode="cross-country")
    tex = to_matrix_latex(H.node)
    _check_tex(tex)
    assert tex.startswith(r"X^{\top} \operatorname{diag}") and r"\odot \sigma" in tex


def test_latex_never_raises(monkeypatch):
    for node in [ir.Const.make(2.5), ir.Const.make(-3.0, ["n", "m"]), ir.Delta.make(["n", "m"]),
                 ir.Delta.make(["n"], dense=True), ir.Var.make("alpha", []),
                 ir.Var.make("X_train", ["n", "m"]), ir.Var.make("w1", ["n"])]:
        _check_tex(to_latex(node, "v"))
    from tcnb.render import latex as latex_mod

    def boom(*a, **k):
        raise RuntimeError("internal")
    monkeypatch.setattr(latex_mod.LatexPrinter, "document", boom)
    out = to_latex(ir.Var.make("x", ["n"]), "x")
    assert out.startswith(r"\text{") and out.endswith("}")


def test_latex_index_maps():
    prog = tcnb.parse("x: R[n]\nY[i:n, j:n] = exp(x[i + j])\nr[i:n] = x[n - 1 - i]\nz = sum(Y)")
    assert to_latex(prog["Y"].node, "Y", ("i", "j")) == "Y_{ij} = e^{{x_{i+j}}}"
    assert to_latex(prog["r"].node, "r", ("i",)) == "r_{i} = x_{n - 1-i}"
    g = to_latex(tcnb.grad(prog["z"], prog["x"]).node, "g")
    _check_tex(g)
    assert r"\delta_{i,\," in g


def _mathjax():
    """A node + mathjax-full checker when TCNB_MATHJAX_DIR names a folder with node_modules."""
    folder = os.environ.get("TCNB_MATHJAX_DIR")
    if not folder or not shutil.which("node") or \
            not os.path.isdir(os.path.join(folder, "node_modules", "mathjax-full")):
        pytest.skip("set TCNB_MATHJAX_DIR to a folder with node_modules/mathjax-full to run MathJax")
    script = r"""
const {mathjax} = require('mathjax-full/js/mathjax.js');
const {TeX} = require('mathjax-full/js/input/tex.js');
const {SVG} = require('mathjax-full/js/output/svg.js');
const {liteAdaptor} = require('mathjax-full/js/adaptors/liteAdaptor.js');
const {RegisterHTMLHandler} = require('mathjax-full/js/handlers/html.js');
const {AllPackages} = require('mathjax-full/js/input/tex/AllPackages.js');
RegisterHTMLHandler(liteAdaptor());
const tex = new TeX({packages: AllPackages, formatError: (j, e) => { throw e; }});
const doc = mathjax.document('', {InputJax: tex, OutputJax: new SVG({fontCache: 'none'})});
let data = ''; process.stdin.on('data', c => data += c);
process.stdin.on('end', () => console.log(JSON.stringify(JSON.parse(data).map(t => {
  try { doc.convert(t, {display: true}); return null; } catch (e) { return String(e.message || e); }
}))));
"""

    def check(texs):
        res = subprocess.run(["node", "-e", script], input=json.dumps(texs), capture_output=True,
                             text=True, cwd=folder, timeout=120)
        return json.loads(res.stdout)
    return check


def test_latex_compiles_in_mathjax(p):
    check = _mathjax()
    texs = []
    for name in SRC_NAMES:
        texs.append(p[name].latex())
    for e in _derivatives(p):
        texs.append(e.latex())
        m = to_matrix_latex(e.node)
        if m:
            texs.append(m)
    errors = [(t, r) for t, r in zip(texs, check(texs)) if r]
    assert not errors, errors[:3]


# ----------------------------------------------------------------------------------- matrix notation

def test_matrix_notation_products(p):
    assert p["Gram"].matrix() == "Xᵀ X"
    assert to_matrix_latex(p["Gram"].node) == r"X^{\top} X"
    assert p["mv"].matrix() == "X w"
    # equal spellings: factor order follows node creation (ids), which other tests can change
    assert p["ip"].matrix() in ("xᵀ v", "vᵀ x")
    assert p["total"].matrix() == "1ᵀ x"
    assert p["q"].matrix() == "xᵀ A x"
    assert p["o"].matrix() == "x vᵀ"
    assert p["G"].matrix() == "Xᵀ diag(s) X"
    assert p["tr"].matrix() in ("tr(B A⁻¹)", "tr(A⁻¹ B)")
    assert p["mf"].matrix() == "1ᵀ (T - U Vᵀ)² 1"


def test_matrix_notation_of_logistic_derivatives(p):
    f, w = p["f"], p["w"]
    assert tcnb.grad(f, w).matrix() == "-Xᵀ (y ⊙ σ(-(y ⊙ (X w))))"
    for mode in ("reverse", "cross-country"):
        H = tcnb.hessian(f, w, mode=mode).matrix()
        assert H is not None and "diag" in H and H.startswith("Xᵀ diag(") and H.endswith(") X")


def test_matrix_notation_none_when_not_representable(p):
    assert tcnb.hessian(p["mf"], p["U"]).matrix() is None  # rank 4
    assert to_matrix(tcnb.hessian(p["tr"], p["A"]).node) is None
    hess_lse = tcnb.hessian(p["lse"], p["x"]).matrix()
    assert hess_lse == "diag(softmax(x)) - softmax(x) softmax(x)ᵀ"


class _NumpyStyle(matrix_mod.Text):
    """Matrix notation spelled as NumPy code on column vectors: an oracle for the chain algorithm."""
    had, prod, scalar_prod = " * ", " @ ", " * "

    def ones_vec(self, dim):
        return f"np.ones(({dim}, 1))"

    def identity_mat(self, dim):
        return f"np.eye({dim})"

    def transpose(self, s):
        return s + ".T"

    def inverse(self, s):
        return f"np.linalg.inv({s})"

    def call(self, name, arg):
        return f"{name}({arg})"

    def diag(self, s):
        return f"np.diag(({s}).ravel())"

    def diagonal(self, s):
        return f"np.diagonal({s})[:, None]"

    def trace(self, s):
        return f"np.trace({s})"

    def num(self, v):
        return repr(float(v))

    def var(self, name):
        return f"V[{name!r}]"

    def scaled(self, c, s):
        return f"{c} * {s}"

    def elementwise(self, fn, arg, arg_prec):
        lines, expr = elementwise_code(fn, "_a", module="np")
        for name, e in reversed(lines):
            expr = f"(lambda {name}: {expr})({e})"
        return f"(lambda _a: {expr})({arg})", matrix_mod.ATOM

    def general(self, name, args, params):
        arg = args[0][0]
        axis = dict(params).get("axis")
        code = {"inv": f"np.linalg.inv({arg})", "det": f"np.linalg.det({arg})",
                "logdet": f"np.linalg.slogdet({arg})[1]",
                "softmax": f"_rt.softmax(np, {arg}, {axis})",
                "logsumexp": f"_col(_rt.logsumexp(np, {arg}, {axis}))"}[name]
        return code, matrix_mod.ATOM


def test_matrix_notation_evaluates_to_the_same_values(p, rng):
    from tcnb.backend import runtime
    sizes = {"m": 5, "n": 4, "k": 3}
    arrays = {"X": rng.standard_normal((5, 4)), "y": rng.standard_normal(5),
              "w": rng.standard_normal(4), "s": rng.standard_normal(5),
              "A": rng.standard_normal((4, 4)) + 4 * np.eye(4), "B": rng.standard_normal((4, 4)),
              "x": rng.standard_normal(4), "v": rng.standard_normal(4),
              "Z": rng.standard_normal((5, 4)), "T": rng.standard_normal((4, 3)),
              "U": rng.standard_normal((4, 3)), "V": rng.standard_normal((3, 3)), "c": 0.7}
    V = {k: (a[:, None] if np.ndim(a) == 1 else a) for k, a in arrays.items()}
    ns = {"np": np, "V": V, "_rt": runtime, "m": 5, "n": 4, "k": 3,
          "_col": lambda a: a[:, None] if np.ndim(a) == 1 else a}
    exprs = [p[name] for name in SRC_NAMES] + _derivatives(p)
    extra = tcnb.parse(SRC + EXTRA)
    for name, wrts in EXTRA_WRT.items():
        exprs.append(extra[name])
        for wname in wrts:
            exprs.append(tcnb.grad(extra[name], extra[wname]))
            exprs.append(tcnb.hessian(extra[name], extra[wname], mode="cross-country"))
    checked = 0
    for e in exprs:
        text = matrix_mod.to_matrix(e.node)
        code = matrix_mod._to(e.node, _NumpyStyle())
        assert (text is None) == (code is None), e.name
        if code is None:
            continue
        need = {v: arrays[v] for v in e.variables}
        expected = np.asarray(e.evaluate(**need, **{d: sizes[d] for d in sizes}))
        got = np.squeeze(np.asarray(eval(code, ns), dtype=float))
        np.testing.assert_allclose(got, expected.reshape(got.shape) if expected.size == got.size
                                   else expected, rtol=1e-9, atol=1e-9, err_msg=f"{e.name}: {text}")
        checked += 1
        assert "**" not in text and "⊙  ⊙" not in text and "* " not in text, text
        assert text.count("(") == text.count(")"), text
        assert ("diag(" in text.replace("diagonal(", "")) == ("np.diag(" in code)
    assert checked >= 60


# --------------------------------------------------------------------------------------------- DOT

def test_dot_labels_and_deltas(p):
    g = p["Gram"].graph()
    src = g.source
    assert "*(ki,kj->ij)" in src
    assert "Gram =" in src
    H = tcnb.hessian(p["mf"], p["U"], compress=True)
    src = to_digraph(H.node, name=H.name).source
    assert "δ" in src and "diamond" in src
    assert any(isinstance(n, ir.Delta) for n in ir.topological([H.node]))
    H_dense = tcnb.hessian(p["mf"], p["U"], compress=False)
    assert "δ dense" in to_digraph(H_dense.node).source
    for n in ir.topological([H.node]):
        if isinstance(n, ir.Einsum):
            assert f"*({tcnb.einstein.spec_of(n)})" in src


def test_dot_shared_subexpression_is_one_node(p):
    H = tcnb.hessian(p["f"], p["w"], mode="forward", compress=False)  # a DAG with a shared node
    order = ir.topological([H.node])
    uses: dict = {}
    for n in order:
        for ch in n.children:
            uses[ch.id] = uses.get(ch.id, 0) + 1
    shared = [n for n in order if uses.get(n.id, 0) > 1 and n.children]
    assert shared
    src = to_digraph(H.node).source
    for n in shared:
        assert len(re.findall(rf"^\s*n{n.id} \[", src, flags=re.M)) == 1
        assert len(re.findall(rf"^\s*n{n.id} -> ", src, flags=re.M)) == uses[n.id]
    assert len(re.findall(r"^\s*n\d+ \[", src, flags=re.M)) == len(order)


def test_dot_highlight_sizes_title(p):
    node = p["mv"].node
    g = to_digraph(node, name="z", highlight={node.id}, sizes={"m": 3, "n": 4}, title="step 1")
    src = g.source
    assert "(3, 4)" in src and "step 1" in src
    line = next(l for l in src.splitlines() if l.strip().startswith(f"n{node.id} ["))
    assert "#d00000" in line and "peripheries=2" in line


def test_svg_with_dot(p):
    if not shutil.which("dot"):
        pytest.skip("graphviz dot is not installed")
    svg = to_svg(p["mv"].node, name="mv")
    assert "<svg" in svg
    texts = [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
    assert "X" in texts and "w" in texts and "*(ij,j->i)" in texts and "mv =" in texts


def test_svg_without_dot_says_how_to_install(p, monkeypatch):
    from tcnb.render import dot as dot_mod
    monkeypatch.setattr(dot_mod.shutil, "which", lambda name: None)
    with pytest.raises(tcnb.BackendUnavailableError) as err:
        to_svg(p["mv"].node)
    msg = str(err.value)
    assert "apt install graphviz" in msg and "conda install graphviz" in msg and "brew" in msg
    assert isinstance(err.value, tcnb.TcnbError)


# ------------------------------------------------------------------------------------------- stats

def test_stats_counts_and_matvec_flops(p):
    st = p["mv"].stats(m=3, n=4)
    assert st["nodes"] == len(ir.topological([p["mv"].node])) == 3
    assert st["multiplications"] == 1
    assert st["flops"] == 2 * 3 * 4  # 2·m·n for X @ w
    assert st["dense_bytes"] == 8 * 3
    assert st["input_bytes"] == 8 * (3 * 4 + 4)
    assert st["peak_bytes"] == st["input_bytes"] + st["dense_bytes"]
    assert "<table" in st._repr_html_() and "FLOPs" in repr(st)


def test_stats_node_counts_match_dag(p):
    for e in _derivatives(p):
        st = stats(e.node, {"m": 5, "n": 4, "k": 3})
        order = ir.topological([e.node])
        assert st["nodes"] == len(order)
        assert st["multiplications"] == sum(isinstance(n, ir.Einsum) for n in order)
        assert st["unit_tensors"] == sum(isinstance(n, ir.Delta) for n in order)
        assert st["flops"] >= 0 and st["peak_bytes"] >= st["dense_bytes"]


def test_stats_compressed_is_cheaper(p):
    sizes = {"m": 200, "n": 50, "k": 10}
    for f, w in [("f", "w"), ("mf", "U")]:
        for mode in MODES:
            small = tcnb.hessian(p[f], p[w], mode=mode, compress=True).stats(**sizes)
            big = tcnb.hessian(p[f], p[w], mode=mode, compress=False).stats(**sizes)
            assert small["flops"] < big["flops"], (f, mode, small, big)
            assert small["dense_unit_tensors"] == 0 < big["dense_unit_tensors"]


def test_stats_missing_or_bad_size(p):
    with pytest.raises(tcnb.BindingError, match="'n'"):
        stats(p["mv"].node, {"m": 3})
    with pytest.raises(tcnb.BindingError):
        stats(p["mv"].node, {"m": 3, "n": 2.5})
