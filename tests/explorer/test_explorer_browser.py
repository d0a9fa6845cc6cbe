"""The explorer in a real browser on the small sample drive after the whole pipeline ran.

One pipeline run and one browser session (``conftest.explorer_run``) feed every check here;
each test names the behaviour it protects. Screenshots: test-artifacts/explorer/.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from mcap.reader import make_reader

from tests.explorer.conftest import LOST_MEASUREMENT, ExplorerRun

# The shared pipeline run plus the browser session take minutes on a loaded 2-core machine.
pytestmark = [pytest.mark.azurite, pytest.mark.timeout(900)]


# The clip's default margin (AVOPS_CLIP_MARGIN_S), added before and after the scene.
CLIP_MARGIN_NS = 2_000_000_000


def _windows(run: ExplorerRun, kind: str) -> list[tuple[int, int]]:
    return [(e["start_ns"], e["end_ns"]) for e in run.truth["events"] if e["type"] == kind]


def test_no_credentials_get_the_login_page_and_no_data(explorer_run: ExplorerRun) -> None:
    anonymous = explorer_run.seen["anonymous"]
    assert anonymous["status"] == 401
    assert anonymous["login_form"] == 1
    assert anonymous["measurement_links"] == 0
    assert anonymous["data_status"] == 401


def test_the_key_in_the_url_becomes_a_strict_http_only_cookie(explorer_run: ExplorerRun) -> None:
    login = explorer_run.seen["login"]
    assert login["url"].endswith("/api/explorer")  # redirected without the key
    assert login["cookie_http_only"] is True
    assert login["cookie_same_site"] == "Strict"


def test_catalog_lists_the_measurement(explorer_run: ExplorerRun) -> None:
    """The catalog lists the pipeline's measurement and the one planted for a failing clip."""
    catalog = explorer_run.seen["catalog"]
    expected = sorted([explorer_run.measurement_id, LOST_MEASUREMENT])
    assert sorted(catalog["measurements"]) == expected
    assert catalog["shown"] == "2"


def test_lineage_graph_has_one_node_per_datastream(explorer_run: ExplorerRun) -> None:
    page = explorer_run.seen["measurement"]
    assert page["nodes"] == explorer_run.datastreams == page["datastream_rows"]
    # RAW->EXTRACTED->SYNCHRONIZED->ENRICHED, and SCENES from both SYNCHRONIZED and ENRICHED.
    assert page["edges"] == 5
    assert page["tapped_hash"] == f"#ds-{page['tapped']}"
    assert page["download_links"] > 0
    assert page["download_status"] == 200  # the SAS link reads the blob
    assert page["run_links"] == explorer_run.datastreams  # one run made each datastream


def test_drive_view_draws_every_gps_fix_and_one_band_per_scene(explorer_run: ExplorerRun) -> None:
    drive = explorer_run.seen["drive"]
    assert drive["ready"] == "1", drive["status"]
    assert drive["route_points"] == explorer_run.gps_rows
    assert drive["roads"] == 3  # the sample's roads.geojson, drawn without tiles
    assert drive["tiles"] == 0
    assert sorted(band["type"] for band in drive["bands"]) == explorer_run.scene_types
    assert drive["band_elements"] == len(explorer_run.scene_types)
    for start, end in _windows(explorer_run, "hard_brake"):
        assert any(
            b["type"] == "hard_brake"
            and abs(b["start_ns"] - start) < 500_000_000
            and abs(b["end_ns"] - end) < 500_000_000
            for b in drive["bands"]
        )
    assert drive["plots"] == 3


