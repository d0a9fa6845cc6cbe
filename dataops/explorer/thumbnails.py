"""Thumbnails of reference frames: one frame read, resized, JPEG-encoded, kept in a bounded cache.

A JPEG frame is decoded by libjpeg straight at the smallest of 1/8, 1/4 or 1/2 scale that is
still at least the thumbnail's width (its header says the full width), then area-resized.

The cache is keyed by the frame's identity (measurement, frame) and the width, holds encoded
bytes only and evicts the least recently used entries beyond a byte budget, so memory stays
bounded whatever the number of frames browsed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Collection
from typing import Any

import cv2
import numpy as np

from dataops.errors import InvalidInputError

__all__ = ["ThumbnailCache", "jpeg_width", "resize_jpeg"]

DEFAULT_BUDGET_BYTES = 32 * 1024 * 1024
_JPEG_QUALITY = 80
# libjpeg decodes straight to 1/2, 1/4 or 1/8 of the size (it skips the high DCT frequencies):
# several times cheaper than a full decode, and the smaller image is cheaper to resize.
_REDUCED = (
    (8, cv2.IMREAD_REDUCED_COLOR_8),
    (4, cv2.IMREAD_REDUCED_COLOR_4),
    (2, cv2.IMREAD_REDUCED_COLOR_2),
)
# Start-of-frame markers (baseline, progressive, ...): C0-CF but DHT (C4), JPG (C8), DAC (CC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD9)})


def jpeg_width(encoded: bytes) -> int | None:
    """The width in a JPEG's start-of-frame header (None: not a JPEG or no frame header)."""
    if not encoded.startswith(b"\xff\xd8"):
        return None
    at = 2
    while at + 9 <= len(encoded):
        if encoded[at] != 0xFF:
            return None
        marker = encoded[at + 1]
        if marker == 0xFF:  # fill byte before a marker
            at += 1
        elif marker in _SOF_MARKERS:
            return int.from_bytes(encoded[at + 7 : at + 9], "big")
        elif marker in _STANDALONE_MARKERS:
            at += 2
        else:
            at += 2 + int.from_bytes(encoded[at + 2 : at + 4], "big")
    return None


def _decode_at_least(encoded: bytes, width: int) -> Any:
    """The image decoded at the smallest libjpeg scale still at least ``width`` wide."""
    buffer = np.frombuffer(encoded, dtype=np.uint8)
    full = jpeg_width(encoded)
    if full is not None:
        for factor, flag in _REDUCED:
            if -(-full // factor) >= width:  # libjpeg rounds a scaled size up
                return cv2.imdecode(buffer, flag)
    return cv2.imdecode(buffer, cv2.IMREAD_COLOR)


def resize_jpeg(encoded: bytes, width: int) -> bytes:
    """``encoded`` (JPEG or PNG) scaled to ``width`` pixels wide (never up), as JPEG."""
    image = _decode_at_least(encoded, width)
    if image is None:
        raise InvalidInputError("the frame is not a JPEG or PNG image", field="image")
    height, current = image.shape[:2]
    if width < current:
        # From a reduced decode the height is rounded: take the full image's aspect from it
        # anyway (the rounding is below a pixel of the thumbnail).
        size = (width, max(1, round(height * width / current)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, out = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
    if not ok:
        raise InvalidInputError("the frame could not be encoded as JPEG", field="image")
    return bytes(out.tobytes())


class ThumbnailCache:
    """Encoded thumbnails by key, least recently used out beyond ``budget_bytes``."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self._budget = budget_bytes
        self._used = 0
        self._items: OrderedDict[tuple[str, ...], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...], make: Callable[[], bytes]) -> bytes:
        """The cached bytes of ``key``, else ``make()`` (outside the lock) and keep them."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        data = make()
        with self._lock:
            if key not in self._items and len(data) <= self._budget:
                self._items[key] = data
                self._used += len(data)
                while self._used > self._budget:
                    _, dropped = self._items.popitem(last=False)
                    self._used -= len(dropped)
        return data

    def forget_measurements(self, measurement_ids: Collection[str]) -> int:
        """Drop the thumbnails of these measurements (a key starts with its measurement id)."""
        with self._lock:
            gone = [key for key in self._items if key and key[0] in measurement_ids]
            for key in gone:
                self._used -= len(self._items.pop(key))
        return len(gone)

    @property
    def used_bytes(self) -> int:
        """Bytes held now (tests check the budget holds)."""
        return self._used
