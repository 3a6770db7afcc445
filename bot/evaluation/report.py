"""What every benchmark script shares: CPU time of the services it measures, and its section of BENCHMARKS.md."""

from __future__ import annotations

import os
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process and its live child processes used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = [int(c) for task in Path(f"/proc/{pid}/task").glob("*/children") for c in task.read_text().split()]
    except OSError:  # exited meanwhile (e.g. a database backend whose connection closed)
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") + sum(map(cpu_seconds, children))


def replace_section(output: Path, marker: str, section: str) -> None:
    """Put `section` (starting with its `marker` heading) in place of the old one in `output`, or append it;
    the other sections stay as they are."""
    text = output.read_text(encoding="utf-8") if output.exists() else "# Benchmarks\n\n"
    section = section.rstrip("\n") + "\n"
    if marker + "\n" in text:
        head, _, rest = text.partition(marker + "\n")
        tail = rest[rest.find("\n## ") :] if "\n## " in rest else ""
        text = head.rstrip() + "\n\n" + section + tail
    else:
        text = text.rstrip() + "\n\n" + section
    output.write_text(text, encoding="utf-8")
