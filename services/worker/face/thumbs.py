"""A small JPEG crop of an enrolled face (issue 23), stored with its identity for the dashboard."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

#: Longest side of a thumbnail, in pixels.
THUMB_PX = 96
#: JPEG quality of a thumbnail (small: about 3 KB).
THUMB_QUALITY = 80
#: Margin around the face box, as a share of its size: a little hair and chin.
MARGIN = 0.25


def thumbnail(bgr: npt.NDArray[np.uint8], box: Sequence[float]) -> str:
    """The face at ``box`` (x, y, w, h) with a margin, scaled down, as base64 JPEG ('' if empty)."""
    x, y, w, h = box
    height, width = bgr.shape[:2]
    left, top = max(0, int(x - MARGIN * w)), max(0, int(y - MARGIN * h))
    right, bottom = min(width, int(x + w * (1 + MARGIN))), min(height, int(y + h * (1 + MARGIN)))
    if right <= left or bottom <= top:
        return ""
    crop = bgr[top:bottom, left:right]
    scale = THUMB_PX / max(crop.shape[:2])
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    small = cv2.resize(crop, size) if scale < 1 else crop
    ok, encoded = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, THUMB_QUALITY])
    return base64.b64encode(encoded.tobytes()).decode() if ok else ""
