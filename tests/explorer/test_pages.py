"""Page building blocks and thumbnails: escaping, safe data blocks, bounded caches."""

from __future__ import annotations

import functools
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from dataops.errors import InvalidInputError
from dataops.explorer.html import data_block, e, error_page, page, path_id
from dataops.explorer.pages import SearchHit, catalog_page, search_page
from dataops.explorer.thumbnails import ThumbnailCache, jpeg_width, resize_jpeg
from dataops.explorer.vendor import VENDOR_FILES, copy_vendor_files, missing_vendor_files
from dataops.models import Measurement


def test_data_blocks_cannot_close_their_script_element() -> None:
    """Text from the store inside a page script's JSON never ends the element early."""
    block = data_block("x", {"label": "</script><script>alert(1)</script>"})
    assert block.count("</script>") == 1
    inner = re.search(r">(.*)</script>$", block)
    assert inner is not None
    assert json.loads(inner.group(1)) == {"label": "</script><script>alert(1)</script>"}


def test_pages_escape_titles_and_error_details() -> None:
    """A measurement id or an error message is text, never markup."""
    assert "<b>" not in page("<b>x</b>", "")
    text = error_page(400, "bad <img src=x>", "from<")
    assert "<img src=x>" not in text
    assert "<code id='error-parameter'>from&lt;</code>" in text
    assert "id='login'" in error_page(401, "no API key")


def test_escaping_fast_path_still_escapes_every_special_character() -> None:
    """Plain text passes as is; any of & < > " ' makes the whole value escaped."""
    assert e("m-00042 VIN-7") == "m-00042 VIN-7"
    assert e(42) == "42"
    assert e(None) == ""
    assert e("a&b<c>d\"e'f") == "a&amp;b&lt;c&gt;d&quot;e&#x27;f"
    assert path_id("m-1.a_b~c") == "m-1.a_b~c"
    assert path_id("a b/c") == "a%20b%2Fc"


def test_catalog_rows_escape_what_the_store_holds() -> None:
    """A project (free text from a manifest) in a catalog row is text, never markup."""
    measurement = Measurement(
        id="m-1",
        vehicle_id="VIN-1",
        recording_start=datetime(2025, 1, 1, 12, 0, 5, tzinfo=UTC),
        recording_end=datetime(2025, 1, 1, 12, 30, 5, tzinfo=UTC),
        upload_prefix="u/m-1",
        file_count=1,
        total_bytes=1,
        project="<script>x</script>",
        content_sha256="0" * 64,
    )
    html = catalog_page([measurement], {}, next_continuation=None, scanned=1)
    assert "<script>x" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<td>2025-01-01 12:00:05</td><td>1800.0 s</td>" in html
    assert "href='/api/explorer/measurements/m-1' class='measurement'>m-1</a>" in html


def test_filter_forms_keep_the_labeled_choice_and_the_next_page_keeps_the_filters() -> None:
    """Both forms show the chosen "Labeled" value; "Next page" carries filters and token."""
    catalog = catalog_page([], {"labeled": True, "tag": "a b"}, next_continuation="t1", scanned=0)
    assert "<option value='true' selected>yes</option>" in catalog
    # The route takes the words true / false only: a next page with labeled=True was a 400.
    assert "href='/api/explorer?labeled=true&amp;tag=a+b&amp;continuation=t1' id='next'" in catalog
    search = search_page([], {"kind": "frames", "labeled": False}, next_continuation=None)
    assert "<option value='false' selected>no</option>" in search
    assert "id='next'" not in search


