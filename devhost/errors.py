"""Errors of the local host, one family so that callers can catch them together."""

from __future__ import annotations

__all__ = [
    "AppLoadError",
    "DevhostError",
    "InstanceExistsError",
    "InstanceNotFoundError",
    "UnknownFunctionError",
    "UnsupportedBindingError",
]


class DevhostError(Exception):
    """Root of every error devhost raises on purpose."""


class AppLoadError(DevhostError):
    """The Functions app could not be imported or indexed the way the worker would."""


class UnsupportedBindingError(AppLoadError):
    """A function uses a trigger or binding type that devhost does not emulate."""


class UnknownFunctionError(DevhostError):
    """A request or event names a function that the app does not define."""


class InstanceNotFoundError(DevhostError):
    """No orchestration instance has the given id."""


class InstanceExistsError(DevhostError):
    """start_new for an id whose instance is still Pending or Running."""
