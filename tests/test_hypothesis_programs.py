"""Property-based tests of the language and the evaluator.

(a) Random well-typed programs — expression trees over declared variables with dimensions from
    {m, n, k}, built from + - * /, element-wise functions, sum, @, .T, named intermediate definitions
    and index-notation statements — evaluate equal to a NumPy evaluation of the same tree, computed
    here alongside the program text.
(b) Random text and mutated valid programs fed to ``tcnb.parse`` raise only TcnbError subclasses,
    each naming a line.
"""
from __future__ import annotations

import itertools

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tcnb

DIMS = ("m", "n", "k")
VECTORS = {d: f"v_{d}" for d in DIMS}
MATRICES = {(a, b): f"M_{a}{b}" for a in DIMS for b in DIMS}
SCALAR = "c"
DECLS = "\n".join([f"{SCALAR}: R"] + [f"{name}: R[{d}]" for d, name in VECTORS.items()]
                  + [f"{name}: R[{a}, {b}]" for (a, b), name in MATRICES.items()]) + "\n"


def _sigmoid(t):
    return 1.0 / (1.0 + np.exp(-t))


# element-wise functions: (template for the text, NumPy function); continuous and bounded-ish,
# so that small rounding differences never flip a result and values stay moderate
UNARY = [
    ("tanh({})", np.tanh),
    ("sin({})", np.sin),
    ("cos({})", np.cos),
    ("sigmoid({})", _sigmoid),
    ("softplus({})", lambda t: np.logaddexp(0.0, t)),
    ("relu({})", lambda t: np.maximum(t, 0.0)),
    ("abs({})", np.abs),
    ("square({})", np.square),
    ("exp(tanh({}))", lambda t: np.exp(np.tanh(t))),
    ("log(1 + square({}))", lambda t: np.log(1 + t * t)),
    ("sqrt(1 + square({}))", lambda t: np.sqrt(1 + t * t)),
    ("swish({})", lambda t: t * _sigmoid(t)),
]
USER_DEFS = "def swish(t): return t * sigmoid(t)\n"


