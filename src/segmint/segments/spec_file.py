"""A type's segments as a JSON file (``segmint types create/edit --segments FILE.json``): a
list of objects with the fields of :class:`~segmint.segments.schemas.SegmentSpec`.

    >>> specs = parse_segments('[{"name": "A", "threshold": 80.5}, {"name": "B", "cells": [55]}]')
    >>> [(s.name, s.threshold, s.cells) for s in specs]
    [('A', Decimal('80.5'), []), ('B', Decimal('0'), ['55'])]
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from segmint.errors import ValidationError
from segmint.segments.schemas import SegmentSpec

FIELDS = tuple(f.name for f in dataclasses.fields(SegmentSpec))


def parse_segments(text: str, *, source: str = "the segments file") -> list[SegmentSpec]:
    """Segment specs from JSON text; anything malformed raises naming ``segments[i].field``.
    The values' rules (thresholds adding up, cells, names) are the service's to check."""
    try:
        # Decimals, not floats: 33.3 must stay exactly 33.3 for the thresholds to add up.
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise ValidationError(
            f"{source} is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})",
            field="segments",
        ) from None
    if not isinstance(data, list):
        raise ValidationError(
            f"{source} must hold a JSON list of segment objects, e.g. "
            '[{"name": "A", "threshold": 80}, ...]',
            field="segments",
        )
    return [_spec(item, i) for i, item in enumerate(data)]


def _spec(item: Any, i: int) -> SegmentSpec:
    where = f"segments[{i}]"
    if not isinstance(item, dict):
        raise ValidationError(f"{where} must be an object with a name", field=where)
    unknown = sorted(set(item) - set(FIELDS))
    if unknown:
        raise ValidationError(
            f"{where}.{unknown[0]}: unknown field (fields: {', '.join(FIELDS)})",
            field=f"{where}.{unknown[0]}",
        )
    if "name" not in item:
        raise ValidationError(f"{where}.name is missing", field=f"{where}.name")
    values = dict(item)
    threshold = values.get("threshold", 0)
    if isinstance(threshold, bool) or not isinstance(threshold, int | Decimal | str):
        raise ValidationError(
            f"{where}.threshold must be a number, got {threshold!r}", field=f"{where}.threshold"
        )
    values["threshold"] = Decimal(str(threshold)) if not isinstance(threshold, str) else threshold
    for flag in ("is_default", "excluded"):
        if not isinstance(values.get(flag, False), bool):
            raise ValidationError(
                f"{where}.{flag} must be true or false, got {values[flag]!r}",
                field=f"{where}.{flag}",
            )
    cells = values.get("cells", [])
    if not isinstance(cells, list):
        raise ValidationError(
            f'{where}.cells must be a list such as ["55", "54"]', field=f"{where}.cells"
        )
    values["cells"] = [str(c) for c in cells]
    for text_field in ("description", "recommended_action"):
        if values.get(text_field) is None:
            values[text_field] = ""
    return SegmentSpec(**values)


def read_segments(path: Path) -> list[SegmentSpec]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValidationError(f"cannot read {path}: {error}", field="segments") from None
    return parse_segments(text, source=str(path))


def _number(value: Decimal) -> int | float:
    """80.0000 as 80 and 33.3333 as 33.3333 (a float's repr gives back the same decimal)."""
    return int(value) if value == value.to_integral_value() else float(value)


def segments_json(specs: list[SegmentSpec]) -> str:
    """Specs as the file format (with ids, so editing and loading them back keeps overrides)."""
    rows = []
    for spec in specs:
        row = {
            "id": spec.id,
            "name": spec.name,
            "threshold": _number(Decimal(spec.threshold)),
            "visit_every_days": spec.visit_every_days,
            "priority": spec.priority,
            "is_default": spec.is_default,
            "excluded": spec.excluded,
            "description": spec.description,
            "recommended_action": spec.recommended_action,
            "cells": list(spec.cells),
        }
        rows.append(row)
    return json.dumps(rows, indent=2, ensure_ascii=False)
