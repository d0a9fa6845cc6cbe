"""sensor_msgs/Image pixels -> Pillow image: rgb8, bgr8, rgba8, bgra8, mono8/16, bayer, yuv422.

Pillow's raw decoders do the channel swaps and row strides in C; only bayer and YUV go
through numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

__all__ = ["SUPPORTED_ENCODINGS", "UnsupportedEncodingError", "to_pil"]

# encoding -> (Pillow mode, raw mode, bytes per pixel)
_RAW: dict[str, tuple[str, str, int]] = {
    "rgb8": ("RGB", "RGB", 3),
    "bgr8": ("RGB", "BGR", 3),
    "rgba8": ("RGB", "RGBX", 4),
    "bgra8": ("RGB", "BGRX", 4),
    "mono8": ("L", "L", 1),
    "8UC1": ("L", "L", 1),
    "8UC3": ("RGB", "BGR", 3),  # OpenCV's default channel order
}
_BAYER = ("bayer_rggb8", "bayer_bggr8", "bayer_gbrg8", "bayer_grbg8")
_BAYER16 = ("bayer_rggb16", "bayer_bggr16", "bayer_gbrg16", "bayer_grbg16")
_YUV = ("yuv422", "uyvy", "yuv422_yuy2", "yuyv")
SUPPORTED_ENCODINGS = frozenset(
    [*_RAW, "mono16", "16UC1", *_BAYER, *_BAYER16, *_YUV],
)


class UnsupportedEncodingError(ValueError):
    """The image encoding is not one the worker converts."""


def to_pil(msg: Any, *, sixteen_bit: bool) -> Image.Image:
    """Pillow image of a decoded sensor_msgs/Image; ``sixteen_bit`` keeps mono16 depth (PNG)."""
    encoding = str(msg.encoding)
    width, height, step = int(msg.width), int(msg.height), int(msg.step)
    data = msg.data
    if len(data) < step * height:
        raise ValueError(f"{len(data)} bytes of pixels, need step {step} x height {height}")
    if encoding in _RAW:
        mode, rawmode, _ = _RAW[encoding]
        return Image.frombuffer(mode, (width, height), data, "raw", rawmode, step, 1)
    if encoding in {"mono16", "16UC1"}:
        rows = np.frombuffer(data, np.uint8, step * height).reshape(height, step)
        pixels = rows[:, : width * 2].copy().view(">u2" if msg.is_bigendian else "<u2")
        if sixteen_bit:
            return Image.fromarray(pixels.astype("<u2"))
        return Image.fromarray((pixels >> 8).astype(np.uint8))
    if encoding in _BAYER or encoding in _BAYER16:
        return _demosaic(msg, encoding, width, height, step)
    if encoding in _YUV:
        return _yuv422(data, encoding, width, height, step)
    raise UnsupportedEncodingError(f"image encoding {encoding!r} is not supported")


def _demosaic(msg: Any, encoding: str, width: int, height: int, step: int) -> Image.Image:
    """Bayer -> RGB by 2x2 blocks: each block's R, mean G and B fill its four pixels.

    Full resolution and fast; the colour edges are blockier than bilinear demosaicing,
    which is fine for previews and labelling thumbnails.
    """
    rows = np.frombuffer(msg.data, np.uint8, step * height).reshape(height, step)
    if encoding in _BAYER16:
        raw = rows[:, : width * 2].copy().view(">u2" if msg.is_bigendian else "<u2")
        mosaic = (raw >> 8).astype(np.uint8)
    else:
        mosaic = rows[:, :width]
    h2, w2 = height // 2 * 2, width // 2 * 2
    mosaic = mosaic[:h2, :w2]
    pattern = encoding.split("_")[1][:4]
    planes = {
        "tl": mosaic[0::2, 0::2],
        "tr": mosaic[0::2, 1::2],
        "bl": mosaic[1::2, 0::2],
        "br": mosaic[1::2, 1::2],
    }
    order = dict(zip(("tl", "tr", "bl", "br"), pattern, strict=True))
    red = next(planes[k] for k, c in order.items() if c == "r")
    blue = next(planes[k] for k, c in order.items() if c == "b")
    greens = [planes[k] for k, c in order.items() if c == "g"]
    green = ((greens[0].astype(np.uint16) + greens[1]) >> 1).astype(np.uint8)
    small = np.stack([red, green, blue], axis=-1)
    full = np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)
    return Image.fromarray(np.ascontiguousarray(full))


def _yuv422(data: Any, encoding: str, width: int, height: int, step: int) -> Image.Image:
    """Packed 4:2:2 (UYVY for ROS ``yuv422``, YUYV for ``yuv422_yuy2``) -> YCbCr image."""
    rows = np.frombuffer(data, np.uint8, step * height).reshape(height, step)
    quads = rows[:, : width // 2 * 4].reshape(height, width // 2, 4)
    if encoding in {"yuv422", "uyvy"}:
        u, y0, v, y1 = quads[..., 0], quads[..., 1], quads[..., 2], quads[..., 3]
    else:
        y0, u, y1, v = quads[..., 0], quads[..., 1], quads[..., 2], quads[..., 3]
    ycbcr = np.empty((height, width // 2 * 2, 3), np.uint8)
    ycbcr[:, 0::2, 0] = y0
    ycbcr[:, 1::2, 0] = y1
    ycbcr[:, 0::2, 1] = u
    ycbcr[:, 1::2, 1] = u
    ycbcr[:, 0::2, 2] = v
    ycbcr[:, 1::2, 2] = v
    return Image.frombuffer(
        "YCbCr", (ycbcr.shape[1], height), ycbcr.tobytes(), "raw", "YCbCr", 0, 1
    )
