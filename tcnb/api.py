"""The public functions: parse a program, differentiate expressions (DESIGN.md's contract)."""
from __future__ import annotations

import operator

import numpy
from collections.abc import Mapping

from . import diff, ir
from . import lang
from .dims import shape_str
from .errors import DerivativeError, ShapeError
from .expr import Expr

DEFAULT_MODE = "cross-country"


class Program(Mapping):
    """A parsed tensor program: name -> Expr for every declared variable and definition."""

    def __init__(self, parsed: lang.Program):
        self._parsed = parsed
        self._known = frozenset(parsed.variables.values())
        self._exprs: dict[str, Expr] = {}
        for name in parsed.names:
            idx = parsed.index_form.get(name)
            self._exprs[name] = Expr(parsed.node(name), name, indices=idx, known_names=self._known)

    def __getitem__(self, name: str) -> Expr:
        try:
            return self._exprs[name]
        except KeyError:
            raise KeyError(f"{name!r} is not defined in this program; names: {', '.join(self._exprs)}") from None

    def __iter__(self):
        return iter(self._exprs)

    def __len__(self):
        return len(self._exprs)

    @property
    def source(self) -> str:
        """The program text as parsed."""
        return self._parsed.source

    @property
    def variables(self) -> dict:
        """name -> Expr of each declared variable, in declaration order."""
        return {n: self._exprs[n] for n in self._parsed.variables}

    @property
    def definitions(self) -> dict:
        """name -> Expr of each definition, in source order."""
        return {n: self._exprs[n] for n in self._parsed.definitions}

    @property
    def dims(self) -> list:
        """Names of the dimensions (size symbols) the program's shapes use, in order of first use."""
        return self._parsed.dims

    @property
    def functions(self) -> dict:
        """name -> SymPy formula of each element-wise function the program defines (a copy)."""
        return dict(self._parsed.functions)

    def line_of(self, name: str) -> int | None:
        """The source line where ``name`` is declared or defined (None if unknown)."""
        return self._parsed.lines.get(name)

    def _with_earlier(self):
        """(Expr, {node id: name} of the definitions before it) per definition.

        A program is shown with each definition written in terms of the earlier ones by name, as
        in its source: k chained definitions cost O(k) to show, not O(k²) expanded.
        """
        earlier: dict = {}
        for name, e in self.definitions.items():
            yield e, earlier
            if e.node.children:
                earlier.setdefault(e.node.id, name)

    def definitions_latex(self) -> dict:
        """name -> LaTeX of each definition, written with the earlier definitions by name."""
        from .render.latex import to_latex
        return {e.name: to_latex(e.node, name=e.name, indices=e.indices, names=names, derivative=e)
                for e, names in self._with_earlier()}

    def __repr__(self):
        from .einstein import einstein_str
        lines = [self._parsed.variables[n].declaration() for n in self.variables]
        for e, names in self._with_earlier():
            body = einstein_str(e.node, names=names)
            lines.append(f"{e.name} = (shape {shape_str(e.shape)})\n{body}" if "\n" in body
                         else f"{e.name} = {body}   # shape {shape_str(e.shape)}")
        return "\n".join(lines)

    def _repr_latex_(self):
        # one display equation per definition (a definition with shared parts is its own aligned block)
        return "\n".join("$$" + tex + "$$" for tex in self.definitions_latex().values()) or None


def parse(source: str) -> Program:
    """Parse a tensor program (declarations, definitions, element-wise functions)."""
    return Program(lang.parse(source))


# ------------------------------------------------------------------------------- derivatives

def _as_expr(e, what) -> Expr:
    if isinstance(e, Expr):
        return e
    raise DerivativeError(f"{what} must be an expression from tcnb.parse, got {type(e).__name__}")


def _wrt(f: Expr, w) -> Expr:
    if isinstance(w, str):
        for v in ir.variables(f.node):
            if v.name == w:
                return Expr(v, w, known_names=f.known_names)
        if w in {v.name for v in f.known_names}:
            raise DerivativeError(f"{f.display_name} does not depend on '{w}'; pass the Expr "
                                  f"(program['{w}']) to get a zero derivative")
        raise DerivativeError(f"'{w}' is not a variable of {f.display_name}")
    w = _as_expr(w, "the variable")
    if not isinstance(w.node, ir.Var):
        raise DerivativeError(f"can only differentiate with respect to a declared variable, not {w.display_name}",
                              expected="a name declared like  w: R[n]")
    _same_program(f, w.node, "the variable")
    return w


