"""The OpenAPI 3.1 document of the hub's API, served at /api/v1/openapi.json (request schemas from pydantic)."""

from __future__ import annotations

from functools import lru_cache

from bot.devices import CATEGORIES
from bot.language import SUPPORTED
from handoff import drafts, inbox, schemas
from handoff.metrics import UNKNOWN

MESSAGE = {
    "type": "object",
    "required": ["id", "sender", "text", "buttons", "created_at", "meta"],
    "properties": {
        "id": {"type": "integer"},
        "sender": {"enum": ["customer", "bot", "agent", "system"]},
        "text": {"type": "string"},
        "buttons": {
            "type": "array",
            "items": {"type": "object", "properties": {"title": {"type": "string"}, "payload": {"type": "string"}}},
        },
        "created_at": {"type": "string", "format": "date-time"},
        "meta": {
            "type": "object",
            "description": "kb_article and step (a troubleshooting step), handoff {reason, priority, ticket_id}, "
            "agent {display_name}, kind (system messages), payload (customer button presses).",
        },
    },
}
QUEUE = {
    "type": ["object", "null"],
    "properties": {
        "position": {"type": "integer", "minimum": 1},
        "estimated_wait_s": {"type": ["integer", "null"]},
        "agents_online": {"type": "integer"},
        "open": {"type": "boolean"},
        "opens_at": {"type": ["string", "null"], "format": "date-time", "description": "while closed: next opening"},
    },
}
STATE = {"enum": ["bot", "queued", "agent", "closed"]}
ERROR = {
    "type": "object",
    "properties": {
        "error": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}
    },
}
TICKET = {"type": "object", "description": "TicketSummary, see docs/hub-api.md"}
SUGGESTION = {"type": "object", "description": "Suggestion, see docs/hub-api.md"}