class Builder:
    """Builds a program's text and, alongside, the NumPy value of every expression."""

    def __init__(self, draw, sizes, arrays):
        self.draw = draw
        self.sizes = sizes
        self.arrays = arrays
        self.statements: list[str] = []
        self.values: dict[str, np.ndarray] = {}   # definition name -> NumPy value
        self.shapes: dict[str, tuple] = {}        # definition name -> dimension symbols
        self.count = itertools.count()

    def fresh(self) -> str:
        return f"t{next(self.count)}"

    def dim(self):
        return self.draw(st.sampled_from(DIMS))

    def define(self, text, value, shape) -> str:
        name = self.fresh()
        self.statements.append(f"{name} = {text}")
        self.values[name] = value
        self.shapes[name] = shape
        return name

    # ----------------------------------------------------------------------------- expressions
    def leaf(self, shape):
        names = [n for n, s in self.shapes.items() if s == shape]
        if names and self.draw(st.booleans()):
            name = self.draw(st.sampled_from(names))     # reuse an earlier definition (a DAG)
            return name, self.values[name]
        if len(shape) == 0:
            if self.draw(st.booleans()):
                return SCALAR, self.arrays[SCALAR]
            d = self.dim()
            return f"sum({VECTORS[d]})", self.arrays[VECTORS[d]].sum()
        if len(shape) == 1:
            return VECTORS[shape[0]], self.arrays[VECTORS[shape[0]]]
        return MATRICES[shape], self.arrays[MATRICES[shape]]

    def expr(self, shape: tuple, depth: int):
        draw = self.draw
        if depth <= 0:
            return self.leaf(shape)
        kinds = ["leaf", "unary", "binop", "binop", "const", "div", "sum", "matmul", "named"]
        if len(shape) == 2:
            kinds += ["transpose"]
        if len(shape) >= 1:
            kinds += ["index", "index"]
        kind = draw(st.sampled_from(kinds))
        if kind == "leaf":
            return self.leaf(shape)
        if kind == "unary":
            template, f = draw(st.sampled_from(UNARY))
            text, val = self.expr(shape, depth - 1)
            return template.format(text), f(val)
        if kind == "binop":
            op = draw(st.sampled_from(["+", "-", "*"]))
            k = draw(st.integers(0, len(shape)))
            other = shape[len(shape) - k:]                  # a suffix: broadcasts by dimension symbol
            a_text, a = self.expr(shape, depth - 1)
            b_text, b = self.expr(other, depth - 1)
            if draw(st.booleans()):
                (a_text, a), (b_text, b) = (b_text, b), (a_text, a)
            val = {"+": np.add, "-": np.subtract, "*": np.multiply}[op](a, b)
            return f"({a_text} {op} {b_text})", val
        if kind == "const":
            op = draw(st.sampled_from(["+", "-", "*", "/"]))
            num = draw(st.sampled_from([0.5, 2.0, 3.0, -1.5, 1.0]))
            text, val = self.expr(shape, depth - 1)
            if draw(st.booleans()) and op != "/":
                val = {"+": num + val, "-": num - val, "*": num * val}[op]
                return f"({num!r} {op} {text})", val
            val = {"+": val + num, "-": val - num, "*": val * num, "/": val / num}[op]
            return f"({text} {op} {num!r})", val
        if kind == "div":
            a_text, a = self.expr(shape, depth - 1)
            k = draw(st.integers(0, len(shape)))
            b_text, b = self.expr(shape[len(shape) - k:], depth - 1)
            return f"({a_text} / (1 + square({b_text})))", a / (1 + b * b)
        if kind == "sum":
            if len(shape) == 2:
                return self.expr(shape, depth - 1)
            axis = draw(st.integers(0, len(shape)))
            child = shape[:axis] + (self.dim(),) + shape[axis:]
            text, val = self.expr(child, depth - 1)
            if len(shape) == 0 and draw(st.booleans()):
                return f"sum({text})", val.sum()
            return f"sum({text}, {axis})", val.sum(axis=axis)
        if kind == "matmul":
            d = self.dim()
            if len(shape) == 0:
                a_shape, b_shape = (d,), (d,)
            elif len(shape) == 1:
                a_shape, b_shape = ((shape[0], d), (d,)) if draw(st.booleans()) else ((d,), (d, shape[0]))
            else:
                a_shape, b_shape = (shape[0], d), (d, shape[1])
            a_text, a = self.expr(a_shape, depth - 1)
            b_text, b = self.expr(b_shape, depth - 1)
            return f"({a_text} @ {b_text})", a @ b
        if kind == "transpose":
            text, val = self.expr(shape[::-1], depth - 1)
            return f"({text}).T", val.T
        if kind == "named":
            text, val = self.expr(shape, depth - 1)
            return self.define(text, val, shape), val
        if kind == "index":
            return self.index_statement(shape, depth)
        raise AssertionError(kind)

    def index_statement(self, shape, depth):
        """``tN[i, j] = f(a[i, p]) * b[p, j] * ...``: a product of indexed factors, summing the rest."""
        draw = self.draw
        out = ("i", "j")[:len(shape)]
        label_dim = dict(zip(out, shape))
        for extra in ("p", "q")[:draw(st.integers(0, 2))]:
            label_dim[extra] = self.dim()
        labels = list(label_dim)
        factors = []
        for _ in range(draw(st.integers(1, 3))):
            rank = draw(st.integers(1, min(2, len(labels))))
            labs = tuple(draw(st.permutations(labels))[:rank])
            factors.append(labs)
        covered = {l for f in factors for l in f}
        factors += [(l,) for l in labels if l not in covered]
        texts, arrays, specs = [], [], []
        for labs in factors:
            fshape = tuple(label_dim[l] for l in labs)
            text, val = self.expr(fshape, depth - 1)
            name = text if text in self.values or text in self.arrays else self.define(text, val, fshape)
            ftext = f"{name}[{', '.join(labs)}]"
            if draw(st.booleans()):
                template, f = draw(st.sampled_from(UNARY))
                ftext, val = template.format(ftext), f(val)
            texts.append(ftext)
            arrays.append(val)
            specs.append("".join(labs))
        coef = draw(st.sampled_from([None, 2.0, -0.5]))
        rhs = " * ".join(texts)
        value = np.einsum(",".join(specs) + "->" + "".join(out), *arrays)
        if coef is not None:
            rhs, value = f"{coef!r} * {rhs}", coef * value
        name = self.fresh()
        self.statements.append(f"{name}[{', '.join(out)}] = {rhs}")
        self.values[name] = value
        self.shapes[name] = shape
        return name, value


