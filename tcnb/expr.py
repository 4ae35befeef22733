"""The public expression object: an IR node with a name, its index names and everything a user does
with it (evaluate, compile, print, draw, compress, measure).

Expr is a thin, immutable wrapper; the work happens in the layer modules (backend, render,
structured), so the DAG itself stays free of presentation concerns.
"""
from __future__ import annotations

from . import ir
from .backend import compiled
from .backend.bounded import Bounded
from .backend.compiled import binding_key
from .config import config
from .dims import resolve_shape, shape_str
from .structured import Structured, plan_structured

_AXIS_LETTERS = "ijklmnpqrsuvxyzabcdefgh"

# what a derivative is, in words for docstrings (Expr.kind -> phrase)
DERIVATIVE_KINDS = {
    "jacobian": "the derivative (Jacobian) of {of} with respect to {wrt}",
    "gradient": "the gradient of {of} with respect to {wrt}",
    "hessian": "the Hessian of {of} with respect to {wrt}",
    "hvp": "the Hessian-vector product of {of} with respect to {wrt}",
    "derivative": "the derivative of order {order} of {of} with respect to {wrt}",
}


def _describe(e: "Expr") -> str:
    """One sentence saying what ``e`` is, read from its derivative fields (never from its name)."""
    if e.kind is None:
        return f"{e.name}." if e.name else "An expression."
    words = DERIVATIVE_KINDS[e.kind].format(of=e.of or "f", wrt=e.wrt, order=e.order)
    return f"{e.name}: {words}." if e.name else words[0].upper() + words[1:] + "."


def _split_backend(backend, arrays):
    """(backend, arrays): ``backend=`` given something other than a name is a variable's array."""
    if backend is None or isinstance(backend, str):
        return backend, arrays
    return None, {**arrays, "backend": backend}


