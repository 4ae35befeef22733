"""The Hessian explorer, headless: its numbers are NumPy's on the dense Hessian (logistic regression,
matrix factorisation with the spectrum from the compressed core, a small ReLU net, an indefinite
function), and its pictures change when a control moves."""
from __future__ import annotations

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


def test_dense_spectra_past_the_limit_are_refused_with_a_message(logreg):
    ex = HessianExplorer.from_function(logreg["f"], logreg["w"], sizes={"n": 20, "m": "2*n"}, max_dense=30)
    ex.size_sliders["n"].value = 40
    assert ex.error and "max_dense" in ex.error
    ex.size_sliders["n"].value = 25                                  # back under the limit: shown again
    assert ex.error is None and ex.eigenvalues.size == 25


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
