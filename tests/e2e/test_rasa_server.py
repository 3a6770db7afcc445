"""bot/rasa_server.py (loaded by the Rasa server) in Rasa's own environment, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess

import pytest

from bot import runtime
from bot.settings import PROJECT_DIR, Settings
from tests.conftest import postgres_database
from tests.e2e.conftest import trained_model

SCRIPT = PROJECT_DIR / "tests" / "rasa_env" / "check_rasa_server.py"


def _check(*args: str) -> None:
    result = subprocess.run(
        [str(runtime.RASA_VENV / "bin" / "python"), str(SCRIPT), *args],
        cwd=PROJECT_DIR,
        env=runtime.rasa_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]


def test_cached_tracker_store_on_sqlite(tmp_path):
    _check(f"sqlite:///{tmp_path / 'tracker.db'}")


@pytest.mark.postgres
def test_cached_tracker_store_on_postgresql():
    for url in postgres_database():
        _check(url)


def test_with_the_trained_model_payloads_skip_the_nlu_graph_alike_and_the_model_is_frozen():
    _check("--model", str(trained_model(Settings())))
