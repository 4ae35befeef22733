"""Hypothesis strategies for the randomised campaign (issue 11, item 12): tensor programs as text.

One random tree is written twice, in parallel: as tcnb source and as Python over an array
namespace ``J`` (NumPy or jax.numpy), so the oracle shares nothing with tcnb but the tree. The
programs go wider than tests/test_hypothesis_*.py: hostile names (names the generated code uses,
Python builtins, SymPy names), random dimension symbols, broadcasting with ``[:, None]`` and size-1
axes, index notation with sums of products, einsum (implicit output, diagonals, scalar operands),
user ``def`` functions, reductions, softmax/logsumexp, linear algebra, deep nesting, and the same
names re-declared with other shapes in a second program.

Features can be switched off for a long run that looks past a bug already known::

    TCNB_CAMPAIGN_AVOID=names,redeclare,newaxis,size1,index_sums,index_broadcast,index_inner,indexmap,text

(``names``: names the generated code uses; ``redeclare``: same names, other shapes — also empties
tcnb's compile caches between examples; ``text``: comments, blank lines, CRLF.)

``TCNB_CAMPAIGN_EXAMPLES=N`` scales every campaign test (CI default: small, derandomized budgets);
``TCNB_CAMPAIGN_LOG=file.jsonl`` records every failure instead of stopping at the first (for a long
run, grouped afterwards by ``signature``); ``TCNB_CAMPAIGN_SHRINK=1`` turns shrinking back on.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

# ------------------------------------------------------------------------------- budget

_LONG = os.environ.get("TCNB_CAMPAIGN_EXAMPLES")
AVOID = frozenset(filter(None, os.environ.get("TCNB_CAMPAIGN_AVOID", "").split(",")))

# No shrinking unless asked for (TCNB_CAMPAIGN_SHRINK=1): a failing example already carries its whole
# program in the message, and shrinking one through a known bug costs minutes of CI time.
_PHASES = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if os.environ.get("TCNB_CAMPAIGN_SHRINK") else [])
settings.register_profile(
    "campaign", deadline=None, print_blob=True, derandomize=_LONG is None, phases=_PHASES,
    report_multiple_bugs=False, database=None if _LONG is None else settings.default.database,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])


def campaign_settings(ci_examples: int, share: float = 1.0):
    """The campaign profile with ``ci_examples`` in CI, or ``share`` × TCNB_CAMPAIGN_EXAMPLES."""
    n = ci_examples if _LONG is None else max(1, int(int(_LONG) * share))
    return settings(settings.get_profile("campaign"), max_examples=n)


# ------------------------------------------------------------------------------- names

# names the code generator itself uses (known bug: user names colliding with generated names)
KNOWN_CLASH_NAMES = ["t1", "t2", "t3", "xp", "dtype", "e1_0", "e2_0", "_rt", "np", "tcnb_fn", "runtime",
                     "self", "backend"]   # (the last two: evaluate's own parameter names)
# other hostile names: Python builtins and modules, the generated function, evaluate's parameters,
# SymPy names, unicode
OTHER_HOSTILE_NAMES = ["round", "map", "len", "range", "float",
                       "tuple", "print", "math", "opt_einsum", "einsum_", "_", "__builtins__", "E", "I",
                       "pi", "N", "S", "beta", "gamma", "out", "result", "args", "shape", "x_1", "λ",
                       "δ", "Q", "lambda_", "ij", "jnp", "numpy", "cupy"]
PLAIN_NAMES = ["x", "y", "z", "w", "v", "u", "A", "B", "C", "W", "M", "X", "s", "c", "h", "g", "H",
               "f", "alpha", "theta", "G", "P", "L"]
DIM_POOL = ["m", "n", "k", "p", "q", "d", "N", "E", "I", "S", "beta", "batch", "n_1", "dtype", "xp",
            "t1", "len", "Q", "pi"]
INDEX_POOL = ["i", "j", "k", "l", "a", "b", "r", "s", "u", "v", "ii", "i1", "x", "A", "xp", "np", "_rt"]

FUNC_NAMES = ["swish", "bump", "cube", "f1", "g_", "soft", "xp", "np", "dtype", "tcnb_fn", "runtime",
              "math", "e1_0", "t2", "len", "round"]


def fresh_caches():
    """A long run that avoids the known compile-cache bug (same names re-declared with other
    shapes) starts every example with tcnb's module-level caches empty."""
    if "redeclare" not in AVOID:
        return
    import importlib
    from tcnb import structured
    importlib.import_module("tcnb.backend.compiled")._COMPILED.clear()
    structured._SPLITS.clear()
    structured._PLANS.clear()


def hostile_names() -> list:
    out = OTHER_HOSTILE_NAMES + ([] if "names" in AVOID else KNOWN_CLASH_NAMES)
    return out


# ------------------------------------------------------------------------------- the oracle

ORACLE_PRELUDE = """
def sg(t): return 1.0 / (1.0 + J.exp(-t))
def sp(t): return J.logaddexp(0.0, t)
def lse(t, axis=None, keepdims=False):
    m = J.max(t, axis=axis, keepdims=True)
    r = m + J.log(J.sum(J.exp(t - m), axis=axis, keepdims=True))
    return r if keepdims else (J.reshape(r, ()) if axis is None else J.squeeze(r, axis))
def smax(t, axis=None): return J.exp(t - lse(t, axis, keepdims=True))
def lsmax(t, axis=None): return t - lse(t, axis, keepdims=True)
def relu(t): return J.maximum(t, 0.0)
"""


@dataclass
class T:
    """One expression in both languages, with its shape as dimension names."""
    src: str
    py: str
    shape: tuple
    pos: bool = False       # known positive (log, sqrt, ** of it are safe)
    newaxis: bool = False   # carries a [:, None] view

    @property
    def rank(self):
        return len(self.shape)


@dataclass
class Case:
    """A generated program, its oracle, and the arrays to run both on."""
    source: str
    oracle: str
    defs: dict            # definition name -> shape (dimension names)
    out: str
    sizes: dict           # dimension name -> size
    var_shapes: dict      # declared name -> dims
    arrays: dict
    features: frozenset   # which generator features the program uses (for classification)
    seed: int = 0
    kinds: dict = field(default_factory=dict)   # declared name -> "normal" | "positive"

    def draw_arrays(self, sizes: dict, seed: int) -> dict:
        """Fresh arrays for the declared variables at other sizes."""
        rng = np.random.default_rng(seed)
        out = {}
        for n, dims in self.var_shapes.items():
            shp = tuple(dim_size(d, sizes) for d in dims)
            a = rng.uniform(0.5, 2.0, shp) if self.kinds.get(n) == "positive" else 0.7 * rng.standard_normal(shp)
            out[n] = np.asarray(a, dtype=np.float64)
        return out

    def at_sizes(self, sizes: dict, seed: int) -> "Case":
        """The same program at other sizes (literal dimensions keep theirs), with fresh arrays."""
        sizes = {d: (int(d) if d.isdigit() else sizes.get(d, n)) for d, n in self.sizes.items()}
        return Case(self.source, self.oracle, self.defs, self.out, sizes, self.var_shapes,
                    self.draw_arrays(sizes, seed), self.features, seed, self.kinds)

    def run_oracle(self, J, arrays=None) -> dict:
        """Every definition's value under the oracle (J = numpy or jax.numpy)."""
        V = dict(self.arrays if arrays is None else arrays)
        ns = {"J": J, "V": V, "S": dict(self.sizes), "U": {}}
        exec(ORACLE_PRELUDE, ns)
        exec(compile(self.oracle, "<campaign oracle>", "exec"), ns)
        return V

    def oracle_fn(self, J, wrt: str):
        """out as a function of one variable (the others fixed): for jax.jacobian."""
        code = compile(self.oracle, "<campaign oracle>", "exec")
        base = dict(self.arrays)
        sizes = dict(self.sizes)
        out = self.out

        def fn(value):
            V = {**base, wrt: value}
            ns = {"J": J, "V": V, "S": sizes, "U": {}}
            exec(ORACLE_PRELUDE, ns)
            exec(code, ns)
            return J.asarray(V[out], dtype=J.float64)   # a constant program is an int
        return fn

    def oracle_fn2(self, J, a: str, b: str):
        """out as a function of two variables (for mixed second derivatives)."""
        code = compile(self.oracle, "<campaign oracle>", "exec")
        base, sizes, out = dict(self.arrays), dict(self.sizes), self.out

        def fn(va, vb):
            V = {**base, a: va, b: vb}
            ns = {"J": J, "V": V, "S": sizes, "U": {}}
            exec(ORACLE_PRELUDE, ns)
            exec(code, ns)
            return J.asarray(V[out], dtype=J.float64)
        return fn

    def report(self) -> str:
        return (f"\n--- tcnb program (sizes {self.sizes}, seed {self.seed}):\n{self.source}"
                f"--- oracle:\n{self.oracle}")


