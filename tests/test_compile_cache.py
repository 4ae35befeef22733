"""Compile caches are keyed by what determines the code, and bounded (issue 11).

The global cache of compiled functions was keyed by the roots' node ids plus the *names* of the
program's variables, so a second program declaring the same names with other shapes reused the first
program's binding rules (wrong sizes, a wrong value or a spurious BindingError) — which is what
re-running a corrected ``%%tensor`` cell does. The per-function binding cache keyed a NumPy integer
size by its (empty) shape, not its value. Every cache is now keyed by nodes (whose ids are never
reused: ir.py counts them) plus the bound shapes, dtypes and size values, and holds a bounded
number of entries.
"""
from __future__ import annotations

import gc
import importlib
import weakref

import numpy as np
import pytest

import tcnb

compiled_mod = importlib.import_module("tcnb.backend.compiled")
structured_mod = importlib.import_module("tcnb.structured")


def test_same_names_other_shapes_get_their_own_binding():
    """Both programs have the node sum(ones(n)); only the declaration of x differs."""
    first = tcnb.parse("x: R[n]\nf = sum(ones(n))")
    assert float(first["f"].evaluate(x=np.ones(4))) == 4.0
    second = tcnb.parse("x: R[n + 1]\nf = sum(ones(n))")
    assert float(second["f"].evaluate(x=np.ones(4))) == 3.0
    assert float(first["f"].evaluate(x=np.ones(4))) == 4.0


def test_same_names_other_shapes_no_spurious_binding_error():
    first = tcnb.parse("x: R[n]\ny: R[n]\nf = sum(x)")
    assert float(first["f"].evaluate(x=np.ones(3), y=np.ones(3))) == 3.0
    second = tcnb.parse("x: R[n]\ny: R[m]\nf = sum(x)")
    assert float(second["f"].evaluate(x=np.ones(3), y=np.ones(5))) == 3.0
    with pytest.raises(tcnb.BindingError):
        first["f"].evaluate(x=np.ones(3), y=np.ones(5))


def test_rerunning_a_corrected_tensor_cell():
    """The notebook case: the same cell run again after fixing a declaration."""
    from IPython.testing.globalipapp import get_ipython
    ip = get_ipython()
    ip.run_line_magic("load_ext", "tcnb")
    ip.run_cell_magic("tensor", "cell", "x: R[n]\nw: R[n]\nf = sum(ones(n)) * sum(w)")
    assert float(ip.user_ns["f"].evaluate(x=np.ones(4), w=np.ones(4))) == 16.0
    ip.run_cell_magic("tensor", "cell", "x: R[n + 1]\nw: R[n]\nf = sum(ones(n)) * sum(w)")
    assert float(ip.user_ns["f"].evaluate(x=np.ones(4), w=np.ones(3))) == 9.0


def test_numpy_integer_sizes_are_keyed_by_value():
    f = tcnb.parse("f = sum(ones(n))")["f"]
    assert float(f.evaluate(n=np.int64(3))) == 3.0
    assert float(f.evaluate(n=np.int64(5))) == 5.0
    assert float(f.evaluate(n=5)) == 5.0


def test_structured_numpy_integer_sizes_are_keyed_by_value():
    f = tcnb.parse("f = 2 * ones(n)")["f"]
    assert f.structured(n=np.int64(3)).shape == (3,)
    assert f.structured(n=np.int64(5)).shape == (5,)
    np.testing.assert_array_equal(f.structured(n=np.int64(5)).dense(), np.full(5, 2.0))


def test_the_same_node_under_two_names_keeps_its_own_name_in_errors(monkeypatch):
    prog = tcnb.parse("x: R[n]\nF = outer(x, x)\nG = outer(x, x)")
    assert prog["F"].node is prog["G"].node
    monkeypatch.setattr(tcnb.config, "memory_budget", 1000)
    for name in ("F", "G"):
        with pytest.raises(tcnb.MemoryBudgetError) as info:
            prog[name].evaluate(x=np.ones(100))
        assert str(info.value).startswith(name), str(info.value)


