"""The hub's domain errors. Services raise them; the error middleware renders them as JSON."""

from __future__ import annotations


class HubError(Exception):
    """An error the client can act on: HTTP `status`, a stable `code` and a message for people."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, code: str | None = None, fields: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields  # where it applies: which fields the client must fix
        if code:
            self.code = code


class Invalid(HubError):
    status, code = 400, "invalid"


class Unauthorized(HubError):
    status, code = 401, "unauthorized"


class Forbidden(HubError):
    status, code = 403, "forbidden"


class NotFound(HubError):
    status, code = 404, "not_found"


class Conflict(HubError):
    status, code = 409, "conflict"


class TooLarge(HubError):
    status, code = 413, "too_large"


class RateLimited(HubError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class BotUnavailable(Exception):
    """Rasa or the action server did not answer in time (handled inside the hub, never shown raw)."""
