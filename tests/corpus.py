"""The derivative test corpus: tensor programs, each with an independent hand-written JAX twin.

Every ``Entry`` holds
- ``src``: a tcnb tensor program, ``of``: the expression to differentiate,
- ``wrt``: the variables to differentiate with respect to, each with the highest order to check (1-3),
- ``sizes``: the dimension binding (small, so dense Jacobians of order 3 stay cheap),
- ``inputs``: how to draw each variable (see helpers_calculus.random_array) and an optional
  ``accept`` constraint (e.g. ReLU pre-activations away from the kink),
- ``jax``: the same function written by hand with jax.numpy (keyword arguments = variable names),
  which is the oracle (jax.jacrev / jacfwd nested) for tcnb's derivatives,
- ``tags``: what the entry covers (checked by test_corpus_coverage).

The JAX twins deliberately avoid jax.nn / jax.scipy helpers: softmax, logsumexp, sigmoid, softplus
and relu are spelled out, so the oracle shares no code path with what it checks.
"""
from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass, field
from typing import Callable

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import tcnb  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import helpers_calculus as hc  # noqa: E402

# user element-wise functions registered through the public API (used by `user_elementwise`)
tcnb.define_elementwise("tcnb_test_bump", "exp(-t**2) * sin(t)")
tcnb.define_elementwise("tcnb_test_cubic", "t**3 - 2*t")

SIZES = dict(m=5, n=4, k=3, c=3)


# ------------------------------------------------------------------ hand-written JAX primitives

def sigmoid(t):
    return 1.0 / (1.0 + jnp.exp(-t))


def softplus(t):
    return jnp.log(1.0 + jnp.exp(t))


def relu(t):
    # subgradient convention relu'(0) = 0, like tcnb (jnp.maximum would give 1/2 at a tie)
    return jnp.where(t > 0, t, 0.0)


def logsumexp(x, axis=None):
    return jnp.log(jnp.sum(jnp.exp(x), axis=axis))


def softmax(x, axis=None):
    e = jnp.exp(x)
    return e / jnp.sum(e, axis=axis, keepdims=True)


def logdet(A):
    return jnp.linalg.slogdet(A)[1]


def norm2(A):
    return jnp.sqrt(jnp.sum(A * A))


# ------------------------------------------------------------------ the entry type

@dataclass(frozen=True)
class Entry:
    name: str
    src: str
    of: str
    wrt: dict                      # variable name -> highest derivative order to check (1..3)
    jax: Callable                  # fn(**arrays) -> jnp array, same function as `of`
    inputs: dict = field(default_factory=dict)   # variable name -> input kind (default "normal")
    sizes: dict = field(default_factory=dict)    # overrides of SIZES
    accept: Callable | None = None               # constraint on the drawn numpy inputs
    tags: frozenset = frozenset()

    @property
    def all_sizes(self) -> dict:
        return {**SIZES, **self.sizes}

    @property
    def order(self) -> int:
        return max(self.wrt.values())


CORPUS: list[Entry] = []


def entry(name, src, of, wrt, jax, tags=(), **kw):
    e = Entry(name=name, src=src, of=of, wrt=dict(wrt), jax=jax, tags=frozenset(tags), **kw)
    assert all(1 <= o <= 3 for o in e.wrt.values()), e.name
    assert e.name not in {x.name for x in CORPUS}, e.name
    CORPUS.append(e)
    return e


# ================================================================== the paper's three problems

entry("logreg", """
X: R[m, n]
y: R[m]
w: R[n]
f = sum(log(exp(-y * (X @ w)) + 1))
""", "f", {"w": 3, "X": 2},
    lambda X, y, w, **_: jnp.sum(jnp.log(jnp.exp(-y * (X @ w)) + 1)),
    inputs={"y": "pm1"}, tags={"paper", "logreg", "elementwise"})

entry("logreg_softplus_ridge", """
X: R[m, n]
y: R[m]
w: R[n]
lam: R
f = sum(softplus(-y * (X @ w))) + lam * dot(w, w) / 2
""", "f", {"w": 3, "lam": 2},
    lambda X, y, w, lam, **_: jnp.sum(softplus(-y * (X @ w))) + lam * jnp.dot(w, w) / 2,
    inputs={"y": "pm1", "lam": "positive"}, tags={"logreg", "scalar_var", "dot"})

