"""The handoff packet: schema committed in docs/ matches the code, packets validate against it."""

import json

import jsonschema
import pytest
from pydantic import ValidationError

from bot.handoff_packet import SCHEMA_FILE, Device, HandoffPacket, StepOutcome, json_schema, summarize


def _packet(**overrides) -> HandoffPacket:
    values = dict(
        conversation_id="c-1",
        reason="steps_exhausted",
        priority="normal",
        language="de",
        device=Device(category="phone", brand="Samsung", model="Galaxy S21"),
        topic="not_charging",
        article_id="phone-not-charging",
        steps_tried=[StepOutcome(step=1, instruction="Use a wall socket.", outcome="failed")],
        summary="Mein Handy lädt nicht.",
    )
    values.update(overrides)
    return HandoffPacket(**values)


def test_committed_schema_is_up_to_date():
    assert json.loads(SCHEMA_FILE.read_text()) == json.loads(json.dumps(json_schema())), (
        "run `python -m bot schema` and commit docs/handoff-packet.schema.json"
    )


def test_packet_payload_validates_against_the_committed_schema():
    payload = _packet().as_payload()
    jsonschema.validate(payload["handoff"], json.loads(SCHEMA_FILE.read_text()))
    assert payload["handoff"]["schema_version"] == "1.1"


def test_a_packet_of_version_1_0_without_the_step_shown_is_still_valid():
    data = _packet().as_payload()["handoff"]
    del data["step_shown"]
    jsonschema.validate({**data, "schema_version": "1.0"}, json.loads(SCHEMA_FILE.read_text()))


def test_schema_rejects_unknown_reason_and_extra_fields():
    schema = json.loads(SCHEMA_FILE.read_text())
    data = _packet().as_payload()["handoff"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data, "reason": "bored"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data, "extra": 1}, schema)


def test_model_rejects_invalid_category():
    with pytest.raises(ValidationError):
        Device(category="toaster")


def test_summary_is_the_first_sentence_in_the_customers_words():
    assert summarize("My phone won't charge. I tried another cable too.") == "My phone won't charge."
    assert len(summarize("x" * 500)) == 200
