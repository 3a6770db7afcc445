"""The handoff packet: what the bot hands to second level when it cannot resolve a conversation.

Sent as the `custom` payload `{"handoff": {...}}` of the bot's last message before the handoff. The JSON
schema is committed as docs/handoff-packet.schema.json (`python -m bot schema` regenerates it); the hub
validates every packet against it. Bump SCHEMA_VERSION on any incompatible change.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.1"  # 1.1 added step_shown; 1.0 packets (without it) stay valid
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "docs" / "handoff-packet.schema.json"

Reason = Literal["customer_request", "repeated_fallback", "steps_exhausted", "no_article", "human_topic", "safety"]
Priority = Literal["low", "normal", "high", "urgent"]


class Device(BaseModel):
    """The device as far as the bot learned it."""

    model_config = ConfigDict(extra="forbid")

    category: Literal["phone", "camera", "notebook"] | None = None
    brand: str | None = Field(default=None, max_length=100)
    model: str | None = Field(default=None, max_length=100)


class StepOutcome(BaseModel):
    """One troubleshooting step the customer carried out and what happened."""

    model_config = ConfigDict(extra="forbid")

    step: int = Field(ge=1, description="Position of the step in the article (1-based).")
    instruction: str = Field(description="The instruction as shown to the customer.")
    outcome: Literal["solved", "failed"]


class StepShown(BaseModel):
    """The step on the customer's screen when the bot handed over, which they had not answered yet."""

    model_config = ConfigDict(extra="forbid")

    step: int = Field(ge=1, description="Position of the step in the article (1-based).")
    instruction: str = Field(description="The instruction as shown to the customer.")


class HandoffPacket(BaseModel):
    """Typed, versioned handoff from the first-level bot to the second-level queue."""

    model_config = ConfigDict(extra="forbid", title="HandoffPacket")

    schema_version: Literal["1.0", "1.1"] = SCHEMA_VERSION
    conversation_id: str = Field(min_length=1, max_length=200)
    reason: Reason
    priority: Priority
    language: Literal["en", "de"]
    device: Device
    topic: str | None = Field(default=None, description="Topic of the article the bot used or matched.")
    article_id: str | None = None
    steps_tried: list[StepOutcome] = []
    step_shown: StepShown | None = Field(
        default=None, description="The step the customer was on (shown, not answered) when the bot handed over."
    )
    summary: str = Field(max_length=300, description="One sentence: the problem in the customer's words.")
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def as_payload(self) -> dict:
        """The custom payload the bot attaches to its message: {"handoff": packet}."""
        return {"handoff": json.loads(self.model_dump_json())}


def json_schema() -> dict:
    """The packet's JSON schema (draft 2020-12), as committed in docs/."""
    schema = HandoffPacket.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://support-bot.example/schemas/handoff-packet/{SCHEMA_VERSION}"
    return schema


def summarize(text: str, limit: int = 200) -> str:
    """The first sentence of the customer's own description, shortened to `limit` characters."""
    cleaned = " ".join(text.split())
    for mark in (". ", "! ", "? "):
        if mark in cleaned:
            cleaned = cleaned.split(mark, 1)[0] + mark.strip()
            break
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"