entry("logreg_xent", """
X: R[m, n]
y: R[m]
w: R[n]
p = sigmoid(X @ w)
f = -sum(y * log(p) + (1 - y) * log(1 - p))
""", "f", {"w": 2},
    lambda X, y, w, **_: -jnp.sum(y * jnp.log(sigmoid(X @ w)) + (1 - y) * jnp.log(1 - sigmoid(X @ w))),
    inputs={"y": "unit"}, tags={"logreg"})

entry("logreg_probs_jacobian", """
X: R[m, n]
w: R[n]
p = sigmoid(X @ w)
""", "p", {"w": 3, "X": 1},
    lambda X, w, **_: sigmoid(X @ w), tags={"logreg", "vector_output"})

entry("matfac", """
T: R[n, m]
U: R[n, k]
V: R[m, k]
f = sum((T - U @ V.T) ** 2)
""", "f", {"U": 3, "V": 2},
    lambda T, U, V, **_: jnp.sum((T - U @ V.T) ** 2), tags={"paper", "matfac"})

entry("matfac_masked", """
T: R[n, m]
M: R[n, m]
U: R[n, k]
V: R[m, k]
f = sum((M * (T - U @ V.T)) ** 2)
""", "f", {"U": 2, "V": 2},
    lambda T, M, U, V, **_: jnp.sum((M * (T - U @ V.T)) ** 2),
    inputs={"M": "mask"}, tags={"paper", "matfac", "mask"})

entry("matfac_norm2", """
T: R[n, m]
U: R[n, k]
V: R[m, k]
f = norm2(T - U @ V.T) ** 2
""", "f", {"U": 2},
    lambda T, U, V, **_: norm2(T - U @ V.T) ** 2, tags={"matfac", "norm"})

entry("matfac_residual_jacobian", """
T: R[n, m]
U: R[n, k]
V: R[m, k]
Res = T - U @ V.T
""", "Res", {"U": 2, "V": 1},
    lambda T, U, V, **_: T - U @ V.T, tags={"matfac", "matrix_output"})


def _net_ok(X, W1, W2, **_):
    P1 = X @ W1.T
    H1 = np.maximum(P1, 0)
    P2 = H1 @ W2.T
    return np.min(np.abs(P1)) > 0.05 and np.all((np.abs(P2) > 0.05) | (P2 == 0))


entry("relu_net", """
X: R[b, d]
Y: R[b, c]
W1: R[h, d]
W2: R[h, h]
W3: R[c, h]
H1 = relu(X @ W1.T)
H2 = relu(H1 @ W2.T)
Z = H2 @ W3.T
f = -sum(Y * log(softmax(Z, 1)))
""", "f", {"W1": 2, "W3": 2},
    lambda X, Y, W1, W2, W3, **_: -jnp.sum(Y * jnp.log(softmax(relu(relu(X @ W1.T) @ W2.T) @ W3.T, axis=1))),
    sizes=dict(b=4, d=3, h=4, c=3), inputs={"Y": "onehot"}, accept=_net_ok,
    tags={"paper", "relu_net", "softmax", "relu"})


def _net2_ok(X, W1, b1, **_):
    return np.min(np.abs(X @ W1.T + b1)) > 0.05


entry("relu_net_bias_lse", """
X: R[b, d]
Y: R[b, c]
W1: R[h, d]
b1: R[h]
W2: R[c, h]
H1 = relu(X @ W1.T + b1)
Z = H1 @ W2.T
f = sum(logsumexp(Z, 1)) - sum(Y * Z)
""", "f", {"W1": 2, "b1": 3, "W2": 3},
    lambda X, Y, W1, b1, W2, **_: (jnp.sum(logsumexp(relu(X @ W1.T + b1) @ W2.T, axis=1))
                                  - jnp.sum(Y * (relu(X @ W1.T + b1) @ W2.T))),
    sizes=dict(b=4, d=3, h=4, c=3), inputs={"Y": "onehot"}, accept=_net2_ok,
    tags={"paper", "relu_net", "logsumexp", "relu", "broadcast"})

