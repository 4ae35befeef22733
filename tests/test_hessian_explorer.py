"""The Hessian explorer, headless: its numbers are NumPy's on the dense Hessian (logistic regression,
matrix factorisation with the spectrum from the compressed core, a small ReLU net, an indefinite
function), and its pictures change when a control moves."""
from __future__ import annotations

import html
import time

import numpy as np
import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("matplotlib")

import tcnb  # noqa: E402
from tcnb.widgets import HessianExplorer  # noqa: E402
from tcnb.widgets.hessian_explorer import block_structure, matricise, pattern_explanation  # noqa: E402

LOGREG = """X: R[m, n]
y: R[m]
w: R[n]
f = sum(log(1 + exp(-y * (X @ w))))
"""
MATFAC = """T: R[n, n]
U: R[n, k]
V: R[n, k]
f = sum(square(T - U @ V.T))
"""
RELU = """X: R[b, n]
Y: R[b, c]
W1: R[h, n]
W2: R[c, h]
H1 = relu(X @ W1.T)
Z = H1 @ W2.T
f = sum(logsumexp(Z, 1)) - sum(Y * Z)
"""
SINE = """X: R[m, n]
w: R[n]
f = sum(sin(X @ w))
"""


def numpy_numbers(M):
    """What the explorer should report, computed by NumPy on the dense matricised Hessian."""
    M = np.asarray(M)
    ev = np.linalg.eigvalsh(M)
    tol = ev.size * np.finfo(float).eps * np.abs(ev).max()
    return ev, int((ev < -tol).sum()), np.linalg.cond(M)


def assert_numbers_match(ex, M):
    ev, neg, cond = numpy_numbers(M)
    scale = np.abs(ev).max()
    np.testing.assert_allclose(ex.eigenvalues, ev, rtol=1e-9, atol=1e-10 * scale)
    assert ex.negative_count == neg
    if np.isfinite(cond) and cond < 1e8:
        assert ex.condition_number == pytest.approx(cond, rel=1e-6)
    np.testing.assert_allclose(ex.matrix, M, rtol=1e-12, atol=1e-12 * scale)


@pytest.fixture(scope="module")
def logreg():
    return tcnb.parse(LOGREG)


@pytest.fixture(scope="module")
def matfac():
    return tcnb.parse(MATFAC)


def logreg_arrays(rng, m=60, n=12):
    return dict(X=rng.standard_normal((m, n)), y=rng.choice([-1.0, 1.0], m), w=0.3 * rng.standard_normal(n))


# ------------------------------------------------------------------------------ numbers

def test_logistic_regression_matches_numpy(logreg, rng):
    arrays = logreg_arrays(rng)
    H = tcnb.hessian(logreg["f"], logreg["w"])
    ex = HessianExplorer(H, **arrays)
    M = H.evaluate(**arrays)
    assert ex.sizes == {"m": 60, "n": 12} and ex.wrt == "w"
    assert ex.spectrum_source == "dense"
    assert_numbers_match(ex, M)
    assert ex.negative_count == 0 and ex.eigenvalues[0] > 0        # convex: positive definite here
    # the curvature is the Rayleigh quotient of the chosen unit direction
    d = ex.direction_vector
    assert np.linalg.norm(d) == pytest.approx(1.0)
    assert ex.curvature == pytest.approx(d @ M @ d, rel=1e-10)
    assert ex.error is None


