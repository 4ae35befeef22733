"""Array backends as records: a name -> how to load its namespace and the few things each library
spells its own way (whose arrays are whose, to-host, device sync, scatter-add, special functions).

Why: generated code only ever says ``xp.<function>`` and ``_rt.<helper>(xp, ...)``; what differs
between NumPy, CuPy and the libraries to come is small and lives in one record per backend, so the
compiler, binding and the benchmarks ask the registry instead of testing module names. Adding a
backend is one :func:`register_backend` call (the built-in ones are in builtin.py).
"""
from __future__ import annotations

import functools
import inspect
import types
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import BackendUnavailableError
from . import runtime


def _owns_nothing(array) -> bool:
    return False


def _host_asarray(array):
    import numpy
    return numpy.asarray(array)


def _numpy_dtype(array):
    import numpy
    return numpy.dtype(array.dtype)


def _astype(xp, array, dtype):
    return array.astype(dtype)


def _always() -> bool:
    return True


def add_at(xp, out, index, values):
    """``out[index] += values`` with repeated indices summed, in place (NumPy's ``ufunc.at``); returns ``out``."""
    xp.add.at(out, index, values)
    return out


@dataclass(frozen=True)
class Backend:
    """One array library as tcnb uses it.

    ``load()`` returns the array namespace (raising ImportError when the library is missing, or
    BackendUnavailableError with the reason when it cannot run here, e.g. no GPU). ``owns(a)``:
    is ``a`` an array of this library (checked without importing it). ``to_host(a)``: a NumPy
    array. ``sync(result)``: wait for queued device work (None: nothing is ever queued).
    ``scatter_add(xp, out, index, values)``: ``out[index] += values`` with repeats summed; returns
    the result (in place where the library allows it, a new array where it does not). ``special()``:
    the scipy.special-like namespace (erf, gammaln, ...). ``host``: arrays live in host memory, so
    reading a value back (a check such as ``(d >= 0).all()``) costs no device round trip.
    ``device``: words for messages; ``install``: how to get the library; ``describe()``: the
    device's own name for reports (a GPU's model), or None.

    Libraries that trace or build graphs (JAX, Dask) or that NumPy's spelling does not fit (PyTorch)
    set ``traceable``: their code is generated without value-dependent branches and runs with the
    functional ``_rt`` (functional.py: no in-place writes, no checks that read values back).
    ``jit(fn)``: ``fn`` (a function of the arrays) compiled by the library (``jax.jit``), or None
    to call it as it is. ``dtype_of(a)``: an array's dtype as NumPy's; ``astype(xp, a, dtype)``:
    ``a`` cast to a NumPy dtype; ``float64()``: whether float64 is on (JAX's ``jax_enable_x64``):
    otherwise arrays are bound as float32.

    ``chunked``: arrays are lazy graphs evaluated chunk by chunk (Dask), so a dense intermediate
    never lives whole in one memory and the memory budget (a bound on one whole array) is not
    checked when code is generated; a chunk's size is the user's choice. Such a backend's
    ``_rt.gram`` runs on each block, where reading a value costs nothing, so its code keeps the
    symmetric product (``symmetric``) that traced code otherwise drops. ``helpers()``: the
    backend's own ``_rt`` helpers (name -> function) over the defaults, or None.
    """

    name: str
    load: Callable[[], Any]
    aliases: tuple = ()
    owns: Callable[[Any], bool] = _owns_nothing
    to_host: Callable[[Any], Any] = _host_asarray
    sync: Callable[[Any], None] | None = None
    scatter_add: Callable = add_at
    special: Callable[[], Any] | None = None
    device: str = "the CPU"
    host: bool = True
    install: str = ""
    describe: Callable[[], str | None] | None = None
    traceable: bool = False
    jit: Callable[[Callable], Callable] | None = None
    dtype_of: Callable[[Any], Any] = _numpy_dtype
    astype: Callable = _astype
    float64: Callable[[], bool] = _always
    chunked: bool = False
    helpers: Callable[[], dict] | None = None
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    @property
    def symmetric(self) -> bool:
        """Whether generated code writes symmetric products as ``_rt.gram`` (its sign check reads
        values): for eager backends, and for chunked ones (the check runs inside each block)."""
        return not self.traceable or self.chunked

    def namespace(self):
        """The array namespace, loaded once; BackendUnavailableError (also remembered) when it
        is not installed or cannot run here."""
        if "xp" not in self._cache:
            try:
                self._cache["xp"] = self.load()
            except BackendUnavailableError as exc:
                self._cache["xp"] = exc
            except ImportError:
                self._cache["xp"] = BackendUnavailableError(
                    f"backend {self.name!r} is not installed", expected=self.install or None)
        xp = self._cache["xp"]
        if isinstance(xp, BackendUnavailableError):
            raise BackendUnavailableError(xp.message, expected=xp.expected) from None
        return xp

    def why_unavailable(self) -> str | None:
        """None when the backend can run here, else the reason (not installed, no GPU, ...)."""
        try:
            self.namespace()
        except BackendUnavailableError as exc:
            return str(exc)
        return None

    @property
    def available(self) -> bool:
        """Whether the backend can run here (its namespace loads)."""
        return self.why_unavailable() is None

    def special_namespace(self):
        """The backend's scipy.special-like namespace (element-wise erf, gammaln, ...)."""
        self.namespace()
        if self.special is None:
            raise BackendUnavailableError(f"backend {self.name!r} has no special-function namespace",
                                          expected="a backend registered with special=<loader>")
        try:
            return self.special()
        except ImportError as exc:
            raise BackendUnavailableError(f"the special functions of backend {self.name!r} are not "
                                          f"installed ({exc})", expected=self.install or None) from None

    def _special_of(self, xp):
        """``_rt.special(xp)`` for code this backend runs: its special-function namespace."""
        return self.special_namespace()

    def runtime(self):
        """runtime.py's helpers as generated code calls them (``_rt``), with this backend's
        primitives filled in: its scatter-add, whether a value check costs a device sync, and its
        special functions (``_rt.special(xp)``); for a ``traceable`` backend, functional.py's."""
        rt = self._cache.get("rt")
        if rt is None and self.traceable:
            from .functional import functional_runtime
            own = {"special": self._special_of} if self.special is not None else {}
            own.update(self.helpers() if self.helpers is not None else {})
            rt = self._cache["rt"] = functional_runtime(**own)
        if rt is None:
            helpers = {n: f for n, f in vars(runtime).items() if inspect.isfunction(f)}
            helpers["scatter"] = functools.partial(runtime.scatter, scatter_add=self.scatter_add)
            helpers["gram"] = functools.partial(runtime.gram, host=self.host)
            if self.special is not None:  # its own special functions (the default asks the module name)
                helpers["special"] = self._special_of
            helpers.update(self.helpers() if self.helpers is not None else {})
            rt = self._cache["rt"] = types.SimpleNamespace(**helpers)
        return rt


