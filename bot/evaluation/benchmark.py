"""`python -m bot bench`: REST-channel throughput and latency, training time, model load time, peak memory.

Starts its own action server and Rasa server (ports 16055/16005, fresh SQLite databases) and drives full
troubleshooting conversations (greeting, problem description with knowledge-base search, step answers,
rating) in German and English, first one at a time, then 20 at once. Writes the figures to BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import os
import platform
import random
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from rich.console import Console

from bot import runtime
from bot.db import make_engine, make_session_factory, migrate
from bot.evaluation.report import cpu_seconds, replace_section
from bot.kb.importer import import_articles
from bot.settings import PROJECT_DIR, get_settings

CONVERSATIONS = [
    [
        "Hallo",
        "Mein Handy lädt nicht mehr richtig",
        "/deny",
        "nein, immer noch nicht",
        "ja, jetzt geht es",
        '/rate{"rating": "5"}',
    ],
    [
        "hi there",
        "my camera says the memory card is locked",
        "no, still the same",
        "/deny",
        "yes that fixed it",
        '/rate{"rating": "4"}',
    ],
    ["Guten Tag", "Mein Laptop wird sehr heiß und der Lüfter ist laut", "/deny", "/affirm", "danke", "tschüss"],
    ["hello", "wifi on my laptop keeps dropping out", "didn't help", "/deny", "/affirm", '/rate{"rating": "5"}'],
]


def _peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process and its child processes (Sanic workers), in MB."""
    total = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            total += int(line.split()[1]) / 1024
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in children.read_text().split():
            total += _peak_rss_mb(int(child))
    return total


async def _conversation(
    client: httpx.AsyncClient, url: str, messages: list[str], latencies: list[float], interval: float = 0.0
) -> None:
    """One conversation; with `interval`, each message is sent `interval` s after the previous one was sent
    (or as soon as its reply arrived, if that took longer)."""
    sender = f"bench-{uuid.uuid4().hex[:12]}"
    for message in messages:
        started = time.perf_counter()
        response = await client.post(url, json={"sender": sender, "message": message})
        response.raise_for_status()
        elapsed = time.perf_counter() - started
        latencies.append(elapsed)
        if interval > elapsed:
            await asyncio.sleep(interval - elapsed)


async def _load(
    url: str, concurrency: int, conversations: int, rate: float | None = None, keepalive: bool = True
) -> dict:
    """Run `conversations` conversations with `concurrency` of them in flight at any time: back to back
    (closed loop), or paced so that together they offer `rate` messages per second."""
    interval = concurrency / rate if rate else 0.0
    latencies: list[float] = []
    queue: asyncio.Queue[list[str]] = asyncio.Queue()
    for i in range(conversations):
        queue.put_nowait(CONVERSATIONS[i % len(CONVERSATIONS)])
    starts = random.Random(7)

    async def worker(client: httpx.AsyncClient) -> None:
        # paced customers start at independent moments: messages arrive spread out, not in bursts of `concurrency`
        await asyncio.sleep(starts.uniform(0, interval))
        while not queue.empty():
            await _conversation(client, url, queue.get_nowait(), latencies, interval)

    # without keep-alive every message opens a connection, so the kernel spreads them over all Sanic workers
    pool = concurrency + 5 if keepalive else 0
    limits = httpx.Limits(max_connections=concurrency + 5, max_keepalive_connections=pool)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "concurrency": concurrency,
        "messages": len(latencies),
        "seconds": elapsed,
        "msg_per_s": len(latencies) / elapsed,
        "p50_ms": statistics.median(ordered) * 1000,
        "p95_ms": ordered[int(0.95 * (len(ordered) - 1))] * 1000,
    }


