"""What the API answers about dead letters: a listed record and a redrive's outcome."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "DeadLetter",
    "DeadLetterDocument",
    "DeadLetterPage",
    "DocumentOutcome",
    "Outcome",
    "Redrive",
    "RedriveAnswer",
]

Outcome = Literal["started", "skipped", "missing", "failed"]


class DeadLetterDocument(BaseModel):
    """The identity of one document of the failed batch, as the consumer saw it then."""

    id: str | None = None
    measurement_id: str | None = None
    type: str | None = None
    state: str | None = None
    etag: str | None = Field(default=None, alias="_etag")
    lsn: str | None = Field(default=None, alias="_lsn")

    model_config = {"populate_by_name": True, "serialize_by_alias": True}


class DocumentOutcome(BaseModel):
    """What handing one document back did."""

    datastream_id: str | None
    outcome: Outcome = Field(
        description="`started`: the step it triggers was started now; `skipped`: nothing to "
        "start (the datastream moved on, or its step ran already); `missing`: the datastream "
        "no longer exists (erased); `failed`: reading it or starting its step failed."
    )
    detail: str
    instance_ids: list[str] = Field(
        default_factory=list, description="The step's instances, started now or found."
    )


class Redrive(BaseModel):
    """One hand-back of a record: who, when, and the outcome per document."""

    at: datetime
    by: str = Field(description="How the caller was recognised and its role, e.g. `key (write)`.")
    documents: list[DocumentOutcome]

    @property
    def failed(self) -> bool:
        """A document's step could not be handed back: the record stays pending."""
        return any(d.outcome == "failed" for d in self.documents)


class DeadLetter(BaseModel):
    """A dead letter as listed: the record, its id and, once handed back, the hand-back."""

    id: str = Field(description="Derived from the record's path; what the redrive route takes.")
    function: str
    reason: str
    attempts: int
    time: datetime | None = Field(description="When the consumer's last attempt gave up.")
    documents: list[DeadLetterDocument]
    redriven: Redrive | None = Field(
        default=None, description="The successful hand-back (records under `redriven/` only)."
    )
    failed_redrives: list[Redrive] = Field(
        default_factory=list, description="Hand-backs whose steps failed again (record kept)."
    )


class DeadLetterPage(BaseModel):
    """One page of dead letters, newest first."""

    items: list[DeadLetter]
    continuation: str | None = None


class RedriveAnswer(BaseModel):
    """The answer of ``POST /deadletters/{id}/redrive``."""

    id: str
    state: Literal["redriven", "failed", "already_redriven"] = Field(
        description="`redriven`: handed back, the record moved under `redriven/`; `failed`: a "
        "document's step failed again, the record stays pending with this attempt on it; "
        "`already_redriven`: an earlier redrive handed it back, nothing was done now."
    )
    message: str
    redrive: Redrive = Field(description="This hand-back, or the earlier one (already_redriven).")