# element-wise functions: (tcnb template, oracle template, bounded, positive, smooth)
UNARY = [
    ("tanh({})", "J.tanh({})", True, False, True),
    ("sin({})", "J.sin({})", True, False, True),
    ("cos({})", "J.cos({})", True, False, True),
    ("sigmoid({})", "sg({})", True, True, True),
    ("softplus({})", "sp({})", False, True, True),
    ("exp(tanh({}))", "J.exp(J.tanh({}))", True, True, True),
    ("exp(-({}) ** 2)", "J.exp(-({}) ** 2)", True, False, True),
    ("square({})", "J.square({})", False, False, True),
    ("({}) ** 3", "({}) ** 3", False, False, True),
    ("log(1 + square({}))", "J.log(1 + J.square({}))", False, False, True),
    ("sqrt(1 + ({}) ** 2)", "J.sqrt(1 + ({}) ** 2)", False, True, True),
    ("tan(tanh({}))", "J.tan(J.tanh({}))", True, False, True),
    ("-({})", "-({})", False, False, True),
    ("abs({})", "J.abs({})", False, False, False),
    ("relu({})", "relu({})", False, False, False),
    ("sign({0}) * ({0})", "J.sign({0}) * ({0})", False, False, False),
    # patterns the simplifier rewrites (softplus, -softplus(-u))
    ("log(1 + exp({}))", "sp({})", False, True, True),
    ("log(exp({}) + 1)", "sp({})", False, True, True),
    ("log(sigmoid({}))", "(-sp(-({})))", False, False, True),
]
BOUNDED = [u for u in UNARY if u[2] and u[4]]
# scalar formulas for user functions: (tcnb, oracle with t)
USER_FORMULAS = [
    ("t * sigmoid(t)", "t * sg(t)"),
    ("tanh(t) ** 2 + 0.5 * t", "J.tanh(t) ** 2 + 0.5 * t"),
    ("sin(t) * cos(2 * t)", "J.sin(t) * J.cos(2 * t)"),
    ("log(1 + t ** 2)", "J.log(1 + t ** 2)"),
    ("exp(-t ** 2) * t", "J.exp(-t ** 2) * t"),
    ("t / (1 + t * t)", "t / (1 + t * t)"),
    ("softplus(t) - t / 2", "sp(t) - t / 2"),
    ("t ** 3 - 2 * t", "t ** 3 - 2 * t"),
    ("sqrt(1 + t ** 2) - 1", "J.sqrt(1 + t ** 2) - 1"),
]
CONSTS = ["0.5", "2", "3.0", "-1.5", "0.25", "1", "1e-3", "10", "-2", "0", ".5", "5.", "1_0", "0x3", "2e0"]


def dim_size(d: str, sizes: dict) -> int:
    """The size of a dimension written as text: a symbol, an integer, or arithmetic of those."""
    if d in sizes:
        return sizes[d]
    if d.isdigit():
        return int(d)
    return int(eval(d, {"__builtins__": {}}, dict(sizes)))