# ================================================================== least squares and norms

entry("least_squares", """
A: R[m, n]
b: R[m]
x: R[n]
f = sum((A @ x - b) ** 2)
""", "f", {"x": 3, "A": 2},
    lambda A, b, x, **_: jnp.sum((A @ x - b) ** 2), tags={"least_squares"})

entry("least_squares_norm2", """
A: R[m, n]
b: R[m]
x: R[n]
f = 0.5 * norm2(A @ x - b) ** 2
""", "f", {"x": 2, "b": 2},
    lambda A, b, x, **_: 0.5 * norm2(A @ x - b) ** 2, tags={"least_squares", "norm"})

entry("ridge_scalar_weight", """
A: R[m, n]
b: R[m]
x: R[n]
lam: R
f = sum(square(A @ x - b)) + lam * dot(x, x)
""", "f", {"x": 2, "lam": 2},
    lambda A, b, x, lam, **_: jnp.sum(jnp.square(A @ x - b)) + lam * jnp.dot(x, x),
    inputs={"lam": "positive"}, tags={"least_squares", "scalar_var"})

entry("weighted_least_squares_index", """
A: R[m, n]
b: R[m]
s: R[m]
x: R[n]
r = A @ x - b
q[i] = s[i] * r[i] * r[i]
f = sum(q)
""", "f", {"x": 2, "s": 1},
    lambda A, b, s, x, **_: jnp.sum(s * (A @ x - b) ** 2),
    inputs={"s": "positive"}, tags={"least_squares", "index"})

entry("norm2_vector", """
x: R[n]
f = norm2(x)
""", "f", {"x": 3},
    lambda x, **_: jnp.sqrt(jnp.sum(x * x)), tags={"norm"})

entry("norm2_matrix_product", """
A: R[m, n]
B: R[n, k]
f = norm2(A @ B)
""", "f", {"A": 2, "B": 2},
    lambda A, B, **_: norm2(A @ B), tags={"norm"})

entry("squared_frobenius_trace", """
A: R[n, n]
B: R[n, n]
f = trace(A.T @ A) + norm2(A - B) ** 2
""", "f", {"A": 2},
    lambda A, B, **_: jnp.trace(A.T @ A) + jnp.sum((A - B) ** 2), tags={"norm", "trace"})

entry("quadratic_form", """
S: R[n, n]
x: R[n]
f = dot(x, S @ x)
""", "f", {"x": 3, "S": 2},
    lambda S, x, **_: jnp.dot(x, S @ x), tags={"dot"})

# ================================================================== logdet, inv, det, trace

entry("logdet_spd", """
S: R[n, n]
f = logdet(S)
""", "f", {"S": 3},
    lambda S, **_: logdet(S), inputs={"S": "spd"}, tags={"logdet"})

entry("logdet_gram", """
X: R[m, n]
f = logdet(X.T @ X + eye(n))
""", "f", {"X": 2},
    lambda X, **_: logdet(X.T @ X + jnp.eye(X.shape[1])), tags={"logdet", "eye"})

entry("gaussian_nll", """
S: R[n, n]
r: R[n]
f = 0.5 * dot(r, inv(S) @ r) + 0.5 * logdet(S)
""", "f", {"S": 2, "r": 2},
    lambda S, r, **_: 0.5 * jnp.dot(r, jnp.linalg.inv(S) @ r) + 0.5 * logdet(S),
    inputs={"S": "spd"}, tags={"logdet", "inv"})

entry("inv_matrix", """
A: R[n, n]
F = inv(A)
""", "F", {"A": 3},
    lambda A, **_: jnp.linalg.inv(A), sizes=dict(n=3), inputs={"A": "wellcond"},
    tags={"inv", "matrix_output"})

entry("inv_trace", """
A: R[n, n]
B: R[n, n]
f = trace(inv(A) @ B)
""", "f", {"A": 3, "B": 1},
    lambda A, B, **_: jnp.trace(jnp.linalg.inv(A) @ B), inputs={"A": "wellcond"}, tags={"inv", "trace"})

