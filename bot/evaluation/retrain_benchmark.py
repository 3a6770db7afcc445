"""`python -m bot bench-retrain`: time from an editor's change to the new model serving (bot/retrain.py).

Starts its own Rasa server (port 16105, fresh SQLite tracker store, a copy of the current model in a temporary
models folder) on a temporary copy of the project's training data, then makes three changes one after the
other and runs a `RetrainJob` for each: a rule renamed (no NLU change: Rasa's cache restores the NLU part),
one English NLU example added (the default path: fine-tuning the running model), and one more example with
fine-tuning switched off (training from scratch, for comparison). While the jobs run, a client sends
`POST /model/parse` every 0.25 s to see how long the server stops answering while it loads a new model.
Optionally measures the intent F1 of the fine-tuned and the from-scratch model on the held-out NLU files.
Writes the figures to BENCHMARKS.md under "## Knowledge loop: background retrain".
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from rich.console import Console

from bot import runtime
from bot.evaluation.benchmark import _cpu
from bot.evaluation.report import replace_section
from bot.retrain import STAGES, RetrainJob, RetrainStatus
from bot.settings import PROJECT_DIR, get_settings

MARKER = "## Knowledge loop: background retrain"
RASA_PORT, ACTION_PORT = 16105, 16155  # the action server is not started: the job and the probe do not need it
HELD_OUT = ("tests/eval/nlu_test_en.yml", "tests/eval/nlu_test_de.yml")


@dataclass
class Scenario:
    name: str
    change: Callable[[Path], None]
    finetune: bool = True


@dataclass
class Outcome:
    scenario: str
    status: RetrainStatus
    change_to_serving_s: float
    longest_unanswered_s: float
    probe_p50_ms: float
    foreign_cpu_s: float  # CPU time used by processes outside the benchmark meanwhile: disturbance
    model_path: Path | None = None
    intent_f1: dict[str, float] = field(default_factory=dict)


def _add_example(relative: str, intent: str, example: str) -> Callable[[Path], None]:
    """Add `example` plus a new word each run: Rasa's training cache (kept across runs) must not have the
    resulting NLU data, or the row would time a cache hit instead of a training."""

    def change(project: Path) -> None:
        path = project / relative
        text = path.read_text()
        anchor = f"- intent: {intent}\n  examples: |\n"
        assert anchor in text, f"{relative} has no intent {intent}"
        path.write_text(text.replace(anchor, f"{anchor}    - {example} ({uuid.uuid4().hex[:6]})\n", 1))

    return change


def _rename_rule(project: Path) -> None:
    path = project / "data" / "rules" / "conversation.yml"
    text = path.read_text()
    assert "- rule: thanks\n" in text
    path.write_text(text.replace("- rule: thanks\n", "- rule: thanks (renamed by the benchmark)\n", 1))


SCENARIOS = [
    Scenario("a rule renamed (no NLU change)", _rename_rule),
    Scenario("one English NLU example added", _add_example("data/nlu/en/basics.yml", "greet", "hiya, anyone on duty")),
    Scenario(
        "one more NLU example, fine-tuning off (from scratch)",
        _add_example("data/nlu/en/basics.yml", "greet", "hello, is somebody there today"),
        finetune=False,
    ),
]


async def _probe(url: str, token: str, stop: asyncio.Event, samples: list[tuple[float, float | None]]) -> None:
    """POST /model/parse every 0.25 s; records (sent at, seconds until answered or None)."""
    async with httpx.AsyncClient(params={"token": token}, timeout=120) as client:
        while not stop.is_set():
            sent = time.perf_counter()
            try:
                response = await client.post(f"{url}/model/parse", json={"text": "hello"})
                samples.append((sent, time.perf_counter() - sent if response.status_code == 200 else None))
            except httpx.HTTPError:
                samples.append((sent, None))
            await asyncio.sleep(max(0.0, 0.25 - (time.perf_counter() - sent)))


def _longest_gap(samples: list[tuple[float, float | None]]) -> float:
    """Longest time the server gave no answer: the slowest request, or a run of failed ones."""
    longest, down_since = 0.0, None
    for sent, seconds in samples:
        if seconds is None:
            down_since = sent if down_since is None else down_since
            continue
        end = sent + seconds
        longest = max(longest, end - (down_since if down_since is not None else sent))
        down_since = None
    return longest


def _busy_cpu_s() -> float:
    """CPU time all processes used since boot (user, nice, system, irq, softirq, steal), from /proc/stat."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(v) for v in Path("/proc/stat").read_text().split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu_s(rasa_pid: int) -> float:
    """CPU time of this process, its finished children (the job's subprocesses) and the Rasa server."""
    own = os.times()
    fields = Path(f"/proc/{rasa_pid}/stat").read_text().rsplit(")", 1)[1].split()
    rasa = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own.user + own.system + own.children_user + own.children_system + rasa