@st.composite
def programs(draw):
    sizes = {d: draw(st.integers(1, 3)) for d in DIMS}
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    arrays = {SCALAR: np.asarray(rng.standard_normal())}
    arrays.update({name: rng.standard_normal(sizes[d]) for d, name in VECTORS.items()})
    arrays.update({name: rng.standard_normal((sizes[a], sizes[b])) for (a, b), name in MATRICES.items()})
    builder = Builder(draw, sizes, arrays)
    rank = draw(st.integers(0, 2))
    shape = tuple(draw(st.sampled_from(DIMS)) for _ in range(rank))
    text, value = builder.expr(shape, draw(st.integers(2, 5)))
    builder.statements.append(f"out = {text}")
    builder.values["out"] = value
    builder.shapes["out"] = shape
    source = DECLS + USER_DEFS + "\n".join(builder.statements) + "\n"
    return source, arrays, builder.values, builder.shapes


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs())
def test_random_programs_evaluate_like_numpy(case):
    source, arrays, values, shapes = case
    prog = tcnb.parse(source)
    for name, want in values.items():
        expr = prog[name]
        assert tuple(str(d) for d in expr.shape) == shapes[name], (name, source)
        got = expr.evaluate(**arrays)
        want = np.asarray(want, dtype=np.float64)
        assert got.dtype == np.float64 and got.shape == want.shape, (name, source)
        scale = 1.0 + float(np.max(np.abs(want))) if want.size else 1.0
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * scale, err_msg=f"{name} in\n{source}")


@settings(max_examples=80, deadline=None, derandomize=True,  # float32 tolerances: keep CI stable
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs())
def test_random_programs_float32_and_to_source(case):
    source, arrays, values, _ = case
    prog = tcnb.parse(source)
    out = prog["out"]
    arrays32 = {k: v.astype(np.float32) for k, v in arrays.items()}
    got = out.evaluate(**arrays32)
    assert got.dtype == np.float32
    want64 = out.evaluate(**{k: v.astype(np.float64) for k, v in arrays32.items()})
    scale = 1.0 + float(np.max(np.abs(want64))) if want64.size else 1.0
    np.testing.assert_allclose(got, want64, rtol=2e-3, atol=2e-3 * scale, err_msg=source)
    # the printed code is the code that runs
    from tcnb.backend import runtime
    sizes = {d: arrays[VECTORS[d]].shape[0] for d in DIMS}
    namespace: dict = {}
    exec(out.to_source(**sizes), namespace)
    used = sorted(out.variables)
    res = namespace["tcnb_fn"](np, runtime, np.float64, *[arrays[n] for n in used])
    res = res[0] if isinstance(res, tuple) else res
    np.testing.assert_allclose(np.asarray(res, dtype=np.float64), values["out"], rtol=1e-9,
                               atol=1e-9 * (1.0 + float(np.max(np.abs(values["out"])))), err_msg=source)


# ------------------------------------------------------------------------------- malformed input