def test_moving_along_the_gradient(logreg, rng):
    arrays = logreg_arrays(rng)
    f, w = logreg["f"], logreg["w"]
    ex = HessianExplorer.from_function(f, w, arrays=arrays)
    assert ex.move.value == "−gradient" and ex.direction.value == "−gradient"
    ex.step_slider.value = 0.4
    g = tcnb.grad(f, w).evaluate(**arrays)
    w0 = arrays["w"]
    expected = w0 - 0.4 * np.linalg.norm(w0) * g / np.linalg.norm(g)
    np.testing.assert_allclose(ex.arrays["w"], expected, rtol=1e-12)
    np.testing.assert_allclose(ex.base_arrays["w"], w0)
    M = tcnb.hessian(f, w).evaluate(**{**arrays, "w": expected})
    assert_numbers_match(ex, M)
    # curvature along −∇f at the new point, and f along that line next to its quadratic model
    g1 = tcnb.grad(f, w).evaluate(**{**arrays, "w": expected})
    d = -g1 / np.linalg.norm(g1)
    np.testing.assert_allclose(ex.direction_vector, d, rtol=1e-10)
    assert ex.curvature == pytest.approx(d @ M @ d, rel=1e-10)
    s, phi = ex.figure.axes[2].lines[0].get_data()
    k = len(s) // 2 + 1                                               # small s: model ≈ f
    fw = lambda v: float(f.evaluate(**{**arrays, "w": v}))           # noqa: E731
    assert phi[k] == pytest.approx(fw(expected + s[k] * d) - fw(expected), rel=1e-9, abs=1e-12)


def test_matrix_factorisation_spectrum_from_the_core(matfac, rng):
    n, k = 30, 4
    arrays = dict(T=rng.standard_normal((n, n)), U=rng.standard_normal((n, k)), V=rng.standard_normal((n, k)))
    H = tcnb.hessian(matfac["f"], matfac["U"])
    ex = HessianExplorer(H, **arrays)
    assert ex.spectrum_source == "core" and ex.multiplicity == n
    dense = matricise(H.evaluate(**arrays), 2)                      # the (n·k)×(n·k) matrix
    assert dense.shape == (n * k, n * k)
    assert_numbers_match(ex, dense)
    core = 2 * arrays["V"].T @ arrays["V"]                           # H = 2 VᵀV ⊗ δ (reference §6)
    np.testing.assert_allclose(ex.core_eigenvalues, np.linalg.eigvalsh(core), rtol=1e-10)
    np.testing.assert_allclose(ex.eigenvalues, np.sort(np.repeat(np.linalg.eigvalsh(core), n)), rtol=1e-10)
    # the same numbers when the spectrum is forced to come from the dense matrix
    forced = HessianExplorer(H, spectrum="dense", **arrays)
    assert forced.spectrum_source == "dense" and forced.core_eigenvalues is None
    np.testing.assert_allclose(forced.eigenvalues, ex.eigenvalues, rtol=1e-10)
    assert forced.condition_number == pytest.approx(ex.condition_number, rel=1e-8)
    # extreme eigenvectors built from the core are eigenvectors of the dense matrix
    for which, lam in (("smallest eigenvector", ex.eigenvalues[0]), ("largest eigenvector", ex.eigenvalues[-1])):
        ex.direction.value = which
        d = ex.direction_vector.ravel()
        np.testing.assert_allclose(dense @ d, lam * d, atol=1e-9 * abs(lam))
        assert ex.curvature == pytest.approx(lam, rel=1e-10)
    # the core and its δ pattern, explained
    text = pattern_explanation(ex.structured, H.indices)
    assert "δ[i, i']" in text and "C[j, j']" in text
    assert "repeated 30 times" in ex.pattern.value and "block diagonal" in ex.pattern.value
    ex.view.value = "core"
    np.testing.assert_allclose(ex.heatmap_matrix, core, rtol=1e-10)


def test_compressed_spectrum_without_the_dense_matrix(matfac, rng):
    """n·k = 4000: the dense Hessian (128 MB) is never formed; the heatmap shows a leading window."""
    n, k = 800, 5
    arrays = dict(T=np.zeros((n, n)), U=rng.standard_normal((n, k)), V=rng.standard_normal((n, k)))
    ex = HessianExplorer.from_function(matfac["f"], matfac["U"], arrays=arrays, max_heatmap=60)
    assert ex.spectrum_source == "core" and ex.eigenvalues.size == n * k
    core = 2 * arrays["V"].T @ arrays["V"]
    np.testing.assert_allclose(ex.core_eigenvalues, np.linalg.eigvalsh(core), rtol=1e-10)
    assert ex.condition_number == pytest.approx(np.linalg.cond(core), rel=1e-8)
    # the window: 12 diagonal blocks of the k×k core
    expected = np.kron(np.eye(12), core)
    np.testing.assert_allclose(ex.heatmap_matrix, expected, atol=1e-10 * np.abs(core).max())


