"""Thumbnails of reference frames: one frame read, resized, JPEG-encoded, kept in a bounded cache.

The cache is keyed by the frame's identity (measurement, frame) and the width, holds encoded
bytes only and evicts the least recently used entries beyond a byte budget, so memory stays
bounded whatever the number of frames browsed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Collection

import cv2
import numpy as np

from dataops.errors import InvalidInputError

__all__ = ["ThumbnailCache", "resize_jpeg"]

DEFAULT_BUDGET_BYTES = 32 * 1024 * 1024
_JPEG_QUALITY = 80


def resize_jpeg(encoded: bytes, width: int) -> bytes:
    """``encoded`` (JPEG or PNG) scaled to ``width`` pixels wide (never up), as JPEG."""
    image = cv2.imdecode(np.frombuffer(encoded, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise InvalidInputError("the frame is not a JPEG or PNG image", field="image")
    height, current = image.shape[:2]
    if width < current:
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
