"""The backend registry: a backend is one record, and tcnb evaluates through whatever is registered.

A toy backend (NumPy behind a namespace that counts what the generated code looks up) must give
NumPy's values for values, gradients, Hessians, index maps and compressed results; a fake "device"
backend checks to-host, ownership and sync; NumPy and CuPy are the built-in registrations.
"""
from __future__ import annotations

import collections
import importlib.util

import numpy as np
import pytest
import scipy.special

import tcnb
from tcnb.backend import namespace, registry
from tcnb.backend.registry import Backend, add_at
from tcnb.bench import magic, timing

LOGREG = "X: R[m, n]\ny: R[m]\nw: R[n]\nv: R[n]\nf = sum(log(1 + exp(-y * (X @ w))))\n"
CONV = "x: R[n + k - 1]\nw: R[k]\nc[i:n] = w[q] * x[i + q]\nh = sum(tanh(c) ** 2)\n"
MATFAC = "T: R[n, n]\nU: R[n, k]\nV: R[n, k]\nf = sum((T - U @ V.T) ** 2)\n"


class CountingNumpy:
    """NumPy, counting every function (or ufunc) looked up through it."""

    def __init__(self):
        self.calls = collections.Counter()

    def __getattr__(self, name):
        obj = getattr(np, name)
        if callable(obj) and not isinstance(obj, type):
            self.calls[name] += 1
        return obj


class DeviceArray:
    """An array of the fake device: NumPy data that must be brought to the host explicitly."""

    def __init__(self, data):
        self.data = np.asarray(data)


TOY_NS = CountingNumpy()
SCATTERS = []
SYNCS = []


def _toy_scatter_add(xp, out, index, values):
    SCATTERS.append(index.shape)
    return add_at(xp, out, index, values)


@pytest.fixture(scope="module", autouse=True)
def registered():
    """The toy and fake-device backends, registered for this module only (compiled functions are
    cached per backend name, so each name is registered once)."""
    toy = registry.register_backend(Backend(
        name="toy", aliases=("toy-alias",), load=lambda: TOY_NS, scatter_add=_toy_scatter_add,
        special=lambda: scipy.special, host=False, device="the CPU, counted"))
    dev = registry.register_backend(Backend(
        name="fakedev", load=lambda: np, owns=lambda a: isinstance(a, DeviceArray),
        to_host=lambda a: a.data, sync=SYNCS.append, host=False, device="a fake device",
        describe=lambda: "Fake Accelerator (1 GiB)"))
    yield toy, dev
    registry.unregister_backend("toy")
    registry.unregister_backend("fakedev")


