"""The action server's Prometheus metrics (served at /metrics by `actions.server`).

Module-level, in the process's default registry, as prometheus_client intends; label values are bounded:
action names the executor knows, article ids of the knowledge base, the handoff reasons.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ACTION_RUNS = Counter("action_server_runs", "Action runs, by action and result (ok or error).", ["action", "result"])
ACTION_SECONDS = Histogram(
    "action_server_run_duration_seconds",
    "How long an action run took, by action.",
    ["action"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
GUIDE_STARTS = Counter("guide_starts", "Guides the bot started, by article.", ["article"])
GUIDE_SOLVES = Counter("guide_solves", "Guides the customer confirmed as solved, by article.", ["article"])
GUIDE_HANDOFFS = Counter(
    "guide_handoffs", "Guides that ended with a handoff to a person, by article and reason.", ["article", "reason"]
)