def test_block_structure_of_a_diagonal_hessian(rng):
    """δ over axes the core also carries: one 1×1 block per entry (an element-wise function's diagonal
    Hessian); two terms of the same pattern add up to one core."""
    prog = tcnb.parse("W: R[p, q, r]\nf = sum(W ** 4) + sum(sin(W))\n")
    H = tcnb.hessian(prog["f"], prog["W"])
    arrays = dict(W=rng.standard_normal((2, 3, 2)))
    S = H.structured(**arrays)
    assert len(S.terms) == 2
    bs = block_structure(S)
    assert bs is not None and bs.blocks.shape == (12, 1, 1) and bs.repeat == 1
    ex = HessianExplorer(H, **arrays)
    assert ex.spectrum_source == "core"
    dense = matricise(H.evaluate(**arrays), 3)
    assert_numbers_match(ex, dense)
    W = arrays["W"]
    np.testing.assert_allclose(ex.eigenvalues, np.sort((12 * W ** 2 - np.sin(W)).ravel()), rtol=1e-12)
    ex.view.value = "core"
    np.testing.assert_allclose(np.sort(ex.heatmap_matrix.ravel()), ex.eigenvalues, rtol=1e-12)


def test_small_relu_net(rng):
    prog = tcnb.parse(RELU)
    b, n, h, c = 24, 4, 5, 3
    Y = np.eye(c)[rng.integers(0, c, b)]
    arrays = dict(X=rng.standard_normal((b, n)), Y=Y, W1=rng.standard_normal((h, n)) / 2,
                  W2=rng.standard_normal((c, h)) / 2)
    ex = HessianExplorer.from_function(prog["f"], prog["W1"], arrays=arrays)
    H = tcnb.hessian(prog["f"], prog["W1"])
    dense = matricise(H.evaluate(**arrays), 2)
    assert dense.shape == (h * n, h * n)
    assert_numbers_match(ex, dense)
    assert ex.sizes == {"b": b, "c": c, "h": h, "n": n}
    # the heatmap marks the n×n blocks of the (h·n)×(h·n) matrix
    assert f"lines mark the {n}×{n} blocks" in ex.heatmap_caption.value


def test_indefinite_hessian_counts_negative_eigenvalues(rng):
    prog = tcnb.parse(SINE)
    ex = HessianExplorer.from_function(prog["f"], prog["w"], sizes={"m": 40, "n": 15}, seed=3)
    M = tcnb.hessian(prog["f"], prog["w"]).evaluate(**ex.arrays)
    assert_numbers_match(ex, M)
    assert 0 < ex.negative_count < 15
    ex.direction.value = "smallest eigenvector"
    assert ex.curvature == pytest.approx(ex.eigenvalues[0], rel=1e-9)
    assert ex.curvature < 0


def test_random_data_and_the_data_hook(logreg):
    calls = []

    def data(sizes, rng):
        calls.append(dict(sizes))
        return {"y": rng.choice([-1.0, 1.0], sizes["m"])}
    ex = HessianExplorer.from_function(logreg["f"], logreg["w"], sizes={"n": 8, "m": "3*n"}, seed=5, data=data)
    assert ex.sizes == {"n": 8, "m": 24} and "m" not in ex.size_sliders
    assert set(np.unique(ex.arrays["y"])) <= {-1.0, 1.0}
    again = HessianExplorer.from_function(logreg["f"], logreg["w"], sizes={"n": 8, "m": "3*n"}, seed=5, data=data)
    np.testing.assert_array_equal(again.arrays["X"], ex.arrays["X"])     # the seed fixes the data
    assert calls[-1] == {"n": 8, "m": 24}


