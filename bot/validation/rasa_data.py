"""Check "rasa": `rasa data validate --fail-on-warnings` on domain.yml, config.yml and the training data.

Rasa's validator runs in Rasa's environment (`bot/validation/rasa_worker.py`, a few seconds: it imports
TensorFlow), so `start` launches it in the background and `finish` collects its warnings and errors as
problems. Rasa rarely names a line; the line is looked up in the files from what the message names (an
example's text, a story or rule, an intent, action, response, slot or form), falling back to line 1 of the file
it names, else of domain.yml.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bot.settings import PROJECT_DIR
from bot.validation.problem import Problem
from bot.validation.project import Project, StoryBlock, construct, get, line_of, plain_text, scalar

CHECK = "rasa"
WORKER = Path(__file__).with_name("rasa_worker.py")
TIMEOUT_S = 300
RASA_VENV = PROJECT_DIR / ".venv-rasa"  # as bot.runtime.RASA_VENV


def rasa_python() -> Path:
    return RASA_VENV / "bin" / "python"


def training_data(project: Project) -> list[str]:
    """The training data paths, as `bot train` passes them to Rasa."""
    return [d for d in ("data/nlu", "data/rules", "data/stories") if (project.root / d).exists()]


def command_line(project: Project) -> str:
    """The equivalent `rasa` command, for when the worker's report is not enough."""
    data = " ".join(training_data(project))
    return f"PYTHONPATH=. {RASA_VENV.name}/bin/rasa data validate --fail-on-warnings --data {data}"


@dataclass
class Pending:
    """A running validation (None if Rasa's environment is missing), the file it writes its report to and its
    captured output (a file, so that a chatty TensorFlow never blocks on a full pipe)."""

    process: subprocess.Popen | None
    report: Path
    output: IO[bytes] | None = None


def start(project: Project) -> Pending:
    """Start Rasa's validator on the project in the background."""
    handle, name = tempfile.mkstemp(prefix="rasa-validate-", suffix=".json")
    os.close(handle)
    report = Path(name)
    if not rasa_python().exists():
        return Pending(None, report)
    # bot.runtime.rasa_env's settings; not imported from there because bot.runtime pulls in SQLAlchemy and httpx
    # (0.25 s before Rasa can even start)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(dict.fromkeys([str(project.root), str(PROJECT_DIR)])))
    for name, value in (
        ("TF_CPP_MIN_LOG_LEVEL", "2"),
        ("TF_ENABLE_ONEDNN_OPTS", "0"),
        ("SQLALCHEMY_SILENCE_UBER_WARNING", "1"),
        ("RASA_TELEMETRY_ENABLED", "false"),
    ):
        env.setdefault(name, value)
    command = [str(rasa_python()), str(WORKER), "--out", str(report), "--domain", "domain.yml"]
    command += ["--config", "config.yml", "--data", *training_data(project)]
    output = tempfile.TemporaryFile()  # noqa: SIM115 - open while the validator runs; closed by _clean_up
    process = subprocess.Popen(command, cwd=project.root, env=env, stdout=output, stderr=subprocess.STDOUT)
    return Pending(process, report, output)


def cancel(pending: Pending) -> None:
    """Stop a validation whose result is no longer wanted."""
    if pending.process is not None and pending.process.poll() is None:
        pending.process.kill()
        pending.process.wait()
    _clean_up(pending)


def _clean_up(pending: Pending) -> str:
    """Remove the report file; returns the last lines of the validator's output."""
    pending.report.unlink(missing_ok=True)
    if pending.output is None:
        return ""
    pending.output.seek(0)
    tail = pending.output.read().decode(errors="replace").strip().splitlines()[-3:]
    pending.output.close()
    return " | ".join(tail)


def finish(pending: Pending, project: Project) -> list[Problem]:
    """Wait for the validator and turn what it reported into problems."""
    if pending.process is None:
        _clean_up(pending)
        message = f"Rasa's environment {RASA_VENV.name} is missing: run `make install` (or validate with --no-rasa)"
        return [project.problem(project.config_file, 1, message, CHECK)]
    try:
        pending.process.wait(timeout=TIMEOUT_S)
        report = json.loads(pending.report.read_text() or "null")
    except json.JSONDecodeError:
        report = None
    except subprocess.TimeoutExpired:
        pending.process.kill()
        pending.process.wait()
        report = None
    output = _clean_up(pending)
    if report is None:
        message = f"rasa data validate did not finish (exit code {pending.process.returncode}): {output}"
        return [project.problem(project.domain_file, 1, message, CHECK)]
    problems = [
        project.problem(path, line, _one_line(item["text"]), CHECK)
        for item in report["messages"]
        for path, line in locate(project, item["text"])
    ]
    if not report["ok"] and not problems:
        message = f"rasa data validate failed without naming a problem; run `{command_line(project)}` to see why"
        problems.append(project.problem(project.domain_file, 1, message, CHECK))
    return problems


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.strip().splitlines() if part.strip())