class Builder:
    """Builds one program's text and its oracle from hypothesis draws."""

    def __init__(self, draw, *, smooth: bool, avoid=AVOID, names=None, max_rank=3, ndims=None, focus=()):
        self.draw = draw
        self.focus = list(focus)   # kinds drawn more often (each entry once more)
        self.smooth = smooth
        self.avoid = frozenset(avoid)
        self.max_rank = max_rank
        self.features: set = set()
        self.lines: list = []      # tcnb statements after the declarations
        self.py: list = []         # oracle statements
        self.decls: dict = {}      # name -> (dims, kind)
        self.decl_order: list = []
        self.named: list = []      # T of every named tensor (variables and definitions)
        self.defs: dict = {}       # definition name -> shape
        self.funcs: dict = {}      # user function name -> oracle lambda text
        self.taken: set = set()
        pool = hostile_names() + PLAIN_NAMES
        self.name_order = names if names is not None else draw(st.permutations(pool))
        self.name_cursor = 0
        self.counter = 0
        # dimension symbols and sizes
        nd = ndims or draw(st.integers(1, 3))
        dim_pool = [d for d in DIM_POOL if "names" not in self.avoid or d not in KNOWN_CLASH_NAMES]
        self.dims = list(draw(st.permutations(dim_pool))[:nd])
        if "size1" not in self.avoid and draw(st.integers(0, 4)) == 0:
            self.dims.append("1")
        if draw(st.integers(0, 5)) == 0:
            self.dims.append("2")   # a literal dimension: its own symbol
        big = draw(st.integers(0, 5)) == 0   # now and then sizes up to 5
        self.sizes = {d: (int(d) if d.isdigit() else draw(st.integers(1, 5 if big else 3))) for d in self.dims}
        self.taken |= set(self.dims)

    # ------------------------------------------------------------------ names
    def fresh(self, what="tensor") -> str:
        while self.name_cursor < len(self.name_order):
            n = self.name_order[self.name_cursor]
            self.name_cursor += 1
            if n not in self.taken and n not in INDEX_POOL[:10]:
                self.taken.add(n)
                if n in KNOWN_CLASH_NAMES:
                    self.features.add("names")
                elif n in OTHER_HOSTILE_NAMES:
                    self.features.add("hostile")
                return n
        self.counter += 1
        n = f"z{self.counter}"
        self.taken.add(n)
        return n

    def dim(self):
        return self.draw(st.sampled_from([d for d in self.dims if d != "1"] or self.dims))

    def shape(self, rank):
        return tuple(self.dim() for _ in range(rank))

    # ------------------------------------------------------------------ leaves
    def declare(self, dims, kind="normal") -> T:
        name = self.fresh()
        self.decls[name] = (tuple(dims), kind)
        self.decl_order.append(name)
        t = T(name, f"V[{name!r}]", tuple(dims), pos=(kind == "positive"))
        self.named.append(t)
        return t

    def variable(self, shape, pos=False) -> T:
        have = [t for t in self.named if t.shape == shape and t.src in self.decls and (t.pos or not pos)]
        if have and self.draw(st.integers(0, 2)) > 0:
            return self.draw(st.sampled_from(have))
        return self.declare(shape, "positive" if pos else "normal")

    def leaf(self, shape, pos=False) -> T:
        named = [t for t in self.named if t.shape == shape and (t.pos or not pos)]
        choice = self.draw(st.integers(0, 5))
        if named and choice <= 1:
            return self.draw(st.sampled_from(named))
        if not shape and choice == 2:
            c = self.draw(st.sampled_from(["0.5", "2", "3.0", "0.25"] if pos else CONSTS))
            return T(c, c, (), pos=pos or _num(c) > 0)
        return self.variable(shape, pos)

    # ------------------------------------------------------------------ definitions
    def define(self, t: T) -> T:
        name = self.fresh()
        self.lines.append(f"{name} = {t.src}")
        self.py.append(f"V[{name!r}] = {t.py}")
        self.defs[name] = t.shape
        out = T(name, f"V[{name!r}]", t.shape, pos=t.pos)
        self.named.append(out)
        return out

    def user_function(self) -> tuple:
        if self.funcs and self.draw(st.booleans()):
            return self.draw(st.sampled_from(sorted(self.funcs)))
        pool = [n for n in FUNC_NAMES if n not in self.taken
                and ("names" not in self.avoid or n not in KNOWN_CLASH_NAMES)]
        name = pool[0] if pool else f"fn{len(self.funcs)}"
        if pool:
            name = self.draw(st.sampled_from(pool))
        self.taken.add(name)
        src, py = self.draw(st.sampled_from(USER_FORMULAS if self.smooth else USER_FORMULAS + [
            ("relu(t) - abs(t)", "relu(t) - J.abs(t)")]))
        if self.funcs and self.draw(st.booleans()):  # calls an earlier user function
            prev = self.draw(st.sampled_from(sorted(self.funcs)))
            src, py = f"{prev}({src}) + t", f"U[{prev!r}]({py}) + t"
        self.funcs[name] = py
        self.features.add("userfn")
        self.lines.append(f"def {name}(t): return {src}")
        self.py.append(f"U[{name!r}] = lambda t: {py}")
        return name

    # ------------------------------------------------------------------ expressions
    def expr(self, shape, depth, pos=False) -> T:
        if pos:
            return self.positive(shape, depth)
        if depth <= 0:
            return self.leaf(shape)
        kinds = ["leaf", "unary", "unary", "binop", "binop", "binop", "div", "pow", "log", "reduce",
                 "matmul", "named", "einsum", "index", "index", "userfn", "linalg", "softmax", "const",
                 "indexmap", "algebra", "gram"] + self.focus
        if len(shape) >= 2:
            kinds += ["transpose"]
        kind = self.draw(st.sampled_from(kinds))
        return getattr(self, "k_" + kind)(shape, depth - 1)

    def positive(self, shape, depth) -> T:
        if depth <= 0:
            return self.leaf(shape, pos=True)
        kind = self.draw(st.integers(0, 8))
        sub = depth - 1
        if kind == 0:
            return self.leaf(shape, pos=True)
        if kind == 1:
            a = self.expr(shape, sub)
            return T(f"(1 + square({a.src}))", f"(1 + J.square({a.py}))", shape, pos=True, newaxis=a.newaxis)
        if kind == 2:
            a = self.expr(shape, sub)
            f = self.draw(st.sampled_from([u for u in UNARY if u[3]]))
            return T(f[0].format(a.src), f[1].format(a.py), shape, pos=True, newaxis=a.newaxis)
        if kind == 3:
            a = self.expr(shape, sub)
            return T(f"(2 + cos({a.src}))", f"(2 + J.cos({a.py}))", shape, pos=True, newaxis=a.newaxis)
        if kind == 4 and shape:
            a = self.expr(shape, sub)
            axis = self.draw(st.integers(-len(shape), len(shape) - 1))
            return T(f"softmax({a.src}, {axis})", f"smax({a.py}, {axis})", shape, pos=True)
        if kind == 5:
            op = self.draw(st.sampled_from(["*", "+", "/"]))
            a, b = self.positive(shape, sub), self.positive(self.suffix(shape), sub)
            return T(f"({a.src} {op} {b.src})", f"({a.py} {op} {b.py})", shape, pos=True)
        if kind == 6:
            a = self.positive(shape, sub)
            e = self.draw(st.sampled_from(["0.5", "1.5", "-1", "-0.5", "2.5"]))
            return T(f"({a.src}) ** {e}", f"({a.py}) ** {e}", shape, pos=True)
        if kind == 7:
            a = self.positive(shape, sub)
            return T(f"sqrt({a.src})", f"J.sqrt({a.py})", shape, pos=True)
        return self.leaf(shape, pos=True)

    def bounded(self, shape, depth) -> T:
        a = self.expr(shape, depth)
        f = self.draw(st.sampled_from(BOUNDED))
        return T(f[0].format(a.src), f[1].format(a.py), shape, newaxis=a.newaxis)

    def suffix(self, shape):
        """A shape that broadcasts against ``shape`` NumPy-style (a suffix of it)."""
        k = self.draw(st.integers(0, len(shape)))
        return shape[len(shape) - k:]

    def k_leaf(self, shape, depth):
        return self.leaf(shape)

    def k_const(self, shape, depth):
        a = self.expr(shape, depth)
        c = self.draw(st.sampled_from(CONSTS))
        op = self.draw(st.sampled_from(["+", "-", "*", "/"]))
        if op == "/" and _num(c) == 0:
            c = "4"
        if self.draw(st.booleans()) or op == "/":
            return T(f"({a.src} {op} {c})", f"({a.py} {op} {c})", shape, newaxis=a.newaxis)
        return T(f"({c} {op} {a.src})", f"({c} {op} {a.py})", shape, newaxis=a.newaxis)

    def k_unary(self, shape, depth):
        pool = UNARY if not self.smooth else [u for u in UNARY if u[4]]
        f = self.draw(st.sampled_from(pool))
        a = self.expr(shape, depth)
        if a.newaxis:
            self.features.add("newaxis_fn")
        return T(f[0].format(a.src), f[1].format(a.py), shape, newaxis=a.newaxis)

    def k_userfn(self, shape, depth):
        name = self.user_function()
        a = self.expr(shape, depth)
        return T(f"{name}({a.src})", f"U[{name!r}]({a.py})", shape, newaxis=a.newaxis)

    def operand(self, shape, depth) -> T:
        """An operand broadcasting against ``shape``: a suffix, a [:, None] view, or a size-1 axis."""
        how = self.draw(st.integers(0, 6))
        if how >= 4 and shape and "newaxis" not in self.avoid:
            v = self.newaxis_view(shape, depth)
            if how == 6 and v.newaxis:   # a function of a view (known bug: new axes through functions)
                f = self.draw(st.sampled_from([u for u in UNARY if u[4] or not self.smooth]))
                self.features.add("newaxis_fn")
                return T(f[0].format(v.src), f[1].format(v.py), v.shape, newaxis=True)
            return v
        if how == 3 and shape and "1" in self.dims:
            return self.size1_operand(shape)
        return self.expr(self.suffix(shape), depth)

    def newaxis_view(self, shape, depth) -> T:
        """x[:, None]-style: the operand has a subset of the axes, None where it lacks one."""
        keep = self.draw(st.lists(st.booleans(), min_size=len(shape), max_size=len(shape)))
        if all(keep):
            keep[self.draw(st.integers(0, len(shape) - 1))] = False
        return self.view(shape, keep, depth)

    def view(self, shape, keep, depth) -> T:
        if all(keep):
            return self.expr(shape, depth)
        sub = tuple(d for d, k in zip(shape, keep) if k)
        first = keep.index(True) if any(keep) else len(shape) - 1
        idx = ", ".join(":" if k else "None" for k in keep[first:])
        a = self.expr(sub, depth)
        if not sub:   # a scalar broadcasts by itself
            return a
        src = a.src if a.src.isidentifier() else f"({a.src})"
        self.features.add("newaxis")
        return T(f"{src}[{idx}]", f"({a.py})[{idx}]", shape[first:], newaxis=True)

    def size1_operand(self, shape) -> T:
        """A declared variable with literal size-1 axes where ``shape`` has others."""
        dims = tuple("1" if self.draw(st.booleans()) else d for d in shape)
        if "1" not in dims:
            dims = ("1",) + dims[1:]
        self.features.add("size1")
        return self.variable(dims)

    def k_binop(self, shape, depth):
        op = self.draw(st.sampled_from(["+", "-", "*"]))
        if shape and "newaxis" not in self.avoid and self.draw(st.integers(0, 3)) == 0:
            a, b = self.view_pair(shape, depth)     # x[:, None] op y[None, :]: an outer sum/product
        else:
            a, b = self.expr(shape, depth), self.operand(shape, depth)
        if self.draw(st.booleans()):
            a, b = b, a
        return T(f"({a.src} {op} {b.src})", f"({a.py} {op} {b.py})", shape)

    def view_pair(self, shape, depth):
        """Two [:, None] views whose axes together cover ``shape``."""
        r = len(shape)
        ka = self.draw(st.lists(st.booleans(), min_size=r, max_size=r))
        kb = self.draw(st.lists(st.booleans(), min_size=r, max_size=r))
        for k in range(r):
            if not ka[k] and not kb[k]:
                (ka if self.draw(st.booleans()) else kb)[k] = True
        return self.view(shape, ka, depth), self.view(shape, kb, depth)

    def k_div(self, shape, depth):
        a = self.expr(shape, depth)
        if shape and "newaxis" not in self.avoid and self.draw(st.integers(0, 3)) == 0:
            inner = self.newaxis_view(shape, depth)
            b = T(f"(1 + square({inner.src}))", f"(1 + J.square({inner.py}))", inner.shape, pos=True)
            self.features.add("newaxis_fn")
        else:
            b = self.positive(self.suffix(shape), depth)
        return T(f"({a.src} / {b.src})", f"({a.py} / {b.py})", shape)

    def k_pow(self, shape, depth):
        how = self.draw(st.integers(0, 3))
        if how == 0:
            a = self.expr(shape, depth)
            e = self.draw(st.sampled_from(["2", "3", "1", "0", "2.0"]))
            return T(f"({a.src}) ** {e}", f"({a.py}) ** {e}", shape)
        if how == 1:
            a = self.positive(shape, depth)
            e = self.draw(st.sampled_from(["0.5", "-1", "1.5", "-2", "0.3"]))
            return T(f"({a.src}) ** {e}", f"({a.py}) ** {e}", shape)
        if how == 2:
            a = self.bounded(shape, depth)
            base = self.draw(st.sampled_from(["2", "0.5", "3.0"]))
            return T(f"{base} ** ({a.src})", f"{base} ** ({a.py})", shape, pos=True)
        a = self.positive(shape, depth)
        b = self.bounded(self.suffix(shape), depth)
        return T(f"({a.src}) ** ({b.src})", f"({a.py}) ** ({b.py})", shape, pos=True)

    def k_log(self, shape, depth):
        a = self.positive(shape, depth)
        if a.py.startswith("smax("):   # log(softmax(z)) = z - logsumexp(z), finite where softmax underflows
            return T(f"log({a.src})", "l" + a.py, shape)
        return T(f"log({a.src})", f"J.log({a.py})", shape)

    def k_reduce(self, shape, depth):
        fn = self.draw(st.sampled_from(["sum", "mean", "logsumexp"]))
        if len(shape) >= self.max_rank:
            return self.expr(shape, depth)
        if not shape and self.draw(st.booleans()):   # a total reduction of a tensor
            child = self.shape(self.draw(st.integers(1, self.max_rank)))
            a = self.expr(child, depth)
            pyfn = {"sum": "J.sum", "mean": "J.mean", "logsumexp": "lse"}[fn]
            return T(f"{fn}({a.src})", f"{pyfn}({a.py})", ())
        nax = 1 if fn == "logsumexp" or len(shape) + 2 > self.max_rank else self.draw(st.integers(1, 2))
        child = list(shape)
        axes = []
        for _ in range(nax):
            pos = self.draw(st.integers(0, len(child)))
            axes = [a + (a >= pos) for a in axes] + [pos]
            child.insert(pos, self.dim())
        child = tuple(child)
        a = self.expr(child, depth)
        axes = sorted(axes)
        r = len(child)
        written = [ax - r if self.draw(st.booleans()) else ax for ax in axes]
        axis_src = str(written[0]) if nax == 1 else "(" + ", ".join(map(str, written)) + ")"
        if self.draw(st.booleans()):
            axis_src_t = f"axis={axis_src}"
        else:
            axis_src_t = axis_src
        pyfn = {"sum": "J.sum", "mean": "J.mean", "logsumexp": "lse"}[fn]
        return T(f"{fn}({a.src}, {axis_src_t})", f"{pyfn}({a.py}, axis={axis_src})", shape)

    def k_softmax(self, shape, depth):
        if not shape:
            return self.expr(shape, depth)
        a = self.expr(shape, depth)
        if self.draw(st.booleans()):
            return T(f"softmax({a.src})", f"smax({a.py})", shape, pos=True)
        axis = self.draw(st.integers(-len(shape), len(shape) - 1))
        return T(f"softmax({a.src}, axis={axis})", f"smax({a.py}, axis={axis})", shape, pos=True)

    def k_transpose(self, shape, depth):
        a = self.expr(tuple(reversed(shape)), depth)
        return T(f"({a.src}).T", f"({a.py}).T", shape)

    def k_named(self, shape, depth):
        return self.define(self.expr(shape, depth))

    def k_matmul(self, shape, depth):
        d = self.dim()
        r = len(shape)
        if r == 0:
            sa, sb = (d,), (d,)
        elif r == 1:
            sa, sb = ((shape[0], d), (d,)) if self.draw(st.booleans()) else ((d,), (d, shape[0]))
            if self.max_rank >= 3 and self.draw(st.integers(0, 4)) == 0:
                sa, sb = (shape[0], d), (d,)
        elif r == 2:
            sa, sb = (shape[0], d), (d, shape[1])
        else:
            batch = shape[0]
            sa, sb = self.draw(st.sampled_from([
                ((batch, shape[1], d), (d, shape[2])), ((batch, shape[1], d), (batch, d, shape[2])),
                ((shape[1], d), (batch, d, shape[2]))]))
        a, b = self.expr(sa, depth), self.expr(sb, depth)
        if self.draw(st.integers(0, 4)) == 0 and len(sa) <= 2 and len(sb) <= 2:
            return T(f"dot({a.src}, {b.src})", f"({a.py} @ {b.py})", shape)
        return T(f"({a.src} @ {b.src})", f"({a.py} @ {b.py})", shape)

    def k_linalg(self, shape, depth):
        r = len(shape)
        how = self.draw(st.integers(0, 7))
        if how == 0 and r == 0:
            d = self.dim()
            a = self.expr((d, d), depth)
            return T(f"trace({a.src})", f"J.trace({a.py})", ())
        if how == 1 and r == 1:
            a = self.expr((shape[0], shape[0]), depth)
            return T(f"diagonal({a.src})", f"J.diagonal({a.py})", shape)
        if how == 2 and r == 2 and shape[0] == shape[1]:
            a = self.expr(shape[:1], depth)
            return T(f"diag({a.src})", f"J.diag({a.py})", shape)
        if how == 3 and r >= 1:
            k = self.draw(st.integers(1, r)) if r > 1 else 1
            a, b = self.expr(shape[:k], depth), self.expr(shape[k:], depth)
            if not b.shape:
                return T(f"({a.src} * {b.src})", f"({a.py} * {b.py})", shape)
            return T(f"outer({a.src}, {b.src})", f"J.tensordot({a.py}, {b.py}, axes=0)", shape)
        if how == 4 and r == 0:
            a = self.expr(self.shape(self.draw(st.integers(1, 2))), depth)
            return T(f"norm2({a.src})", f"J.sqrt(J.sum(J.square({a.py})))", ())
        if how == 5 and r == 2 and shape[0] == shape[1]:
            a = self.expr(shape, depth)
            d = shape[0]
            return T(f"(eye({d}) * {a.src})", f"(J.eye(S[{d!r}]) * {a.py})", shape)
        if how == 6 and r >= 1:
            a = self.expr(shape, depth)
            dims = ", ".join(shape)
            pyd = ", ".join(f"S[{d!r}]" for d in shape)
            return T(f"(ones({dims}) * {a.src})", f"(J.ones(({pyd},)) * {a.py})", shape)
        if how == 7 and r <= 2:
            d = self.dim()
            m = self.bounded((d, d), depth)
            wc = f"(2 * eye({d}) + 0.3 * {m.src})"
            wpy = f"(2 * J.eye(S[{d!r}]) + 0.3 * {m.py})"
            if r == 0:
                f = self.draw(st.sampled_from([("det", "J.linalg.det({})"), ("logdet", "J.linalg.slogdet({})[1]")]))
                return T(f"{f[0]}({wc})", f[1].format(wpy), ())
            if r == 2 and shape == (d, d):
                return T(f"inv({wc})", f"J.linalg.inv({wpy})", shape)
            if r == 1 and shape == (d,):
                v = self.expr(shape, depth)
                return T(f"(inv({wc}) @ {v.src})", f"(J.linalg.inv({wpy}) @ {v.py})", shape)
        return self.expr(shape, depth)

    # ------------------------------------------------------------------ einsum
    def k_einsum(self, shape, depth):
        letters = list("abcdefghopqrstuvwxyz")
        letters = self.draw(st.permutations(letters))
        ldim: dict = {}
        out = []
        for d in shape:
            l = letters[len(ldim)]
            ldim[l] = d
            out.append(l)
        nsum = self.draw(st.integers(0, 2))
        summed = []
        for _ in range(nsum):
            l = letters[len(ldim)]
            ldim[l] = self.dim()
            summed.append(l)
        nops = self.draw(st.integers(1, 3))
        groups = [[] for _ in range(nops)]
        for l in out:                       # every output letter in some operand
            groups[self.draw(st.integers(0, nops - 1))].append(l)
        for l in summed:                    # a summed letter in one or more operands
            for k in range(nops):
                if self.draw(st.booleans()) or k == nops - 1:
                    groups[k].append(l)
        for g in groups:                    # a repeated letter: a diagonal
            if g and len(g) < 3 and self.draw(st.integers(0, 5)) == 0:
                g.append(self.draw(st.sampled_from(g)))
        groups = [self.draw(st.permutations(g)) if g else [] for g in groups]
        groups = [g[:3] if len(set(g[:3])) == len(set(g)) else g for g in groups]
        groups = [g for g in groups if len(g) <= 3]
        if not groups or any(l not in {x for g in groups for x in g} for l in out):
            return self.expr(shape, depth)
        ops = [self.expr(tuple(ldim[l] for l in g), depth) for g in groups]
        spec_in = ",".join("".join(g) for g in groups)
        counts = {l: sum(g.count(l) for g in groups) for l in ldim}
        implicit = "".join(sorted(l for l, c in counts.items() if c == 1))
        if implicit == "".join(out) and self.draw(st.booleans()):
            spec = spec_in
        else:
            spec = spec_in + "->" + "".join(out)
        if any(o.src.startswith("einsum(") for o in ops):
            self.features.add("einsum_compose")
        self.features.add("einsum")
        src = f'einsum("{spec}", ' + ", ".join(o.src for o in ops) + ")"
        py = f'J.einsum("{spec_in}->{"".join(out)}", ' + ", ".join(o.py for o in ops) + ")"
        return T(src, py, shape)

    # ------------------------------------------------------------------ simplifier and symmetry
    def k_algebra(self, shape, depth):
        """E - E, E + E, 2 * E - E, (E + F) - F, E ** 1, E ** 0, 0 * E, E.T.T, -(-E), E / E ...:
        what the hash-consing constructors fold (merging equal terms, constants, transposes)."""
        e = self.expr(shape, depth)
        if not e.src.isidentifier() and self.draw(st.booleans()):
            e = self.define(e)
        how = self.draw(st.integers(0, 11))
        self.features.add("algebra")
        if how == 0:
            return T(f"({e.src} - {e.src})", f"({e.py} - {e.py})", shape)
        if how == 1:
            return T(f"({e.src} + {e.src})", f"({e.py} + {e.py})", shape)
        if how == 2:
            return T(f"(2 * {e.src} - {e.src})", f"(2 * {e.py} - {e.py})", shape)
        if how == 3:
            f = self.expr(self.suffix(shape), depth)
            return T(f"(({e.src} + {f.src}) - {f.src})", f"(({e.py} + {f.py}) - {f.py})", shape)
        if how == 4:
            k = self.draw(st.sampled_from(["1", "0", "1.0"]))
            return T(f"({e.src}) ** {k}", f"({e.py}) ** {k}", shape)
        if how == 5:
            k = self.draw(st.sampled_from(["0", "1", "0.0", "-0.0"]))
            return T(f"({k} * {e.src})", f"({k} * {e.py})", shape)
        if how == 6 and len(shape) == 2:
            return T(f"({e.src}).T.T", f"({e.py})", shape)
        if how == 7:
            return T(f"-(-({e.src}))", f"({e.py})", shape)
        if how == 8:
            p = self.positive(shape, depth)
            if not p.src.isidentifier():
                p = self.define(p)
            return T(f"({p.src} / {p.src})", f"({p.py} / {p.py})", shape)
        if how == 9:
            return T(f"({e.src} * {e.src} - {e.src} ** 2)", f"({e.py} * {e.py} - {e.py} ** 2)", shape)
        if how == 10:
            return T(f"({e.src} / 1 + 0)", f"({e.py})", shape)
        return T(f"(({e.src} * 3) / 3 - {e.src} + {e.src})", f"(({e.py} * 3) / 3 - {e.py} + {e.py})", shape)

    def k_gram(self, shape, depth):
        """The symmetric products codegen hands to BLAS: X.T @ X, X @ X.T, X.T @ (X * d[:, None]),
        x @ x, einsum("ij,ij->", A, A), outer(x, x)."""
        r = len(shape)
        self.features.add("gram")
        if r == 2 and shape[0] == shape[1]:
            d = self.dim()
            x = self.expr((d, shape[0]), depth)
            if not x.src.isidentifier():
                x = self.define(x)
            how = self.draw(st.integers(0, 4))
            if how == 0:
                return T(f"({x.src}.T @ {x.src})", f"({x.py}.T @ {x.py})", shape)
            if how == 1:
                w = self.expr((d,), depth)
                return T(f"({x.src}.T @ ({x.src} * {w.src}[:, None]))" if w.src.isidentifier() else
                         f"({x.src}.T @ ({x.src} * ({w.src})[:, None]))",
                         f"({x.py}.T @ ({x.py} * ({w.py})[:, None]))", shape)
            if how == 2:
                y = self.expr((shape[0], d), depth)
                if not y.src.isidentifier():
                    y = self.define(y)
                return T(f"({y.src} @ {y.src}.T)", f"({y.py} @ {y.py}.T)", shape)
            if how == 3:
                v = self.expr(shape[:1], depth)
                return T(f"outer({v.src}, {v.src})", f"J.tensordot({v.py}, {v.py}, axes=0)", shape)
            return T(f'einsum("ki,kj->ij", {x.src}, {x.src})', f'J.einsum("ki,kj->ij", {x.py}, {x.py})', shape)
        if r == 0:
            d, d2 = self.dim(), self.dim()
            if self.draw(st.booleans()):
                x = self.expr((d,), depth)
                if not x.src.isidentifier():
                    x = self.define(x)
                return T(f"({x.src} @ {x.src})", f"({x.py} @ {x.py})", ())
            A = self.expr((d, d2), depth)
            if not A.src.isidentifier():
                A = self.define(A)
            return T(f'einsum("ij,ij->", {A.src}, {A.src})', f'J.sum({A.py} * {A.py})', ())
        return self.expr(shape, depth)

    # ------------------------------------------------------------------ linear index maps
    def k_indexmap(self, shape, depth):
        """Y[i:m, j:n] = f(x[i + j]) * k[p] * z[2*i + p + 1] ...: affine accesses of fresh
        variables whose declared dimensions fit the accesses exactly (x: R[m + n - 1])."""
        import sympy
        if not shape or "indexmap" in self.avoid:
            return self.expr(shape, depth)
        pool = [l for l in INDEX_POOL[:10] if l not in self.dims and l not in self.funcs]
        labels = self.draw(st.permutations(pool))
        lhs = list(labels[:len(shape)])
        ldim = dict(zip(lhs, shape))
        summed = []
        if self.draw(st.booleans()):
            p = labels[len(shape)]
            ldim[p] = self.dim()
            summed.append(p)
        alll = lhs + summed
        sym = {d: (sympy.Integer(int(d)) if d.isdigit() else sympy.Symbol(d)) for d in set(ldim.values())}
        factors_src, factors_py = [], []
        grid = {l: f"J.reshape(J.arange({_size_py(ldim[l])}), ({', '.join('-1' if m == l else '1' for m in alll)}))"
                for l in alll}
        for p in summed:   # a plain factor fixes the summed index's range
            k = self.variable((ldim[p],))
            factors_src.append(f"{k.src}[{p}]")
            factors_py.append(f"J.reshape({k.py}, ({', '.join('-1' if m == p else '1' for m in alll)}))")
        for _ in range(self.draw(st.integers(1, 2))):
            rank = self.draw(st.integers(1, 2))
            axes_src, axes_py, dims = [], [], []
            for _ in range(rank):
                used = self.draw(st.lists(st.sampled_from(alll), min_size=1, max_size=2, unique=True))
                if len(used) == 1 and self.draw(st.integers(0, 3)) == 0:   # a reversal: D - 1 - i
                    l = used[0]
                    d = sym[ldim[l]]
                    axes_src.append(f"{ldim[l]} - 1 - {l}")
                    axes_py.append(f"({_size_py(ldim[l])} - 1 - {grid[l]})")
                    dims.append(d)
                    continue
                coefs = [self.draw(st.sampled_from([1, 1, 2])) for _ in used]
                off = self.draw(st.sampled_from([0, 0, 1, 2]))
                terms = [f"{c}*{l}" if c != 1 else l for c, l in zip(coefs, used)]
                axes_src.append(" + ".join(terms) + (f" + {off}" if off else ""))
                axes_py.append("(" + " + ".join(f"{c} * {grid[l]}" for c, l in zip(coefs, used)) + f" + {off})")
                dims.append(sum(c * (sym[ldim[l]] - 1) for c, l in zip(coefs, used)) + off + 1)
            dim_txt = tuple(str(sympy.expand(d)).replace(" ", "") if not sympy.expand(d).is_Symbol
                            else str(d) for d in dims)
            dim_txt = tuple(t.replace("+", " + ").replace("-", " - ").replace("  ", " ").strip() for t in dim_txt)
            x = self.declare(dim_txt)
            self.features.add("indexmap")
            if rank == 2:
                self.features.add("indexmap2d")
            f = self.draw(st.sampled_from([None] + [u for u in BOUNDED]))
            fs = f"{x.src}[{', '.join(axes_src)}]"
            fp = f"{x.py}[{', '.join(axes_py)}]"
            if f is not None:
                fs, fp = f[0].format(fs), f[1].format(fp)
            factors_src.append(fs)
            factors_py.append(fp)
        name = self.fresh()
        lhs_src = ", ".join(f"{l}:{ldim[l]}" for l in lhs)
        self.lines.append(f"{name}[{lhs_src}] = {' * '.join(factors_src)}")
        prod = " * ".join(f"({f})" for f in factors_py)
        full = ", ".join(_size_py(ldim[l]) for l in alll)
        py = f"J.broadcast_to({prod}, ({full},))"
        if summed:
            py = f"J.sum({py}, axis={tuple(range(len(lhs), len(alll)))})"
        self.py.append(f"V[{name!r}] = {py}")
        self.defs[name] = shape
        out = T(name, f"V[{name!r}]", shape)
        self.named.append(out)
        return out

    # ------------------------------------------------------------------ index notation
    def k_index(self, shape, depth):
        """name[i, j] = c1 * A[i, k] * f(B[k, j]) + c2 * C[j, i] - ...: the Einstein convention per
        term (README): an index not on the left is summed within its term; in a sum of terms it
        appears in two or more factors (or twice in one access); a term lacking a left index
        broadcasts only where the left side gives that index a range."""
        if not shape:   # index notation always has indices on the left
            return self.expr(shape, depth)
        pool = [l for l in INDEX_POOL if l not in self.dims and l not in self.funcs]
        labels = list(self.draw(st.permutations(pool)))
        ldim: dict = {}

        def new_label(d):
            l = labels[len(ldim)]
            ldim[l] = d
            return l
        lhs = [new_label(d) for d in shape]
        nterms = self.draw(st.integers(1, 3))
        multi = nterms > 1
        ranged = False
        letter = {}
        terms_src, terms_py = [], []
        for t in range(nterms):
            present = list(lhs) if t == 0 else [l for l in lhs if self.draw(st.integers(0, 3))]
            if multi and "index_broadcast" in self.avoid:
                present = list(lhs)
            if present != lhs and present:
                ranged = True
                self.features.add("index_broadcast")
            summed = [new_label(self.dim()) for _ in range(self.draw(st.integers(0, 2)))
                      if len(ldim) < len(labels) - 2]
            if multi and summed:
                self.features.add("index_sums")
            avail = present + summed
            factors = []   # (labels, kind) with kind plain | diag | inner
            for _ in range(self.draw(st.integers(1, 3))):
                r = self.draw(st.integers(0, min(2, len(avail)))) if avail else 0
                labs = list(self.draw(st.permutations(avail))[:r]) if r else []
                factors.append(labs)
            need = {l: (2 if (multi and l in summed) else 1) for l in avail}
            for l in avail:   # enough factors hold every index
                while sum(l in f for f in factors) < need[l]:
                    factors.append([l])
            fsrc, fpy, specs = [], [], []
            for labs in factors:
                s_, p_, labs = self.index_factor(labs, ldim, depth, summed, new_label, labels)
                fsrc.append(s_)
                fpy.append(p_)
                specs.append(labs)
            for labs in specs:
                for l in labs:
                    letter.setdefault(l, chr(ord("a") + len(letter)))
            coef = self.draw(st.sampled_from([None, "2.0", "-0.5", "3"]))
            order = self.draw(st.permutations(range(len(fsrc))))
            body = " * ".join(fsrc[k] for k in order)
            if coef:
                body = f"{coef} * {body}"
            t_out = [l for l in lhs if l in present]
            spec = ",".join("".join(letter[l] for l in specs[k]) for k in order)
            py = f'J.einsum("{spec}->{"".join(letter[l] for l in t_out)}", {", ".join(fpy[k] for k in order)})'
            if coef:
                py = f"({coef} * {py})"
            if t_out != lhs and t_out:
                py = f"({py})[{', '.join(':' if l in t_out else 'None' for l in lhs)}]"
            elif not t_out:
                py = f"({py}) * J.ones(({', '.join(_size_py(ldim[l]) for l in lhs)},))"
            sign = self.draw(st.sampled_from(["+", "-"])) if t else ""
            terms_src.append(f"{sign} {body}" if t else body)
            terms_py.append(f"{sign} {py}" if t else py)
        name = self.fresh()
        ranged = ranged or self.draw(st.integers(0, 4)) == 0
        lhs_src = ", ".join(f"{l}:{ldim[l]}" if ranged else l for l in lhs)
        self.lines.append(f"{name}[{lhs_src}] = {' '.join(terms_src)}")
        self.py.append(f"V[{name!r}] = J.broadcast_to({' '.join(terms_py)}, "
                       f"({', '.join(_size_py(ldim[l]) for l in lhs)},))")
        self.defs[name] = shape
        self.features.add("index")
        out = T(name, f"V[{name!r}]", shape)
        self.named.append(out)
        return out

    def index_factor(self, labs, ldim, depth, summed, new_label, labels):
        """One factor of a term: an indexed name (a diagonal A[k, k] now and then), a function of
        it, a reciprocal, or a function of a product summing a local index inside: tanh(A[i, q] * B[q, k])."""
        how = self.draw(st.integers(0, 7))
        if how == 7 and labs and len(ldim) < len(labels) and "index_inner" not in self.avoid:
            q = new_label(self.dim())
            split = self.draw(st.integers(0, len(labs)))
            la, lb = labs[:split] + [q], [q] + labs[split:]
            a_s, a_p = self.indexed(la, ldim, depth)
            b_s, b_p = self.indexed(lb, ldim, depth)
            # (one placeholder only: sign(P) * (P) would repeat the product's indices in two factors)
            f = self.draw(st.sampled_from([u for u in UNARY if (u[4] or not self.smooth) and "{0}" not in u[0]]))
            letters = {l: chr(ord("a") + k) for k, l in enumerate(dict.fromkeys(la + lb))}
            spec = ("".join(letters[l] for l in la) + "," + "".join(letters[l] for l in lb) + "->"
                    + "".join(letters[l] for l in labs))
            self.features.add("index_inner")
            return f[0].format(f"{a_s} * {b_s}"), f[1].format(f'J.einsum("{spec}", {a_p}, {b_p})'), labs
        if how == 6 and len(labs) == 1 and self.draw(st.booleans()):   # a diagonal access A[k, k]
            self.features.add("diagonal")
            s_, p_ = self.indexed([labs[0], labs[0]], ldim, depth)
            return s_, p_, [labs[0]]      # the oracle's factor is the diagonal itself
        s_, p_ = self.indexed(labs, ldim, depth)
        if how == 0:
            f = self.draw(st.sampled_from([u for u in UNARY if u[4] or not self.smooth]))
            return f[0].format(s_), f[1].format(p_), labs
        if how == 1 and labs:
            self.features.add("index_div")
            return f"(1 / (2 + cos({s_})))", f"(1 / (2 + J.cos({p_})))", labs
        if how == 2 and labs:   # a divisor in the chain: a * b / (...)
            self.features.add("index_div")
            return f"1 / (2 + cos({s_}))", f"(1 / (2 + J.cos({p_})))", labs
        return s_, p_, labs

    def indexed(self, labs, ldim, depth):
        """name[labels] for a named tensor of the labels' shape (only names take indices)."""
        fshape = tuple(ldim[l] for l in labs)
        base = self.expr(fshape, depth - 1) if depth > 0 else self.leaf(fshape)
        if not labs:
            if not base.src.isidentifier() and not _is_number(base.src):
                base = self.define(base)
            return base.src, base.py
        if not base.src.isidentifier():
            base = self.define(base)
        if len(set(labs)) < len(labs):   # the oracle takes the diagonal itself
            return f"{base.src}[{', '.join(labs)}]", f"J.diagonal({base.py})"
        return f"{base.src}[{', '.join(labs)}]", base.py

    # ------------------------------------------------------------------ the program
    def decorate(self, lines):
        if "text" in self.avoid:
            return "\n".join(lines) + "\n"
        return _decorate(self.draw, lines)

    def finish(self, out: T, rng_seed: int, final_name: str | None = None) -> Case:
        name = final_name or (out.src if out.src in self.defs else None)
        if name is None:
            name = self.define(out).src
        for d in self.dims:    # every dimension fixed by some declared array
            if not d.isdigit() and not any(d in dims for dims, _ in self.decls.values()):
                self.declare((d,))
        decl_lines = []
        for n in self.decl_order:
            dims, _ = self.decls[n]
            decl_lines.append(f"{n}: R[{', '.join(dims)}]" if dims else f"{n}: R")
        # user functions first (they may be used anywhere), then declarations, then the rest
        fn_lines = [l for l in self.lines if l.startswith("def ")]
        body = [l for l in self.lines if not l.startswith("def ")]
        source = self.decorate(fn_lines + decl_lines + body)
        oracle = "\n".join([p for p in self.py if p.startswith("U[")] + [p for p in self.py if not p.startswith("U[")]) + "\n"
        if any(d in KNOWN_CLASH_NAMES for d in self.dims):
            self.features.add("names")
        case = Case(source, oracle, dict(self.defs), name, dict(self.sizes),
                    {n: self.decls[n][0] for n in self.decl_order}, {}, frozenset(self.features), rng_seed,
                    {n: self.decls[n][1] for n in self.decl_order})
        case.arrays = case.draw_arrays(self.sizes, rng_seed)
        return case


