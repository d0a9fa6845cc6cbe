"""Azurite for tests: one way to start it, whatever the fixture's scope, and its test accounts."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from devhost.services.azurite import AzuriteBlob, AzuriteError

# Storage accounts the session's Azurite serves besides the development one: one per test that
# runs the app on its own zones. More than the suite uses; running out fails the test.
TEST_ACCOUNTS = tuple(f"acct{i:03d}" for i in range(256))
_account_numbers = itertools.count()


@contextmanager
def started_azurite(data_dir: Path, *, accounts: Iterable[str] = ()) -> Iterator[AzuriteBlob]:
    """A running Azurite blob service; stopped (with exactly its processes) on exit."""
    server = AzuriteBlob(data_dir, accounts=accounts)
    try:
        server.start()
    except AzuriteError as err:
        # A missing emulator is a broken checkout, not an optional feature: fail, never skip.
        pytest.fail(f"Azurite could not start: {err}")
    try:
        yield server
    finally:
        server.stop()


def fresh_account(azurite: AzuriteBlob) -> str:
    """Connection string of one of ``TEST_ACCOUNTS`` that nothing else in this process used."""
    number = next(_account_numbers)
    if number >= len(TEST_ACCOUNTS):
        pytest.fail(f"all {len(TEST_ACCOUNTS)} test storage accounts are taken: add more")
    return azurite.connection_string_for(TEST_ACCOUNTS[number])