# (method, path, summary, request body model, success status, response schema, security)
CUSTOMER = ["customerToken"]
AGENT = ["agentSession", "agentBearer"]
INBOUND = ["inboundEmailToken"]
# Operations whose body is not JSON: media type -> schema.
RAW_BODIES = {
    ("post", "/api/v1/inbound/email"): {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
}
OPERATIONS = [
    (
        "post",
        "/api/v1/conversations",
        "Start a conversation",
        schemas.NewConversation,
        201,
        {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "token": {"type": "string"},
                "language": {"type": "string"},
                "state": STATE,
            },
        },
        None,
    ),
    (
        "get",
        "/api/v1/conversations/{conversation_id}",
        "State, queue place and agent",
        None,
        200,
        {"type": "object", "properties": {"state": STATE, "queue": QUEUE}},
        CUSTOMER,
    ),
    (
        "post",
        "/api/v1/conversations/{conversation_id}/messages",
        "Send a message or press a button",
        schemas.CustomerMessage,
        200,
        {
            "type": "object",
            "properties": {
                "messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
                "state": STATE,
                "queue": QUEUE,
                "language": {"enum": list(SUPPORTED)},
                "customer_message": {"$ref": "#/components/schemas/Message"},
            },
        },
        CUSTOMER,
    ),
    (
        "get",
        "/api/v1/conversations/{conversation_id}/messages",
        "Messages after an id (polling, history)",
        None,
        200,
        {
            "type": "object",
            "properties": {
                "messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
                "state": STATE,
                "queue": QUEUE,
                "language": {"enum": list(SUPPORTED)},
            },
        },
        CUSTOMER,
    ),
    (
        "post",
        "/api/v1/conversations/{conversation_id}/contact",
        "Leave an e-mail address",
        schemas.Contact,
        200,
        {"type": "object"},
        CUSTOMER,
    ),
    (
        "post",
        "/api/v1/conversations/{conversation_id}/rating",
        "Rate the conversation",
        schemas.Rating,
        200,
        {"type": "object"},
        CUSTOMER,
    ),
    (
        "post",
        "/api/v1/inbound/email",
        "A customer's e-mail answer to one of the hub's e-mails, as the raw e-mail (RFC 5322), from the mailbox of "
        "MAIL_FROM. Off (404) without INBOUND_EMAIL_TOKEN. 404 not_a_reply without a signed reference in "
        "In-Reply-To/References, 403 sender_mismatch, 400 email_empty, 413 email_too_large; 202 for auto-replies.",
        None,
        201,
        {
            "type": "object",
            "properties": {
                "conversation_id": {"type": "string"},
                "message_id": {"type": "integer"},
                "reopened": {"type": ["integer", "null"], "description": "the new ticket, if the case had ended"},
                "ignored": {
                    "enum": ["automatic", None],
                    "description": "202: an auto-reply (out of office), not stored",
                },
            },
        },
        INBOUND,
    ),
    (
        "get",
        "/api/v1/conversations/{conversation_id}/ws",
        "Customer WebSocket (token as query parameter)",
        None,
        101,
        {"type": "object"},
        None,
    ),
    ("post", "/api/v1/agent/session", "Sign in", schemas.SignIn, 200, {"type": "object"}, None),
    ("delete", "/api/v1/agent/session", "Sign out", None, 204, None, AGENT),
    ("get", "/api/v1/agent/me", "The signed-in agent and the CSRF token", None, 200, {"type": "object"}, AGENT),
    ("put", "/api/v1/agent/presence", "Online or away", schemas.Presence, 200, {"type": "object"}, AGENT),
    (
        "get",
        "/api/v1/agent/queue",
        "Queued tickets this agent covers",
        None,
        200,
        {"type": "object", "properties": {"tickets": {"type": "array", "items": TICKET}}},
        AGENT,
    ),
    (
        "get",
        "/api/v1/agent/chats",
        "The agent's open chats",
        None,
        200,
        {"type": "object", "properties": {"tickets": {"type": "array", "items": TICKET}}},
        AGENT,
    ),
    (
        "get",
        "/api/v1/agent/chats/closed",
        "The last 20 chats the agent closed (resolved, escalated, returned to the bot), newest first",
        None,
        200,
        {"type": "object", "properties": {"tickets": {"type": "array", "items": TICKET}}},
        AGENT,
    ),
    (
        "get",
        "/api/v1/agent/suggestions",
        "The agent's knowledge-base suggestions and the editors' verdicts",
        None,
        200,
        {"type": "object", "properties": {"suggestions": {"type": "array", "items": SUGGESTION}}},
        AGENT,
    ),
    (
        "get",
        "/api/v1/agent/tickets/{ticket_id}",
        "Transcript, bot context, notes, history, whether the customer is still there, what was e-mailed",
        None,
        200,
        {"type": "object"},
        AGENT,
    ),
    (
        "post",
        "/api/v1/agent/tickets/{ticket_id}/claim",
        "Claim (409 if someone was faster)",
        None,
        200,
        {"type": "object"},
        AGENT,
    ),
    (
        "post",
        "/api/v1/agent/tickets/{ticket_id}/messages",
        "Write to the customer or send a KB step",
        schemas.AgentMessage,
        201,
        {"type": "object"},
        AGENT,
    ),
    (
        "post",
        "/api/v1/agent/tickets/{ticket_id}/notes",
        "Internal note",
        schemas.NoteIn,
        201,
        {"type": "object"},
        AGENT,
    ),
    ("post", "/api/v1/agent/tickets/{ticket_id}/resolve", "Resolve", schemas.Resolve, 200, {"type": "object"}, AGENT),
    (
        "post",
        "/api/v1/agent/tickets/{ticket_id}/escalate",
        "Escalate to third level",
        schemas.Escalate,
        200,
        {"type": "object"},
        AGENT,
    ),
    (
        "post",
        "/api/v1/agent/tickets/{ticket_id}/transfer",
        "To another agent or back to the queue",
        schemas.Transfer,
        200,
        {"type": "object"},
        AGENT,
    ),
    (
        "post",
        "/api/v1/agent/tickets/{ticket_id}/return-to-bot",
        "Hand the conversation back to the bot",
        schemas.ReturnToBot,
        200,
        {"type": "object"},
        AGENT,
    ),
    (
        "post",
        "/api/v1/agent/tickets/{ticket_id}/close-left",
        "Close a waiting ticket whose customer left without an e-mail address (409 customer_present, has_email, "
        "not_queued)",
        None,
        200,
        {"type": "object"},
        AGENT,
    ),
    (
        "get",
        "/api/v1/agent/kb/search",
        "Knowledge-base search (q, language, category)",
        None,
        200,
        {"type": "object"},
        AGENT,
    ),
    ("get", "/api/v1/agent/agents", "All agents with presence and load", None, 200, {"type": "object"}, AGENT),
    ("post", "/api/v1/agent/agents", "Create an agent (admins)", schemas.NewAgent, 201, {"type": "object"}, AGENT),
    (
        "patch",
        "/api/v1/agent/agents/{agent_id}",
        "Change an agent (admins): lock out or let back in, password, role, name, skills, capacity",
        schemas.AgentChange,
        200,
        {"type": "object"},
        AGENT,
    ),
    ("get", "/api/v1/agent/ws", "Agent WebSocket (session cookie or ?token=)", None, 101, {"type": "object"}, None),
]
ERRORS = {
    "400": "invalid input",
    "401": "not signed in or wrong token",
    "403": "forbidden (the role or skills do not allow it), wrong CSRF token or origin",
    "404": "not found",
    "409": "conflict (already claimed, capacity reached, conversation closed)",
    "413": "message or body too large",
    "429": "rate limited (Retry-After)",
    "503": "several hub instances: Redis briefly unreachable, nothing was stored (try again)",
}

