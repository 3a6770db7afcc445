"""The hub's OpenAPI document is true: schemathesis generates requests from it, valid and invalid, against a
real hub (its own process, SQLite and PostgreSQL) and checks every answer.

What it checks: no request makes the hub fail (5xx); every status code, content type and body is the one the
document names; what the document forbids is refused and what it allows is accepted; without a token, or with
a wrong one, every protected operation answers 401. The hub has a customer waiting, chats an agent owns,
drafts and a knowledge base, so most requests reach the code behind the checks, not just the 404s.

Not fuzzed, each covered by its own tests: the two WebSockets (schemathesis speaks HTTP; test_websockets.py),
signing out (it would end the session the run uses; test_agent_api.py) and starting a retrain (minutes of Rasa
training; tests/e2e/test_retrain.py).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from bot import runtime
from bot.db import make_engine, make_session_factory, migrate
from bot.kb.importer import import_articles
from bot.settings import PROJECT_DIR
from tests.conftest import KB_DIR, postgres_database

PASSWORD = "correct horse battery staple"
INBOUND_TOKEN = "inbound-test-token"
SEED = 20261130  # a fixed seed: a failure reproduces; change it to explore further
EXAMPLES = 25  # generated cases per operation and phase

# Operations that also refuse requests the document allows, for rules no JSON schema can state: the first
# request field present (or None: any request) and why.
STATE_RULES = {
    ("POST", "/api/v1/conversations/{conversation_id}/messages"): (
        "payload",
        "only buttons the conversation offered lately",
    ),
    ("POST", "/api/v1/agent/tickets/{ticket_id}/messages"): ("article_id", "only articles and steps that exist"),
    ("POST", "/api/v1/editor/inbox/label"): (None, "only open inbox items, and intents the bot knows"),
    ("PUT", "/api/v1/editor/drafts/{draft_id}"): (None, "content in the knowledge-base format (docs/editing.md)"),
    ("POST", "/api/v1/inbound/email"): (None, "a readable e-mail that answers one of the hub's"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveHub:
    url: str
    config: str  # schemathesis.toml: credentials and the ids of the objects to work on


def _copy_editor_files(work: Path) -> dict[str, str]:
    """Approving a draft writes into data/: the hub gets its own copy."""
    shutil.copytree(PROJECT_DIR / "data", work / "data")
    shutil.copytree(PROJECT_DIR / "tests" / "stories", work / "stories")
    shutil.copy(PROJECT_DIR / "domain.yml", work / "domain.yml")
    return {
        "KB_DIR": str(work / "data" / "kb"),
        "NLU_DIR": str(work / "data" / "nlu"),
        "TEST_STORIES_DIR": str(work / "stories"),
        "DOMAIN_FILE": str(work / "domain.yml"),
    }


class Setup:
    """The objects the run works on, made through the API as a customer and an admin would."""

    def __init__(self, url: str) -> None:
        self.api = httpx.Client(base_url=f"{url}/api/v1", timeout=10)
        signed_in = self.api.post("/agent/session", json={"username": "root", "password": PASSWORD})
        signed_in.raise_for_status()
        self.agent_token = signed_in.json()["token"]
        self.admin = {"Authorization": f"Bearer {self.agent_token}"}
        self.call("PUT", "/agent/presence", {"presence": "online"})

    def call(self, method: str, path: str, body: dict | None = None, headers: dict | None = None) -> dict:
        response = self.api.request(method, path, json=body, headers=headers or self.admin)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def waiting_customer(self, problem: str) -> tuple[dict, int]:
        """A customer who described a problem (the bot is down) and asked for a person: the ticket waits."""
        conversation = self.api.post("/conversations", json={"language": "en"}).json()
        token = {"Authorization": f"Bearer {conversation['token']}"}
        path = f"/conversations/{conversation['id']}/messages"
        self.call("POST", path, {"text": problem}, token)
        handed = self.call("POST", path, {"payload": "/request_human"}, token)
        ticket = next(m["meta"]["handoff"]["ticket_id"] for m in handed["messages"] if m["meta"].get("handoff"))
        return conversation, ticket

    def chat(self, problem: str) -> int:
        """A ticket the admin claimed and answered."""
        _, ticket = self.waiting_customer(problem)
        self.call("POST", f"/agent/tickets/{ticket}/claim")
        self.call("POST", f"/agent/tickets/{ticket}/messages", {"text": "Let us look at it together."})
        return ticket

    def draft(self, problem: str, note: str) -> int:
        ticket = self.chat(problem)
        self.call("POST", f"/agent/tickets/{ticket}/resolve", {"note": note, "kb_candidate": True})
        return next(d["id"] for d in self.call("GET", "/editor/drafts")["drafts"] if d["ticket_id"] == ticket)

    def complete(self, draft_id: int) -> int:
        """Fill in the German side, so that the draft can be approved."""
        content = self.call("GET", f"/editor/drafts/{draft_id}")["content"]
        article = content["article"]
        article["title"]["de"] = "Das Display flackert nach dem Sturz"
        article["symptoms"]["de"] = ["mein Display flackert seit es runtergefallen ist"]
        article["steps"][0]["de"]["do"] = "Halten Sie die Ein-Taste 30 Sekunden lang gedrückt."
        self.call("PUT", f"/editor/drafts/{draft_id}", {"content": content})
        return draft_id


def _config(setup: Setup, customer: dict, tickets: dict[str, int], drafts: dict[str, int]) -> str:
    """schemathesis.toml for the run: each operation that changes a ticket or a draft gets its own."""
    lines = [
        f"seed = {SEED}",
        "[generation]",
        f"max-examples = {EXAMPLES}",
        "allow-x00 = false  # the document says no text holds U+0000 (the hub refuses it: a test of its own)",
        "[checks.negative_data_rejection]",
        "expected-statuses = [400, 401, 403, 404, 405, 409, 413, 415, 422, 429]  # 413: over a size limit",
        "[auth.openapi.agentBearer]",
        f'bearer = "{setup.agent_token}"',
        "[auth.openapi.customerToken]",
        f'bearer = "{customer["token"]}"',
        "[auth.openapi.inboundEmailToken]",
        f'bearer = "{INBOUND_TOKEN}"',
        "[parameters]",
        f'conversation_id = "{customer["id"]}"',
        f"ticket_id = {tickets['chat']}",
        f"draft_id = {drafts['pending']}",
    ]
    for action, ticket in tickets.items():
        if action != "chat":
            lines += ["[[operations]]", f'include-path = "/api/v1/agent/tickets/{{ticket_id}}/{action}"']
            lines += [f"parameters = {{ ticket_id = {ticket} }}"]
    for action, draft in drafts.items():
        if action != "pending":
            lines += ["[[operations]]", f'include-path = "/api/v1/editor/drafts/{{draft_id}}/{action}"']
            lines += [f"parameters = {{ draft_id = {draft} }}"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def live_hub(request, tmp_path_factory) -> Iterator[LiveHub]:
    """A hub in its own process with a knowledge base, an admin, a waiting customer, chats and drafts."""
    work = tmp_path_factory.mktemp(f"conformance-{request.param}")
    urls = postgres_database() if request.param == "postgresql" else iter([f"sqlite:///{work / 'app.db'}"])
    for url in urls:
        migrate(url)
        engine = make_engine(url)
        with make_session_factory(engine)() as session:
            import_articles(session, KB_DIR)
        engine.dispose()
        settings = runtime.isolated_settings(work, free_port(), free_port(), hub_port=free_port())
        settings = settings.model_copy(update={"database_url": url})
        admin = ["agent", "create", "root", "--display-name", "Root", "--role", "admin", "--capacity", "20"]
        subprocess.run(
            [str(PROJECT_DIR / ".venv" / "bin" / "python"), "-m", "handoff", *admin],
            cwd=PROJECT_DIR,
            env=dict(os.environ, DATABASE_URL=url, AGENT_PASSWORD=PASSWORD),
            check=True,
            capture_output=True,
        )
        hub = runtime.start_hub(
            settings,
            work / "hub.log",
            **_copy_editor_files(work),
            AUTO_RETRAIN="false",
            INBOUND_EMAIL_TOKEN=INBOUND_TOKEN,
            RATE_CONVERSATIONS_PER_MINUTE="100000",
            RATE_MESSAGES_PER_10S="100000",
            RATE_ADDRESS_MESSAGES_PER_MINUTE="100000",
            RATE_CONTACT_PER_HOUR="100000",
            RATE_LOGINS_PER_MINUTE="100000",
        )
        try:
            runtime.wait_until_up(runtime.hub_ready_url(settings), 60, hub)
            setup = Setup(settings.hub_url)
            customer, _ = setup.waiting_customer("my phone does not charge since yesterday")
            tickets = {"claim": setup.waiting_customer("my notebook fan is very loud")[1]}
            for action in ("chat", "resolve", "escalate", "transfer", "return-to-bot"):
                tickets[action] = setup.chat(f"the camera lens is stuck, case {action}")
            drafts = {
                action: setup.draft(f"the screen flickers after a fall, case {action}", "A reset fixed it.")
                for action in ("pending", "approve", "convert", "reject")
            }
            setup.complete(drafts["approve"])
            yield LiveHub(settings.hub_url, _config(setup, customer, tickets, drafts))
        finally:
            runtime.stop(hub)
            log = (work / "hub.log").read_text(errors="replace")
            if "Traceback" in log:  # shown with the failures: the hub's side of a 5xx
                print(f"--- hub log ---\n{log[-8000:]}")


@pytest.fixture(scope="module")
def api_schema(live_hub):
    schemathesis.serializer.alias("message/rfc822", "application/octet-stream")  # the raw e-mail: bytes
    return (
        schemathesis.openapi.from_url(
            f"{live_hub.url}/api/v1/openapi.json", config=SchemathesisConfig.from_str(live_hub.config)
        )
        .exclude(path_regex="/ws$")
        .exclude(method="DELETE", path="/api/v1/agent/session")
        .exclude(method="POST", path="/api/v1/editor/retrain")
    )


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request):
    """schemathesis 4.32 names each operation's subtest through `_nodeid`, which pytest 9 no longer has."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_the_hub_answers_as_its_openapi_document_says(case):
    case.call_and_validate(excluded_checks=_state_rules(case))


def _state_rules(case) -> list:
    rule = STATE_RULES.get((case.method.upper(), case.path))
    if rule is None:
        return []
    field = rule[0]
    if field is None or (isinstance(case.body, dict) and case.body.get(field) is not None):
        return [positive_data_acceptance]
    return []
