"""The GS1 EPCIS 2.0 JSON schema as a validator, for the EPCIS export's tests.

The schema is GS1's own file, kept unchanged beside the repository (shared/standards), so the
tests check our output against the standard rather than against our reading of it. Formats are
checked too (``uri``, ``date-time``): without a format checker, ``jsonschema`` takes any string
for them, and an eventID or epcList entry that is no URI would pass.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator

ROOT = Path(__file__).resolve().parents[1]
STANDARDS = ROOT.parent / "shared" / "standards"
SCHEMA = STANDARDS / "EPCIS-JSON-Schema.json"
EXAMPLE = STANDARDS / "EPCIS-SensorDataExample1.jsonld"


@cache
def validator() -> Draft7Validator:
    assert SCHEMA.is_file(), f"the GS1 EPCIS 2.0 JSON schema is expected at {SCHEMA}"
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)


def schema_errors(document: Any) -> list[str]:
    """Every reason the schema gives for refusing `document` (none: it is valid)."""
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator().iter_errors(document)
    ]
