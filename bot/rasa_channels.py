"""Custom Rasa input channels. Imported only by the Rasa server (its own Python 3.10 environment)."""

from __future__ import annotations

from typing import Any

from rasa.core.channels.rest import RestInput
from sanic.request import Request


class MetadataRestInput(RestInput):
    """Rasa's REST channel (same URL, /webhooks/rest/webhook) that also passes the request's `metadata`
    object on to the NLU pipeline, so the hub can send the conversation's language with each message."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def get_metadata(self, request: Request) -> dict[str, Any] | None:
        body = request.json or {}
        metadata = body.get("metadata")
        return metadata if isinstance(metadata, dict) else None