def _decorate(draw, lines: list) -> str:
    """The same program with comments, blank lines, a docstring or CRLF line ends."""
    lines = list(lines)
    how = draw(st.integers(0, 7))
    if how == 0:
        k = draw(st.integers(0, len(lines)))
        lines.insert(k, draw(st.sampled_from(["# a comment", "", "   ", "# x: R[n]  (not a declaration)",
                                               '"""a docstring"""', "\x27\x27\x27more text\x27\x27\x27"])))
    elif how == 1 and lines:
        k = draw(st.integers(0, len(lines) - 1))
        lines[k] = lines[k] + draw(st.sampled_from(["  # trailing", " ", "\t", ";"]))
    elif how == 2:
        return "\r\n".join(lines) + "\r\n"
    elif how == 3:
        return "\n".join(lines)          # no final newline
    return "\n".join(lines) + "\n"


def _size_py(d: str) -> str:
    return d if d.isdigit() else f"S[{d!r}]"


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


# ------------------------------------------------------------------------------- strategies

@st.composite
def programs(draw, smooth=False, ranks=(0, 1, 2, 3), depth=(2, 5), avoid=None, max_rank=3, focus=()):
    """A random valid program with its oracle (a Case)."""
    b = Builder(draw, smooth=smooth, avoid=AVOID if avoid is None else avoid, max_rank=max_rank, focus=focus)
    rank = draw(st.sampled_from([r for r in ranks if r <= max_rank]))
    out = b.expr(b.shape(rank), draw(st.integers(*depth)))
    return b.finish(out, draw(st.integers(0, 2**31 - 1)))


