"""Baselines generated from the same tcnb expression: autograd, JAX and PyTorch.

tcnb's code generator writes the expression ``f`` as straight-line array code
(``generate(..., traceable=True)``: no data-dependent branches). That source is run with the
framework's own array namespace (see shims.py), and the framework differentiates it with its own
transforms, entry by entry as frameworks do:

=========  ===========================  ================================  ==========================
kind       autograd                     JAX (``jax.jit``, float64)        PyTorch (``torch.func``)
=========  ===========================  ================================  ==========================
value      f                            jit(f)                            f
grad       ``grad``                     jit(``grad``)                     ``grad``
jacobian   ``jacobian``                 jit(``jacrev``/``jacfwd``)*       ``jacrev``/``jacfwd``*
hessian    ``hessian``                  jit(``hessian``) = fwd over rev   ``hessian`` = fwd over rev
hvp        ``hessian_tensor_product``   jit(``jvp`` of ``grad``)          ``jvp`` of ``grad``
=========  ===========================  ================================  ==========================

\\* reverse mode when the output has at most as many entries as the variable, else forward mode.

So any expression a user writes gets honest baselines without anyone writing them by hand.

    b = Baseline("jax", f, "w", "hessian", sizes={"m": 200, "n": 100})
    run = b.prepare(arrays)        # framework arrays on the device; JAX compiles here (b.compile_s)
    out = run()                    # the Hessian, as a framework array
    b.sync(out); b.to_numpy(out)

``available(framework)`` says whether a framework can be used, with a note when it cannot; JAX is put
in float64 mode (``jax_enable_x64``) when its baseline is built for float64 inputs.
"""
from __future__ import annotations

import importlib
import os
import time

import numpy as np

# JAX takes 75% of the GPU's memory when it starts unless told otherwise, which would starve CuPy and
# PyTorch running beside it in the same process; a benchmark wants each to allocate what it uses.
# (Only effective before JAX's GPU backend starts; a value the user set wins.)
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

from .shims import RUNTIME, TorchNamespace

FRAMEWORKS = ("autograd", "jax", "torch")
KINDS = ("value", "grad", "jacobian", "hessian", "hvp")

_INSTALL = {"autograd": "pip install autograd", "jax": "pip install 'jax[cpu]'",
            "torch": "pip install torch==2.13.0"}


class BaselineUnavailable(Exception):
    """A framework (or a device of it) cannot be used here; ``str(exc)`` is the note to show."""


def available(framework: str, device: str = "cpu") -> tuple[bool, str]:
    """(usable, note): whether ``framework`` can run on ``device`` ("cpu" or "gpu") here."""
    if framework not in FRAMEWORKS:
        return False, f"unknown baseline {framework!r} (known: {', '.join(FRAMEWORKS)})"
    try:
        mod = importlib.import_module(framework)
    except Exception as exc:  # noqa: BLE001 - ImportError, or a broken install
        return False, f"{framework} is not installed ({type(exc).__name__}); {_INSTALL[framework]}"
    if device == "cpu":
        return True, ""
    if device != "gpu":
        return False, f"unknown device {device!r} (expected 'cpu' or 'gpu')"
    if framework == "autograd":
        return False, "autograd runs on the CPU only"
    if framework == "jax":
        try:
            mod.devices("gpu")
            return True, ""
        except Exception:  # noqa: BLE001
            return False, "JAX sees no GPU"
    if framework == "torch":
        return (True, "") if mod.cuda.is_available() else (False, "PyTorch sees no CUDA device")
    return False, "no such device"  # pragma: no cover


def devices(framework: str, want) -> list[str]:
    """The devices of ``want`` ("cpu", "gpu", a list, or "auto" = all) the framework can use."""
    if want == "auto":
        want = ["cpu", "gpu"]
    elif isinstance(want, str):
        want = [want]
    return [d for d in want if available(framework, d)[0]]


def traced_source(f, sizes: dict, dtype=np.float64):
    """(source, argument names) of ``f`` as traceable array code at ``sizes``."""
    from ..backend.codegen import generate
    fn = f.compile("numpy")
    gen = generate([f.node], fn.vars, sizes, itemsize=np.dtype(dtype).itemsize, traceable=True,
                   check_budget=False)
    return gen, list(gen.arg_names)