# ------------------------------------------------------------------------------ the widget

def test_figure_updates_when_a_slider_moves(logreg):
    ex = HessianExplorer.from_function(logreg["f"], logreg["w"], sizes={"n": 10, "m": "2*n"})
    heat, plots = ex.heatmap.value, ex.image.value
    assert heat[:8] == b"\x89PNG\r\n\x1a\n" and plots[:8] == b"\x89PNG\r\n\x1a\n"
    sorted_line = lambda: np.concatenate([ln.get_ydata() for ln in ex.figure.axes[1].lines[:2]])  # noqa: E731
    assert np.sort(sorted_line()) == pytest.approx(ex.eigenvalues)

    ex.size_sliders["n"].value = 14                                   # a size: new data, new shapes
    assert ex.sizes == {"n": 14, "m": 28}
    assert ex.heatmap_matrix.shape == (14, 14) and ex.eigenvalues.size == 14
    assert ex.heatmap.value != heat and ex.image.value != plots
    assert np.sort(sorted_line()) == pytest.approx(ex.eigenvalues)

    heat, plots, ev = ex.heatmap.value, ex.image.value, ex.eigenvalues.copy()
    ex.seed_slider.value = 1                                          # the seed: new data
    assert ex.heatmap.value != heat and ex.image.value != plots
    assert not np.allclose(ex.eigenvalues, ev)

    heat, plots, w = ex.heatmap.value, ex.image.value, ex.arrays["w"].copy()
    ex.step_slider.value = -0.5                                       # the point
    assert not np.allclose(ex.arrays["w"], w)
    assert ex.heatmap.value != heat and ex.image.value != plots

    plots, kappa = ex.image.value, ex.curvature
    ex.direction.value = "coordinate axis"                            # the direction
    ex.coordinate.value = 3
    assert ex.curvature == pytest.approx(ex.matrix[3, 3], rel=1e-12) and ex.curvature != kappa
    assert ex.image.value != plots
    assert "negative eigenvalues" in ex.summary.value


def test_core_view_is_off_for_uncompressed_hessians(logreg):
    ex = HessianExplorer.from_function(logreg["f"], logreg["w"], sizes={"n": 6, "m": 12})
    assert ex.structured is None and ex.view.disabled
    ex.view.value = "core"                                            # falls back to the Hessian
    assert ex.view.value == "Hessian" and ex.heatmap_matrix.shape == (6, 6)
    assert ex.pattern.value == ""


def test_bad_sizes_show_a_message_instead_of_raising(matfac, monkeypatch):
    ex = HessianExplorer.from_function(matfac["f"], matfac["U"], sizes={"n": 6, "k": 2}, compress=False)
    monkeypatch.setattr(tcnb.config, "memory_budget", 10_000)
    ex.size_sliders["n"].value = 20                                  # 40×40 = 12.8 kB > budget
    assert ex.error and "MemoryBudgetError" in ex.error
    assert "cannot show this point" in ex.summary.value


def test_unknown_array_names_are_refused(logreg):
    H = tcnb.hessian(logreg["f"], logreg["w"])
    with pytest.raises(tcnb.BindingError, match="no variable named Q"):
        HessianExplorer(H, Q=np.zeros(3), sizes={"m": 4, "n": 3})


def test_update_is_fast_at_n_100(logreg):
    """The issue's target: an update (numbers and pictures) in < 0.2 s at n = 100. Moving the point
    along the gradient rescales the spectrum, so these updates redraw the axes (the slow path; most
    updates only blit the data). Measured as the CPU time of this thread, so that other jobs on a busy
    CI machine do not fail it; the wall time must stay within 3× of that."""
    ex = HessianExplorer.from_function(logreg["f"], logreg["w"], sizes={"n": 100, "m": "2*n"})
    cpu, wall = [], []
    for t in (0.05, 0.1, 0.15, -0.1, -0.3):
        ex.step_slider.value = t
        cpu.append(ex.timings["cpu"])
        wall.append(ex.timings["total"])
    assert sorted(cpu)[2] < 0.2, f"update CPU times {cpu}"
    assert sorted(wall)[2] < 0.6, f"update wall times {wall}"
    ex.direction.value = "random"                 # a direction change only blits the curvature panel
    assert ex.timings["cpu"] < 0.1


