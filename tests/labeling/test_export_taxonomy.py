"""An export names its categories: from the request, else the taxonomy file, plus pre-labels.

Partners may not add categories, so a package whose frames carry no pre-label must still list
every class the partner is asked to label, in COCO and in OpenLABEL alike.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dataops.errors import InvalidInputError
from dataops.labeling.exporting.coco import coco_document
from dataops.labeling.exporting.openlabel import (
    TAXONOMY_ONTOLOGY,
    check_openlabel,
    openlabel_document,
)
from dataops.labeling.exporting.plan import PreLabel
from dataops.labeling.exporting.status import parse_export_request
from dataops.labeling.taxonomy import (
    DEFAULT_TAXONOMY_PATH,
    export_categories,
    load_taxonomy,
)
from tests.labeling.export_requests import cli_request
from tests.labeling.plans import make_plan, plan_item

REQUESTED = ["pedestrian", "car", "traffic_sign"]


def test_requested_categories_keep_their_order_and_prelabel_classes_are_added() -> None:
    """COCO ids follow the request's order; a pre-label class it did not name comes after."""
    assert export_categories(REQUESTED, {"car", "bicycle", "animal"}) == [
        "pedestrian",
        "car",
        "traffic_sign",
        "animal",
        "bicycle",
    ]
    assert export_categories(REQUESTED, set()) == REQUESTED


def test_a_package_without_prelabels_still_has_its_categories() -> None:
    """An export without pre-labels on its frames still gives a labelable COCO and OpenLABEL."""
    plan = make_plan([plan_item(1, frame=0), plan_item(2, frame=1)], categories=REQUESTED)
    coco = coco_document(plan, created_at=datetime(2024, 5, 2, tzinfo=UTC))
    assert coco["annotations"] == []
    assert coco["categories"] == [
        {"id": 1, "name": "pedestrian", "supercategory": "object"},
        {"id": 2, "name": "car", "supercategory": "object"},
        {"id": 3, "name": "traffic_sign", "supercategory": "object"},
    ]
    document = openlabel_document(plan)
    check_openlabel(document)
    (ontology,) = document["openlabel"]["ontologies"].values()
    assert ontology["uri"] == TAXONOMY_ONTOLOGY
    assert ontology["boundary_list"] == REQUESTED
    assert ontology["boundary_mode"] == "include"


def test_prelabel_objects_point_at_the_taxonomy_ontology() -> None:
    """Each pre-labelled object names the ontology its type comes from."""
    prelabel = PreLabel(category="pedestrian", bbox=[1.0, 2.0, 3.0, 4.0], score=0.5)
    plan = make_plan([plan_item(1, frame=0, prelabels=[prelabel])], categories=REQUESTED)
    document = openlabel_document(plan)
    (uid,) = document["openlabel"]["ontologies"]
    (obj,) = document["openlabel"]["objects"].values()
    assert obj["type"] == "pedestrian"
    assert obj["ontology_uid"] == uid


def test_request_categories_are_checked() -> None:
    """A duplicate or malformed category is a 400 naming the field."""
    body = cli_request(
        scene_type="pedestrian_in_view",
        sensors=["cam"],
        every_nth=2,
        categories=["pedestrian,car", "traffic_sign"],
    )
    assert body["categories"] == REQUESTED
    assert parse_export_request(json.dumps(body).encode()).categories == REQUESTED
    for bad in (["car", "car"], ["bad\nname"], []):
        with pytest.raises(InvalidInputError, match="categories"):
            parse_export_request(json.dumps({**body, "categories": bad}).encode())


def test_the_shipped_taxonomy_is_valid_and_a_broken_one_names_its_file(tmp_path: Path) -> None:
    """config/labeling-taxonomy.json loads; a broken file is an error naming file and field."""
    assert "pedestrian" in load_taxonomy().categories
    assert DEFAULT_TAXONOMY_PATH.name == "labeling-taxonomy.json"
    broken = tmp_path / "taxonomy.json"
    broken.write_text(json.dumps({"categories": []}))
    with pytest.raises(InvalidInputError, match=r"taxonomy\.json: categories"):
        load_taxonomy(broken)