RETRAIN = {"type": "object", "description": "RetrainState, see docs/hub-api.md"}
DRAFT = {"type": "object", "description": "Draft (kind article|step, status, content, missing), see docs/hub-api.md"}
OPERATIONS.extend(
    [
        (
            "get",
            "/api/v1/editor/drafts",
            "Knowledge-base drafts (editors; ?status=pending|approved|rejected)",
            None,
            200,
            {"type": "object", "properties": {"drafts": {"type": "array", "items": DRAFT}}},
            AGENT,
        ),
        ("get", "/api/v1/editor/drafts/{draft_id}", "A draft with its source conversation", None, 200, DRAFT, AGENT),
        ("put", "/api/v1/editor/drafts/{draft_id}", "Edit a pending draft", schemas.DraftEdit, 200, DRAFT, AGENT),
        (
            "post",
            "/api/v1/editor/drafts/{draft_id}/approve",
            "Approve: write data/ files, import the article, retrain if examples or a story were added",
            None,
            200,
            DRAFT,
            AGENT,
        ),
        (
            "post",
            "/api/v1/editor/drafts/{draft_id}/convert",
            "Draft again as a new article or as a new step for the article the bot tried",
            schemas.Convert,
            200,
            DRAFT,
            AGENT,
        ),
        ("post", "/api/v1/editor/drafts/{draft_id}/reject", "Reject with a reason", schemas.Reject, 200, DRAFT, AGENT),
        (
            "get",
            "/api/v1/editor/inbox",
            "Misunderstood customer messages to label (?status=open|labelled|dismissed&language=de|en)",
            None,
            200,
            {"type": "object", "properties": {"items": {"type": "array"}, "open": {"type": "integer"}}},
            AGENT,
        ),
        (
            "post",
            "/api/v1/editor/inbox/label",
            "Label messages as examples of an intent (written to data/nlu) or dismiss them (intent null)",
            schemas.Label,
            200,
            {"type": "object"},
            AGENT,
        ),
        (
            "get",
            "/api/v1/editor/retrain",
            "State of the background retrain (idle, running with stage and percent, done, failed)",
            None,
            200,
            RETRAIN,
            AGENT,
        ),
        ("post", "/api/v1/editor/retrain", "Start a retrain on the current files", None, 202, RETRAIN, AGENT),
        (
            "get",
            "/api/v1/editor/intents",
            "The intents an editor may label with",
            None,
            200,
            {"type": "object", "properties": {"intents": {"type": "array", "items": {"type": "string"}}}},
            AGENT,
        ),
    ]
)