def test_drive_view_at_a_pedestrian_time_shows_the_frame_with_its_boxes(
    explorer_run: ExplorerRun,
) -> None:
    drive = explorer_run.seen["drive"]
    frame = drive["frame"]
    start, end = _windows(explorer_run, "pedestrian_in_view")[0]
    assert start <= frame["time_ns"] <= end
    assert drive["image_width"] > 0
    categories = [box["category"] for box in drive["drawn_boxes"] if box["kind"] == "detection"]
    assert categories and set(categories) == {"pedestrian"}
    assert len(drive["drawn_boxes"]) == len(frame["boxes"])
    # The cursor moves the frame and the map marker together.
    assert drive["moved"]["frame"] == 0
    assert drive["moved"]["marker"] != drive["marker"]
    assert explorer_run.seen["page_errors"] == []


def test_drive_view_loads_the_frame_page_around_its_cursor(explorer_run: ExplorerRun) -> None:
    """With 10 frames a page, the cursor at a later page's time shows that page's right frame
    and boxes (the nearest frame to the time), and moving to the start loads the first page."""
    paged = explorer_run.seen["paged"]
    every = paged["all"]
    assert len(every) > 20  # several pages of 10
    window = _windows(explorer_run, "pedestrian_in_view")[0]
    pedestrian = (window[0] + window[1]) // 2  # the time the browser script opened
    nearest = min(range(len(every)), key=lambda i: abs(every[i]["time_ns"] - pedestrian))
    assert nearest >= 10  # not on the first page
    at = paged["at_pedestrian"]
    assert at["frames"] == len(every)  # the cursor spans the whole drive
    assert at["frame"]["frame"] == every[nearest]["frame"]
    assert at["shown"] == str(every[nearest]["frame"])  # the image shown is that frame's
    assert sorted(at["drawn"]) == sorted(every[nearest]["boxes"])
    assert "pedestrian" in at["drawn"]
    # One request, starting half a page before the cursor's frame, not at the drive's start.
    assert at["requests"] == [pytest.approx(every[nearest - 5]["time_ns"] - 1000, abs=512)]
    start = paged["at_start"]
    assert start["frame"]["frame"] == every[0]["frame"]
    assert start["shown"] == str(every[0]["frame"])
    assert len(start["requests"]) == 2  # the first page was loaded only when needed


def test_pedestrian_search_shows_thumbnails_only_from_the_planted_windows(
    explorer_run: ExplorerRun,
) -> None:
    search = explorer_run.seen["search"]
    windows = _windows(explorer_run, "pedestrian_in_view")
    times = search["times"]
    assert times and len(set(times)) == len(times)
    assert all(any(start <= t <= end for start, end in windows) for t in times)
    assert all(any(start <= t <= end for t in times) for start, end in windows)
    assert search["thumbnails"] == len(times)
    assert search["boxes"] >= len(times)  # every thumbnail has its pedestrian box
    assert search["next"] == 0
    assert search["opened"]["cursor"] == str(times[0])  # a click opens the drive at that time
    assert explorer_run.seen["scene_search"] == {"status": 200, "hits": 1}


def test_unknown_id_and_bad_filter_are_pages_not_stack_traces(explorer_run: ExplorerRun) -> None:
    missing = explorer_run.seen["not_found"]
    assert missing["status"] == 404
    assert "no-such-measurement" in missing["text"]
    bad = explorer_run.seen["bad_filter"]
    assert bad["status"] == 400
    assert bad["parameter"] == "from"
    assert "Traceback" not in bad["text"] + missing["text"]


def test_a_read_session_reads_but_cannot_start_a_write(explorer_run: ExplorerRun) -> None:
    read = explorer_run.seen["read"]
    assert read["catalog"] == 2  # both measurements
    assert read["rerun_status"] in (401, 403)
    assert read["export_status"] in (401, 403)


def test_labeling_page_opens_with_no_exports_yet(explorer_run: ExplorerRun) -> None:
    """The labeling page renders for a fresh platform: no rows, the note saying why."""
    assert explorer_run.seen["labeling"] == {"status": 200, "rows": 0, "empty_note": 1}