def _check_parse(source):
    try:
        prog = tcnb.parse(source)
    except tcnb.TcnbError as err:
        assert isinstance(err.line, int) and err.line >= 1, f"no line in {type(err).__name__}: {err!r}"
        str(err)
        return None
    for expr in prog.values():  # whatever parses has a symbolic shape
        assert len(expr.shape) == expr.rank
    return prog


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("XwyAnmijk RT[](),:=+-*/@.\n\"'#0123456789_ex")), max_size=60))
def test_random_text_raises_only_tcnb_errors(source):
    _check_parse(source)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_random_unicode_raises_only_tcnb_errors(source):
    _check_parse(source)


VALID = [
    "X: R[m, n]\ny: R[m]\nw: R[n]\nz = X @ w\nf = sum(log(1 + exp(-y * z)))\n",
    "X: R[m, n]\ns: R[m]\nG[i, j] = X[k, i] * s[k] * X[k, j]\nh = einsum(\"ij,j->i\", G, ones(n))\n",
    "A: R[n, n]\nx: R[n]\nc: R\nq = x @ inv(A) @ x + logdet(A) - trace(A) * c\nd = det(A.T)\n",
    "X: R[m, n]\ndef swish(t): return t * sigmoid(t)\nP = softmax(swish(X), 1)\nl = logsumexp(X, 0)\n",
    "x: R[n]\ny: R[m]\no = outer(x, y)\nn2 = norm2(o) + dot(x, x) + mean(y)\nD = diag(x) + eye(n)\n",
    "T: R[k, m, n]\nM: R[n, k]\nB = T @ M\nr = sum(B, (0, 2))\nu = relu(T) * abs(T) - sign(T)\n",
    "x: R[n]\nY[i, j:m] = tanh(x[i])\nz = sqrt(square(x) + 1) ** 1.5 / 2\n",
]
TOKENS = ["@", ".T", "[", "]", "(", ")", ",", ":", "=", "+", "-", "*", "/", "**", "exp(", "sum(",
          "einsum(", '"ij->"', '"ij,j->i"', '"ii"', "i", "j", "k", "n", "m", "X", "x", "w", "R", "R[",
          "\n", "    ", "0", "1", "-1", "1e400", "0.0", "None", "lambda t: ", " if ", "for ", "def ",
          "return ", "#", "'", '"', "\\", "axis=", "eye(", "ones(", "inv(", "x[i + j]", "...", ";",
          "0.5", "2", "@@", "\t", "λ", "import ", "*x", "**x", " and ", "[i, i]", "[]", "()", "{}",
          "x: R", "f = ", "G[i, j] = ", "def f(t): return ", "softmax(", "logsumexp(", "diag(",
          "trace(", "det(", ", axis=5", ", 0", "1/0", "0 ** -1", "2 ** 2000"]


@st.composite
def mutated_programs(draw):
    src = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["insert", "delete", "replace", "dup_line", "swap_lines", "truncate"]))
        pos = draw(st.integers(0, len(src)))
        if kind == "insert":
            src = src[:pos] + draw(st.sampled_from(TOKENS)) + src[pos:]
        elif kind == "delete":
            end = draw(st.integers(pos, min(len(src), pos + 8)))
            src = src[:pos] + src[end:]
        elif kind == "replace":
            end = draw(st.integers(pos, min(len(src), pos + 3)))
            src = src[:pos] + draw(st.sampled_from(TOKENS)) + src[end:]
        elif kind == "dup_line":
            lines = src.split("\n")
            k = draw(st.integers(0, len(lines) - 1))
            lines.insert(k, lines[k])
            src = "\n".join(lines)
        elif kind == "swap_lines":
            lines = src.split("\n")
            a, b = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[a], lines[b] = lines[b], lines[a]
            src = "\n".join(lines)
        else:
            src = src[:pos]
    return src


@settings(max_examples=800, deadline=None)
@given(mutated_programs())
def test_mutated_programs_raise_only_tcnb_errors(source):
    _check_parse(source)


def test_valid_seed_programs_parse():
    for src in VALID:
        assert _check_parse(src) is not None