@st.composite
def redeclared_pairs(draw):
    """Two different programs drawing their names from one sequence: the same names for variables
    and definitions, with other shapes."""
    names = list(draw(st.permutations(hostile_names() + PLAIN_NAMES)))
    cases = []
    for _ in range(2):
        b = Builder(draw, smooth=False, names=names, max_rank=2)
        out = b.expr(b.shape(draw(st.integers(0, 2))), draw(st.integers(1, 3)))
        cases.append(b.finish(out, draw(st.integers(0, 2**31 - 1))))
    return cases


def _rename_names(text: str, mapping: dict) -> str:
    """Rename whole-word identifiers outside string literals (einsum specs stay as they are)."""
    import re
    if not mapping:
        return text
    pat = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, sorted(mapping, key=len, reverse=True)))
                     + r")(?!\w)")
    parts = text.split('"')
    return '"'.join(pat.sub(lambda m: mapping[m.group(1)], p) if k % 2 == 0 else p
                    for k, p in enumerate(parts))


@st.composite
def redeclared_same_text(draw, smooth=False):
    """A program and its copy with the dimension symbols permuted and new sizes: the same names,
    the same definitions, other shapes. Returns (case, case2)."""
    import re
    case = draw(programs(smooth=smooth, max_rank=2, depth=(1, 3)))
    dims = [d for d in case.sizes if not d.isdigit()]
    perm = draw(st.permutations(dims))
    mapping = {d: p for d, p in zip(dims, perm) if d != p}

    def ren(d):   # a dimension's text (a symbol or arithmetic of symbols) under the permutation
        return _rename_names(d, mapping)
    oracle2 = re.sub(r"S\['([^']*)'\]", lambda m: f"S[{mapping.get(m.group(1), m.group(1))!r}]", case.oracle)
    sizes2 = {mapping.get(d, d): (case.sizes[d] if d.isdigit() else draw(st.integers(1, 4))) for d in case.sizes}
    case2 = Case(_rename_names(case.source, mapping), oracle2,
                 {n: tuple(ren(d) for d in dims_n) for n, dims_n in case.defs.items()}, case.out, sizes2,
                 {n: tuple(ren(d) for d in dims_n) for n, dims_n in case.var_shapes.items()}, {},
                 case.features | {"redeclare"}, case.seed + 1, case.kinds)
    case2.arrays = case2.draw_arrays(sizes2, case.seed + 1)
    return case, case2


