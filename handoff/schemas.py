"""Request bodies of the API, validated with pydantic (their JSON schemas go into the OpenAPI document)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from handoff.errors import Invalid


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewConversation(Body):
    language: Literal["de", "en"] | None = None
    customer: str | None = Field(
        default=None,
        min_length=16,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="A random key the client keeps for its customer: agents see their earlier conversations.",
    )


class CustomerMessage(Body):
    text: str | None = Field(default=None, description="What the customer typed (at most MAX_MESSAGE_CHARS).")
    payload: str | None = Field(default=None, description="A button's payload, as offered in a message.")
    client_id: str | None = Field(default=None, max_length=64, description="Idempotency key chosen by the client.")


class Contact(Body):
    email: str = Field(max_length=254)


class Rating(Body):
    score: int = Field(ge=1, le=5)
    comment: str | None = None


class SignIn(Body):
    username: str = Field(max_length=50)
    password: str = Field(max_length=200)


class Presence(Body):
    presence: Literal["online", "away"]


class AgentMessage(Body):
    text: str | None = None
    article_id: str | None = Field(default=None, description="Send this knowledge-base article's step ...")
    step: int | None = Field(default=None, ge=1, description="... number `step` (1-based).")
    client_id: str | None = Field(default=None, max_length=64)


class NoteIn(Body):
    text: str = Field(min_length=1)


class Resolve(Body):
    note: str
    kb_candidate: bool = False


class Escalate(Body):
    group: Literal["repair", "engineering", "warranty"]
    note: str


class Transfer(Body):
    agent_id: int | None = Field(description="Another agent, or null for back to the queue.")


class ReturnToBot(Body):
    note: str | None = None


class NewAgent(Body):
    username: str
    display_name: str
    password: str
    role: Literal["agent", "editor", "admin"] = "agent"
    categories: list[Literal["phone", "camera", "notebook"]] = []
    languages: list[Literal["de", "en"]] = []
    capacity: int = Field(default=3, ge=1, le=20)


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
    reason: str


class Label(Body):
    ids: list[int]
    intent: str | None = None  # None: dismiss
