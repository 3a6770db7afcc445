"""Command line: `python -m bot <command>`. Installs, trains, imports the knowledge base, runs and checks."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from bot.settings import VAR_DIR, get_settings

app = typer.Typer(
    help="Support bot: first-level Rasa assistant with a knowledge-base action server.", no_args_is_help=True
)
kb_app = typer.Typer(help="Knowledge base: validate, import, search, calibrate.", no_args_is_help=True)
eval_app = typer.Typer(help="Quality evaluations on held-out files.", no_args_is_help=True)
app.add_typer(kb_app, name="kb")
app.add_typer(eval_app, name="eval")
console = Console()


def _step(message: str) -> None:
    console.print(f"[bold cyan]▸[/] {message}")


@app.command()
def migrate() -> None:
    """Bring the app database to the latest schema."""
    from bot.db import migrate as run_migrations

    settings = get_settings()
    _step(f"Migrating {settings.database_url.split('@')[-1]}")
    run_migrations(settings.database_url)


@app.command("validate")
def validate(
    rasa: Annotated[bool, typer.Option(help="Also run `rasa data validate --fail-on-warnings` (slow part).")] = True,
) -> None:
    """Check data/, domain.yml, config.yml and tests/stories; prints each problem as `path:line: message`."""
    from bot.settings import PROJECT_DIR
    from bot.validation import run_all

    started = time.perf_counter()
    problems = run_all(PROJECT_DIR, rasa=rasa)
    seconds = time.perf_counter() - started
    for problem in problems:
        typer.echo(str(problem))
    if problems:
        typer.echo(f"{len(problems)} problem{'s' * (len(problems) != 1)} ({seconds:.1f} s)", err=True)
        raise typer.Exit(1)
    checks = "" if rasa else " (without rasa data validate)"
    console.print(
        f"[green]✓[/] data/, domain.yml, config.yml and tests/stories valid{checks} in {seconds:.1f} s", soft_wrap=True
    )


@kb_app.command("validate")
def kb_validate() -> None:
    """Check every article file; prints each problem with its file."""
    from bot.kb.files import ArticleFileError, load_articles

    try:
        articles = load_articles(get_settings().kb_dir)
    except ArticleFileError as exc:
        for problem in exc.problems:
            console.print(f"[red]✗[/] {problem}")
        raise typer.Exit(1) from exc
    console.print(f"[green]✓[/] {len(articles)} articles valid")


@kb_app.command("import")
def kb_import() -> None:
    """Validate the article files and load them into the database (only changed articles are re-embedded)."""
    from bot.db import make_engine, make_session_factory
    from bot.kb.files import ArticleFileError
    from bot.kb.importer import import_articles

    settings = get_settings()
    engine = make_engine(settings.database_url)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("Importing knowledge base", total=None)
        try:
            with make_session_factory(engine)() as session:
                report = import_articles(
                    session, settings.kb_dir, progress=lambda a: bar.update(task, description=f"Importing {a}")
                )
        except ArticleFileError as exc:
            for problem in exc.problems:
                console.print(f"[red]✗[/] {problem}")
            raise typer.Exit(1) from exc
    engine.dispose()
    console.print(
        f"[green]✓[/] knowledge base revision {report.revision}: {len(report.added)} added, "
        f"{len(report.updated)} updated, {len(report.removed)} removed, {report.unchanged} unchanged"
    )


@kb_app.command("search")
def kb_search(
    text: str,
    language: Annotated[str | None, typer.Option("--lang")] = None,
    category: Annotated[str | None, typer.Option()] = None,
    brand: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Show what the bot's search returns for a problem description."""
    from bot.db import make_engine, make_session_factory
    from bot.kb.service import KnowledgeBase

    kb = KnowledgeBase(make_session_factory(make_engine(get_settings().database_url)))
    for match in kb.search(text, language=language, category=category, brand=brand, limit=5):
        console.print(
            f"{match.score:6.3f}  {match.article_id:40s} fused={match.fused:.3f} "
            f"bm25={match.lexical:.2f} cos={match.semantic:.3f}"
        )


@kb_app.command("calibrate")
def kb_calibrate() -> None:
    """Fit the search's score calibration on the articles' own phrasings and the out-of-scope training
    examples (never on the held-out evaluation file); writes bot/kb/calibration.json."""
    from bot.evaluation.calibration import fit_and_save

    fit_and_save(console)


@app.command()
def train(force: Annotated[bool, typer.Option(help="Retrain even if the data did not change.")] = False) -> None:
    """Train the Rasa model if the training data changed since the last model."""
    from bot.runtime import train as run_training

    path, seconds = run_training(get_settings(), force=force, log=_step)
    if seconds is not None:
        console.print(f"[green]✓[/] trained {path.name} in {seconds:.0f} s")


