"""Model <-> stored document conversion, the same for both backends."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from dataops.errors import invalid_input_from

__all__ = ["dump", "dump_json", "load", "load_json", "validate_document"]

M = TypeVar("M", bound=BaseModel)


def dump(model: BaseModel) -> dict[str, Any]:
    """The JSON document of ``model`` without its etag (the store owns that)."""
    return model.model_dump(mode="json", exclude={"etag"})


def dump_json(model: BaseModel) -> str:
    """:func:`dump` as compact JSON text."""
    return json.dumps(dump(model), separators=(",", ":"), sort_keys=True)


def load(cls: type[M], doc: dict[str, Any], etag: str) -> M:
    """Validate a stored document back into ``cls`` with the store's etag."""
    return cls.model_validate({**doc, "etag": etag})


def load_json(cls: type[M], text: str, etag: str) -> M:
    """:func:`load` from JSON text."""
    body = json.loads(text)
    if not isinstance(body, dict):
        raise TypeError(f"stored {cls.__name__} document is not a JSON object")
    return load(cls, body, etag)


def validate_document(cls: type[M], body: Mapping[str, Any], *, source: str) -> M:
    """``cls`` from a document read back; InvalidInputError naming ``source`` and the field."""
    try:
        return cls.model_validate(body)
    except ValidationError as err:
        raise invalid_input_from(err, source=source) from err
