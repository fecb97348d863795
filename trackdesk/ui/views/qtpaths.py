"""numpy arrays to Qt geometry without a Python loop per point.

The same binary tricks pyqtgraph uses (``arrayToQPath``, ``create_qpolygonf``) in a few
lines, so the views do not import pyqtgraph (most of a second at app start).
"""

from __future__ import annotations

import struct

import numpy as np
import shiboken6
from PySide6.QtCore import QByteArray, QDataStream
from PySide6.QtGui import QPainterPath, QPolygonF

_ELEMENT = np.dtype([("c", ">i4"), ("x", ">f8"), ("y", ">f8")])


def polygon(x: np.ndarray, y: np.ndarray) -> QPolygonF:
    """A QPolygonF holding the points (x, y), written straight into its buffer."""
    n = len(x)
    poly = QPolygonF()
    if n == 0:
        return poly  # an empty polygon has no buffer to write into
    poly.resize(n)
    buf = shiboken6.VoidPtr(poly.data(), n * 16, True)
    arr = np.frombuffer(buf, dtype=np.float64).reshape(n, 2)
    arr[:, 0] = x
    arr[:, 1] = y
    return poly


def path(x: np.ndarray, y: np.ndarray, connect: np.ndarray | None = None) -> QPainterPath:
    """A QPainterPath through the points; ``connect[i]`` joins point i to i+1 (default:
    wherever both are finite). Built as QDataStream bytes: one call, any length."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = len(x)
    out = QPainterPath()
    if n == 0:
        return out
    finite = np.isfinite(x) & np.isfinite(y)
    if connect is None:
        connect = np.zeros(n, dtype=bool)
        connect[:-1] = finite[:-1] & finite[1:]
    arr = np.empty(n, dtype=_ELEMENT)
    # A point that is not finite is never joined; park it on 0 so Qt sees no NaN.
    arr["x"] = np.where(finite, x, 0.0)
    arr["y"] = np.where(finite, y, 0.0)
    arr["c"][0] = 0  # moveTo
    arr["c"][1:] = connect[:-1] & finite[1:] & finite[:-1]  # 1 = lineTo
    raw = struct.pack(">i", n) + arr.tobytes() + struct.pack(">ii", 0, 0)
    stream = QDataStream(QByteArray(raw))
    stream >> out
    return out