def _train_seconds(console: Console) -> float:
    """Full training from scratch into a temporary folder (the project's model is left alone)."""
    out = Path(tempfile.mkdtemp(prefix="bench-train-"))
    try:
        started = time.perf_counter()
        subprocess.run(
            runtime.train_command(out, "--force", "--quiet"),
            cwd=PROJECT_DIR,
            env=runtime.rasa_env(),
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - started
    finally:
        shutil.rmtree(out, ignore_errors=True)


def run(output: Path, console: Console | None = None, train: bool = True, keepalive: bool = True) -> dict:
    """Measure everything and write `output`."""
    console = console or Console()
    base = get_settings()
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    settings = runtime.isolated_settings(
        work,
        16005,
        16055,
        search_min_score=base.search_min_score,
        redis_url=base.redis_url,
        rasa_workers=base.rasa_workers,
    )
    model = runtime.model_path(settings)
    prefix = f"REDIS_URL={base.redis_url} RASA_WORKERS={base.rasa_workers} " if base.redis_url else ""
    flags = ("" if train else " --no-train") + ("" if keepalive else " --no-keepalive")
    results: dict = {"command": f"{prefix}.venv/bin/python -m bot bench{flags}"}
    results["label"] = (
        f" - scale-out: {base.rasa_workers} Rasa workers, Redis lock store"
        if base.redis_url and base.rasa_workers > 1
        else ""
    ) + ("" if keepalive else ", a new connection per message")
    if train:
        console.print("training from scratch …")
        results["train_s"] = _train_seconds(console)
        console.print(f"  full training: {results['train_s']:.0f} s")
    migrate(settings.database_url)
    with make_session_factory(make_engine(settings.database_url))() as session:
        import_articles(session, base.kb_dir)
    actions = runtime.start_action_server(settings, work / "actions.log")
    rasa = runtime.start_rasa_server(settings, model, work / "rasa.log")
    try:
        runtime.wait_until_up(runtime.action_ready_url(settings), 60, actions)
        results["load_s"] = runtime.wait_until_up(runtime.rasa_ready_url(settings), 300, rasa)
        console.print(f"  model load (process start to serving): {results['load_s']:.1f} s")
        url = f"{settings.rasa_url}/webhooks/rest/webhook"
        asyncio.run(_load(url, 4, 8, keepalive=keepalive))  # warm-up
        results["single"] = asyncio.run(_load(url, 1, 40, keepalive=keepalive))
        console.print(f"  1 conversation:   {results['single']}")
        before = {name: cpu_seconds(p.pid) for name, p in (("rasa", rasa), ("actions", actions))}
        results["concurrent"] = asyncio.run(_load(url, 20, 200, keepalive=keepalive))
        results["cpu_ms"] = {
            name: (cpu_seconds(p.pid) - before[name]) / results["concurrent"]["messages"] * 1000
            for name, p in (("rasa", rasa), ("actions", actions))
        }
        console.print(f"  20 conversations, back to back: {results['concurrent']}")
        results["paced"] = asyncio.run(_load(url, 20, 200, rate=30.0, keepalive=keepalive))
        console.print(f"  20 conversations offering 30 msg/s: {results['paced']}")
        results["rasa_peak_mb"] = _peak_rss_mb(rasa.pid)
        results["actions_peak_mb"] = _peak_rss_mb(actions.pid)
        console.print(
            f"  peak memory: Rasa {results['rasa_peak_mb']:.0f} MB, actions {results['actions_peak_mb']:.0f} MB"
        )
    finally:
        runtime.stop(rasa, actions)
        shutil.rmtree(work, ignore_errors=True)
    _write(output, results)
    console.print(f"[green]✓[/] wrote {output}")
    return results


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _write(output: Path, r: dict) -> None:
    s, c = r["single"], r["concurrent"]
    training = f"{r['train_s']:.0f} s" if "train_s" in r else "not timed in this run (--no-train)"
    row = "| {label} | {msg_per_s:.1f} | {p50_ms:.0f} ms | {p95_ms:.0f} ms | {messages} |"
    marker = f"## First-level bot: Rasa REST channel (issue 2){r.get('label', '')}"
    section = "\n".join(
        [
            marker,
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores ({_cpu()}), "
            f"with `{r['command']}`.",
            "Each conversation: greeting, problem description (NLU + knowledge-base search in the action server),",
            "two or three step answers (free text and button payloads), rating; German and English mixed.",
            "Latency is per message, client-side, through Rasa's REST channel (SQLite tracker store).",
            "Back to back: each conversation sends its next message the moment the reply arrives (a stress test; with",
            "20 such clients latency is 20 / throughput). Paced: the 20 conversations together offer 30 msg/s; each",
            "sends a message every 0.67 s and starts at a random moment within the first 0.67 s (seeded).",
            f"CPU per message at 20 back to back: Rasa {r['cpu_ms']['rasa']:.1f} ms, action server "
            f"{r['cpu_ms']['actions']:.1f} ms.",
            "",
            "| load | msg/s | p50 | p95 | messages |",
            "|---|---|---|---|---|",
            row.format(label="1 conversation at a time", **s),
            row.format(label="20 concurrent conversations, back to back (closed loop)", **c),
            row.format(label="20 concurrent conversations offering 30 msg/s together", **r["paced"]),
            "",
            "| figure | this bot | target | stock `rasa init` bot |",
            "|---|---|---|---|",
            f"| full training | {training} | <= 180 s | 98 s |",
            f"| model load (process start to serving) | {r['load_s']:.1f} s | <= 30 s | - |",
            f"| single-stream p50 | {s['p50_ms']:.0f} ms | <= 40 ms | 59 ms |",
            f"| 20 concurrent: throughput | {c['msg_per_s']:.1f} msg/s | >= 30 msg/s | 14 msg/s |",
            f"| 20 concurrent, back to back: p95 | {c['p95_ms']:.0f} ms | <= 400 ms | 1.8 s |",
            f"| 20 concurrent offering 30 msg/s: p95 | {r['paced']['p95_ms']:.0f} ms | <= 400 ms | - |",
            f"| Rasa server peak memory (VmHWM) | {r['rasa_peak_mb']:.0f} MB | - | 1.2 GB |",
            f"| action server peak memory | {r['actions_peak_mb']:.0f} MB | - | - |",
            "",
        ]
    )
    replace_section(output, marker, section)