@app.command()
def retrain(
    force: Annotated[bool, typer.Option(help="Retrain even if the server runs the model for the data.")] = False,
    finetune: Annotated[
        bool, typer.Option(help="Fine-tune the running model when the NLU data changed (off: from scratch).")
    ] = True,
) -> None:
    """Validate, retrain, test and swap the running Rasa server's model; the old model keeps running unless the
    new one passes the test stories (bot/retrain.py)."""
    import asyncio

    from rich.progress import BarColumn

    from bot.retrain import RetrainJob, RetrainStatus

    settings = get_settings()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"))
    with Progress(*columns, TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("starting", total=100)
        stages: list[str] = []

        def show(status: RetrainStatus) -> None:
            if not stages or stages[-1] != status.stage:
                stages.append(status.stage)
                bar.console.print(f"[bold cyan]▸[/] {status.stage}: {status.message}")
            bar.update(task, completed=status.percent, description=f"{status.stage}: {status.message}"[:70])

        job = RetrainJob(
            settings,
            stories_dir=getattr(settings, "test_stories_dir", None),
            reason="python -m bot retrain",
            finetune=finetune,
            force=force,
            on_progress=show,
        )
        result = asyncio.run(job.run())
    for stage, seconds in result.stage_seconds.items():
        console.print(f"  {stage:<11} {seconds:6.1f} s")
    if result.stage != "done":
        console.print("\n".join(result.output_tail), markup=False, highlight=False)
        kept = f"; the Rasa server keeps {result.previous_model}" if result.previous_model else ""
        console.print(f"[red]✗[/] {result.message}{kept}")
        raise typer.Exit(1)
    mode = f", {result.training_mode}" if result.training_mode else ""
    console.print(f"[green]✓[/] {result.message} (in {result.elapsed_s:.0f} s{mode})")


@app.command()
def install() -> None:
    """Install the Rasa environment, migrate the database, import the knowledge base, train the model."""
    from bot.runtime import ensure_rasa_env

    ensure_rasa_env(log=_step)
    migrate()
    kb_import()
    train()


def _stop_on_sigterm(*_: object) -> None:
    """SIGTERM stops `run` the same way as Ctrl-C (children are stopped in its `finally`)."""
    raise KeyboardInterrupt


PR_SET_PDEATHSIG = 1  # prctl(2): the signal the kernel sends this process when its parent ends


def _stop_with_parent() -> None:
    """On Linux, have the kernel send SIGTERM to this process when the one that started it ends, so a killed make
    stops `run` during installation and start-up too (SIGTERM stops it like Ctrl-C). `_supervise` also checks the
    parent, for other systems and for a parent that ended before this call."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _supervise(processes: list[subprocess.Popen], started_by: int | None) -> str:
    """Wait while every process runs and, when `started_by` is given, that parent process lives; returns why it
    ended. `make run` gives make's pid: make passes SIGTERM and Ctrl-C on to `run`, but when make is killed its
    recipe's command keeps running, and the services would hold their ports until someone finds them."""
    while True:
        if any(process.poll() is not None for process in processes):
            return "A process stopped; see var/logs/."
        if started_by is not None and os.getppid() != started_by:
            return "The command that started this one (make) ended: stopping everything."
        time.sleep(0.5)


@app.command()
def run() -> None:
    """Install what is missing, then start the action server, the Rasa server and the hub (Ctrl-C stops all)."""
    from bot import runtime

    signal.signal(signal.SIGTERM, _stop_on_sigterm)  # from the start: nothing started is left behind
    started_by = os.getppid() if "MAKELEVEL" in os.environ else None  # set by make for its recipes' commands
    if started_by is not None:
        _stop_with_parent()
    settings = get_settings()
    processes: list[subprocess.Popen] = []
    try:
        install()
        VAR_DIR.mkdir(exist_ok=True)
        logs = VAR_DIR / "logs"
        logs.mkdir(exist_ok=True)
        _step(f"Starting the action server on {settings.action_host}:{settings.action_port}")
        processes.append(actions := runtime.start_action_server(settings, logs / "actions.log"))
        _step(f"Starting the Rasa server on {settings.rasa_host}:{settings.rasa_port} (log: var/logs/rasa.log)")
        processes.append(rasa := runtime.start_rasa_server(settings, runtime.model_path(settings), logs / "rasa.log"))
        runtime.bootstrap_admin()
        _step(f"Starting the handoff hub on {settings.hub_host}:{settings.hub_port} (log: var/logs/hub.log)")
        processes.append(hub := runtime.start_hub(settings, logs / "hub.log"))
        runtime.wait_until_up(runtime.action_ready_url(settings), 60, actions)
        runtime.wait_until_up(runtime.hub_ready_url(settings), 60, hub)
        seconds = runtime.wait_until_up(runtime.rasa_ready_url(settings), 180, rasa)
        console.print(f"[green]✓[/] Everything is up (model loaded in {seconds:.0f} s).")
        console.print(f"  Demo shop with the chat widget: {settings.hub_url}/shop")
        console.print(f"  Agent console:                  {settings.hub_url}/console  (first admin: user 'admin',")
        console.print("                                  password in var/admin_password)")
        console.print(f"  API description:                {settings.hub_url}/api/v1/openapi.json")
        console.print(
            f"  The bot alone: curl -s {settings.rasa_url}/webhooks/rest/webhook -H 'Content-Type: application/json' "
            '-d \'{"sender": "me", "message": "Mein Handy lädt nicht mehr"}\''
        )
        console.print("  or: .venv/bin/python -m bot chat      (Ctrl-C here stops everything)")
        console.print(f"[red]{_supervise(processes, started_by)}[/]")
    except KeyboardInterrupt:
        pass
    finally:
        runtime.stop(*reversed(processes))


@app.command()
def chat(sender: str = "cli-user") -> None:
    """Chat with the running bot in the terminal (REST channel)."""
    import httpx

    settings = get_settings()
    console.print("Type a message (empty line to quit). Buttons are shown as [payload].")
    while True:
        message = console.input("[bold]you>[/] ").strip()
        if not message:
            return
        reply = httpx.post(
            f"{settings.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": message}, timeout=30
        ).json()
        for item in reply:
            if item.get("text"):
                console.print(f"[bold green]bot>[/] {item['text']}")
            for b in item.get("buttons", []):
                console.print(f"      [{b['payload']}] {b['title']}")
            if "handoff" in (item.get("custom") or {}):
                console.print_json(json.dumps(item["custom"]["handoff"]))