_REGISTRY: dict[str, Backend] = {}  # canonical name -> record, in registration order
_LOOKUP: dict[str, str] = {}        # name or alias -> canonical name


def register_backend(backend: Backend, replace: bool = False) -> Backend:
    """Add ``backend`` under its name and aliases; a name or alias already taken by another backend
    is a ValueError (``replace=True`` replaces a backend of the same name)."""
    if backend.name in _REGISTRY and not replace:
        raise ValueError(f"a backend named {backend.name!r} is already registered (pass replace=True)")
    for key in (backend.name, *backend.aliases):
        owner = _LOOKUP.get(key)
        if owner is not None and owner != backend.name:
            raise ValueError(f"{key!r} already names the backend {owner!r}")
    if backend.name in _REGISTRY:
        unregister_backend(backend.name)
    _REGISTRY[backend.name] = backend
    for key in (backend.name, *backend.aliases):
        _LOOKUP[key] = backend.name
    return backend


def unregister_backend(name: str) -> None:
    """Remove a backend (by name or alias); compiled functions made with it keep working."""
    b = get_backend(name)
    del _REGISTRY[b.name]
    for key in [k for k, v in _LOOKUP.items() if v == b.name]:
        del _LOOKUP[key]


def _names_text() -> str:
    return ", ".join(repr(b.name) + (f" ({', '.join(b.aliases)})" if b.aliases else "")
                     for b in _REGISTRY.values())


def get_backend(name) -> Backend:
    """The record of a backend name or alias; BackendUnavailableError listing the registered
    names when there is none (whether it can run here is :meth:`Backend.namespace`'s question)."""
    key = _LOOKUP.get(name) if isinstance(name, str) else None
    if key is None:
        raise BackendUnavailableError(f"unknown backend {name!r}", expected=f"one of {_names_text()}")
    return _REGISTRY[key]


def backends() -> tuple:
    """Every registered backend, in registration order (usable here or not)."""
    return tuple(_REGISTRY.values())


def backend_names(aliases: bool = True) -> tuple:
    """The names (and aliases) a ``backend=`` argument accepts, usable here or not."""
    return tuple(_LOOKUP) if aliases else tuple(_REGISTRY)


def available_backends() -> list:
    """The names of the backends that can run here, in registration order."""
    return [b.name for b in _REGISTRY.values() if b.available]


def backend_of(array) -> Backend | None:
    """The registered backend whose array ``array`` is (the first that owns it), or None for
    plain Python values and arrays of libraries no backend claims."""
    for b in _REGISTRY.values():
        if b.owns(array):
            return b
    return None


def backend_of_namespace(xp) -> Backend | None:
    """The backend whose loaded namespace is ``xp`` (None when no loaded backend has it)."""
    for b in _REGISTRY.values():
        if b._cache.get("xp") is xp:
            return b
    return None