entry("inv_solve", """
A: R[n, n]
b: R[n]
x = inv(A) @ b
""", "x", {"A": 2, "b": 1},
    lambda A, b, **_: jnp.linalg.inv(A) @ b, inputs={"A": "wellcond"}, tags={"inv", "vector_output"})

entry("det", """
A: R[n, n]
f = det(A)
""", "f", {"A": 3},
    lambda A, **_: jnp.linalg.det(A), inputs={"A": "wellcond"}, tags={"det"})

entry("det_product", """
A: R[n, n]
B: R[n, n]
f = det(A @ B)
""", "f", {"B": 2},
    lambda A, B, **_: jnp.linalg.det(A @ B), inputs={"A": "wellcond", "B": "wellcond"}, tags={"det"})

entry("trace_quadratic", """
A: R[n, k]
B: R[n, n]
f = trace(A.T @ B @ A)
""", "f", {"A": 2, "B": 1},
    lambda A, B, **_: jnp.trace(A.T @ B @ A), tags={"trace"})

entry("trace_cube", """
A: R[n, n]
f = trace(A @ A @ A)
""", "f", {"A": 3},
    lambda A, **_: jnp.trace(A @ A @ A), tags={"trace"})

# ================================================================== softmax / logsumexp

entry("softmax_cross_entropy", """
z: R[c]
y: R[c]
f = -dot(y, log(softmax(z)))
""", "f", {"z": 3},
    lambda z, y, **_: -jnp.dot(y, jnp.log(softmax(z))), inputs={"y": "onehot"},
    tags={"softmax", "cross_entropy"})

entry("softmax_cross_entropy_batch", """
Z: R[m, c]
Y: R[m, c]
f = -sum(Y * log(softmax(Z, 1)))
""", "f", {"Z": 2},
    lambda Z, Y, **_: -jnp.sum(Y * jnp.log(softmax(Z, axis=1))), inputs={"Y": "onehot"},
    tags={"softmax", "cross_entropy"})

entry("softmax_columns_jacobian", """
Z: R[m, c]
S = softmax(Z, 0)
""", "S", {"Z": 2},
    lambda Z, **_: softmax(Z, axis=0), tags={"softmax", "matrix_output"})

entry("logsumexp_vector", """
x: R[n]
f = logsumexp(x)
""", "f", {"x": 3},
    lambda x, **_: logsumexp(x), tags={"logsumexp"})

entry("logsumexp_rows_jacobian", """
A: R[m, n]
l = logsumexp(A, 1)
""", "l", {"A": 2},
    lambda A, **_: logsumexp(A, axis=1), tags={"logsumexp", "vector_output"})

entry("logsumexp_columns_weighted", """
X: R[m, n]
v: R[n]
f = dot(v, logsumexp(X, 0))
""", "f", {"X": 2, "v": 1},
    lambda X, v, **_: jnp.dot(v, logsumexp(X, axis=0)), tags={"logsumexp", "dot"})

# ================================================================== element-wise chains

entry("chain_tanh_sin_exp", """
x: R[n]
f = sum(tanh(sin(x)) * exp(x))
""", "f", {"x": 3},
    lambda x, **_: jnp.sum(jnp.tanh(jnp.sin(x)) * jnp.exp(x)), tags={"elementwise"})

entry("chain_vector_jacobian", """
x: R[n]
g = tanh(sin(x)) * exp(cos(x))
""", "g", {"x": 3},
    lambda x, **_: jnp.tanh(jnp.sin(x)) * jnp.exp(jnp.cos(x)), tags={"elementwise", "vector_output"})

entry("swish_user_function", """
A: R[m, n]
x: R[n]
def swish(t): return t * sigmoid(t)
f = sum(swish(A @ x))
""", "f", {"x": 3, "A": 2},
    lambda A, x, **_: jnp.sum((A @ x) * sigmoid(A @ x)), tags={"elementwise", "user_function"})

entry("user_elementwise", """
x: R[n]
y: R[n]
f = sum(tcnb_test_bump(x) + tcnb_test_cubic(x * y))
""", "f", {"x": 3, "y": 2},
    lambda x, y, **_: jnp.sum(jnp.exp(-x ** 2) * jnp.sin(x) + (x * y) ** 3 - 2 * (x * y)),
    tags={"elementwise", "define_elementwise"})