# -- metrics and article health (handoff/metrics.py, bot/article_health.py) ------------------------------------
COUNT = {"type": "integer", "minimum": 0}
RATE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
SHARE = {"type": "object", "properties": {"count": COUNT, "rate": RATE}}
DURATIONS = {
    "type": "object",
    "description": "seconds; p50/p90 by linear interpolation, null without values",
    "properties": {"count": COUNT, "p50": {"type": ["number", "null"]}, "p90": {"type": ["number", "null"]}},
}
MEAN = {"type": "object", "properties": {"count": COUNT, "mean": {"type": ["number", "null"]}}}
FIGURES = {
    "type": "object",
    "description": "Definitions: docs/hub-api.md (Metrics) and handoff/metrics.py",
    "properties": {
        "conversations": COUNT,
        "contained": SHARE,
        "solved_by_bot": SHARE,
        "handoffs": {
            "type": "object",
            "properties": {
                "count": COUNT,
                "rate": RATE,
                "tickets": COUNT,
                "by_reason": {
                    "type": "object",
                    "additionalProperties": {"type": "object", "properties": {"tickets": COUNT, "rate": RATE}},
                },
            },
        },
        "queue_wait_s": DURATIONS,
        "requeues": {"type": "object", "properties": {"tickets": COUNT, "wait_s": DURATIONS}},
        "first_agent_reply_s": {
            "allOf": [DURATIONS, {"type": "object", "properties": {"claimed_without_reply": COUNT}}]
        },
        "resolution_s": DURATIONS,
        "abandoned_in_queue": {
            "type": "object",
            "properties": {"count": COUNT, "rate": RATE, "tickets": COUNT, "waiting": COUNT},
        },
        "rating": {
            "type": "object",
            "properties": {"bot": MEAN, "agent": MEAN, "bot_in_guide": MEAN, "bot_in_widget": MEAN},
        },
    },
}
PERIOD = {
    "type": "object",
    "properties": {
        "from": {"type": "string", "format": "date-time"},
        "to": {"type": "string", "format": "date-time", "description": "exclusive"},
        "timezone": {"type": "string"},
    },
}
HISTOGRAM = {
    "type": "array",
    "items": {"type": "object", "properties": {"step": {"type": "integer"}, "count": COUNT}},
}
LANGUAGE_QUERY = {"name": "language", "in": "query", "schema": {"enum": list(SUPPORTED)}}
ROW_ID = {"type": "integer", "minimum": 0, "maximum": schemas.MAX_ID}
PERIOD_QUERY = [
    {
        "name": "from",
        "in": "query",
        "schema": {"type": "string"},
        "description": "YYYY-MM-DD (whole day in HUB_TIMEZONE) or ISO-8601 date-time; default: `days` before `to`",
    },
    {
        "name": "to",
        "in": "query",
        "schema": {"type": "string"},
        "description": "YYYY-MM-DD (inclusive) or ISO-8601 date-time (exclusive); default: today in HUB_TIMEZONE",
    },
    {
        "name": "days",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 366, "default": 7},
        "description": "without `from`: the period is this many whole days up to `to` (so `days=7` alone is the last "
        "7 days up to today in the hub's time zone, whatever the browser's clock says)",
    },
    LANGUAGE_QUERY,
    {"name": "category", "in": "query", "schema": {"enum": [*CATEGORIES, UNKNOWN]}},
]
QUERY_PARAMETERS = {
    ("get", "/api/v1/agent/metrics"): PERIOD_QUERY,
    ("get", "/api/v1/agent/articles/health"): PERIOD_QUERY,
    ("get", "/api/v1/conversations/{conversation_id}/messages"): [
        {
            "name": "after",
            "in": "query",
            "schema": ROW_ID,
            "description": "only messages with a larger id (the last one the client has); none: all",
        }
    ],
    ("get", "/api/v1/agent/queue"): [
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}}
    ],
    ("get", "/api/v1/agent/kb/search"): [
        {
            "name": "q",
            "in": "query",
            "required": True,
            "schema": {"type": "string", "pattern": schemas.NOT_BLANK},
            "description": "what to search for",
        },
        LANGUAGE_QUERY,
        {"name": "category", "in": "query", "schema": {"enum": list(CATEGORIES)}},
    ],
    ("get", "/api/v1/editor/drafts"): [
        {"name": "status", "in": "query", "schema": {"enum": list(drafts.STATUSES), "default": "pending"}}
    ],
    ("get", "/api/v1/editor/inbox"): [
        {"name": "status", "in": "query", "schema": {"enum": list(inbox.STATUSES), "default": "open"}},
        LANGUAGE_QUERY,
    ],
    ("get", "/api/v1/conversations/{conversation_id}/ws"): [
        {"name": "token", "in": "query", "required": True, "schema": {"type": "string"}}
    ],
    ("get", "/api/v1/agent/ws"): [
        {"name": "token", "in": "query", "schema": {"type": "string"}, "description": "or the session cookie"}
    ],
}
PATH_PARAMETERS = {
    "conversation_id": {"type": "string"},
    "ticket_id": ROW_ID,
    "draft_id": ROW_ID,
    "agent_id": ROW_ID,
}
LIMITED_TEXTS = {"CustomerMessage": "text", "AgentMessage": "text", "Rating": "comment"}  # MAX_MESSAGE_CHARS
OPERATIONS.extend(
    [
        (
            "get",
            "/api/v1/agent/metrics",
            "Support metrics of the conversations started in a period: overall, by language and device, per day",
            None,
            200,
            {
                "type": "object",
                "properties": {
                    "period": PERIOD,
                    "filters": {"type": "object"},
                    "generated_at": {"type": "string", "format": "date-time"},
                    "settings": {"type": "object"},
                    "overall": FIGURES,
                    "by_language": {"type": "object", "additionalProperties": FIGURES},
                    "by_category": {"type": "object", "additionalProperties": FIGURES},
                    "daily": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "date": {"type": "string", "format": "date"},
                                "conversations": COUNT,
                                "handed_off": COUNT,
                                "contained": COUNT,
                            },
                        },
                    },
                },
            },
            AGENT,
        ),
        (
            "get",
            "/api/v1/agent/articles/health",
            "Per-article health of the bot's guides in a period, with flags for editors",
            None,
            200,
            {
                "type": "object",
                "properties": {
                    "period": PERIOD,
                    "previous_period": PERIOD,
                    "rules": {"type": "object"},
                    "articles": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "article_id": {"type": "string"},
                                "title": {"type": "string"},
                                "category": {"type": "string"},
                                "started": COUNT,
                                "solved": COUNT,
                                "handed_off": COUNT,
                                "abandoned": COUNT,
                                "in_progress": COUNT,
                                "decided": COUNT,
                                "solve_rate": RATE,
                                "handoff_share": RATE,
                                "solved_at_step": HISTOGRAM,
                                "handoff_after_step": HISTOGRAM,
                                "handoff_reasons": {"type": "object", "additionalProperties": COUNT},
                                "previous": {"type": "object"},
                                "flags": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "code": {"enum": ["solve_rate_drop", "high_handoff"]},
                                            "message": {"type": "string"},
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
            AGENT,
        ),
    ]
)