class Expr:
    """An immutable handle on an IR node: evaluate, compile, derive and display it.

    ``indices`` name its axes for display; ``split`` is how many of them are rows when it is shown
    or compressed as a matrix. A derivative made by tcnb.grad, hessian, hvp, jacobian or derivative
    says what it is in fields, so nothing reads it back from ``name``: ``kind`` (None for a plain
    expression, else one of DERIVATIVE_KINDS), ``of`` (the differentiated expression's name),
    ``wrt`` (the variable's name), ``order`` (0 plain, 1 gradient/Jacobian, 2 Hessian/HVP, k for
    derivative order k; counted from ``of``) and ``mode`` (the mode it was derived in).
    """
    __slots__ = ("node", "name", "indices", "split", "known_names", "of", "wrt", "order", "mode",
                 "kind", "_compiled", "__weakref__")

    def __init__(self, node: ir.Node, name: str | None = None, indices: tuple | None = None,
                 split: int | None = None, known_names=(), *, of: str | None = None,
                 wrt: str | None = None, order: int = 0, mode: str | None = None,
                 kind: str | None = None):
        if kind is not None and kind not in DERIVATIVE_KINDS:
            raise ValueError(f"kind must be None or one of {', '.join(DERIVATIVE_KINDS)}, got {kind!r}")
        if (kind is None) != (order == 0):
            raise ValueError(f"a derivative has order >= 1 and a plain expression order 0 "
                             f"(kind {kind!r}, order {order!r})")
        object.__setattr__(self, "node", node)
        object.__setattr__(self, "name", name)
        if indices is None:
            indices = tuple(_AXIS_LETTERS[k % len(_AXIS_LETTERS)] for k in range(node.rank))
        object.__setattr__(self, "indices", tuple(indices))
        object.__setattr__(self, "split", node.rank if split is None else split)
        object.__setattr__(self, "known_names", frozenset(known_names))
        for field, value in (("of", of), ("wrt", wrt), ("order", int(order)), ("mode", mode), ("kind", kind)):
            object.__setattr__(self, field, value)
        object.__setattr__(self, "_compiled", Bounded(64))  # backend -> Compiled; structured plans

    def _replace(self, **changes) -> "Expr":
        """A copy with some fields changed (the derivative fields travel unless changed)."""
        fields = {f: getattr(self, f) for f in ("node", "name", "indices", "split", "known_names",
                                                 "of", "wrt", "order", "mode", "kind")}
        fields.update(changes)
        return Expr(**fields)

    def __setattr__(self, *_):
        raise AttributeError("Expr is immutable")

    # ---------------------------------------------------------------------------- structure
    @property
    def shape(self) -> tuple:
        """Symbolic shape (SymPy dimension expressions)."""
        return self.node.shape

    @property
    def rank(self) -> int:
        """Number of axes (0 for a scalar)."""
        return self.node.rank

    @property
    def variables(self) -> list[str]:
        """Names of the variables the expression depends on."""
        return [v.name for v in ir.variables(self.node)]

    def __eq__(self, other):
        return isinstance(other, Expr) and other.node is self.node

    def __hash__(self):
        return hash(("Expr", self.node.id))

    # ---------------------------------------------------------------------------- evaluation
    def compile(self, backend: str | None = None):
        """A callable ``fn(**arrays)`` running generated code on ``backend`` (cached per shape)."""
        backend = backend or config.default_backend
        fn = self._compiled.get(backend)
        if fn is None:
            fn = self._compiled[backend] = compiled([self.node], backend, self.known_names,
                                                    names={self.node.id: self.display_name})
        return fn

    def evaluate(self, /, backend: str | None = None, **arrays):
        """The dense value for the given arrays (and sizes such as ``n=5`` where no array has them).

        Every variable name is a keyword, ``self`` included; a variable named ``backend`` takes
        its array there (anything but a backend's name).
        """
        backend, arrays = _split_backend(backend, arrays)
        return self.compile(backend)(**arrays)

    def to_source(self, /, standalone: bool = False, **sizes) -> str:
        """The generated function as NumPy code (contractions planned for ``sizes``, default 100).

        ``standalone=True``: a self-contained module instead (NumPy or CuPy only, no tcnb) whose
        function takes the arrays, reads the sizes from their shapes and is correct at any sizes;
        its docstring carries the formula.
        """
        from .backend.compiled import _size
        sizes = {k: _size(k, v) for k, v in sizes.items()}
        if standalone:
            return self.compile("numpy").standalone_source(sizes, self.name or "tcnb_fn", self._formula_doc())
        return self.compile("numpy").source(sizes)

    def _formula_doc(self) -> str:
        """What a standalone module computes: which expression (derivative), in Einstein notation
        and, where it has one, in matrix notation."""
        lines = [_describe(self), "",
                 "Formula (tcnb's Einstein notation; the last line is the result):"]
        lines += ["    " + l for l in self.einstein().splitlines()]
        try:
            matrix = self.matrix()
        except Exception:  # noqa: BLE001 - the matrix form is a courtesy; the module must not fail on it
            matrix = None
        if matrix:
            lines += ["Matrix notation:", "    " + matrix]
        return "\n".join(lines)

    def structured(self, /, backend: str | None = None, **arrays):
        """The compressed value: cores and unit-tensor patterns, with .dense(), @ and solve()."""
        backend, arrays = _split_backend(backend, arrays)
        backend = backend or config.default_backend
        # the same shapes (and sizes) as an earlier call: reuse its plan and generated code unchecked
        key = binding_key(arrays)
        key = None if key is None else ("structured", backend, key)
        hit = self._compiled.get(key) if key is not None else None
        if hit is not None:
            plan, gen, dtype, xp = hit
            values = gen.call(*[arrays[n] for n in gen.arg_names])
            return Structured.from_plan(xp, plan, values, plan.shape, self.split)
        full = self.compile(backend)
        bound, sizes, dtype = full.bind(arrays)
        plan = plan_structured(self.node, sizes, full.backend, self.known_names)
        gen = plan.fn.generated(sizes, dtype)
        values = gen.call(*[bound[n] for n in gen.arg_names])
        if plan.shape is None:
            plan.shape = resolve_shape(self.shape, sizes)
        if key is not None and all(bound[n] is arrays.get(n) for n in gen.arg_names):
            self._compiled.put(key, (plan, gen, dtype, full.xp))
        return Structured.from_plan(full.xp, plan, values, plan.shape, self.split)

    # ---------------------------------------------------------------------------- parts
    def diagonal(self) -> "Expr":
        """The diagonal of a derivative as an expression of its own: the entries where every copy of
        the variable's axes is equal (and the output's, when the output is shaped like the variable):
        shape (n,) for an (n, n) Hessian, (m, k) for an (m, k, m, k) one, (n,) for the Jacobian of
        an element-wise map. The tie is pushed into the expression before anything is evaluated, so
        the diagonal costs what it costs, not what the whole derivative does."""
        from . import diff
        from .errors import DerivativeError
        from .parts import derivative_classes, tie
        if self.kind not in ("jacobian", "gradient", "hessian", "derivative"):
            raise DerivativeError(f"{self.display_name} is not a derivative with a diagonal",
                                  expected="a Jacobian, Hessian or derivative from tcnb (not an hvp or a plain expression)")
        var_rank = self.rank - self.split
        order = 1 if self.kind in ("jacobian", "gradient") else self.order
        out_rank = self.rank - order * var_rank
        classes = derivative_classes(self.shape[:out_rank], self.shape[out_rank:out_rank + var_rank], order)
        node = tie(self.node, classes)
        if self.mode == "cross-country":
            node = diff.fuse(node)
        keep = sorted(set(classes))
        first = [classes.index(c) for c in keep]
        return Expr(node, f"diagonal({self.name})" if self.name else None,
                    indices=tuple(self.indices[p] for p in first), known_names=self.known_names)

    def trace(self) -> "Expr":
        """The trace of a derivative (the sum of its diagonal) as a scalar expression: the Laplacian
        for a Hessian, the divergence for the Jacobian of a vector field."""
        from .parts import total
        d = self.diagonal()
        return Expr(total(d.node), f"trace({self.name})" if self.name else None, known_names=self.known_names)

    def as_linear_operator(self, /, backend: str | None = None, **arrays):
        """This derivative at the arrays as a scipy.sparse.linalg.LinearOperator (rows: its first
        ``split`` axes, flattened in C order): matvec and rmatvec are symbolic products with a new
        variable, fused and compiled once, so the dense derivative is never formed."""
        from .operators import linear_operator
        backend, arrays = _split_backend(backend, arrays)  # a variable may be named `backend`
        return linear_operator(self, backend, **arrays)

    # ---------------------------------------------------------------------------- display
    @property
    def display_name(self) -> str:
        """The name for messages (``"the expression"`` when it has none)."""
        return self.name or "the expression"

    def einstein(self) -> str:
        """The expression in tcnb's Einstein notation: shared subexpressions as ``t1 = ...`` lines, then the result."""
        from .einstein import einstein_str
        return einstein_str(self.node)

    def latex(self) -> str:
        """The expression as LaTeX, with its name and axis indices where it has them."""
        from .render.latex import to_latex
        return to_latex(self.node, name=self.name, indices=self.indices, derivative=self)

    def matrix(self) -> str | None:
        """Matrix notation (``Xᵀ diag(s) X``) where the expression is matrix-representable."""
        from .render.matrix import to_matrix
        return to_matrix(self.node)

    def graph(self, **kw):
        """The expression DAG as a graphviz.Digraph."""
        from .render.dot import to_digraph
        return to_digraph(self.node, name=self.name, **kw)

    def stats(self, /, **sizes) -> dict:
        """Nodes, multiplications, estimated FLOPs and peak bytes at the given dimension sizes."""
        from .backend.compiled import _size
        from .render.stats import stats
        return stats(self.node, {k: _size(k, v) for k, v in sizes.items()})

    def __repr__(self):
        head = f"{self.name} = " if self.name else ""
        body = self.einstein()
        if "\n" in body:
            return f"{head}(shape {shape_str(self.shape)})\n{body}"
        return f"{head}{body}   # shape {shape_str(self.shape)}"

    def _repr_latex_(self):
        return "$" + self.latex() + "$"

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Plain text and LaTeX; display must never raise, so each part falls back on its own."""
        bundle = {}
        for mime, make in (("text/plain", self.__repr__), ("text/latex", self._repr_latex_)):
            try:
                bundle[mime] = make()
            except Exception as exc:  # pragma: no cover - defensive
                bundle.setdefault("text/plain", f"<tcnb.Expr {self.name or ''}: display failed ({exc})>")
        return bundle

