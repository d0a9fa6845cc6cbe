"""Object categories of a labeling export: the request's, else ``config/labeling-taxonomy.json``.

Partners may not add categories (a label of an unknown class is rejected on import), so an
export must name every class a partner is asked to label, even when the selected frames carry
no pre-label at all. The pre-labels' own classes are always added after the requested ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dataops.config_files import CONFIG_DIR
from dataops.errors import InvalidInputError

__all__ = [
    "DEFAULT_TAXONOMY_PATH",
    "CategoryName",
    "Taxonomy",
    "export_categories",
    "load_taxonomy",
]

DEFAULT_TAXONOMY_PATH = CONFIG_DIR / "labeling-taxonomy.json"
CategoryName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._/-]{0,63}$")]


class Taxonomy(BaseModel):
    """``config/labeling-taxonomy.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    categories: Annotated[list[CategoryName], Field(min_length=1, max_length=1000)]


def load_taxonomy(path: Path = DEFAULT_TAXONOMY_PATH) -> Taxonomy:
    """The taxonomy file; InvalidInputError naming the file and field when it is not valid."""
    try:
        data = json.loads(path.read_bytes())
        return Taxonomy.model_validate(data)
    except (OSError, ValueError) as err:
        field = None
        if isinstance(err, ValidationError) and err.errors():
            field = ".".join(str(part) for part in err.errors()[0]["loc"])
        raise InvalidInputError(f"labeling taxonomy: {err}", source=str(path), field=field) from err


def export_categories(requested: list[str], prelabel_classes: set[str]) -> list[str]:
    """Requested categories in their order, then the pre-labels' other classes, sorted."""
    seen = dict.fromkeys(requested)
    return [*seen, *sorted(prelabel_classes - set(seen))]
