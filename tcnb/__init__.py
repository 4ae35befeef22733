"""tcnb: symbolic tensor calculus in Einstein notation, for Jupyter.

    import tcnb
    prog = tcnb.parse(source)
    H = tcnb.hessian(prog["f"], prog["w"])
    H.evaluate(X=X, y=y, w=w)
"""
from .api import Program, derivative, grad, hessian, hvp, jacobian, laplacian, newton_cg_step, parse
from .operators import top_eigenvalues
from .check import CheckResult, check
from .config import config
from .errors import (BackendUnavailableError, BindingError, DerivativeError, MemoryBudgetError, NumericalError,
                     ShapeError, TcnbError, TensorSyntaxError)
from .expr import Expr
from .functions import define_elementwise
from .structured import Structured

__version__ = "0.1.0"

__all__ = ["parse", "check", "CheckResult", "grad", "jacobian", "hessian", "derivative", "hvp", "laplacian", "top_eigenvalues", "newton_cg_step", "define_elementwise",
           "Program", "Expr", "Structured", "config", "TcnbError", "TensorSyntaxError", "ShapeError",
           "BindingError", "DerivativeError", "MemoryBudgetError", "NumericalError", "BackendUnavailableError"]


def load_ipython_extension(ipython):  # %load_ext tcnb
    """``%load_ext tcnb``: register the notebook magics (imported lazily, so plain ``import tcnb`` needs no IPython)."""
    from .notebook.magics import load_ipython_extension as load
    load(ipython)


def unload_ipython_extension(ipython):  # %unload_ext tcnb
    """``%unload_ext tcnb``: remove the magics again."""
    from .notebook.magics import unload_ipython_extension as unload
    unload(ipython)