entry("elementwise_positive_mix", """
x: R[n]
f = sum(log(x) + sqrt(x) + 1 / x + x ** 3 + x ** 1.5 + softplus(x) * cos(x))
""", "f", {"x": 3},
    lambda x, **_: jnp.sum(jnp.log(x) + jnp.sqrt(x) + 1 / x + x ** 3 + x ** 1.5 + softplus(x) * jnp.cos(x)),
    inputs={"x": "positive"}, tags={"elementwise"})

entry("elementwise_trig_sigmoid", """
x: R[n]
f = sum(tan(0.3 * x) * cos(x) + sigmoid(2 * x) * sin(x))
""", "f", {"x": 3},
    lambda x, **_: jnp.sum(jnp.tan(0.3 * x) * jnp.cos(x) + sigmoid(2 * x) * jnp.sin(x)),
    tags={"elementwise"})

entry("elementwise_kinks", """
x: R[n]
f = sum(abs(x) * x + sign(x) * square(x) + relu(x) * exp(x))
""", "f", {"x": 3},
    lambda x, **_: jnp.sum(jnp.abs(x) * x + jnp.sign(x) * x ** 2 + relu(x) * jnp.exp(x)),
    inputs={"x": "away"}, tags={"elementwise", "relu", "abs"})


def _relu_layer_ok(A, x, **_):
    return np.min(np.abs(A @ x)) > 0.05


entry("relu_layer_squared", """
A: R[m, n]
x: R[n]
f = sum(relu(A @ x) ** 2)
""", "f", {"x": 2, "A": 2},
    lambda A, x, **_: jnp.sum(relu(A @ x) ** 2), accept=_relu_layer_ok, tags={"relu"})

# ================================================================== index notation

entry("index_gram", """
X: R[m, n]
s: R[m]
G[i, j] = X[k, i] * s[k] * X[k, j]
""", "G", {"X": 2, "s": 2},
    lambda X, s, **_: X.T @ (s[:, None] * X), tags={"index", "matrix_output"})

entry("index_diagonal_product", """
A: R[n, n]
x: R[n]
d[i] = A[i, i] * x[i]
""", "d", {"A": 2, "x": 2},
    lambda A, x, **_: jnp.diagonal(A) * x, tags={"index", "vector_output"})

entry("index_outer_exp", """
x: R[n]
y: R[m]
E[i, j] = exp(x[i] * y[j])
""", "E", {"x": 2, "y": 2},
    lambda x, y, **_: jnp.exp(x[:, None] * y[None, :]), sizes=dict(m=3), tags={"index", "matrix_output"})

entry("index_scalar_chain", """
A: R[m, n]
x: R[n]
r[i] = A[i, j] * x[j] * x[j]
f = sum(r * r)
""", "f", {"x": 3, "A": 2},
    lambda A, x, **_: jnp.sum((A @ (x * x)) ** 2), tags={"index"})

entry("index_range_broadcast", """
x: R[n]
Y[i, j:m] = sin(x[i])
""", "Y", {"x": 2},
    lambda x, **_: jnp.broadcast_to(jnp.sin(x)[:, None], (x.shape[0], 3)), sizes=dict(m=3),
    tags={"index", "matrix_output", "broadcast"})

# ================================================================== einsum chains

entry("einsum_chain3", """
A: R[m, n]
B: R[n, k]
x: R[k]
h = einsum("ij,jk,k->i", A, B, x)
""", "h", {"B": 2, "x": 1},
    lambda A, B, x, **_: A @ (B @ x), tags={"einsum", "vector_output"})

entry("einsum_trace4", """
A: R[n, n]
B: R[n, n]
C: R[n, n]
D: R[n, n]
f = einsum("ij,jk,kl,li->", A, B, C, D)
""", "f", {"B": 2, "A": 1},
    lambda A, B, C, D, **_: jnp.trace(A @ B @ C @ D), tags={"einsum"})