@app.command()
def status() -> None:
    """Show whether the database, knowledge base, model, action server, Rasa server and hub are ready."""
    import httpx

    from bot import runtime
    from bot.db import make_engine, make_session_factory
    from bot.kb.importer import current_revision

    settings = get_settings()
    ok = True
    try:
        with make_session_factory(make_engine(settings.database_url))() as session:
            console.print(f"[green]✓[/] database: knowledge base revision {current_revision(session)}")
    except Exception as exc:  # noqa: BLE001 - status reports any failure
        ok = False
        console.print(f"[red]✗[/] database: {exc.__class__.__name__}: {exc}")
    model = runtime.model_path(settings)
    ok &= model.exists()
    console.print(
        f"{'[green]✓' if model.exists() else '[red]✗'}[/] model {model.name}"
        f"{'' if model.exists() else ' missing: run `python -m bot train`'}"
    )
    for name, url in (
        ("action server", runtime.action_ready_url(settings)),
        ("Rasa server", runtime.rasa_ready_url(settings)),
        ("handoff hub", runtime.hub_ready_url(settings)),
    ):
        try:
            up = httpx.get(url, timeout=3).status_code == 200
        except httpx.HTTPError:
            up = False
        ok &= up
        console.print(f"{'[green]✓' if up else '[red]✗'}[/] {name} {'up' if up else 'not reachable'}")
    raise typer.Exit(0 if ok else 1)


@app.command()
def schema() -> None:
    """Write the handoff packet's JSON schema to docs/handoff-packet.schema.json."""
    from bot.handoff_packet import SCHEMA_FILE, json_schema

    SCHEMA_FILE.write_text(json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n")
    console.print(f"[green]✓[/] wrote {SCHEMA_FILE}")


@eval_app.command("search")
def eval_search(
    file: Path = Path("tests/eval/kb_queries.yml"),
    compare: Annotated[bool, typer.Option(help="Also measure BM25 alone, e5 alone and multilingual USE.")] = False,
) -> None:
    """Recall@1/@3 per language of the knowledge-base search on the held-out query file."""
    from bot.evaluation.search import run

    run(file, compare=compare, console=console)


@eval_app.command("nlu")
def eval_nlu(files: list[Path] = [Path("tests/eval/nlu_test_en.yml"), Path("tests/eval/nlu_test_de.yml")]) -> None:  # noqa: B006
    """Intent and entity F1 per language on the held-out NLU test files, against the running Rasa server."""
    from bot.evaluation.nlu import run

    if not run(files, console=console):
        raise typer.Exit(1)


@app.command()
def bench(
    output: Path = Path("BENCHMARKS.md"),
    train: Annotated[bool, typer.Option(help="Also time a full training from scratch.")] = True,
    keepalive: Annotated[bool, typer.Option(help="Reuse client connections (off: spread over Rasa workers).")] = True,
) -> None:
    """Benchmark: throughput and latency of the REST channel, training and load time, memory."""
    from bot.evaluation.benchmark import run as run_benchmark

    run_benchmark(output, console=console, train=train, keepalive=keepalive)


@app.command("bench-retrain")
def bench_retrain(
    output: Path = Path("BENCHMARKS.md"),
    quality: Annotated[bool, typer.Option(help="Also measure the new models' held-out intent F1.")] = True,
) -> None:
    """Benchmark the knowledge loop: time from a one-example change to the retrained model serving."""
    from bot.evaluation.retrain_benchmark import run as run_benchmark

    run_benchmark(output, console=console, quality=quality)