def test_clip_button_starts_the_clip_shows_progress_and_then_its_links(
    explorer_run: ExplorerRun,
) -> None:
    """A write session's Clip on a scene tile starts the clip, shows the run's progress and,
    when it is done, a download link and an Open in Foxglove link to the same file."""
    clip = explorer_run.seen["clip"]
    assert clip["enabled"] is True
    states = [state for state, _ in clip["seen"]]
    assert states[0] == "starting"
    assert "running" in states
    assert clip["state"] == "done", clip["text"]
    assert states[-1] == "done"
    assert any(text.startswith("Clipping") for state, text in clip["seen"] if state == "running")
    assert clip["text"].startswith("Clip ready: ")
    assert clip["download_status"] == 200
    foxglove = urlsplit(clip["foxglove"])
    assert foxglove.netloc == "app.foxglove.dev"
    assert parse_qs(foxglove.query)["ds.url"] == [clip["download"]]
    assert explorer_run.seen["page_errors"] == []


def test_the_downloaded_clip_holds_the_scene_window(explorer_run: ExplorerRun) -> None:
    """The file behind the Clip action's download link is an MCAP with the measurement's
    messages from the scene's start to its end, widened by the default margin, no more."""
    clip = explorer_run.seen["clip"]
    (scene,) = [s for s in clip["scenes"] if s["id"] == clip["scene"]]
    assert scene["type"] == "hard_brake"
    low, high = scene["start_ns"] - CLIP_MARGIN_NS, scene["end_ns"] + CLIP_MARGIN_NS
    with explorer_run.clip_path.open("rb") as handle:
        reader = make_reader(handle)
        times = [message.log_time for _, _, message in reader.iter_messages()]
        topics = {channel.topic for channel in reader.get_summary().channels.values()}
    assert len(times) > 100
    assert "/gps/fix" in topics
    assert low <= min(times) and max(times) <= high
    # The window is the scene's: the messages start and end near its widened bounds.
    assert min(times) - low < 500_000_000
    assert high - max(times) < 500_000_000


def test_clip_errors_show_their_reason(explorer_run: ExplorerRun) -> None:
    """A clip the app refuses (here: a scene it does not know) shows the status and reason."""
    missing = explorer_run.seen["clip"]["missing"]
    assert missing.startswith("Could not start the clip: 404 ")
    assert "no-such-scene" in missing


def test_a_failed_clip_run_shows_its_reason(explorer_run: ExplorerRun) -> None:
    """A clip that starts but whose run fails (its recording is gone from the raw zone) ends
    as failed with the run's reason, and the button can be pressed again."""
    lost = explorer_run.seen["clip"]["lost"]
    assert lost["state"] == "failed", lost["text"]
    assert lost["text"].startswith("Clip failed: NotFoundError: ")
    assert "drive.mcap" in lost["text"]


def test_the_explorer_follows_clip_runs_only(explorer_run: ExplorerRun) -> None:
    """The session's status route answers for clip runs; the ingest run is not one (404)."""
    assert explorer_run.seen["clip"]["other_run_status"] == 404


def test_drive_view_lists_every_scene_with_its_clip_action(explorer_run: ExplorerRun) -> None:
    """The drive view's scene list has one row per scene, each with an enabled Clip button."""
    drive = explorer_run.seen["clip"]["drive"]
    rows = len(explorer_run.scene_types)
    assert drive == {"rows": rows, "enabled": rows}


def test_a_read_session_sees_clip_disabled_with_the_reason(explorer_run: ExplorerRun) -> None:
    """A read session's Clip buttons are disabled with a tooltip naming the role it lacks,
    and the clip route refuses it (403) rather than start a run."""
    read = explorer_run.seen["read"]
    assert read["clip_button"]["enabled"] is False
    assert "needs the write role" in read["clip_button"]["title"]
    assert "read role" in read["clip_button"]["title"]
    assert read["clip_status"] == 403
    assert "write role" in read["clip_detail"]
    rows = len(explorer_run.scene_types)
    assert read["drive_clip_buttons"] == {"rows": rows, "disabled": rows}
