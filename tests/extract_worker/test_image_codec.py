"""Image encodings -> Pillow: channel order, depth, bayer and YUV on tiny known images."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from extract_worker.extractors.image_codec import UnsupportedEncodingError, to_pil


def image(
    encoding: str, pixels: np.ndarray, *, step: int | None = None, bigendian: int = 0
) -> SimpleNamespace:
    height, width = pixels.shape[:2]
    raw = np.ascontiguousarray(pixels).view(np.uint8).reshape(height, -1)
    row = raw.shape[1]
    if step is not None and step > row:  # padded rows, as some drivers send them
        raw = np.hstack([raw, np.zeros((height, step - row), np.uint8)])
    return SimpleNamespace(
        encoding=encoding,
        width=width,
        height=height,
        step=raw.shape[1],
        is_bigendian=bigendian,
        data=raw.reshape(-1),
    )


def test_bgr8_is_swapped_to_rgb_and_row_padding_skipped() -> None:
    pixels = np.zeros((2, 3, 3), np.uint8)
    pixels[..., 0] = 255  # blue in BGR
    out = to_pil(image("bgr8", pixels, step=16), sixteen_bit=False)
    assert out.mode == "RGB"
    assert out.getpixel((2, 1)) == (0, 0, 255)


def test_mono16_keeps_depth_for_png_and_high_byte_for_jpeg() -> None:
    pixels = np.array([[0x1234, 0xFF00]], np.uint16)
    assert to_pil(image("mono16", pixels), sixteen_bit=True).getpixel((1, 0)) == 0xFF00
    assert to_pil(image("mono16", pixels), sixteen_bit=False).getpixel((0, 0)) == 0x12
    big = image("mono16", pixels.astype(">u2"), bigendian=1)
    assert to_pil(big, sixteen_bit=True).getpixel((0, 0)) == 0x1234


@pytest.mark.parametrize(
    ("encoding", "layout"),
    [("bayer_rggb8", [[10, 20], [30, 40]]), ("bayer_bggr8", [[40, 30], [20, 10]])],
)
def test_bayer_blocks(encoding: str, layout: list[list[int]]) -> None:
    pixels = np.tile(np.array(layout, np.uint8), (2, 2))
    out = to_pil(image(encoding, pixels), sixteen_bit=False)
    # R from the red site, G the mean of both green sites, B from the blue site.
    assert out.size == (4, 4)
    assert out.getpixel((3, 3)) == (10, 25, 40)


@pytest.mark.parametrize(
    ("encoding", "quad"), [("yuv422", [128, 50, 128, 200]), ("yuv422_yuy2", [50, 128, 200, 128])]
)
def test_yuv422_gray(encoding: str, quad: list[int]) -> None:
    # U=V=128 is no colour: every pixel is grey at its own Y.
    msg = SimpleNamespace(
        encoding=encoding,
        width=2,
        height=1,
        step=4,
        is_bigendian=0,
        data=np.array(quad, np.uint8),
    )
    rgb = to_pil(msg, sixteen_bit=False).convert("RGB")
    assert rgb.size == (2, 1)
    assert rgb.getpixel((0, 0)) == (50, 50, 50)
    assert rgb.getpixel((1, 0)) == (200, 200, 200)


def test_unknown_encoding_is_named() -> None:
    with pytest.raises(UnsupportedEncodingError, match="'32FC1'"):
        to_pil(image("32FC1", np.zeros((1, 1), np.float32)), sixteen_bit=False)


def test_short_buffer_is_rejected() -> None:
    msg = image("rgb8", np.zeros((2, 2, 3), np.uint8))
    msg.data = msg.data[:5]
    with pytest.raises(ValueError, match="bytes of pixels"):
        to_pil(msg, sixteen_bit=False)
