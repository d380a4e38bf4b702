"""JSON Schema for the event contract, for producers that are not written in Python.

The schemas are generated from ``streams.events`` so they cannot drift from what the
worker accepts. Output is written with sorted keys and a trailing newline so that a
schema change shows up as a small, reviewable diff.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from streams.events import EVENT_MODELS, SCHEMA_VERSION, AnyEvent

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
COMBINED = "events"
"""Key (and file stem) of the schema that accepts any event type."""


def schema_id(name: str) -> str:
    # A URN, not a URL: nothing is hosted, and inventing a domain would be worse.
    return f"urn:cxpulse:schema:v{SCHEMA_VERSION}:{name}"


def _decorate(schema: dict[str, Any], name: str, title: str, description: str) -> dict[str, Any]:
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": schema_id(name),
        **schema,
        "title": title,
        "description": description,
        "x-schema-version": SCHEMA_VERSION,
    }


def json_schemas() -> dict[str, dict[str, Any]]:
    """Event type -> its schema, plus ``"events"`` -> the schema of any event."""
    out: dict[str, dict[str, Any]] = {}
    for event_type, model in sorted(EVENT_MODELS.items()):
        doc = (model.__doc__ or "").strip() or f"The {event_type} event."
        out[event_type] = _decorate(
            model.model_json_schema(), event_type, f"{event_type} (cxpulse v{SCHEMA_VERSION})", doc
        )
    out[COMBINED] = _decorate(
        TypeAdapter(AnyEvent).json_schema(),
        COMBINED,
        f"cxpulse event (v{SCHEMA_VERSION})",
        "Any cxpulse event; the 'type' field selects the variant.",
    )
    return out


def dumps(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schemas(out_dir: Path) -> list[Path]:
    """Write ``<type>.schema.json`` per event and ``events.schema.json``; return the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        path = out_dir / f"{name}.schema.json"
        path.write_text(dumps(schema), encoding="utf-8")
        written.append(path)
    return written