entry("einsum_bilinear", """
S: R[n, n]
x: R[n]
f = einsum("i,ij,j->", x, S, x)
""", "f", {"x": 3, "S": 2},
    lambda S, x, **_: x @ S @ x, tags={"einsum"})

entry("einsum_batched_rank3", """
Tt: R[m, n, n]
X: R[m, n]
E = einsum("bij,bj->bi", Tt, X)
""", "E", {"X": 2, "Tt": 1},
    lambda Tt, X, **_: jnp.sum(Tt * X[:, None, :], axis=2), tags={"einsum", "matrix_output", "rank3"})

entry("einsum_batched_rank3_scalar", """
Tt: R[m, n, n]
X: R[m, n]
f = sum(tanh(einsum("bij,bj->bi", Tt, X)))
""", "f", {"Tt": 2},
    lambda Tt, X, **_: jnp.sum(jnp.tanh(jnp.sum(Tt * X[:, None, :], axis=2))), sizes=dict(m=3, n=3),
    tags={"einsum", "rank3"})

entry("einsum_repeated_index", """
A: R[n, n]
x: R[n]
f = einsum("ii,i->", A, x) * einsum("ij,ij->", A, A)
""", "f", {"A": 2, "x": 2},
    lambda A, x, **_: jnp.dot(jnp.diagonal(A), x) * jnp.sum(A * A), tags={"einsum"})

# ================================================================== scalar variables

entry("scalar_exp_scale", """
c: R
x: R[n]
f = sum(exp(c * x))
""", "f", {"c": 3, "x": 2},
    lambda c, x, **_: jnp.sum(jnp.exp(c * x)), inputs={"c": "small"}, tags={"scalar_var"})

entry("scalar_matrix_output", """
c: R
A: R[n, n]
B: R[n, n]
F = c * A + c ** 2 * B + sin(c) * eye(n)
""", "F", {"c": 3, "A": 1},
    lambda c, A, B, **_: c * A + c ** 2 * B + jnp.sin(c) * jnp.eye(A.shape[0]),
    tags={"scalar_var", "matrix_output", "eye"})

entry("scalar_polynomial", """
c: R
x: R[n]
f = c ** 3 * sum(x) + sin(c) * cos(c)
""", "f", {"c": 3, "x": 1},
    lambda c, x, **_: c ** 3 * jnp.sum(x) + jnp.sin(c) * jnp.cos(c), tags={"scalar_var"})

# ================================================================== matrix-valued outputs

entry("matrix_sandwich", """
A: R[m, n]
B: R[n, n]
P = A @ B @ A.T
""", "P", {"A": 2, "B": 1},
    lambda A, B, **_: A @ B @ A.T, tags={"matrix_output"})

entry("matrix_elementwise_gram", """
A: R[n, n]
B: R[n, n]
F = tanh(A) * B + A.T @ A
""", "F", {"A": 2},
    lambda A, B, **_: jnp.tanh(A) * B + A.T @ A, tags={"matrix_output", "elementwise"})

# ================================================================== diag, diagonal, outer, dot, mean, sum

entry("diag_sandwich", """
S: R[n, n]
x: R[n]
F = diag(x) @ S @ diag(x)
""", "F", {"x": 2},
    lambda S, x, **_: jnp.diag(x) @ S @ jnp.diag(x), tags={"diag", "matrix_output"})

entry("diagonal_of_gram", """
A: R[n, m]
v: R[n]
f = sum(diagonal(A @ A.T) * v)
""", "f", {"A": 2, "v": 1},
    lambda A, v, **_: jnp.sum(jnp.diagonal(A @ A.T) * v), tags={"diagonal"})

entry("outer_quadratic", """
x: R[n]
y: R[m]
W: R[n, m]
S: R[n, n]
f = sum(outer(x, y) * W) + sum(outer(x, x) * S) * sum(x)
""", "f", {"x": 3, "y": 1},
    lambda x, y, W, S, **_: jnp.sum(jnp.outer(x, y) * W) + jnp.sum(jnp.outer(x, x) * S) * jnp.sum(x),
    tags={"outer"})

