"""A step's state change of its datastream that survives a lost race: re-read and re-apply."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from dataops.errors import EtagMismatchError
from dataops.models import Datastream, DatastreamState
from dataops.store.protocol import MetadataStore

__all__ = ["ADVANCE_ATTEMPTS", "advance_datastream"]

# Each lost race means another write landed in between; a step's datastream has few writers
# (the step, a retry of it, a reconciler), so a handful of rounds settles it.
ADVANCE_ATTEMPTS = 6


def advance_datastream(
    store: MetadataStore,
    datastream_id: str,
    target: DatastreamState,
    *,
    when: Collection[DatastreamState],
    reason: str | None = None,
    stats: dict[str, Any] | None = None,
    attempts: int = ADVANCE_ATTEMPTS,
) -> Datastream:
    """``target`` if the datastream is in one of the states ``when``; else it is left alone.

    The write is etag-guarded; when it loses a race (EtagMismatchError: the document changed
    since it was read) the datastream is read again and the change re-applied, as long as the
    state read still allows it. So a datastream another writer completed or failed meanwhile,
    or one our own lost-answer write already moved, is returned as it is. NotFoundError when
    the datastream is absent; EtagMismatchError after ``attempts`` lost races in a row.
    """
    for _ in range(attempts):
        current = store.get_datastream(datastream_id)
        if current.state not in when:
            return current
        assert current.etag is not None  # the store sets it on every read
        try:
            return store.transition_datastream(
                datastream_id, target, expected_etag=current.etag, reason=reason, stats=stats
            )
        except EtagMismatchError:
            continue
    raise EtagMismatchError(
        f"datastream {datastream_id!r} kept changing; gave up after {attempts} attempts"
    )
