"""The background retrain (bot/retrain.py) against a real Rasa server: a new failing test story is reported
without training, a small NLU change goes live, a change that breaks a test story does not, and a cancelled job
leaves nothing behind.

The server runs a copy of the trained model from a temporary models folder; every test changes its own copy of
the training data, never data/ itself."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot import runtime
from bot.retrain import SNAPSHOT_DIRS, RetrainJob, RetrainStatus
from bot.settings import PROJECT_DIR, Settings
from tests.e2e.conftest import trained_model

pytestmark = pytest.mark.e2e
# new words each run, so that Rasa's training cache cannot have the NLU part and the job fine-tunes for real
NEW_EXAMPLE = f"hello, is someone around today, ticket {uuid.uuid4().hex[:6]}"


WRONG_STORY = """version: "3.1"
stories:
  - story: en greeting answered with goodbye
    steps:
      - user: |
          hey there
        intent: greet
      - action: utter_goodbye
"""


@dataclass
class Live:
    """A Rasa server whose model the tests retrain."""

    settings: Settings
    work: Path

    def status(self) -> dict:
        response = httpx.get(f"{self.settings.rasa_url}/status", params={"token": self.settings.rasa_token}, timeout=10)
        response.raise_for_status()
        return response.json()

    def say(self, message: str) -> str:
        body = {"sender": f"retrain-{uuid.uuid4().hex[:8]}", "message": message}
        response = httpx.post(f"{self.settings.rasa_url}/webhooks/rest/webhook", json=body, timeout=30)
        response.raise_for_status()
        return "\n".join(m.get("text", "") for m in response.json())

    def job(self, project: Path, seen: list[RetrainStatus]) -> RetrainJob:
        return RetrainJob(self.settings, project_dir=project, on_progress=seen.append, work_root=self.work / "jobs")

    def candidates(self) -> list[Path]:
        return sorted(self.settings.models_dir.glob("candidate-*"))


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    work = tmp_path_factory.mktemp("retrain")
    settings = runtime.isolated_settings(work, rasa_port=15105, action_port=15155)
    model = trained_model(settings)
    settings = settings.model_copy(update={"models_dir": work / "models"})
    settings.models_dir.mkdir()
    shutil.copy2(model, settings.models_dir / model.name)
    rasa = runtime.start_rasa_server(settings, settings.models_dir / model.name, work / "rasa.log")
    try:
        runtime.wait_until_up(runtime.rasa_ready_url(settings), 300, rasa)
        yield Live(settings, work)
    finally:
        runtime.stop(rasa)


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of the project's training inputs and test stories, laid out like the project."""
    root = tmp_path / "project"
    for entry in dict.fromkeys([*runtime.TRAINING_INPUTS, *SNAPSHOT_DIRS]):
        source, target = PROJECT_DIR / entry, root / entry
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        elif source.exists():
            shutil.copy2(source, target)
    return root


def add_greeting(project: Path, example: str) -> None:
    path = project / "data" / "nlu" / "en" / "basics.yml"
    anchor = "- intent: greet\n  examples: |\n"
    text = path.read_text()
    assert anchor in text
    path.write_text(text.replace(anchor, f"{anchor}    - {example}\n", 1))


def swap_greeting_and_thanks(project: Path) -> None:
    """Valid data (every intent and response still used) whose rules contradict the test stories."""
    path = project / "data" / "rules" / "conversation.yml"
    text = path.read_text()
    greet, thanks = "{intent: greet}, {action: utter_greet}", "{intent: thank}, {action: utter_you_are_welcome}"
    assert greet in text and thanks in text
    text = text.replace(greet, "GREET").replace(thanks, "{intent: thank}, {action: utter_greet}")
    path.write_text(text.replace("GREET", "{intent: greet}, {action: utter_you_are_welcome}"))


def test_a_new_test_story_the_running_model_fails_is_reported_without_training(live, project):
    """Test stories are no training input: the job tests the running model against them and trains nothing."""
    before = live.status()
    assert before["model_file"] == runtime.model_path(live.settings, root=project).name  # unchanged data
    (project / "tests" / "stories" / "learned_en.yml").write_text(WRONG_STORY)

    status = asyncio.run(live.job(project, []).run())

    assert status.stage == "failed" and status.failed_stage == "testing", status.message
    assert status.training_mode == "existing" and "greeting answered with goodbye" in status.message
    assert live.status() == before and not live.candidates()


def test_a_small_nlu_change_goes_live_once_the_test_stories_pass(live, project):
    before = live.status()
    add_greeting(project, NEW_EXAMPLE)
    seen: list[RetrainStatus] = []

    status = asyncio.run(live.job(project, seen).run())

    assert status.stage == "done", "\n".join(status.output_tail)
    assert list(status.stage_seconds) == ["validating", "training", "testing", "swapping"]
    after = live.status()
    assert after["model_file"] == status.model != before["model_file"] and after["model_id"] != before["model_id"]
    assert status.model == runtime.model_path(live.settings, root=project).name  # what `bot run` starts for the data
    assert status.previous_model == before["model_file"] and not live.candidates()
    assert "Hallo" in live.say("Hallo") and "support assistant" in live.say(NEW_EXAMPLE)
    stages = list(dict.fromkeys(s.stage for s in seen))
    assert stages == ["validating", "training", "testing", "swapping", "done"]
    assert [s.percent for s in seen] == sorted(s.percent for s in seen) and seen[-1].percent == 100
    assert status.training_mode == "finetune" and any(s.stage == "training" and s.stage_percent for s in seen)


def test_a_change_that_breaks_a_test_story_fails_at_testing_and_the_old_model_keeps_serving(live, project):
    before = live.status()
    swap_greeting_and_thanks(project)

    status = asyncio.run(live.job(project, []).run())

    assert status.stage == "failed" and status.failed_stage == "testing", status.message
    assert "test story" in status.message and any("predicted" in line for line in status.output_tail)
    assert live.status() == before
    assert not live.candidates()
    assert "Hallo" in live.say("Hallo")


def test_a_cancelled_job_stops_its_training_and_leaves_the_server_alone(live, project):
    before = live.status()
    add_greeting(project, "hello, anyone on duty right now")
    seen: list[RetrainStatus] = []
    job = live.job(project, seen)

    async def cancel_during_training() -> None:
        task = asyncio.create_task(job.run())
        while job.status.stage != "training" or job.status.stage_elapsed_s < 3:
            assert not task.done(), job.status.message
            await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_during_training())

    assert job.status.stage == "cancelled" and job.status.failed_stage == "training"
    assert live.status() == before and not live.candidates()
    assert not list((live.work / "jobs").glob(f"job-{job.job_id}-*"))
    assert not [cmd for cmd in command_lines() if b"rasa" in cmd and job.job_id[:6].encode() in cmd]


def command_lines() -> list[bytes]:
    lines = []
    for path in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):  # the process ended meanwhile
            lines.append(path.read_bytes())
    return lines
