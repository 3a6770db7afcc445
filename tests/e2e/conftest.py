"""A real action server and a real Rasa server (the trained model) on test ports, with their own databases."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot import runtime
from bot.db import make_engine, make_session_factory, migrate
from bot.kb.importer import import_articles
from bot.settings import Settings
from tests.conftest import KB_DIR


@dataclass
class Servers:
    settings: Settings
    rasa: object
    actions: object
    log_dir: object

    def say(self, sender: str, message: str, metadata: dict | None = None) -> list[dict]:
        """Send a customer message through Rasa's REST channel; returns the bot's messages."""
        body = {"sender": sender, "message": message, **({"metadata": metadata} if metadata else {})}
        response = httpx.post(f"{self.settings.rasa_url}/webhooks/rest/webhook", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def tracker(self, sender: str) -> dict:
        response = httpx.get(
            f"{self.settings.rasa_url}/conversations/{sender}/tracker",
            params={"token": self.settings.rasa_token},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    @contextmanager
    def actions_down(self) -> Iterator[None]:
        """The action server stopped for the block, then started again on the same database."""
        runtime.stop(self.actions)
        try:
            yield
        finally:
            self.actions = runtime.start_action_server(self.settings, self.log_dir / "actions-restarted.log")
            runtime.wait_until_up(runtime.action_ready_url(self.settings), 60, self.actions)

    def restart_rasa(self) -> float:
        """Stop and start the Rasa server (same tracker store); returns the seconds until it serves again."""
        runtime.stop(self.rasa)
        self.rasa = runtime.start_rasa_server(
            self.settings, runtime.model_path(self.settings), self.log_dir / "rasa.log"
        )
        return runtime.wait_until_up(runtime.rasa_ready_url(self.settings), 180, self.rasa)


def trained_model(settings: Settings) -> Path:
    """The model for the current training data; the test fails (not skips) when it was not trained."""
    model = runtime.model_path(settings)
    if not model.exists():
        pytest.fail(f"no trained model {model.name}: run `python -m bot train` (the test command does)")
    return model


@pytest.fixture(scope="session")
def servers(tmp_path_factory) -> Iterator[Servers]:
    work = tmp_path_factory.mktemp("e2e")
    settings = runtime.isolated_settings(work, rasa_port=15005, action_port=15055)
    model = trained_model(settings)
    migrate(settings.database_url)
    engine = make_engine(settings.database_url)
    with make_session_factory(engine)() as session:
        import_articles(session, KB_DIR)
    engine.dispose()
    actions = runtime.start_action_server(settings, work / "actions.log")
    rasa = runtime.start_rasa_server(settings, model, work / "rasa.log")
    s = Servers(settings, rasa, actions, work)
    try:
        runtime.wait_until_up(runtime.action_ready_url(settings), 60, actions)
        runtime.wait_until_up(runtime.rasa_ready_url(settings), 180, rasa)
        yield s
    finally:
        runtime.stop(s.rasa, s.actions)
