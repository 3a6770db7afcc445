"""The bot's own customer-facing texts (data/messages.yml), in German and English."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from bot.language import DEFAULT, SUPPORTED

MESSAGES_FILE = Path(__file__).resolve().parent.parent / "data" / "messages.yml"


@lru_cache(maxsize=2)
def catalogue(path: Path = MESSAGES_FILE) -> dict[str, dict[str, str]]:
    """All messages: key -> {language: text}. Every key must exist in every supported language."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    missing = [f"{key}.{lang}" for key, texts in data.items() for lang in SUPPORTED if not texts.get(lang)]
    if missing:
        raise ValueError(f"{path}: missing translations: {', '.join(missing)}")
    return data


def text(key: str, language: str | None, **values: object) -> str:
    """The message `key` in `language` (English if unknown), with `{placeholders}` filled in."""
    texts = catalogue()[key]
    return texts.get(language or DEFAULT, texts[DEFAULT]).format(**values)
