"""Knowledge-base search: full-text ranking (BM25 over language-aware stems) fused with multilingual
sentence embeddings, and a calibrated score that says how likely the top article is the right one.

`SearchIndex.search()` is pure (no I/O besides the embedding model); build the index from the database
with `SearchIndex.from_session()`; `bot eval search` measures it on a held-out file.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.devices import infer_category
from bot.kb import embeddings
from bot.kb.analysis import Analyzer
from bot.kb.models import Article
from bot.language import SUPPORTED as LANGUAGES

CALIBRATION_FILE = Path(__file__).resolve().parent / "calibration.json"
Embedder = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class IndexedArticle:
    """What the index knows of an article."""

    id: str
    category: str
    brands: tuple[str, ...]
    exclude_brands: tuple[str, ...]
    aligned: tuple[tuple[str, str], ...]  # (language, phrase) per row of `vectors`; titles first per language
    vectors: np.ndarray = field(repr=False)  # one embedding per phrase, both languages
    steps: dict[str, tuple[str, ...]] = field(default_factory=dict)  # language -> step instructions

    @property
    def phrases(self) -> dict[str, tuple[str, ...]]:
        """language -> title and symptom phrasings (title first)."""
        out: dict[str, list[str]] = {}
        for language, text in self.aligned:
            out.setdefault(language, []).append(text)
        return {k: tuple(v) for k, v in out.items()}

    def applies_to(self, brand: str | None) -> bool:
        """Whether the article is valid for `brand` (unknown brands fit every article)."""
        if not brand:
            return True
        b = brand.casefold()
        if self.brands and b not in {x.casefold() for x in self.brands}:
            return False
        return b not in {x.casefold() for x in self.exclude_brands}


@dataclass(frozen=True)
class Match:
    """One ranked article: `score` is the calibrated probability that it is the right one."""

    article_id: str
    category: str
    score: float
    fused: float
    lexical: float
    semantic: float


@dataclass(frozen=True)
class Calibration:
    """Logistic calibration of the top match: P(right) = sigmoid(bias + w_top*fused + w_margin*margin)."""

    bias: float = -9.0
    w_top: float = 12.0
    w_margin: float = 6.0

    def probability(self, top: float, margin: float) -> float:
        z = self.bias + self.w_top * top + self.w_margin * margin
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    @classmethod
    def load(cls, path: Path = CALIBRATION_FILE) -> Calibration:
        """The fitted calibration (`python -m bot kb calibrate`), or the defaults."""
        if not path.exists():
            return cls()
        return cls(**json.loads(path.read_text())["calibration"])


@dataclass(frozen=True)
class Weights:
    """How lexical and semantic evidence are combined into one ranking score."""

    lexical: float = 0.35  # weight of the saturated BM25 score (0..1)
    semantic: float = 1.0  # weight of the rescaled embedding similarity (0..1)
    saturation: float = 4.0  # BM25 score at which the lexical part reaches one half
    floor: float = 0.72  # e5 cosine similarity treated as "unrelated" (maps to 0)
    category_boost: float = 0.0  # added for articles of the category the text itself names (soft hint)
    steps: float = 0.0  # weight of BM25 over the step instructions (added to BM25 over title and symptoms)
    second: float = 0.0  # share of the second-best phrase similarity in an article's semantic score

    @classmethod
    def load(cls, path: Path = CALIBRATION_FILE) -> Weights:
        """The weights chosen by `python -m bot kb calibrate`, or the defaults."""
        if not path.exists():
            return cls()
        return cls(**json.loads(path.read_text())["weights"])


class _Bm25:
    """Okapi BM25 over pre-analysed documents (k1=1.2, b=0.75)."""

    def __init__(self, documents: Sequence[list[str]], k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = k1, b
        self.frequencies = [Counter(doc) for doc in documents]
        self.lengths = np.array([len(doc) for doc in documents], dtype=np.float64)
        self.average = float(self.lengths.mean()) if len(documents) else 0.0
        df = Counter(term for doc in self.frequencies for term in doc)
        n = len(documents)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def scores(self, query: list[str]) -> np.ndarray:
        out = np.zeros(len(self.frequencies))
        for term in set(query):
            idf = self.idf.get(term)
            if idf is None:
                continue
            for i, freq in enumerate(self.frequencies):
                tf = freq.get(term)
                if tf:
                    norm = self.k1 * (1 - self.b + self.b * self.lengths[i] / self.average)
                    out[i] += idf * tf * (self.k1 + 1) / (tf + norm)
        return out


class SearchIndex:
    """Ranks articles for a customer's free-text problem description."""

    def __init__(
        self,
        articles: list[IndexedArticle],
        embedder: Embedder = embeddings.embed,
        calibration: Calibration | None = None,
        weights: Weights | None = None,
        revision: int = 0,
    ):
        self.articles = articles
        self.embed = embedder
        self.calibration = calibration or Calibration.load()
        self.weights = weights or Weights.load()
        self.revision = revision
        self.analyzers = {lang: Analyzer(lang) for lang in LANGUAGES}
        for lang, analyzer in self.analyzers.items():
            analyzer.learn(p for a in articles for p in a.phrases.get(lang, ()))
        self.bm25 = {lang: _Bm25([self._document(a, lang) for a in articles]) for lang in LANGUAGES}
        self.bm25_steps = {
            lang: _Bm25(
                [[t for step in a.steps.get(lang, ()) for t in self.analyzers[lang].analyze(step)] for a in articles]
            )
            for lang in LANGUAGES
        }
        self._owners = (
            np.concatenate([np.full(len(a.vectors), i) for i, a in enumerate(articles)])
            if articles
            else np.zeros(0, dtype=int)
        )
        self._matrix = np.vstack([a.vectors for a in articles]) if articles else np.zeros((0, embeddings.DIMENSIONS))

    def _document(self, article: IndexedArticle, language: str) -> list[str]:
        phrases = article.phrases.get(language, ())
        analyzer = self.analyzers[language]
        title = analyzer.analyze(phrases[0]) if phrases else []
        return title + [s for p in phrases for s in analyzer.analyze(p)]

    @classmethod
    def from_session(cls, session: Session, **kwargs) -> SearchIndex:
        """Build the index from the articles in the database (embeddings were computed at import)."""
        from bot.kb.importer import current_revision

        articles = []
        for row in session.scalars(select(Article).order_by(Article.id)):
            ordered = sorted(row.phrases, key=lambda p: (p.language, p.kind != "title", p.id))
            vectors = [embeddings.from_bytes(p.embedding) if p.embedding else None for p in ordered]
            if any(v is None for v in vectors):
                vectors = list(embeddings.embed([p.text for p in ordered]))
            articles.append(
                IndexedArticle(
                    id=row.id,
                    category=row.category,
                    brands=tuple(row.brands),
                    exclude_brands=tuple(row.exclude_brands),
                    aligned=tuple((p.language, p.text) for p in ordered),
                    vectors=np.vstack(vectors) if vectors else np.zeros((0, embeddings.DIMENSIONS)),
                    steps={lang: tuple(s.instruction for s in row.steps if s.language == lang) for lang in LANGUAGES},
                )
            )
        return cls(articles, revision=current_revision(session), **kwargs)

    # -- scoring -------------------------------------------------------------------------------------
    def lexical_scores(self, text: str, language: str | None) -> np.ndarray:
        """BM25 of `text` against each article, in the query's language (the better of both if unknown)."""
        languages = [language] if language in LANGUAGES else list(LANGUAGES)
        best = np.zeros(len(self.articles))
        for lang in languages:
            analyzer = self.analyzers[lang]
            query = analyzer.correct(analyzer.analyze(text))
            scores = self.bm25[lang].scores(query)
            if self.weights.steps:
                scores = scores + self.weights.steps * self.bm25_steps[lang].scores(query)
            best = np.maximum(best, scores)
        return best

    def semantic_scores(self, text: str) -> np.ndarray:
        """Highest cosine similarity between `text` and any phrase of each article (both languages)."""
        if not self.articles:
            return np.zeros(0)
        query = self.embed([text])[0]
        sims = self._matrix @ query
        best = np.full(len(self.articles), -1.0)
        np.maximum.at(best, self._owners, sims)
        if self.weights.second <= 0:
            return best
        # blend in the second-best phrase: an article whose several phrasings fit beats one lucky phrase
        masked = np.where(sims >= best[self._owners], -1.0, sims)
        second = np.full(len(self.articles), -1.0)
        np.maximum.at(second, self._owners, masked)
        second = np.where(second < 0, best, second)
        return (1 - self.weights.second) * best + self.weights.second * second

    def fuse(self, lexical: np.ndarray, semantic: np.ndarray) -> np.ndarray:
        """One ranking score per article from saturated BM25 and rescaled similarity."""
        w = self.weights
        lex = lexical / (lexical + w.saturation)
        sem = np.clip((semantic - w.floor) / (1.0 - w.floor), 0.0, 1.0)
        return (w.lexical * lex + w.semantic * sem) / (w.lexical + w.semantic)

    def search(
        self,
        text: str,
        language: str | None = None,
        category: str | None = None,
        brand: str | None = None,
        limit: int = 3,
        mode: str = "fusion",
    ) -> list[Match]:
        """Articles for `text`, best first, with calibrated scores. `category` and `brand` narrow the
        candidates where known (articles for any device always stay). `mode` is fusion, lexical or semantic."""
        if not self.articles or not text.strip():
            return []
        lexical = self.lexical_scores(text, language)
        semantic = self.semantic_scores(text) if mode != "lexical" else np.zeros(len(self.articles))
        if mode == "lexical":
            fused = lexical / (lexical + self.weights.saturation)
        elif mode == "semantic":
            fused = np.clip((semantic - self.weights.floor) / (1 - self.weights.floor), 0, 1)
        else:
            fused = self.fuse(lexical, semantic)
        hinted = category or infer_category(text)
        if hinted and self.weights.category_boost:
            boost = np.array([a.category in (hinted, "any") for a in self.articles], dtype=float)
            fused = fused + self.weights.category_boost * boost
        allowed = [
            i
            for i, a in enumerate(self.articles)
            if (not category or a.category in (category, "any")) and a.applies_to(brand)
        ]
        ranked = sorted(allowed, key=lambda i: -fused[i])
        if not ranked:
            return []
        top = fused[ranked[0]]
        margin = top - (fused[ranked[1]] if len(ranked) > 1 else 0.0)
        matches = []
        for rank, i in enumerate(ranked[:limit]):
            own_margin = margin if rank == 0 else fused[i] - top
            matches.append(
                Match(
                    article_id=self.articles[i].id,
                    category=self.articles[i].category,
                    score=round(self.calibration.probability(float(fused[i]), float(own_margin)), 4),
                    fused=round(float(fused[i]), 4),
                    lexical=round(float(lexical[i]), 3),
                    semantic=round(float(semantic[i]), 4),
                )
            )
        return matches