entry("outer_jacobian", """
x: R[n]
y: R[m]
F = outer(x, y)
""", "F", {"x": 2, "y": 2},
    lambda x, y, **_: x[:, None] * y[None, :], tags={"outer", "matrix_output"})

entry("dot_product_mix", """
A: R[m, n]
x: R[n]
y: R[n]
f = dot(x, y) * dot(A @ x, A @ x)
""", "f", {"x": 3, "y": 1},
    lambda A, x, y, **_: jnp.dot(x, y) * jnp.dot(A @ x, A @ x), tags={"dot"})

entry("mean_all", """
X: R[m, n]
f = mean(X * X) + mean(exp(X))
""", "f", {"X": 2},
    lambda X, **_: jnp.mean(X * X) + jnp.mean(jnp.exp(X)), tags={"mean"})

entry("mean_axis_jacobian", """
X: R[m, n]
g = mean(tanh(X), 0)
""", "g", {"X": 2},
    lambda X, **_: jnp.mean(jnp.tanh(X), axis=0), tags={"mean", "vector_output"})

entry("sum_axis_jacobian", """
X: R[m, n]
v = sum(exp(X), 1)
""", "v", {"X": 2},
    lambda X, **_: jnp.sum(jnp.exp(X), axis=1), tags={"sum_axis", "vector_output"})

entry("sum_axis_squared", """
X: R[m, n]
f = sum(sum(X * X, 0) ** 2)
""", "f", {"X": 3},
    lambda X, **_: jnp.sum(jnp.sum(X * X, axis=0) ** 2), tags={"sum_axis"})

# ================================================================== broadcasting, arithmetic

entry("broadcast_centering", """
X: R[m, n]
f = sum((X - mean(X, 0)) ** 2)
""", "f", {"X": 2},
    lambda X, **_: jnp.sum((X - jnp.mean(X, axis=0)) ** 2), tags={"broadcast", "mean"})

entry("broadcast_scale_shift", """
X: R[m, n]
s: R[n]
b: R[n]
F = tanh(X * s + b)
""", "F", {"b": 2, "s": 2},
    lambda X, s, b, **_: jnp.tanh(X * s + b), tags={"broadcast", "matrix_output"})

entry("broadcast_scalar", """
c: R
x: R[n]
f = sum(exp(c + x) / (1 + c * c))
""", "f", {"c": 3, "x": 2},
    lambda c, x, **_: jnp.sum(jnp.exp(c + x) / (1 + c * c)), tags={"broadcast", "scalar_var"})

entry("division", """
x: R[n]
y: R[n]
f = sum(x / (1 + y * y))
""", "f", {"y": 3, "x": 2},
    lambda x, y, **_: jnp.sum(x / (1 + y * y)), tags={"elementwise"})

entry("tensor_power", """
x: R[n]
y: R[n]
f = sum(x ** y)
""", "f", {"x": 2, "y": 2},
    lambda x, y, **_: jnp.sum(x ** y), inputs={"x": "positive"}, tags={"elementwise"})

entry("eye_and_ones", """
A: R[n, n]
x: R[n]
f = sum((A - eye(n)) ** 2) + sum(ones(n) * x * x)
""", "f", {"A": 2, "x": 2},
    lambda A, x, **_: jnp.sum((A - jnp.eye(A.shape[0])) ** 2) + jnp.sum(x * x), tags={"eye", "ones"})

entry("orthogonality_penalty", """
A: R[m, n]
f = sum((A.T @ A - eye(n)) ** 2)
""", "f", {"A": 3},
    lambda A, **_: jnp.sum((A.T @ A - jnp.eye(A.shape[1])) ** 2), sizes=dict(m=4, n=3), tags={"eye"})


# ================================================================== reductions over all / several axes, powers

entry("softmax_all_axes_jacobian", """
A: R[m, n]
S = softmax(A)
""", "S", {"A": 2},
    lambda A, **_: jnp.exp(A) / jnp.sum(jnp.exp(A)), sizes=dict(m=3, n=2), tags={"softmax", "matrix_output"})

entry("logsumexp_matrix", """
A: R[m, n]
f = logsumexp(A)
""", "f", {"A": 2},
    lambda A, **_: logsumexp(A), tags={"logsumexp"})

