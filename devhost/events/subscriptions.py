"""Event Grid subscriptions from a checked-in JSON file that mirrors the ones in infra/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from devhost.errors import AppLoadError

__all__ = ["BLOB_CREATED", "AdvancedFilter", "Subscription", "load_subscriptions"]

BLOB_CREATED = "Microsoft.Storage.BlobCreated"


_OPERATORS = frozenset(
    {
        "StringIn",
        "StringNotIn",
        "StringBeginsWith",
        "StringEndsWith",
        "StringContains",
        "NumberIn",
        "NumberNotIn",
        "NumberGreaterThan",
        "NumberGreaterThanOrEquals",
        "NumberLessThan",
        "NumberLessThanOrEquals",
        "BoolEquals",
    }
)


class AdvancedFilter(BaseModel):
    """One Event Grid advanced filter on a (dotted) event key, e.g. ``data.api``."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    operator_type: str = Field(alias="operatorType")
    key: str
    values: list[Any] | None = None
    value: Any = None

    def model_post_init(self, _context: Any) -> None:
        """Refuse operators devhost does not evaluate, by name, at start-up."""
        if self.operator_type not in _OPERATORS:
            raise ValueError(f"advanced filter operator {self.operator_type!r} is not supported")

    def accepts(self, event: dict[str, Any]) -> bool:
        """Azure's semantics: string comparisons ignore case; a missing key does not match."""
        found: Any = event
        for part in self.key.split("."):
            if not isinstance(found, dict) or part not in found:
                return False
            found = found[part]
        op = self.operator_type
        if op.startswith("String"):
            text = str(found).lower()
            values = [str(v).lower() for v in (self.values or [])]
            checks = {
                "StringIn": lambda: text in values,
                "StringNotIn": lambda: text not in values,
                "StringBeginsWith": lambda: any(text.startswith(v) for v in values),
                "StringEndsWith": lambda: any(text.endswith(v) for v in values),
                "StringContains": lambda: any(v in text for v in values),
            }
            return checks[op]()
        if op == "BoolEquals":
            return bool(found) is bool(self.value)
        number = float(found)
        numbers = [float(v) for v in (self.values or [])]
        limit = float(self.value) if self.value is not None else 0.0
        compare = {
            "NumberIn": lambda: number in numbers,
            "NumberNotIn": lambda: number not in numbers,
            "NumberGreaterThan": lambda: number > limit,
            "NumberGreaterThanOrEquals": lambda: number >= limit,
            "NumberLessThan": lambda: number < limit,
            "NumberLessThanOrEquals": lambda: number <= limit,
        }
        return compare[op]()


class Subscription(BaseModel):
    """One Event Grid subscription: which blob events go to which function, in which schema."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    name: str
    function: str
    container: str
    subject_begins_with: str = Field("", alias="subjectBeginsWith")
    subject_ends_with: str = Field("", alias="subjectEndsWith")
    included_event_types: list[str] = Field(
        default_factory=lambda: [BLOB_CREATED], alias="includedEventTypes"
    )
    case_sensitive: bool = Field(False, alias="isSubjectCaseSensitive")
    schema_: Literal["EventGridSchema", "CloudEventSchemaV1_0"] = Field(
        "EventGridSchema", alias="eventDeliverySchema"
    )
    advanced_filters: list[AdvancedFilter] = Field(default_factory=list, alias="advancedFilters")

    @property
    def container_prefix(self) -> str | None:
        """For ``"container": "labeled-*"``: ``labeled-``; None for one named container.

        In Azure a subscription is on a whole account and its subject filter picks containers
        by name prefix (per-export containers); locally the poller has to know which to list.
        """
        return self.container[:-1] if self.container.endswith("*") else None

    def watches(self, container: str) -> bool:
        """Whether blobs of ``container`` can reach this subscription."""
        prefix = self.container_prefix
        return container == self.container if prefix is None else container.startswith(prefix)

    def matches(self, container: str, subject: str, event_type: str) -> bool:
        """Azure's filter: container, event type, subject prefix and suffix."""
        if not self.watches(container) or event_type not in self.included_event_types:
            return False
        begins, ends, text = self.subject_begins_with, self.subject_ends_with, subject
        if not self.case_sensitive:
            begins, ends, text = begins.lower(), ends.lower(), text.lower()
        return text.startswith(begins) and text.endswith(ends)

    def accepts(self, container: str, event: dict[str, Any]) -> bool:
        """Subject/type filters and every advanced filter, for an Event Grid schema event."""
        if not self.matches(container, str(event["subject"]), str(event["eventType"])):
            return False
        return all(f.accepts(event) for f in self.advanced_filters)


def load_subscriptions(path: Path) -> list[Subscription]:
    """Read ``{"subscriptions": [...]}``; a bad file is a start-up error naming the entry."""
    try:
        doc: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise AppLoadError(f"{path}: cannot read subscriptions: {err}") from err
    entries = doc.get("subscriptions") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise AppLoadError(f"{path}: expected an object with a 'subscriptions' list")
    subs: list[Subscription] = []
    for index, entry in enumerate(entries):
        try:
            subs.append(Subscription.model_validate(entry))
        except ValidationError as err:
            raise AppLoadError(f"{path}: subscription #{index} is invalid: {err}") from err
    return subs
