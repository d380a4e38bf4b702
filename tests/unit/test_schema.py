"""Producers in other languages validate against these files: they must cover every
event type, accept what the worker accepts and reject what it rejects."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from streams.events import EVENT_MODELS, SCHEMA_VERSION
from streams.schema import COMBINED, json_schemas, write_schemas
from streams.simulator import TrafficModel

jsonschema = pytest.importorskip("jsonschema")

T0 = datetime(2024, 5, 6, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def schemas() -> dict:
    return json_schemas()


@pytest.fixture(scope="module")
def examples() -> dict:
    """One simulator event per type, as a producer would send it."""
    out: dict = {}
    for event in TrafficModel(seed=11).events_between(T0, T0 + timedelta(seconds=900)):
        out.setdefault(event.type, json.loads(event.model_dump_json(exclude_none=True)))
    assert set(out) == set(EVENT_MODELS)
    return out


def validator(schema: dict):
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_every_event_type_has_a_schema(schemas: dict) -> None:
    assert set(schemas) == set(EVENT_MODELS) | {COMBINED}
    for name, schema in schemas.items():
        assert schema["$id"].endswith(f"v{SCHEMA_VERSION}:{name}")
        assert schema["title"] and schema["x-schema-version"] == SCHEMA_VERSION
        assert schema["$schema"].endswith("2020-12/schema")
    for event_type in EVENT_MODELS:
        assert schemas[event_type]["properties"]["type"]["const"] == event_type
        assert schemas[event_type]["additionalProperties"] is False


def test_examples_validate_against_their_own_and_the_combined_schema(schemas, examples) -> None:
    combined = validator(schemas[COMBINED])
    for event_type, example in examples.items():
        validator(schemas[event_type]).validate(example)
        combined.validate(example)


def test_schemas_reject_what_the_worker_rejects(schemas, examples) -> None:
    answered = validator(schemas["call.answered"])
    example = examples["call.answered"]
    assert not answered.is_valid({**example, "wait_secs": 3})  # typo'd field name
    assert not answered.is_valid({**example, "wait_seconds": -1})
    assert not answered.is_valid({**example, "type": "call.abandoned"})
    assert not answered.is_valid({k: v for k, v in example.items() if k != "call_id"})
    assert not answered.is_valid({**example, "schema_version": 2})
    combined = validator(schemas[COMBINED])
    assert not combined.is_valid({**example, "type": "call.transferred"})
    # Valid as a call.answered, but not as the event type it claims to be.
    assert not combined.is_valid({**examples["call.queued"], "type": "call.answered"})


def test_written_files_are_complete_and_stable(tmp_path, schemas) -> None:
    paths = write_schemas(tmp_path / "schemas")
    names = sorted(p.name for p in paths)
    assert names == sorted(f"{name}.schema.json" for name in schemas)
    first = {p.name: p.read_bytes() for p in paths}
    write_schemas(tmp_path / "schemas")
    assert {p.name: p.read_bytes() for p in paths} == first
    events = (tmp_path / "schemas" / "events.schema.json").read_text()
    assert json.loads(events) == schemas[COMBINED]
    # Sorted keys: a diff shows only what changed.
    assert events == json.dumps(json.loads(events), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_appendix_a_fields_are_optional_and_checked_alike(schemas, examples) -> None:
    """Survey question_id, locale, answer_format and ticket tags (kpi-catalog Appendix A):
    an event without them stays valid, and the worker and the schema agree on bad values."""
    from streams.decode import Rejection, validate_object

    survey_extra = {"question_id": "nps-v2", "locale": "fr-FR", "answer_format": "emoji"}
    cases = {
        "survey.response": ("surveys", survey_extra,
                            [{"locale": "français"}, {"answer_format": "stars"}, {"question_id": ""}]),
        "survey.sent": ("surveys", {"question_id": "nps-v2", "locale": "pt-BR"}, [{"answer_format": "emoji"}]),
        "ticket.created": ("tickets", {"tags": ["vip", "late-delivery"]},
                           [{"tags": ["two words"]}, {"tags": ["x"] * 33}, {"tags": "vip"}]),
    }
    for event_type, (stream, good, bads) in cases.items():
        schema = validator(schemas[event_type])
        example = examples[event_type]
        assert not set(good) & set(example)  # the simulator leaves them out: still valid
        accepted = validate_object({**example, **good}, stream)
        assert not isinstance(accepted, Rejection), accepted
        assert all(getattr(accepted, name) == value for name, value in good.items())
        schema.validate({**example, **good})
        for bad in bads:
            assert isinstance(validate_object({**example, **good, **bad}, stream), Rejection), bad
            assert not schema.is_valid({**example, **good, **bad}), bad