def locate(project: Project, text: str) -> list[tuple[Path, int]]:
    """Where a Rasa message points to: every (file, line) it is about, at least one."""
    quoted = re.findall(r"'([^'\n]+)'", text)
    data_blocks = [b for b in project.story_blocks if b.path.is_relative_to(project.data)]
    domain = project.domain
    # a file (and line) named by the message: YAML schema errors and the readers' "Issue found in '...'"
    named = next((project.root / q for q in quoted if q.endswith((".yml", ".yaml"))), None)
    if named is not None:
        return [(named, _line_in(project, named, text, quoted))]
    if match := re.match(r"The example '(.*)' was found labeled with multiple", text, re.S):
        places = [
            (b.path, e.line)
            for b in project.nlu_blocks
            if b.kind == "intent"
            for e in b.examples
            if plain_text(e.text) == match[1]
        ]
        return places or [(project.domain_file, 1)]
    if match := re.match(r"The (?:action|form) '([^']+)' is used in the (?:'(.*)' block|stories)", text):
        steps = _steps_naming(data_blocks, match[1], match[2])
        return steps or [(project.domain_file, 1)]
    if match := re.match(r"The intent '([^']+)' is used in your stories", text):
        return _steps_naming(data_blocks, match[1], None) or [(project.domain_file, 1)]
    if match := re.search(r"labeled with intent '([^']+)'", text):
        blocks = [b for b in project.nlu_blocks if b.kind == "intent" and b.name == match[1]]
        return [(b.path, b.line) for b in blocks] or [(project.domain_file, 1)]
    if match := re.match(r"Story structure conflict", text):
        blocks = [b for b in data_blocks if b.name in quoted]
        return [(b.path, b.line) for b in blocks] or [(project.domain_file, 1)]
    if "config file" in text:
        return [(project.config_file, 1)]
    for name in quoted:  # the intent, response, slot, form ... the message is about
        for section in (domain.intents, domain.responses, domain.actions, domain.slots, domain.forms, domain.entities):
            if name in section:
                return [(project.domain_file, section[name])]
        block = next((b for b in data_blocks if b.name == name), None)
        if block:
            return [(block.path, block.line)]
    return [(project.domain_file, 1)]


def _line_in(project: Project, path: Path, text: str, quoted: list[str]) -> int:
    """The line of `path` a reader's or schema message is about: the line it names, else the entry, story,
    rule or step it quotes, else the first file line that contains one of the message's own lines, else 1."""
    if match := re.search(r"(?:in \S+?:|in Line )(\d+):", text):
        return int(match[1])
    blocks = [(b.name, b.line) for b in project.nlu_blocks + project.story_blocks if b.path == path]
    steps = [b for b in project.story_blocks if b.path == path]
    for name in quoted:
        line = next((line for block, line in blocks if block == name), None)
        step = next(iter(_steps_naming(steps, name, None)), None)
        if line or step:
            return line or step[1]
    for block in project.story_blocks:
        for step in block.steps if block.path == path else []:
            if str(construct(step)) in text:
                return line_of(step)
    source = project.lines(path) if path.exists() else []
    for part in (p.strip() for p in text.splitlines()[1:]):
        if len(part) > 3:
            line = next((i for i, ln in enumerate(source, 1) if part in ln), None)
            if line:
                return line
    return 1


def _steps_naming(blocks: list[StoryBlock], name: str, block_name: str | None) -> list[tuple[Path, int]]:
    """The steps (of the block `block_name`, if given) that use `name` as intent, action or active loop."""
    return [
        (block.path, line_of(step))
        for block in blocks
        if block_name is None or block.name == block_name
        for step in block.conditions + block.steps
        if name in (scalar(get(step, "intent")), scalar(get(step, "action")), scalar(get(step, "active_loop")))
    ]