@lru_cache(maxsize=4)
def document(max_message_chars: int) -> dict:
    """The document for a hub whose messages may have at most `max_message_chars` characters."""
    components: dict = {"Message": MESSAGE, "Error": ERROR}
    paths: dict = {}
    for method, path, summary, body, status, response, security in OPERATIONS:
        tag = next((t for t in ("agent", "editor", "inbound") if f"/{t}/" in path), "customer")
        operation: dict = {"summary": summary, "tags": [tag], "responses": {}}
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": schema}
            for name, schema in PATH_PARAMETERS.items()
            if "{" + name + "}" in path
        ] + QUERY_PARAMETERS.get((method, path), [])
        if parameters:
            operation["parameters"] = parameters
        if body is not None:
            schema = body.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(schema.pop("$defs", {}))
            if body.__name__ in LIMITED_TEXTS:
                schema["properties"][LIMITED_TEXTS[body.__name__]]["maxLength"] = max_message_chars
            components[body.__name__] = schema
            operation["requestBody"] = {
                "required": bool(schema.get("required") or schema.get("oneOf")),  # else every field has a default
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body.__name__}"}}},
            }
        if (method, path) in RAW_BODIES:
            operation["requestBody"] = {"required": True, "content": RAW_BODIES[(method, path)]}
        success: dict = {"description": "success"}
        if response is not None:
            success["content"] = {"application/json": {"schema": response}}
        operation["responses"][str(status)] = success
        for code, text in ERRORS.items():
            operation["responses"][code] = {
                "description": text,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        if security:
            operation["security"] = [{name: []} for name in security]
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Support handoff hub",
            "version": "1.0.0",
            "description": "Customer chat, second-level queue and agent console. See docs/hub-api.md. "
            "No text, in a body, a path or a query, may contain U+0000 (400 invalid_characters).",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "customerToken": {"type": "http", "scheme": "bearer", "description": "token from POST /conversations"},
                "agentSession": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "hub_session",
                    "description": "plus X-CSRF-Token header on every non-GET call",
                },
                "agentBearer": {"type": "http", "scheme": "bearer", "description": "token from POST /agent/session"},
                "inboundEmailToken": {"type": "http", "scheme": "bearer", "description": "INBOUND_EMAIL_TOKEN"},
            },
        },
    }