def test_past_the_dense_limit_the_explorer_goes_matrix_free(logreg):
    """Over max_dense rows the explorer neither refuses nor densifies: it says so, and shows the
    diagonal, the trace and the top eigenvalues by Lanczos — NumPy's numbers on the dense matrix."""
    ex = HessianExplorer.from_function(logreg["f"], logreg["w"], sizes={"n": 20, "m": "2*n"}, max_dense=30)
    assert not ex.matrix_free and ex.spectrum_source == "dense"
    ex.size_sliders["n"].value = 40
    assert ex.error is None and ex.matrix_free and ex.spectrum_source == "lanczos"
    assert ex.size_note.startswith("40 × 40: dense would be 12.5 KiB") and "max_dense = 30" in ex.size_note
    assert "top 6 eigenvalues by Lanczos" in ex.size_note
    assert html.escape(ex.size_note) in ex.summary.value and "top 6 eigenvalues by Lanczos" in ex._titles.value
    M = tcnb.hessian(logreg["f"], logreg["w"]).evaluate(**ex.arrays)
    ev = np.linalg.eigvalsh(M)
    np.testing.assert_allclose(ex.top_eigenvalues, ev[::-1][:6], rtol=1e-9)
    np.testing.assert_allclose(ex.eigenvalues, np.sort(ev[::-1][:6]), rtol=1e-9)
    np.testing.assert_allclose(ex.diagonal, np.diag(M), rtol=1e-12)
    assert ex.trace == pytest.approx(np.trace(M), rel=1e-12)
    assert ex.negative_count is None and np.isnan(ex.condition_number)
    with pytest.raises(tcnb.MemoryBudgetError, match="matrix-free"):
        ex.matrix                                                       # noqa: B018
    # the plots: the diagonal against its index, the top eigenvalues by rank
    np.testing.assert_allclose(ex.figure.axes[0].patches[0].get_data().values, np.diag(M), rtol=1e-12)
    top = np.concatenate([ln.get_ydata() for ln in ex.figure.axes[1].lines[:2]])
    np.testing.assert_allclose(np.sort(top), np.sort(ev[::-1][:6]), rtol=1e-9)
    ex.size_sliders["n"].value = 25                                  # back under the limit: dense again
    assert ex.error is None and not ex.matrix_free and ex.eigenvalues.size == 25
    assert "histogram of the eigenvalues" in ex._titles.value


def test_diagonal_and_trace_readouts_match_numpy(logreg, matfac, rng):
    """At small sizes the explorer keeps its dense spectrum and adds the diagonal and the trace,
    computed by H.diagonal() and H.trace() — equal to NumPy's on the dense matrix (a 2nd- and two
    4th-order Hessians, one compressed)."""
    prog = tcnb.parse(RELU)
    Y = np.eye(3)[rng.integers(0, 3, 24)]
    cases = [(logreg, "w", logreg_arrays(rng), 1),
             (matfac, "U", dict(T=rng.standard_normal((9, 9)), U=rng.standard_normal((9, 3)),
                                V=rng.standard_normal((9, 3))), 2),
             (prog, "W1", dict(X=rng.standard_normal((24, 4)), Y=Y, W1=rng.standard_normal((5, 4)) / 2,
                               W2=rng.standard_normal((3, 5)) / 2), 2)]
    for p, wrt, arrays, split in cases:
        ex = HessianExplorer.from_function(p["f"], p[wrt], arrays=arrays)
        M = matricise(tcnb.hessian(p["f"], p[wrt]).evaluate(**arrays), split)
        assert not ex.matrix_free and ex._diag_fn is not None
        np.testing.assert_allclose(ex.diagonal, np.diag(M), rtol=1e-12, atol=1e-12 * np.abs(M).max())
        assert ex.trace == pytest.approx(np.trace(M), rel=1e-12)
        np.testing.assert_allclose(ex.top_eigenvalues, np.linalg.eigvalsh(M)[::-1][:6], rtol=1e-9,
                                   atol=1e-10 * np.abs(M).max())
        assert f"{ex.trace:.4g}" in ex.summary.value and "diagonal min / max" in ex.summary.value


