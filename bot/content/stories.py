"""Add Rasa test stories (tests/stories/learned_<language>.yml) reproducing conversations from second level."""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import LiteralScalarString

from bot.content import yamlio
from bot.content.articles import ContentError

HEADER = "# Test stories drafted from handed-off conversations and approved by an editor.\n"


def path_for(stories_dir: Path, language: str) -> Path:
    return stories_dir / f"learned_{language}.yml"


def add_story(stories_dir: Path, language: str, story: dict) -> Path:
    """Append `story` ({"story": name, "steps": [...]}) to the language's learned stories; names are unique."""
    name = str(story.get("story") or "").strip()
    steps = story.get("steps") or []
    if not name or not steps:
        raise ContentError("A test story needs a name and at least one step.")
    path = path_for(stories_dir, language)
    data = yamlio.load(path, "indented") if path.exists() else CommentedMap([("version", "3.1"), ("stories", [])])
    if any(s.get("story") == name for s in data["stories"]):
        raise ContentError(f"{path}: a story named '{name}' already exists.")
    data["stories"].append(CommentedMap([("story", name), ("steps", [_step(s) for s in steps])]))
    text = yamlio.dumps(data, "indented")
    yamlio.write(path, text if text.startswith("#") else HEADER + text)
    return path


def _step(step: dict) -> CommentedMap:
    if "user" in step:
        text = LiteralScalarString(str(step["user"]).strip() + "\n")
        return CommentedMap([("user", text), ("intent", step["intent"])])
    if "action" in step:
        return CommentedMap([("action", step["action"])])
    raise ContentError(f"A story step needs 'user' and 'intent' or 'action': {step!r}")
