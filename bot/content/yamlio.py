"""Round-trip YAML in the project's two house styles (comments, quotes and layout survive a load and dump)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Literal

from ruamel.yaml import YAML

# Articles and stories indent lists under their key ("steps:\n  - en: ..."); NLU files do not ("nlu:\n- intent").
Style = Literal["indented", "flat"]


def _yaml(style: Style) -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold long lines: editors diff line by line
    if style == "indented":
        yaml.indent(mapping=2, sequence=4, offset=2)
    else:
        yaml.indent(mapping=2, sequence=2, offset=0)
    return yaml


def load(path: Path, style: Style) -> Any:
    """The file's content as ruamel's round-trip objects."""
    return _yaml(style).load(path.read_text(encoding="utf-8"))


def dumps(data: Any, style: Style) -> str:
    out = io.StringIO()
    _yaml(style).dump(data, out)
    return out.getvalue()


def write(path: Path, text: str) -> None:
    """Write atomically, so the bot or an import never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
