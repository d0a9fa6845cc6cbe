"""Reading the steps' JSON config files and checking documents against their models.

Every failure is an InvalidInputError naming the file (``source``) and, for a document that
does not fit its model, the first wrong field as a dotted path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from dataops.errors import InvalidInputError, invalid_input_from

__all__ = ["CONFIG_DIR", "ConfigModel", "load_config", "read_config", "validated"]

# The app's own config files (config/ at the repository and app root).
CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"


class ConfigModel(BaseModel):
    """A config document or section: frozen, and a key it does not know is an error (a
    misspelt threshold must fail the run, not fall back to its default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


M = TypeVar("M", bound=BaseModel)


def read_config(path: Path, what: str) -> Any:
    """The JSON document in ``path`` (the ``what`` config); unreadable or not JSON: an error."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InvalidInputError(f"cannot read the {what}: {err}", source=str(path)) from err


def validated(model: type[M], data: object, *, source: str) -> M:
    """``data`` checked as ``model``; else an error naming ``source`` and the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise invalid_input_from(err, source=source) from err


def load_config(model: type[M], path: Path, what: str) -> M:
    """Read the ``what`` config at ``path`` and check it as ``model``."""
    return validated(model, read_config(path, what), source=str(path))
