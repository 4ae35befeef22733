"""Pictures and numbers for the Hessian explorer's static view: the heatmap as an RGB array, PNG
bytes, an inline ``<img>``, and the short number formats of its summary.
"""
from __future__ import annotations

import base64
import html
import io
import math

import numpy as np

_LUT = None


def heatmap_rgb(mat, vmax: float, block: int | None = None, size: int = 360, log: bool = False) -> np.ndarray:
    """An RGB image (uint8) of ``mat`` on a diverging scale (blue −vmax, white 0, red +vmax): small
    matrices are enlarged by an integer factor to about ``size`` pixels, block boundaries drawn grey.
    ``log``: a signed logarithmic scale over three decades (entries below vmax/1000 look white)."""
    global _LUT
    if _LUT is None:
        import matplotlib
        _LUT = (matplotlib.colormaps["RdBu_r"](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
    mat = np.asarray(mat, dtype=np.float64)
    scaled = np.zeros(mat.shape) if vmax <= 0 or not np.isfinite(vmax) else mat / vmax
    if log:
        scaled = np.sign(scaled) * np.log10(1.0 + 999.0 * np.abs(scaled)) / 3.0
    idx = np.clip(np.rint((np.nan_to_num(scaled) + 1.0) * 127.5), 0, 255).astype(np.uint8)
    rgb = _LUT[idx]
    k = max(1, size // max(mat.shape))
    if k > 1:
        rgb = np.repeat(np.repeat(rgb, k, axis=0), k, axis=1)
    if block:
        grey = np.array([90, 90, 90], dtype=np.uint8)
        for c in range(block, mat.shape[0], block):
            rgb[c * k, :] = grey
        for c in range(block, mat.shape[1], block):
            rgb[:, c * k] = grey
    return rgb


def _img(png: bytes, alt: str) -> str:
    """An inline <img> of PNG bytes ("" when there is none yet)."""
    if not png:
        return ""
    data = base64.b64encode(bytes(png)).decode("ascii")
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}' style='display:block;max-width:100%'>"


def png_bytes(rgb) -> bytes:
    """An RGB array encoded as PNG (fast, light compression; needs Pillow)."""
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="png", compress_level=1)
    return buf.getvalue()


def _fmt(x) -> str:
    if x is None:
        return "–"
    x = float(x)
    if not math.isfinite(x):
        return "∞" if x > 0 else str(x)
    return f"{x:.4g}"


def _bytes(n) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
