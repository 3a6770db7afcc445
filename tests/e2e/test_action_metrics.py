"""The real action server (started by bot/runtime.py as `python -m actions`): Prometheus /metrics on its own
port, action runs and guide starts counted, and the guide run written to the app database."""

from __future__ import annotations

import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot import runtime
from bot.db import make_engine, make_session_factory
from bot.guide_runs import GuideRuns

pytestmark = pytest.mark.e2e


def scrape(servers) -> dict[tuple[str, tuple], float]:
    settings = servers.settings
    response = httpx.get(f"http://{settings.action_host}:{settings.action_port}/metrics", timeout=10)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def test_the_action_server_counts_action_runs_and_guide_starts_on_its_own_port(servers):
    assert httpx.get(runtime.action_ready_url(servers.settings), timeout=5).status_code == 200  # same readiness
    runs = ("action_server_runs_total", (("action", "action_find_article"), ("result", "ok")))
    timed = ("action_server_run_duration_seconds_count", (("action", "action_find_article"),))
    starts = ("guide_starts_total", (("article", "phone-not-charging"),))
    before = scrape(servers)

    sender = uuid.uuid4().hex
    replies = servers.say(sender, "Mein Handy lädt nicht mehr, wenn ich es einstecke")
    assert any((r.get("custom") or {}).get("kb_article") == "phone-not-charging" for r in replies)

    after = scrape(servers)
    assert after[runs] - before.get(runs, 0) == 1 and after[timed] - before.get(timed, 0) == 1
    assert after[starts] - before.get(starts, 0) == 1
    engine = make_engine(servers.settings.database_url)
    try:
        [recorded] = GuideRuns(make_session_factory(engine)).of_conversation(sender)
    finally:
        engine.dispose()
    assert (recorded.article_id, recorded.outcome, recorded.language) == ("phone-not-charging", "open", "de")
