"""Background retrains after editors change training data (placeholder until the engine lands)."""

from __future__ import annotations

from handoff.drafts import RetrainTrigger
from handoff.hub import Hub


def trigger_for(hub: Hub) -> RetrainTrigger | None:
    """What starts a retrain for this hub, or None when AUTO_RETRAIN is off."""
    if not hub.settings.auto_retrain:
        return None

    async def start(reason: str) -> dict:
        return {"state": "queued", "reason": reason}

    return start
