"""The OpenAPI 3.1 document of the hub's API, served at /api/v1/openapi.json (request schemas from pydantic)."""

from __future__ import annotations

from functools import lru_cache

from handoff import schemas

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

# (method, path, summary, request body model, success status, response schema, security)
CUSTOMER = ["customerToken"]
AGENT = ["agentSession", "agentBearer"]
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
        "/api/v1/agent/tickets/{ticket_id}",
        "Transcript, bot context, notes, history",
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
    ("get", "/api/v1/agent/ws", "Agent WebSocket (session cookie or ?token=)", None, 101, {"type": "object"}, None),
]
ERRORS = {
    "400": "invalid input",
    "401": "not signed in or wrong token",
    "403": "forbidden, wrong CSRF token or origin",
    "404": "not found",
    "409": "conflict (already claimed, capacity reached, conversation closed)",
    "413": "message or body too large",
    "429": "rate limited (Retry-After)",
}


@lru_cache(maxsize=1)
def document() -> dict:
    components: dict = {"Message": MESSAGE, "Error": ERROR}
    paths: dict = {}
    for method, path, summary, body, status, response, security in OPERATIONS:
        operation: dict = {"summary": summary, "tags": ["agent" if "/agent/" in path else "customer"], "responses": {}}
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in ("conversation_id", "ticket_id")
            if "{" + name + "}" in path
        ]
        if parameters:
            operation["parameters"] = parameters
        if body is not None:
            schema = body.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(schema.pop("$defs", {}))
            components[body.__name__] = schema
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body.__name__}"}}},
            }
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
            "description": "Customer chat, second-level queue and agent console. See docs/hub-api.md.",
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
            },
        },
    }