def _jpeg(width: int, height: int, *params: int) -> bytes:
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[:, : width // 2] = (0, 0, 255)
    ok, data = cv2.imencode(".jpg", image, list(params))
    assert ok
    return bytes(data.tobytes())


def test_scene_tiles_carry_the_clip_action_and_frame_tiles_do_not() -> None:
    """A scene hit's tile has a Clip button posting to its scene (the id URL-encoded, escaped);
    denied, the button is disabled with the reason as its tooltip; frame hits have none."""
    scene = SearchHit("m-1", 3, 10, "hard_brake", [], 640, 360, scene_id="s/1'<x>")
    frame = SearchHit("m-1", 4, 20, "frame", [], 640, 360)
    allowed = search_page([scene, frame], {}, next_continuation=None)
    assert allowed.count("class='clip-button'") == 1
    assert "data-clip-url='/api/explorer/scenes/s%2F1%27%3Cx%3E/clip'" in allowed
    assert "<x>" not in allowed
    assert " disabled" not in allowed
    assert "/api/explorer/assets/clips.js" in allowed
    reason = "Clipping needs the write role; this session has the read role."
    denied = search_page([scene], {}, next_continuation=None, clip_denied=reason)
    assert f"class='clip-button' disabled title='{reason}'" in denied
    frames_only = search_page([frame], {}, next_continuation=None)
    assert "clip" not in frames_only


def test_thumbnails_shrink_to_the_width_and_never_upscale() -> None:
    """Width asked for when smaller; the frame's own size when it is already small."""
    small = cv2.imdecode(np.frombuffer(resize_jpeg(_jpeg(320, 180), 80), np.uint8), 1)
    assert small.shape[:2] == (45, 80)
    same = cv2.imdecode(np.frombuffer(resize_jpeg(_jpeg(320, 180), 640), np.uint8), 1)
    assert same.shape[:2] == (180, 320)
    with pytest.raises(InvalidInputError):
        resize_jpeg(b"not an image", 80)


def test_large_frames_decode_reduced_to_exactly_the_width() -> None:
    """A 1080p frame (decoded at 1/4 scale by its header's width) still comes out 240 wide."""
    assert jpeg_width(_jpeg(1920, 1080)) == 1920
    assert jpeg_width(_jpeg(1280, 720, cv2.IMWRITE_JPEG_PROGRESSIVE, 1)) == 1280
    assert jpeg_width(cv2.imencode(".png", np.zeros((4, 8, 3), np.uint8))[1].tobytes()) is None
    assert jpeg_width(b"\xff\xd8\xff") is None  # truncated header
    thumb = cv2.imdecode(np.frombuffer(resize_jpeg(_jpeg(1920, 1080), 240), np.uint8), 1)
    assert thumb.shape[:2] == (135, 240)
    # Left half red, right half black, as in the frame.
    assert thumb[60, 40, 2] > 200 and thumb[60, 200, 2] < 40


def test_thumbnail_cache_keeps_within_its_byte_budget() -> None:
    """Least recently used entries leave once the budget is exceeded; hits do not rebuild."""
    cache = ThumbnailCache(budget_bytes=250)
    made: list[str] = []

    def maker(name: str) -> bytes:
        made.append(name)
        return name.encode() * 100

    for name in ("a", "b", "a", "c"):
        cache.get((name,), functools.partial(maker, name))
    assert made == ["a", "b", "c"]  # the second "a" was a hit
    assert cache.used_bytes <= 250
    cache.get(("b",), lambda: maker("b"))
    assert made == ["a", "b", "c", "b"]  # "b" was the least recently used: evicted


def test_vendor_copy_names_what_is_missing(tmp_path: Path) -> None:
    """The build step fails naming absent dist files, and copies every file when present."""
    with pytest.raises(FileNotFoundError, match=r"leaflet/dist/leaflet\.js"):
        copy_vendor_files(tmp_path / "node_modules", tmp_path / "out")
    for source in VENDOR_FILES.values():
        path = tmp_path / "node_modules" / source
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    copy_vendor_files(tmp_path / "node_modules", tmp_path / "out")
    assert missing_vendor_files(tmp_path / "out") == []
    assert (tmp_path / "out" / "leaflet.js").read_text() == "leaflet/dist/leaflet.js"
