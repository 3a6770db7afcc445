"""Check "duplicates": the same NLU example or article symptom written twice.

Texts are compared after removing entity annotations, casefolding and collapsing whitespace, across all NLU
files of both languages. The same example twice in one intent is a duplicate (reported where it repeats); in
two different intents it is a conflict that makes the classifier guess (reported at every place). The same
symptom phrasing in two articles of one language makes the search unable to tell them apart (reported in
both), unless the articles can never apply to the same device: different categories (neither is "any") or brand
scopes that do not overlap (e.g. `brands: [Apple]` and `exclude_brands: [Apple]`), where the bot tells them
apart by asking the category or brand.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.validation.problem import Problem
from bot.validation.project import Project, get, items, line_of, normalize, pairs, scalar

CHECK = "duplicates"


@dataclass(frozen=True)
class _Place:
    path: Path
    line: int
    owner: str  # the intent or article
    text: str
    scope: str = ""  # compared only within one scope: symptoms within their language


def check(project: Project) -> list[Problem]:
    """Duplicate and conflicting NLU examples and article symptoms."""
    examples = [
        _Place(block.path, example.line, block.name, example.text)
        for block in project.nlu_blocks
        if block.kind == "intent"
        for example in block.examples
    ]
    scopes: dict[str, _Scope] = {}
    symptoms = _symptoms(project, scopes)

    def same_devices(article: str, other: str) -> bool:
        return scopes[article].overlaps(scopes[other])

    return _report(project, examples, "example", "intent") + _report(
        project, symptoms, "symptom", "article", same_devices
    )


@dataclass(frozen=True)
class _Scope:
    """Which devices an article applies to: its category and brands (None: every brand) minus excluded ones."""

    category: str
    brands: frozenset[str] | None
    excluded: frozenset[str]

    def overlaps(self, other: _Scope) -> bool:
        if "any" not in (self.category, other.category) and self.category != other.category:
            return False
        if self.brands is None and other.brands is None:
            return True
        both = (self.brands or other.brands) if None in (self.brands, other.brands) else self.brands & other.brands
        return bool(both - self.excluded - other.excluded)


def _brands(node) -> frozenset[str]:
    return frozenset((scalar(n) or "").casefold() for n in items(node))


def _symptoms(project: Project, scopes: dict[str, _Scope]) -> list[_Place]:
    places = []
    for path in project.kb_files():
        root = project.node(path)
        article = scalar(get(root, "id")) or path.stem
        applies = get(root, "applies_to")
        brands = _brands(get(applies, "brands"))
        scopes[article] = _Scope(
            scalar(get(root, "category")) or "any", brands or None, _brands(get(applies, "exclude_brands"))
        )
        for lang, _, texts in pairs(get(root, "symptoms")):
            places.extend(_Place(path, line_of(n), article, scalar(n) or "", lang) for n in items(texts) if scalar(n))
    return places


def _report(
    project: Project,
    places: list[_Place],
    what: str,
    owner: str,
    related: Callable[[str, str], bool] | None = None,
) -> list[Problem]:
    """Duplicates within one owner (at the repetition) and conflicts between related owners (at every place)."""
    groups: dict[tuple[str, str], list[_Place]] = defaultdict(list)
    for place in places:
        groups[place.scope, normalize(place.text)].append(place)
    problems = []
    for group in (g for g in groups.values() if len(g) > 1):
        for i, place in enumerate(group):
            earlier = next((p for p in group[:i] if p.owner == place.owner), None)
            if earlier:
                where = "" if earlier.path == place.path else f" of {project.rel(earlier.path)}"
                message = (
                    f"duplicate {what} '{place.text}' in {owner} '{place.owner}' (also on line {earlier.line}{where})"
                )
                problems.append(project.problem(place.path, place.line, message, CHECK))
            others: dict[str, _Place] = {}
            for p in group:
                if p.owner != place.owner and (related is None or related(place.owner, p.owner)):
                    others.setdefault(p.owner, p)
            if others:
                where = ", ".join(f"{owner} '{p.owner}' at {project.rel(p.path)}:{p.line}" for p in others.values())
                message = f"{what} '{place.text}' of {owner} '{place.owner}' is also in {where}"
                problems.append(project.problem(place.path, place.line, message, CHECK))
    return problems