@st.composite
def deep_programs(draw):
    """Deep nesting: a long chain of functions, a long sum, or a long chain of definitions."""
    kind = draw(st.sampled_from(["chain", "sum", "defs", "product"]))
    n = draw(st.integers(20, 60 if kind == "chain" else 90))
    x = draw(st.sampled_from(["x", "t1", "xp"] if "names" not in AVOID else ["x", "v", "len"]))
    src = [f"{x}: R[n]"]
    py = []
    if kind == "chain":
        fs = draw(st.lists(st.sampled_from(BOUNDED), min_size=n, max_size=n))
        s, p = x, f"V[{x!r}]"
        for f in fs:
            s, p = f[0].format(s), f[1].format(p)
        src.append(f"out = sum({s})")
        py.append(f"V['out'] = J.sum({p})")
    elif kind == "sum":
        n = n * 3
        cs = [str(k % 7 - 3) for k in range(n)]
        src.append("out = " + " + ".join(f"{c} * {x}" for c in cs))
        py.append(f"V['out'] = {sum(int(c) for c in cs)} * V[{x!r}]")
    elif kind == "product":
        src.append("out = " + " * ".join(["(1 + 0.01 * " + x + ")"] * n))
        py.append(f"V['out'] = (1 + 0.01 * V[{x!r}]) ** {n}")
    else:
        prev, pprev = x, f"V[{x!r}]"
        for k in range(n):
            name = f"d{k}"
            src.append(f"{name} = tanh({prev}) + 0.5 * {x}")
            py.append(f"V[{name!r}] = J.tanh({pprev}) + 0.5 * V[{x!r}]")
            prev, pprev = name, f"V[{name!r}]"
        src.append(f"out = sum({prev})")
        py.append(f"V['out'] = J.sum({pprev})")
    size = draw(st.integers(1, 4))
    arrays = {x: np.linspace(-1, 1, size)}
    shape = ("n",) if kind in ("sum", "product") else ()
    return Case("\n".join(src) + "\n", "\n".join(py) + "\n", {"out": shape}, "out", {"n": size},
                {x: ("n",)}, arrays, frozenset({"deep", kind}), kinds={x: "normal"})


