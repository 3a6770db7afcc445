"""Retrainer (bot/retrain.py) without a Rasa server: requests while a job runs are coalesced into one follow-up
run, and a job that cannot reach the server fails at once, saying so. The real retrain: tests/e2e/test_retrain.py."""

from __future__ import annotations

import json
import socket

from bot import runtime
from bot.retrain import Retrainer


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings_without_rasa(tmp_path):
    return runtime.isolated_settings(tmp_path, closed_port(), closed_port(), models_dir=tmp_path / "models")


async def test_requests_during_a_run_are_coalesced_into_one_follow_up_run(tmp_path):
    seen = []
    retrainer = Retrainer(settings_without_rasa(tmp_path), on_progress=seen.append, work_root=tmp_path / "jobs")

    first = retrainer.request("draft 1")
    second = retrainer.request("draft 2")
    third = retrainer.request("draft 3")
    final = await retrainer.wait()

    assert first.stage == "queued" and not first.pending
    assert second.job_id == third.job_id == first.job_id and second.pending and third.pending
    assert final.job_id != first.job_id and final.reason == "draft 2; draft 3" and not final.pending
    assert [s.job_id for s in seen if s.finished] == [first.job_id, final.job_id]
    assert not retrainer.busy and not list((tmp_path / "jobs").iterdir())


async def test_a_job_fails_at_validating_when_the_rasa_server_is_not_reachable(tmp_path):
    retrainer = Retrainer(settings_without_rasa(tmp_path), work_root=tmp_path / "jobs")

    retrainer.request("draft 1")
    final = await retrainer.wait()

    assert final.stage == "failed" and final.failed_stage == "validating"
    assert "not reachable" in final.message and final.previous_model is None
    assert json.loads(json.dumps(final.as_dict()))["failed_stage"] == "validating"
