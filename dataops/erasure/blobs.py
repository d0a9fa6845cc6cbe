"""Deleting the target's blobs: its folders in every zone, its traces in label exports and
the change-feed dead letters that name it.

A blob under a WORM policy (time-based retention or legal hold, e.g. the archive account's
opt-in immutability) cannot be deleted by anyone until the policy allows it. That is never
skipped: :class:`ImmutableBlobError` fails the erasure, naming the zone and how many blobs are
locked, never their paths (the run's history must not name the target).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient

from dataops.dead_letters import DEAD_LETTER_PREFIX
from dataops.erasure.plan import ErasurePlan
from dataops.errors import ImmutableBlobError, NotFoundError
from dataops.labeling.exporting.steps import revoke_export
from dataops.local_caches import forget_everywhere
from dataops.paths import Zone
from dataops.storage import BlobZones
from dataops.storage.errors import translate_azure_errors
from dataops.storage.export_zones import EXPORT_ZONES, export_container_client, list_export_ids

__all__ = ["ImmutableBlobError", "erase_blobs", "list_target_blobs"]

log = logging.getLogger("avops.erasure")

_MAX_SCANNED_JSON = 64 << 20


def _delete(container: ContainerClient, zone: Zone, path: str) -> str:
    """Delete a blob and its snapshots: ``deleted``, ``gone`` (already) or ``locked`` (WORM).

    Which Azure answers mean "locked" is decided by the one mapping, dataops.azure_errors.
    """
    try:
        with translate_azure_errors(f"{zone.value}: erasing a blob"):
            container.delete_blob(path, delete_snapshots="include")
    except NotFoundError:
        return "gone"
    except ImmutableBlobError:
        return "locked"
    return "deleted"


def _empty_folder(zones: BlobZones, zone: Zone, prefix: str, counts: Counter[str]) -> int:
    """Delete every blob under ``prefix``; returns how many are locked (WORM) and stay."""
    container = zones.container_client(zone)
    locked = 0
    with translate_azure_errors(f"{zone.value}: erasing a folder"):
        listed = list(zones.list_blobs(zone, prefix))
    for info in listed:
        outcome = _delete(container, zone, info.path)
        if outcome == "deleted":
            counts[f"blobs.{zone.value}"] += 1
        elif outcome == "locked":
            locked += 1
    return locked


def _refuse_locked(locked: Counter[str]) -> None:
    """ImmutableBlobError naming each zone with locked blobs and their count, never a path."""
    if not locked:
        return
    zones = ", ".join(f"{count} in zone {zone!r}" for zone, count in sorted(locked.items()))
    raise ImmutableBlobError(
        f"blob(s) of the target are under an immutability policy or a legal hold and cannot "
        f"be deleted: {zones}; see docs/erasure.md"
    )


def _mentions(zones: BlobZones, container: ContainerClient, path: str, tokens: list[str]) -> bool:
    if any(token in path for token in tokens):
        return True
    if not path.endswith(".json"):
        return False
    blob = container.get_blob_client(path)
    if blob.get_blob_properties().size > _MAX_SCANNED_JSON:
        return True  # too big to read: a package manifest this size is treated as mentioning
    text = blob.download_blob().readall().decode("utf-8", errors="replace")
    return any(token in text for token in tokens)


def _tainted_exports(zones: BlobZones, tokens: list[str]) -> list[str]:
    """Exports whose containers hold a blob named after, or a JSON file naming, the target."""
    tainted: set[str] = set()
    for zone in EXPORT_ZONES:
        for export_id in list_export_ids(zones, zone):
            if export_id in tainted:
                continue
            container = export_container_client(zones, zone, export_id)
            with translate_azure_errors(f"{zone.value}: scanning export {export_id}"):
                for item in container.list_blobs():
                    if _mentions(zones, container, str(item.name), tokens):
                        tainted.add(export_id)
                        break
    return sorted(tainted)


def _tainted_dead_letters(zones: BlobZones, tokens: list[str]) -> list[str]:
    """Change-feed dead letters (dataops.dead_letters) naming one of the target's ids."""
    container = zones.container_client(Zone.ERROR)
    with translate_azure_errors(f"{Zone.ERROR.value}: scanning dead letters"):
        return [
            info.path
            for info in zones.list_blobs(Zone.ERROR, DEAD_LETTER_PREFIX)
            if _mentions(zones, container, info.path, tokens)
        ]


def _drop_export(zones: BlobZones, export_id: str, counts: Counter[str]) -> None:
    """Revoke the partner's links, then delete both of the export's containers whole."""
    try:
        revoke_export(zones, export_id, now=datetime.now(UTC))
    except NotFoundError:
        # No record: a half-created export, or one this erasure already deleted in part.
        log.info("export %s has no record: no links to revoke", export_id)
    for zone in EXPORT_ZONES:
        container = export_container_client(zones, zone, export_id)
        with translate_azure_errors(f"{zone.value}: deleting export {export_id}"):
            try:
                container.delete_container()
            except ResourceNotFoundError:
                continue
        counts[f"exports.{zone.value}"] += 1


def erase_blobs(zones: BlobZones, plan: ErasurePlan, counts: Counter[str]) -> None:
    """Delete the plan's folders in every zone and every export that holds the target.

    ``counts`` grows as things go, so a caller keeps the tally of a step that then fails (a
    WORM lock raises :class:`ImmutableBlobError` after everything else was deleted). A Delta
    table lives in its datastream's folder, every version of it (the log and all data files,
    current or not), so emptying the folder removes its old versions too.
    """
    for export_id in _tainted_exports(zones, plan.tokens()):
        _drop_export(zones, export_id, counts)
    locked: Counter[str] = Counter()
    for zone, prefix in plan.prefixes():
        # Every folder is emptied before a lock fails the step: all that can go, goes.
        locked[zone.value] += _empty_folder(zones, zone, prefix, counts)
    errors = zones.container_client(Zone.ERROR)
    for path in _tainted_dead_letters(zones, plan.tokens()):
        if _delete(errors, Zone.ERROR, path) == "deleted":
            counts["dead_letters"] += 1
    # After the deletions: a search that copied a table meanwhile left its copy too.
    # Every local cache of the process, see dataops.local_caches; others: docs/erasure.md.
    counts["table_cache"] += forget_everywhere(plan.cache_scope())
    _refuse_locked(+locked)


def list_target_blobs(zones: BlobZones, plan: ErasurePlan) -> dict[str, list[str]]:
    """What :func:`erase_blobs` would delete: paths per zone, and the tainted exports."""
    found: dict[str, list[str]] = {}
    for zone, prefix in plan.prefixes():
        paths = [info.path for info in zones.list_blobs(zone, prefix)]
        if paths:
            found.setdefault(zone.value, []).extend(paths)
    exports = _tainted_exports(zones, plan.tokens())
    if exports:
        found["exports"] = exports
    dead_letters = _tainted_dead_letters(zones, plan.tokens())
    if dead_letters:
        found["dead_letters"] = dead_letters
    return found
