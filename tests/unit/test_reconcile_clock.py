"""dataops.ingest.reconcile.firing_time: the reconciler measures ages on the host's clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dataops.ingest.reconcile import firing_time

FALLBACK = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"LastUpdated": "2026-01-01T12:00:00.000000Z"}, datetime(2026, 1, 1, 12, tzinfo=UTC)),
        ({"LastUpdated": "2026-01-01T13:00:00+01:00"}, datetime(2026, 1, 1, 12, tzinfo=UTC)),
        # The Functions host writes naive UTC times in some versions.
        ({"LastUpdated": "2026-01-01T12:00:00"}, datetime(2026, 1, 1, 12, tzinfo=UTC)),
        ({"LastUpdated": None}, FALLBACK),  # no schedule monitor
        ({}, FALLBACK),
        (None, FALLBACK),
        ({"LastUpdated": "yesterday"}, FALLBACK),
    ],
)
def test_firing_time_prefers_the_hosts_time_of_the_firing(
    status: dict[str, object] | None, expected: datetime
) -> None:
    assert firing_time(status, FALLBACK) == expected