def test_lanczos_on_request_matches_numpy(rng):
    """spectrum='lanczos' at a small size: the top eigenvalues, the extreme eigenvectors, the
    curvature (one Hessian-vector product) and the heatmap window (one product per column) are
    NumPy's on the dense matrix — for an indefinite Hessian, where the bottom is negative."""
    prog = tcnb.parse(SINE)
    ex = HessianExplorer.from_function(prog["f"], prog["w"], sizes={"m": 40, "n": 15}, seed=3,
                                       spectrum="lanczos", top_k=4)
    M = tcnb.hessian(prog["f"], prog["w"]).evaluate(**ex.arrays)
    ev = np.linalg.eigvalsh(M)
    scale = np.abs(ev).max()
    assert ex.matrix_free and "spectrum='lanczos'" in ex.size_note and ev[0] < 0
    np.testing.assert_allclose(ex.top_eigenvalues, ev[::-1][:4], rtol=1e-9, atol=1e-9 * scale)
    np.testing.assert_allclose(ex.heatmap_matrix, M, rtol=1e-12, atol=1e-12 * scale)   # 15 < the window
    np.testing.assert_allclose(ex.diagonal, np.diag(M), rtol=1e-12)
    d = ex.direction_vector                                           # −gradient
    assert ex.curvature == pytest.approx(d @ M @ d, rel=1e-10)
    for which, lam in (("largest eigenvector", ev[-1]), ("smallest eigenvector", ev[0])):
        ex.direction.value = which
        d = ex.direction_vector
        np.testing.assert_allclose(M @ d, lam * d, atol=1e-6 * scale)
        assert ex.curvature == pytest.approx(lam, abs=1e-7 * scale)
    text = ex._repr_mimebundle_()["text/plain"]
    assert "matrix-free" in text and "top eigenvalues" in text


def test_lanczos_on_compressed_and_non_hessian_operators(matfac, rng):
    """Matrix-free on a compressed Hessian uses the compressed form's products (its eigenvalues are the
    core's); a square derivative that is not a Hessian is symmetrised first, as the dense view does."""
    n, k = 12, 3
    arrays = dict(T=rng.standard_normal((n, n)), U=rng.standard_normal((n, k)), V=rng.standard_normal((n, k)))
    ex = HessianExplorer.from_function(matfac["f"], matfac["U"], arrays=arrays, spectrum="lanczos", top_k=3)
    assert ex.structured is not None and ex.matrix_free
    core_ev = np.linalg.eigvalsh(2 * arrays["V"].T @ arrays["V"])
    np.testing.assert_allclose(ex.top_eigenvalues, np.repeat(core_ev[::-1], n)[:3], rtol=1e-9)
    np.testing.assert_allclose(ex.diagonal, np.tile(np.diag(2 * arrays["V"].T @ arrays["V"]), n), rtol=1e-12)

    prog = tcnb.parse("x: R[n]\nA: R[n, n]\ng = tanh(A @ x) + x * x\n")
    J = tcnb.jacobian(prog["g"], prog["x"])                           # square, not symmetric
    a = dict(x=rng.standard_normal(10), A=rng.standard_normal((10, 10)))
    ex = HessianExplorer(J, spectrum="lanczos", top_k=3, **a)
    M = J.evaluate(**a)
    assert np.abs(M - M.T).max() > 0.1
    np.testing.assert_allclose(ex.top_eigenvalues, np.linalg.eigvalsh(0.5 * (M + M.T))[::-1][:3], rtol=1e-9)
    np.testing.assert_allclose(ex.diagonal, np.diag(M), rtol=1e-12)