def _function_of(gen, xp, dtype):
    from ..backend.codegen import load
    raw = load(gen, "baseline")

    def func(*args):
        return raw(xp, RUNTIME, dtype, *args)[0]
    func.__name__ = "tcnb_expression"
    return func


def _reverse_is_cheaper(out_size: int, w_size: int) -> bool:
    return out_size <= w_size


class Baseline:
    """One framework's derivative of the tcnb expression ``f`` at one size binding."""

    def __init__(self, framework: str, f, wrt: str, kind: str, sizes: dict, *, device: str = "cpu",
                 direction: str | None = None, dtype=np.float64, out_size: int | None = None):
        ok, note = available(framework, device)
        if not ok:
            raise BaselineUnavailable(note)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if kind == "hvp" and not direction:
            raise ValueError("an hvp baseline needs the name of the direction array")
        self.framework, self.kind, self.device, self.wrt = framework, kind, device, wrt
        self.direction = direction
        self.dtype = np.dtype(dtype)
        gen, self.arg_names = traced_source(f, sizes, self.dtype)
        self.source = gen.source
        self._gen = gen
        self.f_bytes = sum(gen.node_bytes.values())
        if kind != "value" and wrt not in self.arg_names:
            raise ValueError(f"{wrt!r} is not a variable of the expression ({', '.join(self.arg_names)})")
        self.argnum = self.arg_names.index(wrt) if kind != "value" else None
        self.out_size = out_size
        self.compile_s = None  # set by prepare() where the framework compiles ahead of time
        self._w_size = None
        getattr(self, f"_build_{framework}")()

    # ------------------------------------------------------------------------------ building
    def _transform(self, mod, func):
        """The derivative of func by the framework's own transforms (mod: grad/jacobian/... lookup)."""
        i, kind = self.argnum, self.kind
        return {"value": lambda: func,
                "grad": lambda: mod["grad"](func, i),
                "jacobian": lambda: mod["jacobian"](func, i),
                "hessian": lambda: mod["hessian"](func, i),
                "hvp": lambda: mod["hvp"](func, i)}[kind]()

    def _build_autograd(self):
        import autograd
        import autograd.numpy as anp
        func = _function_of(self._gen, anp, self.dtype.type)

        def hvp(fn, i):
            htp = autograd.hessian_tensor_product(fn, i)
            return lambda *a: htp(*a)  # last argument: the direction
        self._fn = self._transform({"grad": autograd.grad, "jacobian": autograd.jacobian,
                                    "hessian": autograd.hessian, "hvp": hvp}, func)
        self._convert = np.asarray
        self.sync = lambda out: out
        self.to_numpy = np.asarray
        self.how = {"value": "f", "grad": "autograd.grad", "jacobian": "autograd.jacobian",
                    "hessian": "autograd.hessian", "hvp": "autograd.hessian_tensor_product"}[self.kind]

    def _build_jax(self):
        import jax
        import jax.numpy as jnp
        if self.dtype == np.float64 and not jax.config.jax_enable_x64:
            jax.config.update("jax_enable_x64", True)
        self._jax_device = jax.devices(self.device)[0]
        func = _function_of(self._gen, jnp, jnp.float64 if self.dtype == np.float64 else jnp.float32)

        def jacobian(fn, i):
            rev = self.out_size is None or self._w_size is None or \
                _reverse_is_cheaper(self.out_size, self._w_size)
            return (jax.jacrev if rev else jax.jacfwd)(fn, argnums=i)

        def hvp(fn, i):
            g = jax.grad(fn, argnums=i)

            def run(*a):
                args, v = list(a[:-1]), a[-1]
                return jax.jvp(lambda w: g(*args[:i], w, *args[i + 1:]), (args[i],), (v,))[1]
            return run
        self._jax_transforms = {"grad": lambda fn, i: jax.grad(fn, argnums=i), "jacobian": jacobian,
                                "hessian": lambda fn, i: jax.hessian(fn, argnums=i), "hvp": hvp}
        self._jax_func = func
        self._convert = lambda a: jax.device_put(np.asarray(a), self._jax_device)
        self.sync = jax.block_until_ready
        self.to_numpy = np.asarray
        self.how = {"value": "jax.jit(f)", "grad": "jax.jit(jax.grad)", "jacobian": "jax.jit(jax.jacrev/jacfwd)",
                    "hessian": "jax.jit(jax.hessian)", "hvp": "jax.jit(jax.jvp of jax.grad)"}[self.kind]

    def _build_torch(self):
        import torch
        import torch.func as tf
        dev = "cuda" if self.device == "gpu" else "cpu"
        ns = TorchNamespace(torch, dev)
        tdtype = torch.float64 if self.dtype == np.float64 else torch.float32
        func = _function_of(self._gen, ns, tdtype)

        def jacobian(fn, i):
            rev = self.out_size is None or self._w_size is None or \
                _reverse_is_cheaper(self.out_size, self._w_size)
            return (tf.jacrev if rev else tf.jacfwd)(fn, argnums=i)

        def hvp(fn, i):
            g = tf.grad(fn, argnums=i)

            def run(*a):
                args, v = list(a[:-1]), a[-1]
                return tf.jvp(lambda w: g(*args[:i], w, *args[i + 1:]), (args[i],), (v,))[1]
            return run
        self._torch_transforms = {"grad": lambda fn, i: tf.grad(fn, argnums=i), "jacobian": jacobian,
                                  "hessian": lambda fn, i: tf.hessian(fn, argnums=i), "hvp": hvp}
        self._torch_func = func
        self._convert = lambda a: torch.as_tensor(np.asarray(a), dtype=tdtype, device=dev)
        if dev == "cuda":
            self.sync = lambda out: torch.cuda.synchronize()
        else:
            self.sync = lambda out: out
        self.to_numpy = lambda out: out.detach().cpu().numpy()
        self.how = {"value": "f", "grad": "torch.func.grad", "jacobian": "torch.func.jacrev/jacfwd",
                    "hessian": "torch.func.hessian", "hvp": "torch.func.jvp of torch.func.grad"}[self.kind]

    # ------------------------------------------------------------------------------ running
    def prepare(self, arrays: dict):
        """A zero-argument callable computing the derivative on ``arrays`` (numpy, by variable name),
        which are converted to the framework's arrays on its device first (not timed)."""
        missing = [n for n in self.arg_names if n not in arrays]
        if missing:
            raise KeyError(f"no array for {', '.join(missing)}")
        args = [self._convert(np.asarray(arrays[n], dtype=self.dtype)) for n in self.arg_names]
        if self.kind == "hvp":
            args.append(self._convert(np.asarray(arrays[self.direction], dtype=self.dtype)))
        if self.argnum is not None:
            self._w_size = int(np.size(arrays[self.wrt]))
        if self.framework == "jax":
            import jax
            fn = self._jax_func if self.kind == "value" else self._transform(self._jax_transforms, self._jax_func)
            t0 = time.perf_counter()
            compiled = jax.jit(fn).lower(*args).compile()
            self.compile_s = time.perf_counter() - t0
            return lambda: compiled(*args)
        if self.framework == "torch":
            # (no torch.no_grad() here: under it, torch.func.hessian of slogdet comes out wrong in
            # torch 2.13; the inputs do not require grad, so no autograd graph is recorded anyway)
            fn = self._torch_func if self.kind == "value" else self._transform(self._torch_transforms,
                                                                               self._torch_func)
            return lambda: fn(*args)
        fn = self._fn
        return lambda: fn(*args)

    def estimate_bytes(self, out_bytes: int, w_size: int, input_bytes: int) -> int:
        """Rough peak memory: inputs + result + the framework's working set. JAX and PyTorch vectorise
        over the variable's entries (vmap) for Hessians/Jacobians, holding one copy of f's
        intermediates per entry; autograd loops over them, holding a few copies."""
        live = max(self.f_bytes, 8)
        if self.kind in ("hessian", "jacobian") and self.framework in ("jax", "torch"):
            lanes = w_size if self.kind == "hessian" else min(w_size, max(out_bytes // self.dtype.itemsize, 1))
            work = lanes * live
        else:
            work = 3 * live
        return int(input_bytes + out_bytes + work)


def build(framework, f, wrt, kind, sizes, **kw) -> Baseline:
    """``Baseline(framework, f, wrt, kind, sizes, **kw)``."""
    return Baseline(framework, f, wrt, kind, sizes, **kw)