async def _run_scenario(
    scenario: Scenario, settings, project: Path, work: Path, console: Console, rasa_pid: int
) -> Outcome:
    samples: list[tuple[float, float | None]] = []
    stop = asyncio.Event()
    probe = asyncio.create_task(_probe(settings.rasa_url, settings.resolved_rasa_token(), stop, samples))
    last: list = [None]

    def show(status: RetrainStatus) -> None:
        if status.stage != last[0]:
            last[0] = status.stage
            console.print(f"  {status.elapsed_s:6.1f} s  {status.stage}: {status.message}")

    await asyncio.sleep(1)
    busy, own = _busy_cpu_s(), _own_cpu_s(rasa_pid)
    changed = time.perf_counter()
    scenario.change(project)
    job = RetrainJob(
        settings,
        project_dir=project,
        reason=scenario.name,
        finetune=scenario.finetune,
        on_progress=show,
        work_root=work / "jobs",
    )
    status = await job.run()
    serving = time.perf_counter() - changed
    foreign = (_busy_cpu_s() - busy) - (_own_cpu_s(rasa_pid) - own)
    await asyncio.sleep(1)
    stop.set()
    await probe
    answered = [s for _, s in samples if s is not None]
    model = settings.models_dir / status.model if status.model else None
    return Outcome(
        scenario.name,
        status,
        serving,
        _longest_gap(samples),
        statistics.median(answered) * 1000 if answered else float("nan"),
        foreign,
        model,
    )


def _intent_f1(model: Path, work: Path) -> dict[str, float]:
    scores = {}
    for file in HELD_OUT:
        out = work / f"nlu-{model.stem}-{Path(file).stem}"
        subprocess.run(
            [str(runtime.rasa_executable()), "test", "nlu", "--nlu", file, "--model", str(model), "--out", str(out)],
            cwd=PROJECT_DIR,
            env=runtime.rasa_env(),
            check=True,
            capture_output=True,
        )
        report = json.loads((out / "intent_report.json").read_text())
        scores[Path(file).stem.rsplit("_", 1)[-1]] = report["weighted avg"]["f1-score"]
    return scores


