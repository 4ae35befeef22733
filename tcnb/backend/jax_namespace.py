"""jax.numpy with the few NumPy names it lacks, for ``backend="jax"``.

Why: code outside the jitted function (tcnb.structured's expansion of a compressed derivative,
runtime.py's checked solve) asks its namespace for ``ascontiguousarray``, which jax.numpy has no
use for: its arrays are immutable values, never views into another's memory. Everything else is
jax.numpy's own (looked up once, then cached on the instance).
"""
from __future__ import annotations


class JaxNumpy:
    """jax.numpy, plus ``ascontiguousarray`` (the identity)."""

    __name__ = "jax.numpy"  # what runtime helpers read to pick jax.scipy's functions

    def __init__(self, jnp):
        self._jnp = jnp

    def __getattr__(self, name):
        value = getattr(self._jnp, name)
        setattr(self, name, value)
        return value

    @staticmethod
    def ascontiguousarray(a):
        """``a`` itself: a JAX array owns its (immutable) entries."""
        return a

    def __repr__(self):
        return "<jax.numpy for tcnb>"
