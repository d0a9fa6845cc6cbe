"""The datastream state machine allows exactly the transitions of its table."""

from __future__ import annotations

import itertools

import pytest

from dataops.errors import InvalidTransitionError
from dataops.models import TRANSITIONS, DatastreamState, check_transition

S = DatastreamState
ALLOWED = {
    (S.CREATED, S.COPYING),
    (S.CREATED, S.PROCESSING),
    (S.CREATED, S.FAILED),
    (S.COPYING, S.COMPLETED),
    (S.COPYING, S.FAILED),
    (S.PROCESSING, S.COMPLETED),
    (S.PROCESSING, S.FAILED),
}


@pytest.mark.parametrize(("current", "target"), sorted(itertools.product(S, S)))
def test_transition_is_allowed_exactly_when_listed(current: S, target: S) -> None:
    if (current, target) in ALLOWED:
        check_transition(current, target)
    else:
        with pytest.raises(InvalidTransitionError, match=f"{current} cannot change to {target}"):
            check_transition(current, target)


def test_final_states_have_no_way_out() -> None:
    assert TRANSITIONS[S.COMPLETED] == frozenset()
    assert TRANSITIONS[S.FAILED] == frozenset()