def test_one_compiled_function_per_node_and_program():
    prog = tcnb.parse("x: R[n]\nf = sum(exp(x))")
    g1 = tcnb.grad(prog["f"], prog["x"])
    g2 = tcnb.grad(prog["f"], prog["x"])
    assert g1.node is g2.node and g1.compile() is g2.compile()


def test_global_cache_is_bounded_and_releases_old_graphs():
    bound = compiled_mod._COMPILED.maxsize
    first = tcnb.parse("x: R[n]\nf = sum(exp(x) * 0.123456789)")
    first["f"].evaluate(x=np.ones(2))
    node = weakref.ref(first["f"].node)
    del first
    for k in range(bound + 10):
        prog = tcnb.parse(f"x: R[n]\nf = sum(x * {k + 1.5})")
        prog["f"].compile()
    del prog
    gc.collect()
    assert len(compiled_mod._COMPILED) <= bound
    assert node() is None, "an evicted program's graph is still alive"


def test_per_function_caches_are_bounded():
    f = tcnb.parse("x: R[n]\nf = sum(exp(x))")["f"]
    fn = f.compile()
    for n in range(1, 60):
        assert np.isclose(float(fn(x=np.zeros(n))), n)
        f.structured(x=np.zeros(n))
    assert len(fn._cache) <= fn._cache.maxsize
    assert len(fn._fast) <= fn._fast.maxsize
    assert len(fn._bind_cache) <= fn._bind_cache.maxsize
    assert len(f._compiled) <= f._compiled.maxsize


def test_fast_path_still_checks_new_shapes():
    f = tcnb.parse("x: R[n]\nA: R[n, n]\nf = x @ A @ x")["f"]
    assert float(f.evaluate(x=np.ones(2), A=np.ones((2, 2)))) == 4.0
    with pytest.raises(tcnb.BindingError):
        f.evaluate(x=np.ones(3), A=np.ones((2, 2)))
    assert float(f.evaluate(x=np.ones(3), A=np.ones((3, 3)))) == 9.0


def test_structured_caches_are_bounded_and_release_old_graphs():
    """The split of each node structured() saw was kept forever (an unbounded dict holding the node)."""
    bound = structured_mod._SPLITS.maxsize
    first = tcnb.parse("x: R[n]\nf = sum(exp(x) * 0.987654321)")
    tcnb.hessian(first["f"], "x").structured(x=np.ones(2))
    node = weakref.ref(tcnb.hessian(first["f"], "x").node)
    del first
    for k in range(bound + 10):
        prog = tcnb.parse(f"x: R[n]\nf = sum(exp(x) * {k + 1.5})")
        structured_mod.plan_structured(tcnb.hessian(prog["f"], "x").node, {"n": 2}, "numpy", ())
    del prog
    gc.collect()
    assert len(structured_mod._SPLITS) <= bound and len(structured_mod._PLANS) <= structured_mod._PLANS.maxsize
    assert node() is None, "an evicted node is still kept alive by the structured caches"


def test_structured_plans_in_use_survive_a_full_cache():
    """The plan cache was cleared completely when full; now the least recently used plan goes."""
    H = tcnb.hessian(tcnb.parse("x: R[n]\nf = sum(exp(x) * 0.5)")["f"], "x")
    plan = structured_mod.plan_structured(H.node, {"n": 3}, "numpy", ())
    for k in range(structured_mod._PLANS.maxsize + 10):
        other = tcnb.hessian(tcnb.parse(f"x: R[n]\nf = sum(sin(x) * {k + 2.5})")["f"], "x")
        structured_mod.plan_structured(other.node, {"n": 3}, "numpy", ())
        assert structured_mod.plan_structured(H.node, {"n": 3}, "numpy", ()) is plan
