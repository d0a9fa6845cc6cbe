"""Who is erased, named without keeping the name: an HMAC of the target under a secret salt.

The erasure record, the tombstones and the erasure run's instance id are all derived from the
HMAC, so none of them holds a vehicle id or a measurement id, yet the same target always maps
to the same erasure (a second request finds the first) and ingest can check a tombstone by
hashing what it is about to register.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

from dataops.errors import InvalidInputError, TerminalError
from dataops.paths import check_segment

__all__ = ["ErasureTarget", "TargetKind", "target_key"]


class TargetKind(StrEnum):
    VEHICLE = "vehicle"
    MEASUREMENT = "measurement"


def target_key(salt: str, kind: TargetKind, target_id: str) -> str:
    """HMAC-SHA256 of ``kind:id`` under ``salt``, hex; TerminalError without a salt."""
    if not salt:
        raise TerminalError("AVOPS_ERASURE_SALT is not set: erasure and tombstones need it")
    message = f"{kind.value}:{target_id}".encode()
    return hmac.new(salt.encode(), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ErasureTarget:
    """A vehicle or one measurement, and the key that names its erasure."""

    kind: TargetKind
    target_id: str

    def __post_init__(self) -> None:
        try:
            check_segment(self.target_id, field=f"{self.kind.value}_id")
        except InvalidInputError as err:
            raise InvalidInputError(str(err), field="id") from err

    def erasure_id(self, salt: str) -> str:
        """The erasure's id: the first 32 hex digits of the target's HMAC."""
        return target_key(salt, self.kind, self.target_id)[:32]
