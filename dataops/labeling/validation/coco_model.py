"""A COCO (object detection) label file as partners send it back: the fields the import reads.

Strict where the import depends on a field (ids are integers, a box is four numbers), open
(``extra="allow"``) where tools add their own keys (``info``, ``licenses``, ``segmentation``,
``score``, ...), so a standard COCO export passes without edits.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

__all__ = ["CocoAnnotation", "CocoCategory", "CocoFile", "CocoImage"]

Number = Annotated[float, Field(allow_inf_nan=False)]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class CocoImage(_Open):
    id: StrictInt
    width: StrictInt | None = None
    height: StrictInt | None = None
    file_name: str | None = None


class CocoCategory(_Open):
    id: StrictInt
    name: Annotated[str, Field(min_length=1, max_length=256)]
    supercategory: str | None = None


class CocoAnnotation(_Open):
    id: StrictInt
    image_id: StrictInt
    category_id: StrictInt
    bbox: Annotated[list[Number], Field(min_length=4, max_length=4)] | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class CocoFile(_Open):
    images: list[CocoImage]
    annotations: list[CocoAnnotation]
    categories: list[CocoCategory]
