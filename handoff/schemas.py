"""Request bodies of the API, validated with pydantic (their JSON schemas go into the OpenAPI document).

Rules that a handler checks itself, for a more precise error than pydantic's, are stated here once as constants
and go into the document with `documented`, so the OpenAPI document says what the hub accepts
(tests/hub/test_openapi_conformance.py checks that the two agree)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from bot.devices import CATEGORIES
from bot.language import SUPPORTED
from handoff.errors import Invalid

MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database (PostgreSQL INTEGER)
# White space as str.strip() knows it, spelled out: JSON Schema's patterns (ECMA-262) mean another set by \s.
# Patterns here are checked with fullmatch(), which, like ECMA-262's $, allows no newline at the end.
SPACE = "".join(chr(code) for code in range(0x3001) if chr(code).isspace())
NOT_BLANK = f"[^{SPACE}]"  # a JSON-Schema pattern matches anywhere: at least one character that is not white space
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,49}$")
MIN_PASSWORD, MAX_PASSWORD = 12, 200
MAX_DISPLAY_NAME = 100
MAX_EMAIL = 254
# One plain address (RFC 5322's dot-atom @ a host name), ASCII only: no display name, no second address after a
# comma, no route or group syntax, nothing a mail header or a mailto: link would read as more than one address.
_ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = f"[{_ATEXT}]+(?:\\.[{_ATEXT}]+)*@(?:{_LABEL}\\.)+[A-Za-z]{{2,63}}"
EMAIL = re.compile(f"^{_ADDRESS}$")  # checked after surrounding white space is stripped
MAX_LABEL_BATCH = 200


def documented(**constraints: object) -> dict:
    """A field's rules for the OpenAPI document only: the handler checks them with its own message."""
    return {"json_schema_extra": constraints}


def whole_number(raw: str | None, highest: int = MAX_ID) -> int | None:
    """`raw` as a whole number from 0 to `highest` (plain ASCII digits), else None."""
    if raw is None or not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(highest)):
        return None
    value = int(raw)
    return value if value <= highest else None


def is_id(value: object) -> bool:
    """A JSON value that can be a row's id (a whole number in the database's range, not a boolean)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def _json_number(value: object) -> object:
    """JSON Schema's integer is any number without a fraction (1.0 too), but never text or true/false."""
    if isinstance(value, bool | str):
        raise ValueError("Input should be a number, not text or true/false")
    return value


# strict types, except that an integer may be written 1.0 (as JSON Schema, and so the OpenAPI document, says)
Integer = Annotated[int, Field(strict=False), BeforeValidator(_json_number)]


class Body(BaseModel):
    # strict: JSON's types as the document says them (true is no rating of 1, "no" is no false)
    model_config = ConfigDict(extra="forbid", strict=True)


class NewConversation(Body):
    language: Literal[SUPPORTED] | None = None
    customer: str | None = Field(
        default=None,
        min_length=16,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="A random key the client keeps for its customer: agents see their earlier conversations.",
    )


class CustomerMessage(Body):
    """Either `text` or `payload`."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["text"], "properties": {"text": {"type": "string"}}},
                {"required": ["payload"], "properties": {"payload": {"type": "string"}}},
            ]
        }
    )

    text: str | None = Field(
        default=None,
        description="What the customer typed (at most MAX_MESSAGE_CHARS).",
        **documented(pattern=NOT_BLANK),
    )
    payload: str | None = Field(
        default=None,
        description="A button's payload, as offered in one of the conversation's recent messages "
        "(another one: 400 unknown_button).",
    )
    client_id: str | None = Field(default=None, max_length=64, description="Idempotency key chosen by the client.")


class Contact(Body):
    email: str = Field(max_length=MAX_EMAIL, **documented(pattern=f"^[{SPACE}]*{_ADDRESS}[{SPACE}]*$"))


class Rating(Body):
    score: Integer = Field(ge=1, le=5)
    comment: str | None = Field(default=None, description="At most MAX_MESSAGE_CHARS.")


class SignIn(Body):
    username: str = Field(max_length=50)
    password: str = Field(max_length=MAX_PASSWORD)


class Presence(Body):
    presence: Literal["online", "away"]


class AgentMessage(Body):
    """Either `text`, or `article_id` with `step`."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["text"], "properties": {"text": {"type": "string"}, "article_id": {"type": "null"}}},
                {
                    "required": ["article_id", "step"],
                    "properties": {"article_id": {"type": "string"}, "step": {"type": "integer"}},
                },
            ]
        }
    )

    text: str | None = Field(default=None, description="At most MAX_MESSAGE_CHARS.", **documented(pattern=NOT_BLANK))
    article_id: str | None = Field(default=None, description="Send this knowledge-base article's step ...")
    step: Integer | None = Field(default=None, ge=1, description="... number `step` (1-based).")
    client_id: str | None = Field(default=None, max_length=64)