def _own_variables(f: Expr) -> dict:
    """name -> Var for the variables f uses and those declared in its program."""
    return {v.name: v for v in list(f.known_names) + ir.variables(f.node)}


def _declaration(v: ir.Var) -> str:
    return v.declaration()


def _same_program(f: Expr, var: ir.Var, what: str) -> None:
    """Refuse a variable of another program: one sharing a name with a different variable of f would
    be bound to the same array (a wrong number or a confusing shape error later), and one f's
    program does not declare at all is a mix-up, not a request for a zero derivative."""
    own = _own_variables(f)
    mine = own.get(var.name)
    if mine is var:
        return
    if mine is not None:
        raise DerivativeError(f"{what} '{var.name}' is declared as  {_declaration(var)}  but "
                              f"{f.display_name} has its own '{var.name}', declared as  {_declaration(mine)}; "
                              "they come from different programs",
                              expected=f"the variable of {f.display_name}'s program")
    if f.known_names:
        raise DerivativeError(f"{what} '{var.name}' ({_declaration(var)}) is not a variable of "
                              f"{f.display_name}'s program, which declares {', '.join(sorted(own))}",
                              expected=f"a variable declared in the same program as {f.display_name} "
                                       "(an unused one gives a zero derivative)")


def _primed(w: Expr, taken) -> tuple:
    out = []
    for k in w.indices:
        name = k
        while name in taken or name in out:
            name += "'"
        out.append(name)
    return tuple(out)


def _result(node, f: Expr, w: Expr, label: str, mode: str) -> Expr:
    """The Jacobian's Expr: f's axes then w's (primed where they clash), and what it is in fields."""
    return Expr(node, label, indices=f.indices + _primed(w, f.indices), split=node.rank - w.rank,
                known_names=f.known_names | w.known_names,
                of=f.name, wrt=w.name, order=1, mode=mode, kind="jacobian")


# NumPy and CuPy arrays hold at most 64 axes: a derivative of higher rank could never be evaluated
MAX_RANK = 64
# Each order differentiates the previous result symbolically, so the expression (and the time to form
# it) can grow by a constant factor per order: for logistic regression ×2–4 per order, 0.6 s at
# order 10, 4 s at order 12 (2 cores). Past this, derivative() refuses instead of running for hours.
MAX_ORDER = 10


def _check_rank(rank: int, what: str) -> None:
    if rank > MAX_RANK:
        raise DerivativeError(f"{what} would have {rank} axes; NumPy and CuPy arrays hold at most {MAX_RANK}",
                              expected="a lower order, or a variable with fewer axes")


def _order(order) -> int:
    """A plain non-negative integer order (not a bool or a float), at most MAX_ORDER."""
    if isinstance(order, bool) or not hasattr(type(order), "__index__"):
        raise DerivativeError(f"order must be a non-negative integer, got {order!r}")
    order = operator.index(order)
    if order < 0:
        raise DerivativeError(f"order must be a non-negative integer, got {order}")
    if order > MAX_ORDER:
        raise DerivativeError(
            f"order {order} is too high: tcnb derives orders up to {MAX_ORDER}, because each order "
            "differentiates the previous result symbolically and the expression can grow by a "
            "constant factor per order (logistic regression: 0.6 s at order 10, 4 s at order 12)",
            expected=f"order <= {MAX_ORDER}; for more, apply tcnb.jacobian to the result yourself")
    return order


def jacobian(f: Expr, w, mode: str | None = None, compress: bool = True) -> Expr:
    """d f / d w as one tensor expression, axes (f's axes, w's axes) — jax.jacobian's layout."""
    f = _as_expr(f, "the function")
    w = _wrt(f, w)
    _check_rank(f.rank + w.rank, f"the Jacobian of {f.display_name} by {w.name}")
    mode = mode or DEFAULT_MODE
    node = diff.jacobian(f.node, w.node, mode, compress)
    return _result(node, f, w, f"d{f.name or 'f'}/d{w.name}", mode)


def grad(f: Expr, w, mode: str | None = None, compress: bool = True) -> Expr:
    """The gradient of a scalar expression; shaped like w."""
    f = _as_expr(f, "the function")
    if f.rank != 0:
        raise DerivativeError(f"grad needs a scalar, but {f.display_name} has shape {shape_str(f.shape)}",
                              expected="a scalar expression, or jacobian(...) for tensors")
    g = jacobian(f, w, mode, compress)
    return g._replace(name=f"grad_{g.wrt} {f.name or 'f'}", kind="gradient")


