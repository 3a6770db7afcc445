"""`python -m bot kb calibrate`: choose fusion weights and fit the score calibration on training material.

Material: the articles' own symptom phrasings (5-fold: each fold's phrasings are removed from the index
and used as queries) and the out-of-scope examples of the NLU training data (which must match nothing).
The held-out evaluation file is never read here.
"""

from __future__ import annotations

import itertools
import json
import re
import zlib
from pathlib import Path

import numpy as np
import yaml
from rich.console import Console

from bot.db import make_engine, make_session_factory
from bot.kb.search import CALIBRATION_FILE, Calibration, IndexedArticle, SearchIndex, Weights
from bot.settings import PROJECT_DIR, get_settings

FOLDS = 5
_ANNOTATION = re.compile(r"\[([^\]]+)\](\{[^}]*\}|\([^)]*\))")


def out_of_scope_examples(nlu_dir: Path = PROJECT_DIR / "data" / "nlu") -> list[tuple[str, str]]:
    """(language, text) of every out_of_scope training example, entity markup removed."""
    examples = []
    for path in sorted(nlu_dir.rglob("*.yml")):
        language = path.parent.name if path.parent.name in ("en", "de") else "en"
        for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu", []):
            if block.get("intent") != "out_of_scope":
                continue
            for line in block["examples"].splitlines():
                text = line.strip().removeprefix("- ").strip()
                if text:
                    examples.append((language, _ANNOTATION.sub(r"\1", text)))
    return examples


def _fold_index(full: SearchIndex, fold: int, weights: Weights) -> tuple[SearchIndex, list[tuple[str, str, str]]]:
    """An index without fold `fold`'s symptom phrasings, and those phrasings as (language, text, article)."""
    articles, held_out = [], []
    for a in full.articles:
        keep = []
        for row, (language, text) in enumerate(a.aligned):
            is_title = row == 0 or a.aligned[row - 1][0] != language
            if not is_title and zlib.crc32(f"{a.id}|{text}".encode()) % FOLDS == fold:
                held_out.append((language, text, a.id))
            else:
                keep.append(row)
        articles.append(
            IndexedArticle(
                a.id,
                a.category,
                a.brands,
                a.exclude_brands,
                tuple(a.aligned[r] for r in keep),
                a.vectors[keep],
                a.steps,
            )
        )
    index = SearchIndex(articles, embedder=full.embed, calibration=Calibration(), weights=weights)
    return index, held_out


_CACHE: dict[str, np.ndarray] = {}


def collect(full: SearchIndex, weights: Weights, negatives: list[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """Features (top fused score, margin) and labels (top article right?) for folds and negatives."""
    features, labels = [], []
    cache = _CACHE

    def embed(texts: list[str]) -> np.ndarray:
        key = texts[0]
        if key not in cache:
            cache[key] = full.embed(texts)
        return cache[key]

    for fold in range(FOLDS):
        index, held_out = _fold_index(full, fold, weights)
        index.embed = embed
        for language, text, expected in held_out:
            m = index.search(text, language=language, limit=2)
            margin = m[0].fused - (m[1].fused if len(m) > 1 else 0.0)
            features.append((m[0].fused, margin))
            labels.append(1.0 if m[0].article_id == expected else 0.0)
    index = SearchIndex(full.articles, embedder=embed, calibration=Calibration(), weights=weights)
    for language, text in negatives:
        m = index.search(text, language=language, limit=2)
        if m:
            features.append((m[0].fused, m[0].fused - (m[1].fused if len(m) > 1 else 0.0)))
            labels.append(0.0)
    return np.array(features), np.array(labels)


def fit_logistic(x: np.ndarray, y: np.ndarray, iterations: int = 50, l2: float = 1e-3) -> np.ndarray:
    """Logistic regression by Newton's method; returns (bias, weights...)."""
    design = np.hstack([np.ones((len(x), 1)), x])
    beta = np.zeros(design.shape[1])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-np.clip(design @ beta, -30, 30)))
        gradient = design.T @ (p - y) + l2 * beta
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + l2 * np.eye(len(beta))
        beta -= np.linalg.solve(hessian, gradient)
    return beta


def fit_and_save(console: Console | None = None, path: Path = CALIBRATION_FILE) -> dict:
    """Pick the fusion weights with the best cross-validated top-1 accuracy, fit the calibration, save both."""
    console = console or Console()
    settings = get_settings()
    with make_session_factory(make_engine(settings.database_url))() as session:
        full = SearchIndex.from_session(session, calibration=Calibration(), weights=Weights())
    negatives = out_of_scope_examples()
    console.print(
        f"{sum(len(a.aligned) for a in full.articles)} phrasings in {len(full.articles)} articles, "
        f"{len(negatives)} out-of-scope examples"
    )
    best = None
    grid = itertools.product((0.2, 0.35, 0.5), (0.80, 0.84), (0.0, 0.05), (0.0, 0.3), (0.0, 0.3))
    for lexical, floor, boost, steps, second in grid:
        weights = Weights(lexical=lexical, floor=floor, category_boost=boost, steps=steps, second=second)
        x, y = collect(full, weights, [])
        accuracy = float(y.mean())
        console.print(
            f"  lexical={lexical:<5} floor={floor:<5} boost={boost:<5} steps={steps:<4} second={second:<4} "
            f"cross-validated top-1 {accuracy:.3f}"
        )
        if best is None or accuracy > best[0]:
            best = (accuracy, weights)
    _, weights = best
    x, y = collect(full, weights, negatives)
    bias, w_top, w_margin = fit_logistic(x, y)
    calibration = Calibration(bias=float(bias), w_top=float(w_top), w_margin=float(w_margin))
    predicted = np.array([calibration.probability(t, m) for t, m in x])
    accepted = predicted >= settings.search_min_score
    console.print(
        f"chosen {weights}; calibration {calibration}; on calibration material: "
        f"{accepted[y == 1].mean():.3f} of right answers accepted, {(~accepted[y == 0]).mean():.3f} of wrong "
        f"answers and non-matches rejected (threshold {settings.search_min_score})"
    )
    data = {"weights": weights.__dict__, "calibration": calibration.__dict__}
    path.write_text(json.dumps(data, indent=2) + "\n")
    console.print(f"[green]✓[/] wrote {path}")
    return data
