"""Background retrains after editors change training data (bot/retrain.py does the work).

The hub owns one `Retrainer`: approvals and labelling request a run; requests during a run collapse into one
follow-up run on the latest files. The running Rasa model is replaced only when the new one passes the test
stories. Editors see the state on the knowledge page (GET /api/v1/editor/retrain).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.retrain import Retrainer, RetrainStatus, Stage
from bot.settings import Settings
from handoff.drafts import RetrainTrigger
from handoff.hub import Hub


def make_retrainer(settings: Settings) -> Retrainer:
    """A retrainer over the files the hub writes (data/ of the project, or the copies the settings name)."""
    project = Path(settings.nlu_dir).resolve().parent.parent
    return Retrainer(settings, project_dir=project, stories_dir=Path(settings.test_stories_dir))


def trigger_for(hub: Hub) -> RetrainTrigger | None:
    """What starts a retrain for this hub, or None when AUTO_RETRAIN is off."""
    if not hub.settings.auto_retrain or hub.retrainer is None:
        return None

    async def start(reason: str) -> dict:
        return describe(hub.retrainer.request(reason))

    return start


def describe(status: RetrainStatus | None) -> dict:
    """The state an editor sees: idle, running (with stage and percent), done or failed (with where and why)."""
    if status is None:
        return {"state": "idle"}
    finished_at = status.started_at + timedelta(seconds=status.elapsed_s) if status.finished else None
    failed = status.stage in (Stage.FAILED, Stage.CANCELLED)
    return {
        "state": str(status.stage) if status.finished else "running",
        "stage": str(status.failed_stage if failed and status.failed_stage else status.stage),
        "percent": round(status.percent),
        "message": status.message,
        "reason": status.reason,
        "pending": status.pending,
        "model": status.model,
        "previous_model": status.previous_model,
        "started_at": status.started_at.isoformat(),
        "finished_at": finished_at.isoformat() if finished_at else None,
        "elapsed_s": round(status.elapsed_s, 1),
        "stage_seconds": {k: round(v, 1) for k, v in status.stage_seconds.items()},
        "output_tail": list(status.output_tail) if failed else [],
    }