class NoteIn(Body):
    text: str = Field(min_length=1, **documented(pattern=NOT_BLANK))


class Resolve(Body):
    note: str = Field(description="What solved the problem.", **documented(pattern=NOT_BLANK))
    kb_candidate: bool = False


class Escalate(Body):
    group: Literal["repair", "engineering", "warranty"]
    note: str = Field(description="What third level needs to know.", **documented(pattern=NOT_BLANK))


class Transfer(Body):
    agent_id: Integer | None = Field(ge=1, le=MAX_ID, description="Another agent, or null for back to the queue.")
    note: str | None = Field(
        default=None,
        description="A handover note for whoever takes the chat next (an internal note; at most MAX_MESSAGE_CHARS).",
    )


class ReturnToBot(Body):
    note: str | None = None


class NewAgent(Body):
    username: str = Field(
        description="2-50 characters: lower-case letters, digits, '.', '_' or '-'",
        **documented(pattern=USERNAME.pattern),
    )
    display_name: str = Field(max_length=MAX_DISPLAY_NAME, **documented(pattern=NOT_BLANK))
    password: str = Field(max_length=MAX_PASSWORD, **documented(minLength=MIN_PASSWORD))
    role: Literal["agent", "editor", "admin"] = "agent"
    categories: list[Literal[CATEGORIES]] = []
    languages: list[Literal[SUPPORTED]] = []
    capacity: Integer = Field(default=3, ge=1, le=20)


class AgentChange(Body):
    active: bool | None = Field(default=None, description="false locks the agent out at once (sessions, sockets)")
    password: str | None = Field(
        default=None, max_length=MAX_PASSWORD, description="ends their sessions", **documented(minLength=MIN_PASSWORD)
    )
    display_name: str | None = Field(default=None, max_length=MAX_DISPLAY_NAME, **documented(pattern=NOT_BLANK))
    role: Literal["agent", "editor", "admin"] | None = Field(
        default=None, description="takes effect at the next sign-in: their sessions end; chats go back to the queue"
    )
    categories: list[Literal[CATEGORIES]] | None = Field(default=None, description="[] = all; at once")
    languages: list[Literal[SUPPORTED]] | None = Field(default=None, description="[] = all; at once")
    capacity: Integer | None = Field(default=None, ge=1, le=20)


def parse(model: type[Body], data: object) -> Body:
    """Validate `data`; Invalid names the first field that is wrong and why."""
    from pydantic import ValidationError

    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise Invalid(f"{where}: {first['msg']}", "invalid_body") from exc


class DraftEdit(Body):
    content: dict


class Convert(Body):
    kind: Literal["article", "step"]


class Reject(Body):
    reason: str = Field(description="Why: the agent who wrote the draft reads it.", **documented(pattern=NOT_BLANK))


class Label(Body):
    ids: list[Annotated[Integer, Field(ge=1, le=MAX_ID)]] = Field(**documented(minItems=1, maxItems=MAX_LABEL_BATCH))
    intent: str | None = Field(
        default=None, description="One of GET /api/v1/editor/intents (another one: 400 unknown_intent); null dismisses."
    )