def run(output: Path, console: Console | None = None, quality: bool = True) -> list[Outcome]:
    """Run the scenarios against an own Rasa server and write `output`."""
    console = console or Console()
    base = get_settings()
    model = runtime.model_path(base)
    if not model.exists():
        raise SystemExit(f"no trained model {model.name}: run `python -m bot train` first")
    load = os.getloadavg()
    console.print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    work = Path(tempfile.mkdtemp(prefix="bench-retrain-"))
    settings = runtime.isolated_settings(work, RASA_PORT, ACTION_PORT, models_dir=work / "models")
    settings.models_dir.mkdir()
    shutil.copy2(model, settings.models_dir / model.name)
    project = work / "project"
    for entry in ("config.yml", "domain.yml", "data", "tests/stories"):
        (project / entry).parent.mkdir(parents=True, exist_ok=True)
        source = PROJECT_DIR / entry
        shutil.copytree(source, project / entry) if source.is_dir() else shutil.copy2(source, project / entry)
    rasa = runtime.start_rasa_server(settings, settings.models_dir / model.name, work / "rasa.log")
    outcomes: list[Outcome] = []
    try:
        runtime.wait_until_up(runtime.rasa_ready_url(settings), 600, rasa)
        for scenario in SCENARIOS:
            console.print(f"[bold]{scenario.name}[/]")
            outcome = asyncio.run(_run_scenario(scenario, settings, project, work, console, rasa.pid))
            outcomes.append(outcome)
            s = outcome.status
            console.print(
                f"  {s.stage} ({s.training_mode}); change to new model serving {outcome.change_to_serving_s:.1f} s; "
                f"longest unanswered /model/parse {outcome.longest_unanswered_s:.1f} s; other processes used "
                f"{outcome.foreign_cpu_s:.0f} CPU-s meanwhile"
            )
            if s.stage != "done":
                console.print("\n".join(s.output_tail))
                break
        if quality:
            for outcome in outcomes[1:]:
                if outcome.model_path and outcome.model_path.exists():
                    console.print(f"held-out intent F1 of {outcome.model_path.name} …")
                    outcome.intent_f1 = _intent_f1(outcome.model_path, work)
                    console.print(f"  {outcome.intent_f1}")
    finally:
        runtime.stop(rasa)
        shutil.rmtree(work, ignore_errors=True)
    _write(output, outcomes, load, quality)
    console.print(f"[green]✓[/] wrote {output}")
    return outcomes


def _write(output: Path, outcomes: list[Outcome], load: tuple[float, float, float], quality: bool) -> None:
    stage_names = [str(s) for s in STAGES]
    rows = []
    for o in outcomes:
        seconds = [f"{o.status.stage_seconds.get(name, 0):.1f} s" for name in stage_names]
        f1 = " / ".join(f"{o.intent_f1[lang]:.3f}" for lang in ("en", "de")) if o.intent_f1 else "-"
        rows.append(
            f"| {o.scenario} | {o.status.stage} | {o.status.training_mode or '-'} | {' | '.join(seconds)} | "
            f"**{o.change_to_serving_s:.1f} s** | {o.longest_unanswered_s:.1f} s | {o.foreign_cpu_s:.0f} | {f1} |"
        )
    command = ".venv/bin/python -m bot bench-retrain" + ("" if quality else " --no-quality")
    section = "\n".join(
        [
            MARKER,
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores ({_cpu()}), load average "
            f"before {load[0]:.2f}, with `{command}`.",
            "Each row is one `RetrainJob` (bot/retrain.py) against a running Rasa server (its own, on a copy of the",
            "current model and data), after one change to the data; the rows build on each other. Change to",
            "serving: from writing the file to the server running the new model (checked with GET /status and",
            "POST /model/parse). Unanswered: the longest time a client sending POST /model/parse every 0.25 s got",
            "no answer while the server loads the new model (PUT /model; bot/rasa_server.py loads it in a worker",
            "thread, the current model answering meanwhile). F1: weighted intent",
            "F1 on the held-out files `tests/eval/nlu_test_{en,de}.yml` (README targets >= 0.95). Other load: CPU",
            "seconds used meanwhile by processes outside the benchmark (near 0 on a quiet machine).",
            "",
            "| change | result | how it trained | validating | training | testing | swapping | change to serving "
            "| unanswered | other load (CPU-s) | intent F1 en / de |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            "Where the time goes: validating is `python -m bot validate` on a snapshot of the data. Training first",
            "runs `rasa train` with Rasa's training cache: with the NLU data unchanged only the RulePolicy trains",
            "(row 1); when they changed, that run is stopped as soon as Rasa starts training DIET (~15 s in) and",
            "the running model is fine-tuned for 12 of the 60 epochs instead (row 2); row 3 trains all 60 epochs.",
            "Testing is mostly `rasa test` loading the candidate (~20 s) before the test stories run. Swapping is",
            "Rasa's PUT /model: the new model loads in a worker thread while the old one keeps answering (slower: the",
            "two share the interpreter), then the server switches to it. Unanswered: the longest gap the probe saw.",
            "",
        ]
    )
    replace_section(output, MARKER, section)