def hessian(f: Expr, w, mode: str | None = None, compress: bool = True) -> Expr:
    """jacobian(grad(f, w), w): shape w.shape + w.shape."""
    g = grad(f, w, mode, compress)
    H = jacobian(g, _wrt(f, w), mode, compress)
    return H._replace(name=f"Hessian_{H.wrt} {f.name or 'f'}", of=f.name, order=2, kind="hessian")


def derivative(f: Expr, w, order: int = 1, mode: str | None = None, compress: bool = True) -> Expr:
    """The order-th derivative: jacobian applied order times; shape f.shape + order * w.shape."""
    order = _order(order)
    out = _as_expr(f, "the function")
    wv = _wrt(out, w) if order else None
    if order:
        _check_rank(out.rank + order * wv.rank, f"the order-{order} derivative of {out.display_name} by {wv.name}")
    for _ in range(order):
        out = jacobian(out, wv, mode, compress)
    if order:
        out = out._replace(name=f"D{order}_{wv.name} {f.name or 'f'}", of=f.name, order=order,
                           kind="derivative")
    return out


def hvp(f: Expr, w, v, mode: str | None = None, compress: bool = True) -> Expr:
    """H v for a variable v shaped like w, formed symbolically: H is never materialised."""
    f = _as_expr(f, "the function")
    if f.rank != 0:
        raise DerivativeError(f"hvp needs a scalar, but {f.display_name} has shape {shape_str(f.shape)}")
    w = _wrt(f, w)
    v = _as_expr(v, "the direction")
    if v.shape != w.shape:
        raise ShapeError(f"the direction {v.display_name} has shape {shape_str(v.shape)}",
                         expected=f"the shape of {w.name}, {shape_str(w.shape)}")
    _direction(f, w, v)
    mode = mode or DEFAULT_MODE
    node = diff.hvp(f.node, w.node, v.node, mode, compress)
    return Expr(node, f"Hv_{w.name} {f.name or 'f'}", indices=w.indices,
                known_names=f.known_names | v.known_names,
                of=f.name, wrt=w.name, order=2, mode=mode, kind="hvp")


def _direction(f: Expr, w: Expr, v: Expr) -> None:
    """The direction of an hvp is its own input: not a variable f uses (its array would be both the
    point and the direction), and no variable of another program named like one of f's."""
    used = set(ir.variables(f.node))
    if v.node in used:
        raise DerivativeError(f"the direction {v.display_name} is a variable of {f.display_name}: "
                              "H v needs a direction of its own",
                              expected=f"a new variable shaped like {w.name}, declared like  "
                                       f"v: R[{', '.join(map(str, w.shape))}]")
    own = _own_variables(f)
    what = "the direction" if isinstance(v.node, ir.Var) else f"the direction {v.display_name} uses the variable"
    for var in ir.variables(v.node):
        if var.name in own and own[var.name] is not var:
            _same_program(f, var, what)


def laplacian(f: Expr, w, mode: str | None = None, compress: bool = True) -> Expr:
    """Δf = tr ∇²_w f, the sum of the Hessian's diagonal, formed without the Hessian (its cost is
    that of the diagonal: see Expr.diagonal)."""
    H = hessian(f, w, mode, compress)
    return H.trace()._replace(name=f"Laplacian_{H.wrt} {f.name or 'f'}")


def newton_cg_step(f, w, /, rtol: float = 1e-8, maxiter: int | None = None, mode=None, **arrays):
    """The Newton step p solving ∇²f p = -∇f by conjugate gradients on the Hessian's operator
    (never forming it), shaped like w. Needs a positive definite Hessian at the point."""
    from scipy.sparse.linalg import cg
    from .operators import linear_operator
    g = numpy.asarray(grad(f, w, mode).evaluate(**arrays))
    op = linear_operator(hessian(f, w, mode), **arrays)
    p, info = cg(op, -g.reshape(-1), rtol=rtol, maxiter=maxiter)
    if info != 0:
        from .errors import NumericalError
        raise NumericalError(f"conjugate gradients did not converge (info {info})",
                             expected="a positive definite Hessian at this point, or a larger maxiter")
    return p.reshape(g.shape)
