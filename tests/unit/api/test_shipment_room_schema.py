"""A shipment's `room` through the API's bodies: accepted as the manifest accepts it, kept in
the stored manifest in the manifest's order, refused naming the field otherwise, and shown in
the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from api.app import create_app
from api.db import make_engine, session_factory
from api.schemas_shipments import ShipmentCreate, ShipmentUpdate
from detectors.profiles import parse_shipment

ELEMENT: dict[str, Any] = {"shipment_id": "S1", "device_id": "t1", "profile": "chilled_reefer"}


def test_a_room_is_kept_in_the_manifest_after_the_seal_and_the_detectors_read_it() -> None:
    body = ShipmentCreate.model_validate(
        {**ELEMENT, "room": "store-a/chiller-2", "seal_id": "ES-1", "max_gap_min": 45}
    )
    manifest = body.manifest()
    assert list(manifest) == [
        "shipment_id",
        "device_id",
        "profile",
        "max_gap_min",
        "seal_id",
        "room",
    ]
    assert manifest["room"] == "store-a/chiller-2"
    assert parse_shipment(manifest).room == "store-a/chiller-2"


def test_without_a_room_the_manifest_has_none_and_null_is_kept_as_given() -> None:
    assert "room" not in ShipmentCreate.model_validate(ELEMENT).manifest()
    given_null = ShipmentCreate.model_validate({**ELEMENT, "room": None}).manifest()
    assert given_null["room"] is None and parse_shipment(given_null).room is None


def test_a_patch_sets_or_removes_the_room() -> None:
    assert ShipmentUpdate.model_validate({"room": "A/1"}).changes() == {"room": "A/1"}
    assert ShipmentUpdate.model_validate({"room": None}).changes() == {"room": None}
    assert ShipmentUpdate.model_validate({"status": "in_transit"}).changes() == {}


@pytest.mark.parametrize(
    "room",
    [
        pytest.param("", id="empty"),
        pytest.param("chiller 2", id="a space"),
        pytest.param("r\n1", id="a line break"),
        pytest.param("x" * 65, id="over 64 characters"),
        pytest.param("kühl", id="a letter outside the id characters"),
        pytest.param(7, id="a number"),
        pytest.param(["r1"], id="an array"),
        pytest.param({"id": "r1"}, id="an object"),
    ],
)
@pytest.mark.parametrize("model", [ShipmentCreate, ShipmentUpdate], ids=["create", "patch"])
def test_a_room_that_is_not_a_plain_id_is_refused_naming_the_field(
    model: type[ShipmentCreate] | type[ShipmentUpdate], room: object
) -> None:
    body = {**ELEMENT, "room": room} if model is ShipmentCreate else {"room": room}
    with pytest.raises(ValidationError) as refused:
        model.model_validate(body)
    assert [e["loc"] for e in refused.value.errors()] == [("room",)]


def test_the_openapi_document_shows_the_room_with_its_pattern() -> None:
    spec = create_app(session_factory(make_engine("sqlite://"))).openapi()
    schemas = spec["components"]["schemas"]
    for name in ("ShipmentCreate", "ShipmentUpdate"):
        room = schemas[name]["properties"]["room"]
        patterns = [s.get("pattern") for s in room["anyOf"]]
        assert "^[A-Za-z0-9._:/#-]{1,64}$" in patterns and {"type": "null"} in room["anyOf"]