def test_logistic_regression_at_n_20000_never_forms_the_dense_hessian(logreg, monkeypatch):
    """n = 20 000 (dense: 3.2 GB). With the memory budget at 64 MiB every generated array of n² entries
    would be refused, and tracemalloc (which sees NumPy's buffers) bounds what is allocated at all:
    the explorer builds and refreshes matrix-free. Its numbers against an independent oracle: the
    nonzero eigenvalues of Xᵀ diag(s) X are those of the m×m matrix diag(√s) X Xᵀ diag(√s)."""
    import tracemalloc
    m, n = 100, 20_000
    monkeypatch.setattr(tcnb.config, "memory_budget", 64 * 2**20)

    def data(sizes, rng):
        return {"y": rng.choice([-1.0, 1.0], sizes["m"]), "w": rng.standard_normal(sizes["n"]) / np.sqrt(sizes["n"])}

    tracemalloc.start()
    try:
        probe = np.ones(5_000_000)                                    # the detector sees NumPy's buffers
        assert tracemalloc.get_traced_memory()[1] >= probe.nbytes
        del probe
        tracemalloc.reset_peak()
        ex = HessianExplorer.from_function(logreg["f"], logreg["w"], sizes={"m": m, "n": n}, data=data)
        ex.step_slider.value = 0.2
        for direction in ("random", "largest eigenvector", "smallest eigenvector", "coordinate axis"):
            ex.direction.value = direction
        ex.scale.value = "signed log"
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ex.error is None and ex.matrix_free and ex.spectrum_source == "lanczos"
    assert peak < n * n * 8 / 16, f"peak {peak / 2**20:.0f} MiB"
    assert ex.size_note.startswith("20 000 × 20 000: dense would be 3.0 GiB (over the memory budget of 64.0 MiB)")
    assert ex.heatmap_matrix.shape == (32, 32) and ex.eigenvalues.size == 6

    X, y, w = (ex.arrays[k] for k in "Xyw")
    p = 1 / (1 + np.exp(-y * (X @ w)))
    s = p * (1 - p) * y * y
    np.testing.assert_allclose(ex.diagonal, (X * X).T @ s, rtol=1e-10)
    assert ex.trace == pytest.approx(float(s @ (X * X).sum(axis=1)), rel=1e-10)
    small = np.sqrt(s)[:, None] * X
    ev = np.linalg.eigvalsh(small @ small.T)
    np.testing.assert_allclose(ex.top_eigenvalues, ev[::-1][:6], rtol=1e-8)
    ex.direction.value = "random"
    d = ex.direction_vector
    assert ex.curvature == pytest.approx(float(np.sum((small @ d) ** 2)), rel=1e-10)
    ex.direction.value = "smallest eigenvector"                       # m < n: singular, λmin = 0
    assert abs(ex.curvature) < 1e-6 * ev[-1]
    np.testing.assert_allclose(ex.heatmap_matrix, small[:, :32].T @ small[:, :32], rtol=1e-9, atol=1e-12 * ev[-1])
    print(f"n = {n}: build and six refreshes, peak {peak / 2**20:.0f} MiB traced; last update "
          f"{ex.last_update_s:.2f} s")


def test_signed_log_colour_scale(rng):
    prog = tcnb.parse(SINE)
    ex = HessianExplorer.from_function(prog["f"], prog["w"], sizes={"m": 30, "n": 8})
    linear = ex.heatmap.value
    ex.scale.value = "signed log"
    assert ex.heatmap.value != linear and "signed log" in ex.heatmap_caption.value
    # the sign survives: red where H > 0, blue where H < 0
    mat, rgb = ex.heatmap_matrix, ex.heatmap_rgb
    k = rgb.shape[0] // mat.shape[0]
    i, j = np.unravel_index(np.argmax(mat), mat.shape)
    red, _, blue = rgb[i * k + k // 2, j * k + k // 2].astype(int)
    assert red > blue