# ------------------------------------------------------------------------------- failures

LOG = os.environ.get("TCNB_CAMPAIGN_LOG")   # a long run records failures here instead of stopping


def signature(exc: BaseException) -> str:
    """A failure's kind without its numbers and names: groups examples of one bug."""
    import re
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    first = re.sub(r"'[^']*'", "'_'", first)
    first = re.sub(r"\(.*?\)", "()", first)
    first = re.sub(r"[-+]?\d[\d.e+-]*", "#", first)
    return f"{type(exc).__name__}: {first[:120]}"


def failed(test: str, case, exc: BaseException, where: str = ""):
    """Raise the failure with the program attached, or, in a logged long run, record it."""
    report = case.report() if hasattr(case, "report") else f"\n{case}"
    if LOG is None:
        raise AssertionError(f"{where}: {type(exc).__name__}: {exc}{report}") from exc
    import json
    import traceback
    tb = traceback.extract_tb(exc.__traceback__)
    origin = next((f"{f.filename.split('/tcnb/')[-1]}:{f.name}" for f in reversed(tb) if "/tcnb/" in f.filename), "")
    rec = {"test": test, "where": where, "signature": signature(exc), "origin": origin,
           "features": sorted(getattr(case, "features", ())), "message": str(exc)[:2000],
           "source": getattr(case, "source", str(case)), "oracle": getattr(case, "oracle", ""),
           "sizes": getattr(case, "sizes", {}), "seed": getattr(case, "seed", 0)}
    with open(LOG, "a") as fh:
        fh.write(json.dumps(rec) + "\n")


def _num(text: str) -> float:
    """The value of a number literal as Python reads it (0x3, 1_0, .5)."""
    return float(eval(text, {"__builtins__": {}}))


def run_standalone(expr, arrays: dict, sizes: dict):
    """Run ``expr.to_source(standalone=True)`` in this process: arguments by position (the sorted
    variable names), sizes no argument has as keywords."""
    import inspect
    from tcnb.backend import standalone
    src = expr.to_source(standalone=True)
    ns: dict = {"__name__": "campaign_standalone"}
    exec(compile(src, "<campaign standalone>", "exec"), ns)
    fn = ns[standalone.function_name(expr.name or "tcnb_fn")]
    params = inspect.signature(fn).parameters.values()
    # (a size named like a module name is renamed v_<name> in the signature)
    kw = {p.name: sizes[p.name if p.name in sizes else p.name[2:]]
          for p in params if p.kind == p.KEYWORD_ONLY and p.name != "xp"}
    return fn(*[arrays[n] for n in sorted(expr.variables)], **kw)