def _arrays(prog, sizes, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for name, e in prog.variables.items():
        shape = tcnb.dims.resolve_shape(e.shape, sizes)
        out[name] = rng.standard_normal(shape) if shape else rng.standard_normal()
    return out


# ----------------------------------------------------------------------- evaluating through a backend

@pytest.mark.parametrize("mode", ["forward", "reverse", "cross-country"])
def test_toy_backend_evaluates_through_its_namespace(mode):
    prog = tcnb.parse(LOGREG)
    arrays = _arrays(prog, {"m": 20, "n": 6})
    for expr in (prog["f"], tcnb.grad(prog["f"], "w", mode=mode), tcnb.hessian(prog["f"], "w", mode=mode)):
        TOY_NS.calls.clear()
        fn = expr.compile(backend="toy")
        assert fn.xp is TOY_NS and fn.record is registry.get_backend("toy")
        np.testing.assert_allclose(fn(**arrays), expr.evaluate(**arrays), rtol=1e-12, atol=1e-14)
        assert sum(TOY_NS.calls.values()) > 0, "the generated code did not use the toy namespace"


def test_toy_backend_by_alias_and_host_flag():
    """The alias evaluates the same; host=False takes gram's general product, not the syrk form."""
    prog = tcnb.parse(LOGREG)
    arrays = _arrays(prog, {"m": 30, "n": 5}, seed=1)
    H = tcnb.hessian(prog["f"], "w")
    TOY_NS.calls.clear()
    out = H.evaluate(backend="toy-alias", **arrays)
    np.testing.assert_allclose(out, H.evaluate(**arrays), rtol=1e-12)
    assert TOY_NS.calls["sqrt"] == 0  # gram's b = a * sqrt(d) is for host backends only


def test_scatter_add_is_the_backends():
    prog = tcnb.parse(CONV)
    arrays = _arrays(prog, {"n": 6, "k": 3}, seed=2)
    g = tcnb.grad(prog["h"], "x", mode="reverse")
    SCATTERS.clear()
    np.testing.assert_allclose(g.evaluate(backend="toy", **arrays), g.evaluate(**arrays), rtol=1e-12)
    assert SCATTERS, "the index map's adjoint did not scatter through the toy backend's scatter_add"


def test_structured_runs_on_the_backend():
    prog = tcnb.parse(MATFAC + "U2: R[n, k]\n")
    arrays = _arrays(prog, {"n": 7, "k": 2}, seed=3)
    H = tcnb.hessian(prog["f"], "U")
    TOY_NS.calls.clear()
    S = H.structured(backend="toy", **arrays)
    S_host = H.structured(**arrays)
    np.testing.assert_allclose(S.dense(), S_host.dense(), rtol=1e-12)
    np.testing.assert_allclose(S @ arrays["U2"], S_host @ arrays["U2"], rtol=1e-12)
    assert sum(TOY_NS.calls.values()) > 0


# ----------------------------------------------------------------------------------- names

def test_aliases_resolve_to_one_record():
    assert registry.get_backend("np") is registry.get_backend("numpy")
    assert registry.get_backend("cp") is registry.get_backend("cupy")
    assert registry.get_backend("toy-alias") is registry.get_backend("toy")
    assert {"numpy", "np", "cupy", "cp", "toy", "toy-alias"} <= set(registry.backend_names())
    assert registry.backend_names(aliases=False)[:2] == ("numpy", "cupy")
    assert namespace.get_namespace("np") is np


@pytest.mark.parametrize("name", ["bogus", "NumPy", "", 3, None])
def test_unknown_backend_lists_the_registered_names(name):
    with pytest.raises(tcnb.BackendUnavailableError) as err:
        registry.get_backend(name)
    text = str(err.value)
    assert f"unknown backend {name!r}" in text
    for known in ("'numpy'", "'cupy'", "'toy'", "np", "cp"):
        assert known in text, text


def test_unknown_backend_from_evaluate_and_magic():
    prog = tcnb.parse(LOGREG)
    with pytest.raises(tcnb.BackendUnavailableError, match="unknown backend 'bogus'.*'numpy'"):
        prog["f"].evaluate(backend="bogus", **_arrays(prog, {"m": 3, "n": 2}))
    assert magic.parse_line("f --backends numpy,toy")["kwargs"]["backends"] == ["numpy", "toy"]
    with pytest.raises(magic.BenchMagicError, match="unknown 'bogus'"):
        magic.parse_line("f --backends numpy,bogus")


def test_registering_checks_names():
    with pytest.raises(ValueError, match="already registered"):
        registry.register_backend(Backend(name="toy", load=lambda: np))
    with pytest.raises(ValueError, match="already names the backend 'numpy'"):
        registry.register_backend(Backend(name="other", aliases=("np",), load=lambda: np))
    assert "other" not in registry.backend_names()
    first = registry.register_backend(Backend(name="scratch", aliases=("s1",), load=lambda: np))
    second = registry.register_backend(Backend(name="scratch", aliases=("s2",), load=lambda: np), replace=True)
    try:
        assert registry.get_backend("s2") is second is not first
        assert "s1" not in registry.backend_names()
    finally:
        registry.unregister_backend("scratch")
    assert "scratch" not in registry.backend_names() and "s2" not in registry.backend_names()


# ----------------------------------------------------------------------------------- this machine

def test_available_backends_here():
    names = registry.available_backends()
    assert names[0] == "numpy" and namespace.available_backends() == names
    assert "toy" in names and "fakedev" in names
    cupy = registry.get_backend("cupy")
    assert cupy in registry.backends()
    if importlib.util.find_spec("cupy") is None:
        assert "cupy" not in names and not cupy.available
        assert "not installed" in cupy.why_unavailable() and "tcnb[gpu]" in cupy.why_unavailable()
        with pytest.raises(tcnb.BackendUnavailableError, match="backend 'cupy' is not installed"):
            namespace.get_namespace("cupy")
        with pytest.raises(tcnb.BackendUnavailableError):
            cupy.special_namespace()
    else:  # CuPy installed: available exactly when it sees a GPU, else the reason says why
        assert ("cupy" in names) == (cupy.why_unavailable() is None)


def test_unavailable_reason_from_the_loader():
    def no_device():
        raise tcnb.BackendUnavailableError("the fake card is unplugged")

    b = registry.register_backend(Backend(name="unplugged", load=no_device, host=False))
    try:
        assert not b.available and b.why_unavailable() == "the fake card is unplugged"
        assert "unplugged" not in registry.available_backends()
        with pytest.raises(tcnb.BackendUnavailableError, match="unplugged"):
            tcnb.parse(LOGREG)["f"].compile(backend="unplugged")
    finally:
        registry.unregister_backend("unplugged")


def test_special_namespaces():
    assert registry.get_backend("numpy").special_namespace() is scipy.special
    assert registry.get_backend("toy").special_namespace() is scipy.special
    with pytest.raises(tcnb.BackendUnavailableError, match="no special-function namespace"):
        registry.get_backend("fakedev").special_namespace()


# ----------------------------------------------------------------------------------- arrays

def test_backend_of_and_to_host():
    a = np.arange(3.0)
    assert registry.backend_of(a).name == "numpy"
    assert registry.backend_of(np.float64(1.0)).name == "numpy"
    assert registry.backend_of([1.0, 2.0]) is None and registry.backend_of(2.0) is None
    d = DeviceArray([1.0, 2.0])
    assert registry.backend_of(d).name == "fakedev"
    assert namespace.to_host(d) is d.data
    assert namespace.to_numpy(a) is a
    np.testing.assert_array_equal(namespace.to_host([1, 2]), [1, 2])


def test_device_arrays_come_through_the_host_when_bound():
    prog = tcnb.parse(LOGREG)
    arrays = _arrays(prog, {"m": 10, "n": 4}, seed=4)
    f = prog["f"]
    np.testing.assert_allclose(f.evaluate(**{k: DeviceArray(a) for k, a in arrays.items()}),
                               f.evaluate(**arrays), rtol=1e-13)


def test_sync_and_machine_description():
    SYNCS.clear()
    out = np.zeros(2)
    timing.sync_for("fakedev")(out)
    assert SYNCS == [out]
    namespace.synchronize(np)  # numpy's namespace: numpy is first, and needs no sync
    assert timing.sync_for("numpy") is timing._no_sync
    if "cupy" not in registry.available_backends():  # the first device backend that runs here describes it
        assert timing._gpu_name() == "Fake Accelerator (1 GiB)"
        with pytest.raises(tcnb.BackendUnavailableError):
            timing.sync_for("cupy")
