"""Per-article health: the status of a run, the counts, and the editor flags at their thresholds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.article_health import ArticleHealth, RunFacts, flags, report, status

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
IDLE = timedelta(minutes=30)


def run(outcome: str, minutes_ago: float = 60, article: str = "phone-wifi", **extra) -> RunFacts:
    moment = NOW - timedelta(minutes=minutes_ago)
    return RunFacts(article, "phone", moment, moment, outcome, **extra)


def health(solved: int, handed_off: int = 0, abandoned: int = 0) -> ArticleHealth:
    return ArticleHealth("a", "phone", solved + handed_off + abandoned, solved, handed_off, abandoned)


def codes(current: ArticleHealth, previous: ArticleHealth | None = None) -> list[str]:
    return [f["code"] for f in flags(current, previous)]


def test_an_open_run_is_abandoned_only_after_the_idle_time():
    assert status(run("open", minutes_ago=31), NOW, IDLE) == "abandoned"
    assert status(run("open", minutes_ago=30), NOW, IDLE) == "in_progress"
    assert status(run("solved", minutes_ago=600), NOW, IDLE) == "solved"
    naive = RunFacts("a", "phone", datetime(2026, 11, 20, 11), datetime(2026, 11, 20, 11), "open")  # SQLite
    assert status(naive, NOW, IDLE) == "abandoned"


def test_runs_in_progress_count_as_started_but_not_in_the_rates():
    [row] = report([run("solved", solved_at_step=1), run("open", minutes_ago=5)], [], NOW, IDLE)
    assert (row["started"], row["decided"], row["in_progress"], row["solve_rate"]) == (2, 1, 1, 1.0)


def test_a_drop_of_exactly_fifteen_points_with_ten_runs_on_each_side_is_flagged():
    assert codes(health(6, abandoned=4), health(75, abandoned=25)) == ["solve_rate_drop"]  # 75 % -> 60 %
    assert codes(health(45, abandoned=55), health(6, abandoned=4)) == ["solve_rate_drop"]  # 60 % -> 45 %


def test_small_samples_and_small_drops_are_not_flagged():
    assert codes(health(5, abandoned=4), health(10)) == []  # 9 runs now
    assert codes(health(10), health(9, abandoned=0)) == []  # 9 runs before (and no drop)
    assert codes(health(7, abandoned=3), health(8, abandoned=2)) == []  # 80 % -> 70 %: 10 points
    assert codes(health(3, abandoned=7), None) == []  # nothing to compare with


def test_half_of_five_runs_handed_off_is_flagged_four_runs_are_not():
    assert codes(health(2, handed_off=3)) == ["high_handoff"]
    assert codes(health(3, handed_off=2)) == []  # 40 %
    assert codes(health(2, handed_off=2)) == []  # only 4 runs
    assert codes(health(5, handed_off=5)) == ["high_handoff"]  # exactly 50 %


def test_the_report_lists_flagged_articles_first_with_step_histograms():
    current = [run("handoff", article="b", handoff_after_step=s, handoff_reason="steps_exhausted") for s in (2, 2, 3)]
    current += [run("solved", article="b", solved_at_step=1)] * 2 + [run("solved", article="a", solved_at_step=1)] * 9
    rows = report(current, [], NOW, IDLE)
    assert [r["article_id"] for r in rows] == ["b", "a"]
    assert rows[0]["handoff_after_step"] == [{"step": 2, "count": 2}, {"step": 3, "count": 1}]
    assert rows[0]["handoff_reasons"] == {"steps_exhausted": 3} and rows[0]["handoff_share"] == 0.6
    assert rows[1]["solved_at_step"] == [{"step": 1, "count": 9}] and rows[1]["flags"] == []
