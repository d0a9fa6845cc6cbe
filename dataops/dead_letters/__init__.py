"""Dead letters of the change-feed consumer: written on its last attempt, listed, handed back.

``records`` writes a record and maps its id to its path; ``listing`` pages the records for the
API; ``redrive`` hands a record's batch back through the consumer's own routing. The package
re-exports what the consumer and the erasure have always imported from here.
"""

from __future__ import annotations

from dataops.dead_letters.records import DEAD_LETTER_PREFIX, record_dead_letter

__all__ = ["DEAD_LETTER_PREFIX", "record_dead_letter"]