entry("sum_tuple_axes_rank3", """
Tt: R[m, n, k]
v = sum(Tt * Tt, (0, 2))
""", "v", {"Tt": 2},
    lambda Tt, **_: jnp.sum(Tt * Tt, axis=(0, 2)), sizes=dict(m=3, n=2, k=2),
    tags={"sum_axis", "rank3", "vector_output"})

entry("powers_constant_base", """
x: R[n]
f = sum(2 ** x + x ** -1.5 + x ** 2.5)
""", "f", {"x": 3},
    lambda x, **_: jnp.sum(2.0 ** x + x ** -1.5 + x ** 2.5), inputs={"x": "positive"}, tags={"elementwise"})

entry("index_transpose_scale", """
X: R[m, n]
s: R[n]
Y[i, j] = X[j, i] * s[i]
""", "Y", {"X": 1, "s": 2},
    lambda X, s, **_: X.T * s[:, None], tags={"index", "matrix_output"})


# ------------------------------------------------------------------ coverage required by issue 3

REQUIRED_TAGS = {
    "paper", "logreg", "matfac", "mask", "relu_net", "least_squares", "norm", "logdet", "inv", "det",
    "trace", "softmax", "cross_entropy", "logsumexp", "elementwise", "user_function", "define_elementwise",
    "index", "einsum", "scalar_var", "matrix_output", "vector_output", "diag", "diagonal", "outer", "dot",
    "mean", "sum_axis", "broadcast", "relu", "abs", "eye", "ones", "rank3",
}

CASES = [(e, w) for e in CORPUS for w in e.wrt]


def case_id(case) -> str:
    e, w = case
    return f"{e.name}-{w}"


def by_name(name: str) -> Entry:
    for e in CORPUS:
        if e.name == name:
            return e
    raise KeyError(name)


# ------------------------------------------------------------------ shared, cached test inputs

@functools.lru_cache(maxsize=None)
def program(name: str):
    return tcnb.parse(by_name(name).src)


def direction(w: str) -> str:
    return f"hvpdir{w}"


@functools.lru_cache(maxsize=None)
def hvp_program(name: str):
    """The entry's program plus one direction variable per wrt variable, shaped like it."""
    e = by_name(name)
    p = program(name)
    extra = []
    for w in e.wrt:
        shape = p[w].shape
        extra.append(f"{direction(w)}: R" + (f"[{', '.join(str(d) for d in shape)}]" if shape else ""))
    return tcnb.parse(e.src + "\n" + "\n".join(extra) + "\n")


@functools.lru_cache(maxsize=None)
def arrays(name: str) -> dict:
    """Random inputs for every variable of the entry (and the hvp directions), reproducible."""
    e = by_name(name)
    p = hvp_program(name)
    sizes = e.all_sizes
    shapes = {v: hc.resolve_shape(x.shape, sizes) for v, x in p.variables.items()}
    rng = np.random.default_rng(hc.seed_for("corpus", name))
    out = hc.random_inputs(shapes, e.inputs, rng, accept=e.accept)
    for a in out.values():
        a.setflags(write=False)
    return out


def call_args(name: str, with_directions=False) -> dict:
    """Arrays for all variables (the hvp directions only on request)."""
    a = dict(arrays(name))
    if not with_directions:
        a = {k: v for k, v in a.items() if not k.startswith("hvpdir")}
    return a


def eval_args(name: str, with_directions=False) -> dict:
    """call_args plus the dimension sizes (for dimensions that no array binds, e.g. Y[i, j:m])."""
    sizes = by_name(name).all_sizes
    names = set(program(name).dims)
    for x in program(name).values():  # Y[i, j:m] brings m in through a range only
        names |= {str(s) for d in x.shape for s in getattr(d, "free_symbols", ())}
    return {**{d: sizes[d] for d in names}, **call_args(name, with_directions)}


def is_scalar(name: str) -> bool:
    """Whether the entry's expression is a scalar (True when it does not even parse, so that the
    tests using it run and report the parse error instead of breaking collection)."""
    try:
        return program(name)[by_name(name).of].rank == 0
    except Exception:
        return True
