"""Context-manager bases: what a ``with`` block does on entry and exit, written once.

``ClosedOnExit``: a resource that is usable once built and holds handles until ``close``
(clients, readers). ``RunningWhileEntered``: a service that ``start`` brings up and ``stop``
tears down (local emulators, test proxies). Both leave exceptions to propagate.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

__all__ = ["ClosedOnExit", "RunningWhileEntered"]


class ClosedOnExit(ABC):
    """``with obj as x``: ``x`` is ``obj``, and ``obj.close()`` runs when the block ends."""

    @abstractmethod
    def close(self) -> None:
        """Release what the object holds."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class RunningWhileEntered(ClosedOnExit):
    """``with service as s``: ``start()`` on entry, ``stop()`` when the block ends."""

    @abstractmethod
    def start(self) -> object:
        """Bring the service up (may return the service itself, for chaining)."""

    @abstractmethod
    def stop(self) -> None:
        """Tear the service down."""

    def close(self) -> None:
        """Closing a service stops it."""
        self.stop()

    def __enter__(self) -> Self:
        self.start()
        return self
