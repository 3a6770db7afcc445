"""Per-article health of the bot's guides, from the runs the action server records (`kb_guide_runs`).

For each article over a period (runs *started* in it): how many runs started, were solved (and at which
step), were handed to a person (and after which step, for which reason), were abandoned, and the solve rate.

Definitions (`status` of one run at the moment `now`):
- **solved**: the customer confirmed a step solved the problem (`outcome = solved`);
- **handed off**: the bot handed the conversation to a person during the run (`outcome = handoff`);
- **abandoned**: still `open` and its last step was presented more than GUIDE_ABANDON_AFTER_MIN minutes
  (default 30) before `now`; a younger open run is **in progress** and counts only in `started`;
- **decided** = solved + handed off + abandoned; **solve rate** = solved / decided and **handoff share** =
  handed off / decided (None without decided runs), so runs still in progress never lower a rate.

Flags for editors (rules in `flags`, thresholds below):
- `solve_rate_drop`: at least MIN_RUNS_FOR_DROP (10) decided runs in the period *and* in the period of the
  same length right before it, and the solve rate fell by at least DROP_POINTS (15) percentage points;
- `high_handoff`: at least MIN_RUNS_FOR_HANDOFF (5) decided runs and a handoff share of at least
  HANDOFF_SHARE (50 %).

The queries are plain SQLAlchemy statements, so the hub runs them on its asyncio sessions and the command
line on synchronous ones; everything after the query is pure functions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, select

from bot.guide_runs import GuideRun

MIN_RUNS_FOR_DROP = 10
DROP_POINTS = 15  # percentage points
MIN_RUNS_FOR_HANDOFF = 5
HANDOFF_SHARE = 0.5


@dataclass(frozen=True)
class RunFacts:
    """What the health figures need of one run."""

    article_id: str
    category: str
    started_at: datetime
    last_step_at: datetime
    outcome: str
    solved_at_step: int | None = None
    handoff_after_step: int | None = None
    handoff_reason: str | None = None


def runs_query(start: datetime, end: datetime) -> Select:
    """The runs started in [start, end), as rows that `RunFacts(*row)` accepts."""
    return select(
        GuideRun.article_id,
        GuideRun.category,
        GuideRun.started_at,
        GuideRun.last_step_at,
        GuideRun.outcome,
        GuideRun.solved_at_step,
        GuideRun.handoff_after_step,
        GuideRun.handoff_reason,
    ).where(GuideRun.started_at >= start, GuideRun.started_at < end)


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; they are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def status(run: RunFacts, now: datetime, abandon_after: timedelta) -> str:
    """solved, handoff, abandoned (open and idle longer than `abandon_after`) or in_progress."""
    if run.outcome in ("solved", "handoff"):
        return run.outcome
    return "abandoned" if now - aware(run.last_step_at) > abandon_after else "in_progress"


@dataclass
class ArticleHealth:
    """The counts of one article's runs in one period."""

    article_id: str
    category: str
    started: int = 0
    solved: int = 0
    handed_off: int = 0
    abandoned: int = 0
    in_progress: int = 0
    solved_at_step: Counter = field(default_factory=Counter)
    handoff_after_step: Counter = field(default_factory=Counter)
    handoff_reasons: Counter = field(default_factory=Counter)

    @property
    def decided(self) -> int:
        return self.solved + self.handed_off + self.abandoned

    @property
    def solve_rate(self) -> float | None:
        return self.solved / self.decided if self.decided else None

    @property
    def handoff_share(self) -> float | None:
        return self.handed_off / self.decided if self.decided else None


def tally(runs: Iterable[RunFacts], now: datetime, abandon_after: timedelta) -> dict[str, ArticleHealth]:
    """Article id -> its health over `runs`."""
    result: dict[str, ArticleHealth] = {}
    for run in runs:
        health = result.setdefault(run.article_id, ArticleHealth(run.article_id, run.category))
        health.started += 1
        kind = status(run, now, abandon_after)
        if kind == "solved":
            health.solved += 1
            if run.solved_at_step is not None:
                health.solved_at_step[run.solved_at_step] += 1
        elif kind == "handoff":
            health.handed_off += 1
            if run.handoff_after_step is not None:
                health.handoff_after_step[run.handoff_after_step] += 1
            health.handoff_reasons[run.handoff_reason or "unknown"] += 1
        elif kind == "abandoned":
            health.abandoned += 1
        else:
            health.in_progress += 1
    return result


def flags(current: ArticleHealth, previous: ArticleHealth | None) -> list[dict]:
    """What an editor should look at (rules in the module docstring), each {"code", "message"}."""
    found = []
    if (
        previous is not None
        and current.decided >= MIN_RUNS_FOR_DROP
        and previous.decided >= MIN_RUNS_FOR_DROP
        and _points(previous.solve_rate) - _points(current.solve_rate) >= DROP_POINTS
    ):
        found.append(
            {
                "code": "solve_rate_drop",
                "message": f"Solve rate fell from {_points(previous.solve_rate):g} % to "
                f"{_points(current.solve_rate):g} % ({current.decided} runs now, {previous.decided} before).",
            }
        )
    if current.decided >= MIN_RUNS_FOR_HANDOFF and current.handoff_share >= HANDOFF_SHARE:
        found.append(
            {
                "code": "high_handoff",
                "message": f"{_points(current.handoff_share):g} % of {current.decided} runs ended with a person.",
            }
        )
    return found


def _points(rate: float | None) -> float:
    """A rate in percentage points, rounded to 0.1 (so 0.6 - 0.45 compares as exactly 15)."""
    return round((rate or 0.0) * 100, 1)


def report(
    current: Iterable[RunFacts], previous: Iterable[RunFacts], now: datetime, abandon_after: timedelta
) -> list[dict]:
    """Every article with runs in the period (current), with its flags; flagged articles first, then the most
    used. `previous`: the runs of the period of the same length right before (for the drop rule)."""
    now_health = tally(current, now, abandon_after)
    before = tally(previous, now, abandon_after)
    rows = []
    for article_id, health in now_health.items():
        earlier = before.get(article_id)
        rows.append(
            {
                "article_id": article_id,
                "category": health.category,
                "started": health.started,
                "solved": health.solved,
                "handed_off": health.handed_off,
                "abandoned": health.abandoned,
                "in_progress": health.in_progress,
                "decided": health.decided,
                "solve_rate": _rounded(health.solve_rate),
                "handoff_share": _rounded(health.handoff_share),
                "solved_at_step": _histogram(health.solved_at_step),
                "handoff_after_step": _histogram(health.handoff_after_step),
                "handoff_reasons": dict(sorted(health.handoff_reasons.items())),
                "previous": {
                    "started": earlier.started if earlier else 0,
                    "decided": earlier.decided if earlier else 0,
                    "solve_rate": _rounded(earlier.solve_rate) if earlier else None,
                },
                "flags": flags(health, earlier),
            }
        )
    rows.sort(key=lambda r: (not r["flags"], -r["started"], r["article_id"]))
    return rows


def _histogram(counts: Counter) -> list[dict]:
    return [{"step": step, "count": counts[step]} for step in sorted(counts)]


def _rounded(rate: float | None) -> float | None:
    return None if rate is None else round(rate, 4)
