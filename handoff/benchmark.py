"""`python -m handoff bench`: what the hub costs and how fast it moves tickets and messages.

1. Latency through the hub vs. straight to Rasa's REST channel, same scripted conversations, 20 at once; and
   the same against a stand-in bot that answers after a fixed time using no CPU: what the hub itself adds.
2. Handoff packet emitted -> ticket visible in an agent's live queue (agent WebSocket).
3. Agent <-> customer relay over the two WebSockets.
4. 1,000 queued tickets claimed by 50 concurrent agents over the HTTP API on PostgreSQL: no ticket claimed
   twice, none lost, claims per second.

Phases 1-3 run against their own action server, Rasa server and hub on free ports with fresh SQLite
databases; phase 4 against a second hub on a fresh PostgreSQL database (dropped afterwards). The figures are
printed and written to the "## Handoff hub" section of BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import os
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import psycopg
from aiohttp import web
from rich.console import Console
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import runtime
from bot.db import make_engine, make_session_factory, migrate
from bot.evaluation.benchmark import CONVERSATIONS, _cpu
from bot.evaluation.report import cpu_seconds, replace_section
from bot.kb.importer import import_articles
from bot.language import DEFAULT, detect_language
from bot.settings import PROJECT_DIR, VAR_DIR, Settings, get_settings
from handoff import tickets
from handoff.agents import create_agent
from handoff.db import make_async_engine, make_sessions
from handoff.models import Agent, Conversation, Ticket, Transition

COMMAND = ".venv/bin/python -m handoff bench"
POSTGRES_ADMIN = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
UNLIMITED = "100000"
HUB_ENV = {  # no rate limit in the way of the load; slow bot replies under load are measured, not cut
    "RATE_CONVERSATIONS_PER_MINUTE": UNLIMITED,
    "RATE_MESSAGES_PER_10S": UNLIMITED,
    "RATE_ADDRESS_MESSAGES_PER_MINUTE": UNLIMITED,
    "RATE_LOGINS_PER_MINUTE": UNLIMITED,
    "RASA_TIMEOUT_S": "30",  # as patient as the straight client: a slow reply is measured, not cut
}
PASSWORD = "bench-" + secrets.token_urlsafe(12)
MACHINE = "machine"  # key of the whole machine's busy CPU seconds among the processes' CPU seconds
WAIT_S = 30.0  # longest wait for any single reply or event before the run counts as broken

# 1. overhead
WORKERS = 20
CONVERSATIONS_PER_WORKER = 4
WARMUP_CONVERSATIONS = 20
ORDER = ("direct", "hub", "hub", "direct") * 2  # ABBA twice: drift and a noisy neighbour hit both sides alike
PACED_RATE = 30.0  # messages per second the paced customers offer together (as in `python -m bot bench`)
OVERHEAD_TARGET = 1.10
QUIET_CORES = 0.25  # a run during which other processes on the machine used more CPU than this is repeated ...
QUIET_RETRIES = 2  # ... at most this often (then kept, and its "other processes" column shows it)
STAND_IN_DELAY_S = 0.025  # the stand-in bot's answer time: about Rasa's p50 on an unloaded machine (1a straight)
STAND_IN_TEXT = "Which device is it: a camera, a phone or a notebook?"
STAND_IN_BUTTONS = sorted({text for script in CONVERSATIONS for text in script if text.startswith("/")})
# 2. handoff -> live queue
HANDOFFS = 60
HANDOFF_CONCURRENCY = 10
HANDOFF_TEXT = {"en": "I want to talk to a human", "de": "Ich möchte mit einem Menschen sprechen"}
QUEUE_TARGET_MS = 200
# 3. relay
RELAY_CHATS = 10
RELAY_ROUNDS = 50  # per chat and direction: 10 x 50 = 500 messages each way
RELAY_PACE_S = 0.5  # paced: every chat has one round (customer, agent) per 0.5 s: 40 messages/s in all
RELAY_PACED_ROUNDS = 30
RELAY_ALONE = 100  # finally, agent messages one at a time (for comparison)
RELAY_TARGET_MS = 50
RELAY_LABELS = {
    "agent_to_customer": f"agent -> customer, {RELAY_CHATS} chats back to back",
    "customer_to_agent": f"customer -> agent, {RELAY_CHATS} chats back to back",
    "paced_agent_to_customer": f"agent -> customer, {RELAY_CHATS} chats, a round every {RELAY_PACE_S} s",
    "paced_customer_to_agent": f"customer -> agent, {RELAY_CHATS} chats, a round every {RELAY_PACE_S} s",
    "agent_to_customer_alone": "agent -> customer, one message at a time",
}
# 4. claims on PostgreSQL
CLAIM_TICKETS = 1000
CLAIM_AGENTS = 50
CLAIM_PICK_FROM = 5  # each agent picks at random among the first few queued tickets: real contention


# -- figures -------------------------------------------------------------------------------------------------
def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of `values` lie (same nearest-rank rule as `python -m bot bench`)."""
    ordered = sorted(values)
    return ordered[int(share * (len(ordered) - 1))]


def spread_ms(seconds: list[float]) -> dict:
    """n, p50, p95 and max of latencies given in seconds, in milliseconds (NaN when there are none)."""
    if not seconds:
        return {"n": 0, "p50_ms": math.nan, "p95_ms": math.nan, "max_ms": math.nan}
    return {
        "n": len(seconds),
        "p50_ms": statistics.median(seconds) * 1000,
        "p95_ms": percentile(seconds, 0.95) * 1000,
        "max_ms": max(seconds) * 1000,
    }


def epoch(iso: str) -> float:
    """Seconds since the epoch of the hub's ISO-8601 UTC timestamps ("...Z")."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def step(console: Console, message: str) -> None:
    console.print(f"[bold cyan]▸[/] {message}")


# -- processes and databases -------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ws_url(http_url: str) -> str:
    return "ws" + http_url.removeprefix("http")


def show_log(console: Console, name: str, path: Path) -> None:
    """The end of a service's log, on the console: shown when a phase fails."""
    console.print(f"[red]--- {name} log ---[/]\n{tail(path)}", markup=True, highlight=False)


def tail(path: Path, lines: int = 25) -> str:
    """The end of a service's log, shown when something fails (the work folder is removed afterwards)."""
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Stack:
    """The running services of phases 1-3."""

    settings: Settings
    processes: dict[str, subprocess.Popen]

    @property
    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.processes.items()}


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy so far (every process; from /proc/stat)."""
    user, nice, system, _idle, _iowait, irq, softirq = map(int, Path("/proc/stat").read_text().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def cpu_now(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of the services `pids`, of this process (the load generator) and of the machine."""
    ours = {name: cpu_seconds(pid) for name, pid in pids.items()}
    return ours | {"client": time.process_time(), MACHINE: machine_busy_seconds()}


@contextlib.contextmanager
def cpu_used(pids: dict[str, int]) -> Iterator[dict]:
    """Yields a dict that gets, per service, the CPU seconds it used meanwhile, and "other_cores": the CPU the
    rest of the machine used per second of wall time (a busy neighbour blurs every figure)."""
    before, started, found = cpu_now(pids), time.perf_counter(), {}
    yield found
    after, seconds = cpu_now(pids), time.perf_counter() - started
    found.update({name: after[name] - before[name] for name in after if name != MACHINE})
    found["other_cores"] = (after[MACHINE] - before[MACHINE] - sum(found.values())) / seconds


def postgres_pid() -> int | None:
    """The PostgreSQL server's main process (its backends are its children), if this user can see it."""
    try:
        with psycopg.connect(POSTGRES_ADMIN) as conn:
            data_directory = conn.execute("SHOW data_directory").fetchone()[0]
        return int((Path(data_directory) / "postmaster.pid").read_text().split()[0])
    except (psycopg.Error, OSError, ValueError, IndexError):
        return None


@contextlib.contextmanager
def sqlite_stack(work: Path, console: Console) -> Iterator[Stack]:
    """Action server, Rasa server and hub on free ports, fresh SQLite databases with the knowledge base."""
    base = get_settings()
    settings = runtime.isolated_settings(
        work, free_port(), free_port(), hub_port=free_port(), search_min_score=base.search_min_score
    )
    migrate(settings.database_url)
    engine = make_engine(settings.database_url)
    with make_session_factory(engine)() as session:
        import_articles(session, base.kb_dir)
    engine.dispose()
    logs = {name: work / f"{name}.log" for name in ("actions", "rasa", "hub")}
    processes: dict[str, subprocess.Popen] = {}
    try:
        processes["actions"] = actions = runtime.start_action_server(settings, logs["actions"])
        processes["rasa"] = rasa = runtime.start_rasa_server(settings, runtime.model_path(settings), logs["rasa"])
        processes["hub"] = hub = runtime.start_hub(settings, logs["hub"], **HUB_ENV)
        with console.status("starting the action server, Rasa and the hub …"):
            runtime.wait_until_up(runtime.action_ready_url(settings), 60, actions)
            runtime.wait_until_up(runtime.hub_ready_url(settings), 60, hub)
            loaded = runtime.wait_until_up(runtime.rasa_ready_url(settings), 300, rasa)
        console.print(f"  services up (Rasa model loaded after {loaded:.0f} s), hub on {settings.hub_url}")
        yield Stack(settings, processes)
    except BaseException:
        for name, path in logs.items():
            show_log(console, name, path)
        raise
    finally:
        runtime.stop(*processes.values())
        (VAR_DIR / f"endpoints-{settings.rasa_port}.yml").unlink(missing_ok=True)


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database (postgresql+psycopg:// URL), dropped afterwards whatever happens."""
    name = f"support_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- HTTP helpers ---------------------------------------------------------------------------------------------
def client(connections: int) -> aiohttp.ClientSession:
    """An HTTP client whose pool holds `connections` requests in flight at once."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections), timeout=aiohttp.ClientTimeout(total=60)
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def call(http: aiohttp.ClientSession, method: str, url: str, *, expect: int = 200, **kwargs) -> dict:
    """A JSON request that must answer `expect`; anything else raises with the hub's error body."""
    async with http.request(method, url, **kwargs) as response:
        body = await response.json(content_type=None)
        if response.status != expect:
            raise RuntimeError(f"{method} {url} answered {response.status}: {body}")
        return body


@dataclass
class Customer:
    """A conversation opened through the hub, with its secret token (and ticket, once handed off)."""

    id: str
    token: str
    language: str
    ticket_id: int | None = None


async def new_conversation(http: aiohttp.ClientSession, hub_url: str, language: str) -> Customer:
    body = await call(http, "POST", f"{hub_url}/api/v1/conversations", json={"language": language}, expect=201)
    return Customer(body["id"], body["token"], language)


async def sign_in(http: aiohttp.ClientSession, hub_url: str, username: str) -> str:
    """The agent's session token (used as Bearer token and as ?token= on the WebSocket)."""
    body = await call(
        http, "POST", f"{hub_url}/api/v1/agent/session", json={"username": username, "password": PASSWORD}
    )
    return body["token"]


# -- WebSockets -----------------------------------------------------------------------------------------------
@dataclass
class Received:
    event: dict
    wall: float  # time.time() on arrival (compared with the hub's timestamps)
    perf: float  # time.perf_counter() on arrival (compared with this process's send times)


class Listener:
    """One WebSocket read by one task. `expect(key)` (before sending) returns a future resolved on arrival.

    Keys: ("ticket", conversation_id) for ticket_queued, ("message", sender, text) for message events."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse):
        self.ws = ws
        self.errors: list[dict] = []
        self._waiting: dict[tuple, asyncio.Future[Received]] = {}
        self._reader = asyncio.create_task(self._read())

    def expect(self, key: tuple) -> asyncio.Future[Received]:
        future = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        return future

    async def wait(self, future: asyncio.Future[Received]) -> Received:
        try:
            return await asyncio.wait_for(future, WAIT_S)
        except TimeoutError:
            raise RuntimeError(f"no event within {WAIT_S:.0f} s (socket errors: {self.errors[-3:]})") from None

    async def send(self, event: dict) -> None:
        await self.ws.send_str(json.dumps(event))

    async def close(self) -> None:
        await self.ws.close()
        await self._reader

    async def _read(self) -> None:
        async for frame in self.ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            arrived = Received(json.loads(frame.data), time.time(), time.perf_counter())
            if arrived.event.get("type") == "error":
                self.errors.append(arrived.event)
            future = self._waiting.pop(_key(arrived.event), None)
            if future is not None and not future.done():
                future.set_result(arrived)


def _key(event: dict) -> tuple | None:
    if event.get("type") == "ticket_queued":
        return ("ticket", event["ticket"]["conversation_id"])
    if event.get("type") == "message":
        return ("message", event["message"]["sender"], event["message"]["text"])
    return None


async def listen(http: aiohttp.ClientSession, url: str) -> Listener:
    return Listener(await http.ws_connect(url, heartbeat=30, max_msg_size=0))


# -- 1. latency through the hub vs. straight to Rasa ---------------------------------------------------------
def script_language(messages: list[str]) -> str:
    """The language of a scripted conversation (from its free-text messages)."""
    return detect_language(" ".join(m for m in messages if not m.startswith("/"))) or DEFAULT


SCRIPTS = [(script_language(messages), messages) for messages in CONVERSATIONS]


@dataclass
class Load:
    """One closed-loop run of one side: every message's latency and the run's wall time."""

    side: str
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    off_script: int = 0  # hub conversations that left the bot (handoff, bot unavailable): would skew the ratio
    cpu_s: Counter = field(default_factory=Counter)  # CPU seconds per process during the run

    def add(self, other: Load) -> None:
        self.latencies += other.latencies
        self.seconds += other.seconds
        self.off_script += other.off_script
        self.cpu_s.update(other.cpu_s)

    def figures(self) -> dict:
        messages = len(self.latencies)
        ours = {name: cpu for name, cpu in self.cpu_s.items() if name != MACHINE}
        return {
            "side": self.side,
            "messages": messages,
            "seconds": self.seconds,
            "msg_per_s": messages / self.seconds,
            **spread_ms(self.latencies),
            "off_script": self.off_script,
            "cpu_ms_per_msg": {name: 1000 * cpu / messages for name, cpu in ours.items()},
            "other_cores": (self.cpu_s[MACHINE] - sum(ours.values())) / self.seconds,
        }


Talk = Callable[[aiohttp.ClientSession, Settings, str, list[str], Load, float], Awaitable[None]]


async def pause(started: float, interval: float) -> None:
    """Paced: the next message goes `interval` s after this one was sent (at once if its reply took longer)."""
    left = interval - (time.perf_counter() - started)
    if left > 0:
        await asyncio.sleep(left)


async def talk_direct(
    http: aiohttp.ClientSession, settings: Settings, language: str, script: list[str], load: Load, interval: float
) -> None:
    """One conversation on Rasa's REST channel, with the language hint the hub would send as metadata."""
    url, sender = f"{settings.rasa_url}/webhooks/rest/webhook", f"bench-{uuid.uuid4().hex[:12]}"
    for text in script:
        started = time.perf_counter()
        body = {"sender": sender, "message": text, "metadata": {"language": language}}
        await call(http, "POST", url, json=body)
        load.latencies.append(time.perf_counter() - started)
        await pause(started, interval)


async def talk_through_hub(
    http: aiohttp.ClientSession, settings: Settings, language: str, script: list[str], load: Load, interval: float
) -> None:
    """One conversation through the hub: create it, then post each message with the customer's token."""
    customer = await new_conversation(http, settings.hub_url, language)
    url = f"{settings.hub_url}/api/v1/conversations/{customer.id}/messages"
    for text in script:
        started = time.perf_counter()
        body = {"payload": text} if text.startswith("/") else {"text": text}  # a button, as the widget sends it
        reply = await call(http, "POST", url, json=body, headers=bearer(customer.token))
        load.latencies.append(time.perf_counter() - started)
        unavailable = any(m["meta"].get("kind") == "bot_unavailable" for m in reply["messages"])
        if reply["state"] != "bot" or unavailable:
            load.off_script += 1
            return
        await pause(started, interval)


async def conversations(stack: Stack, side: str, count: int, rate: float | None = None) -> Load:
    """`count` scripted conversations, WORKERS at a time: back to back (each message sent when the last reply
    came), or paced so that together they offer `rate` messages per second, starting at independent moments."""
    talk: Talk = talk_direct if side == "direct" else talk_through_hub
    interval = WORKERS / rate if rate else 0.0
    load = Load(side)
    todo = [SCRIPTS[i % len(SCRIPTS)] for i in range(count)]
    starts = random.Random(7)

    async def worker(http: aiohttp.ClientSession) -> None:
        await asyncio.sleep(starts.uniform(0, interval))
        while todo:
            language, script = todo.pop()
            await talk(http, stack.settings, language, script, load, interval)

    async with client(WORKERS + 5) as http:
        cpu, started = cpu_now(stack.pids), time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(WORKERS)))
        load.seconds = time.perf_counter() - started
        load.cpu_s.update({name: spent - cpu[name] for name, spent in cpu_now(stack.pids).items()})
    return load


def cpu_text(figures: dict) -> str:
    """CPU milliseconds per message of each process."""
    return ", ".join(f"{name} {ms:.1f}" for name, ms in figures["cpu_ms_per_msg"].items() if name != "hub" or ms)


async def overhead(stack: Stack, console: Console, rate: float | None = None) -> dict:
    """The same load straight to Rasa and through the hub, sides alternating (ORDER) after a warm-up; back to
    back, or paced at `rate` messages per second."""
    for side in ("direct", "hub"):
        await conversations(stack, side, WARMUP_CONVERSATIONS)
    runs: list[Load] = []
    repeated = 0
    for side in ORDER:
        for attempt in range(QUIET_RETRIES + 1):
            run = await conversations(stack, side, WORKERS * CONVERSATIONS_PER_WORKER, rate)
            f = run.figures()
            console.print(
                f"  {side:>6}: {f['messages']} messages, {f['msg_per_s']:.1f} msg/s, "
                f"p50 {f['p50_ms']:.0f} ms, p95 {f['p95_ms']:.0f} ms; CPU ms per message: {cpu_text(f)}; "
                f"other processes: {f['other_cores']:.2f} cores"
            )
            if f["other_cores"] <= QUIET_CORES or attempt == QUIET_RETRIES:
                break
            repeated += 1
            console.print(f"  [yellow]other processes used more than {QUIET_CORES} cores: this run is repeated[/]")
        runs.append(run)
    sides = {}
    for side in ("direct", "hub"):
        merged = Load(side)
        for run in (r for r in runs if r.side == side):
            merged.add(run)
        sides[side] = merged.figures()
    direct, hub = sides["direct"], sides["hub"]
    result = {
        "rate": rate,
        "runs": [r.figures() for r in runs],
        "repeated": repeated,
        "direct": direct,
        "hub": hub,
        "p50_ratio": hub["p50_ms"] / direct["p50_ms"],
        "p95_ratio": hub["p95_ms"] / direct["p95_ms"],
        "throughput_ratio": hub["msg_per_s"] / direct["msg_per_s"],
    }
    console.print(
        f"  hub / direct: p50 x{result['p50_ratio']:.2f}, p95 x{result['p95_ratio']:.2f}, "
        f"throughput x{result['throughput_ratio']:.2f} (target latency <= x{OVERHEAD_TARGET:.2f})"
    )
    if hub["off_script"]:
        console.print(f"  [yellow]{hub['off_script']} hub conversations left the bot mid-script[/]")
    return result


def stand_in_bot() -> web.Application:
    """In place of Rasa's REST channel (phase 1c only): every message is answered after STAND_IN_DELAY_S, with
    no CPU used meanwhile. What the hub adds to that is its own work, not a fight with Rasa for the cores. The
    answer offers the scripts' buttons, as the real bot does where the scripts press them."""
    buttons = [{"title": payload, "payload": payload} for payload in STAND_IN_BUTTONS]

    async def webhook(request: web.Request) -> web.Response:
        body = await request.json()
        await asyncio.sleep(STAND_IN_DELAY_S)
        return web.json_response([{"recipient_id": body["sender"], "text": STAND_IN_TEXT, "buttons": buttons}])

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    return app


async def hub_alone(work: Path, console: Console) -> dict:
    """Phase 1c: the paced load of 1a straight to the stand-in bot and through a hub (fresh SQLite database) in
    front of it. The stand-in runs in this process, so both sides share its CPU."""
    work.mkdir()
    settings = runtime.isolated_settings(work, free_port(), free_port(), hub_port=free_port())
    migrate(settings.database_url)
    bot = web.AppRunner(stand_in_bot(), access_log=None)
    await bot.setup()
    await web.TCPSite(bot, settings.rasa_host, settings.rasa_port).start()
    hub = runtime.start_hub(settings, work / "hub.log", **HUB_ENV)
    try:
        await asyncio.to_thread(runtime.wait_until_up, runtime.hub_ready_url(settings), 60, hub)
        return await overhead(Stack(settings, {"hub": hub}), console, PACED_RATE)
    except BaseException:
        show_log(console, "hub", work / "hub.log")
        raise
    finally:
        runtime.stop(hub)
        await bot.cleanup()


# -- 2. handoff -> ticket in the agent's live queue ---------------------------------------------------------
@dataclass
class Handoff:
    customer: Customer
    queue_s: float  # ticket queued_at (hub clock) -> agent's socket received ticket_queued
    total_s: float  # customer's POST sent -> agent's socket received ticket_queued
    hub_s: float | None  # queued_at -> the hub sent the event (its `sent_at`), i.e. the hub's own share


async def one_handoff(http: aiohttp.ClientSession, hub_url: str, agent: Listener, index: int) -> Handoff:
    """A customer asks for a person at once; the bot emits a handoff packet; the agent's socket sees the ticket."""
    language = ("en", "de")[index % 2]
    customer = await new_conversation(http, hub_url, language)
    arrival = agent.expect(("ticket", customer.id))
    sent = time.time()
    reply = await call(
        http,
        "POST",
        f"{hub_url}/api/v1/conversations/{customer.id}/messages",
        json={"text": HANDOFF_TEXT[language]},
        headers=bearer(customer.token),
    )
    if reply["state"] != "queued":
        raise RuntimeError(f"no handoff for {HANDOFF_TEXT[language]!r}: state {reply['state']}, {reply['messages']}")
    received = await agent.wait(arrival)
    ticket = received.event["ticket"]
    customer.ticket_id = ticket["id"]
    queued_at = epoch(ticket["queued_at"])
    sent_at = received.event.get("sent_at")  # not in the documented event; the hub adds it
    hub_s = sent_at - queued_at if isinstance(sent_at, int | float) else None
    return Handoff(customer, received.wall - queued_at, received.wall - sent, hub_s)


async def handoffs(http: aiohttp.ClientSession, hub_url: str, agent: Listener, console: Console) -> tuple:
    """Phase 2: HANDOFFS conversations that end in a handoff, HANDOFF_CONCURRENCY at a time."""
    gate = asyncio.Semaphore(HANDOFF_CONCURRENCY)

    async def gated(index: int) -> Handoff:
        async with gate:
            return await one_handoff(http, hub_url, agent, index)

    done = await asyncio.gather(*(gated(i) for i in range(HANDOFFS)))
    result = {
        "handoffs": len(done),
        "queue": spread_ms([h.queue_s for h in done]),
        "total": spread_ms([h.total_s for h in done]),
        "hub": spread_ms([h.hub_s for h in done if h.hub_s is not None]),
    }
    q, t = result["queue"], result["total"]
    console.print(
        f"  queued_at -> agent: p50 {q['p50_ms']:.1f} ms, p95 {q['p95_ms']:.1f} ms, max {q['max_ms']:.1f} ms "
        f"(target p95 <= {QUEUE_TARGET_MS} ms); customer POST -> agent: p50 {t['p50_ms']:.0f} ms, "
        f"p95 {t['p95_ms']:.0f} ms"
    )
    return result, [h.customer for h in done]


# -- 3. relay over WebSockets -------------------------------------------------------------------------------
@dataclass
class Chat:
    """A claimed ticket with the customer's socket open."""

    customer: Customer
    socket: Listener


async def relay_once(sender: Listener, receiver: Listener, event: dict, key: tuple) -> float:
    """Send `event` on one socket; seconds until the matching `message` event arrives on the other."""
    arrival = receiver.expect(key)
    started = time.perf_counter()
    await sender.send(event)
    return (await receiver.wait(arrival)).perf - started


async def customer_says(chat: Chat, agent: Listener, text: str) -> float:
    event = {"type": "message", "text": text, "client_id": uuid.uuid4().hex}
    return await relay_once(chat.socket, agent, event, ("message", "customer", text))


async def agent_says(chat: Chat, agent: Listener, text: str) -> float:
    event = {"type": "message", "ticket_id": chat.customer.ticket_id, "text": text, "client_id": uuid.uuid4().hex}
    return await relay_once(agent, chat.socket, event, ("message", "agent", text))


@dataclass
class Relayed:
    """Relay latencies (seconds) of one way of running the chats."""

    to_agent: list[float] = field(default_factory=list)
    to_customer: list[float] = field(default_factory=list)


async def converse(chat: Chat, agent: Listener, rounds: int, pace_s: float, relayed: Relayed) -> None:
    """A strict dialogue: the customer writes, the agent answers, `rounds` times; with `pace_s`, one round
    starts every `pace_s` seconds (chats start out of step), else each message follows the last at once."""
    if pace_s:
        await asyncio.sleep(random.uniform(0, pace_s))
    tag = f"{chat.customer.id[:6]} {pace_s}"
    for turn in range(rounds):
        started = time.perf_counter()
        relayed.to_agent.append(await customer_says(chat, agent, f"{tag} {turn}: still broken"))
        relayed.to_customer.append(await agent_says(chat, agent, f"to {tag} {turn}: please try this"))
        if pace_s:
            await asyncio.sleep(max(0.0, pace_s - (time.perf_counter() - started)))


async def relay(
    http: aiohttp.ClientSession,
    hub_url: str,
    agent_token: str,
    agent: Listener,
    customers: list[Customer],
    console: Console,
) -> dict:
    """Phase 3: the agent claims the chats; messages go back and forth over the agent's and customers' sockets.

    All chats at once, back to back (a stress test) and paced; then agent messages one at a time."""
    for customer in customers:
        url = f"{hub_url}/api/v1/agent/tickets/{customer.ticket_id}/claim"
        await call(http, "POST", url, headers=bearer(agent_token))
    chats = [
        Chat(c, await listen(http, f"{ws_url(hub_url)}/api/v1/conversations/{c.id}/ws?token={c.token}"))
        for c in customers
    ]
    stress, paced = Relayed(), Relayed()
    try:
        await asyncio.gather(*(converse(chat, agent, RELAY_ROUNDS, 0.0, stress) for chat in chats))
        await asyncio.gather(*(converse(chat, agent, RELAY_PACED_ROUNDS, RELAY_PACE_S, paced) for chat in chats))
        alone = [
            await agent_says(chats[i % len(chats)], agent, f"alone {i}: one more thing") for i in range(RELAY_ALONE)
        ]
    finally:
        for chat in chats:
            await chat.socket.close()
    result = {
        "chats": len(chats),
        "agent_to_customer": spread_ms(stress.to_customer),
        "customer_to_agent": spread_ms(stress.to_agent),
        "paced_agent_to_customer": spread_ms(paced.to_customer),
        "paced_customer_to_agent": spread_ms(paced.to_agent),
        "agent_to_customer_alone": spread_ms(alone),
    }
    for key, label in RELAY_LABELS.items():
        s = result[key]
        console.print(
            f"  {label}: {s['n']} messages, p50 {s['p50_ms']:.1f} ms, p95 {s['p95_ms']:.1f} ms, "
            f"max {s['max_ms']:.1f} ms"
        )
    return result


async def agent_phases(stack: Stack, console: Console) -> tuple[dict, dict]:
    """Phases 2 and 3 with one signed-in agent whose console socket stays open throughout."""
    settings = stack.settings
    engine = make_async_engine(settings.database_url)
    try:
        await create_agent(
            make_sessions(engine), username="bench-agent", display_name="Bench Agent", password=PASSWORD, capacity=20
        )
    finally:
        await engine.dispose()
    async with client(HANDOFF_CONCURRENCY * 2 + 10) as http:
        token = await sign_in(http, settings.hub_url, "bench-agent")
        agent = await listen(http, f"{ws_url(settings.hub_url)}/api/v1/agent/ws?token={token}")
        try:
            await call(
                http,
                "PUT",
                f"{settings.hub_url}/api/v1/agent/presence",
                json={"presence": "online"},
                headers=bearer(token),
            )
            at_once = f"{HANDOFFS} customers, {HANDOFF_CONCURRENCY} at a time"
            step(console, f"2. handoff -> ticket in the agent's live queue ({at_once})")
            with cpu_used(stack.pids) as cpu:
                queued, customers = await handoffs(http, settings.hub_url, agent, console)
            queued["other_cores"] = cpu["other_cores"]
            step(console, f"3. relay over WebSockets ({RELAY_CHATS} chats: back to back, paced, one at a time)")
            with cpu_used(stack.pids) as cpu:
                relayed = await relay(http, settings.hub_url, token, agent, customers[:RELAY_CHATS], console)
            relayed["other_cores"] = cpu["other_cores"]
            messages = sum(relayed[key]["n"] for key in RELAY_LABELS)
            relayed["hub_cpu_ms"] = cpu["hub"] * 1000 / messages  # claims included: 10 against 1,700 messages
            console.print(f"  hub CPU per relayed message: {relayed['hub_cpu_ms']:.2f} ms")
        finally:
            await agent.close()
    return queued, relayed


# -- 4. claims on PostgreSQL --------------------------------------------------------------------------------
def weighted(rng: random.Random, choices: dict) -> object:
    return rng.choices(list(choices), weights=list(choices.values()))[0]


def seed_ticket(session: AsyncSession, rng: random.Random, now: datetime) -> None:
    """One conversation handed off by the bot, with a packet and bot context as big as real ones."""
    language = weighted(rng, {"de": 6, "en": 4})
    reason = weighted(rng, {"steps_exhausted": 5, "customer_request": 3, "no_article": 1, "safety": 1})
    priority = "urgent" if reason == "safety" else weighted(rng, {"low": 1, "normal": 6, "high": 2})
    category = weighted(rng, {"phone": 4, "notebook": 3, "camera": 2, None: 1})
    summary = "Mein Handy lädt seit gestern nicht mehr." if language == "de" else "My phone stopped charging."
    token_hash = hashlib.sha256(secrets.token_bytes(16)).hexdigest()
    conversation = Conversation(id=uuid.uuid4().hex, token_hash=token_hash, language=language, state="bot")
    session.add(conversation)
    instruction = "Plug the charger straight into a wall socket and leave the phone on it for 30 minutes."
    steps = [{"step": n, "instruction": instruction, "outcome": "failed"} for n in (1, 2)]
    packet = {
        "schema_version": "1.0",
        "conversation_id": conversation.id,
        "reason": reason,
        "priority": priority,
        "language": language,
        "device": {"category": category, "brand": "Samsung", "model": "Galaxy S21"},
        "topic": "not_charging",
        "article_id": "phone-not-charging",
        "steps_tried": steps,
        "summary": summary,
        "created_at": now.isoformat(),
    }
    ticket = tickets.new_ticket(
        session,
        conversation,
        reason=reason,
        priority=priority,
        category=category,
        summary=summary,
        packet=packet,
        actor="bot",
    )
    ticket.queued_at = now - timedelta(seconds=rng.uniform(0, 1800))
    turns = [{"text": summary, "intent": "describe_problem", "confidence": 0.97}] * 4
    ticket.bot_context = {"turns": turns, "slots": {"device_category": category, "language": language}}


async def seed_tickets(url: str) -> None:
    """CLAIM_TICKETS queued tickets: mixed reason, priority, device and language, queued over the last 30 min."""
    rng, now = random.Random(7), datetime.now(UTC)
    engine = make_async_engine(url)
    try:
        async with make_sessions(engine)() as session, session.begin():
            for _ in range(CLAIM_TICKETS):
                seed_ticket(session, rng, now)
    finally:
        await engine.dispose()


async def seed_agents(url: str) -> list[str]:
    """CLAIM_AGENTS agents with no skill restrictions (they cover every ticket) and capacity 20."""
    engine = make_async_engine(url)
    names = [f"claimer-{i:02d}" for i in range(CLAIM_AGENTS)]
    try:
        for name in names:
            await create_agent(make_sessions(engine), username=name, display_name=name, password=PASSWORD, capacity=20)
    finally:
        await engine.dispose()
    return names


@dataclass
class ClaimStats:
    """What the agents saw: tickets won (200), conflicts (409 already_claimed), other refusals, latencies."""

    won: dict[str, list[int]] = field(default_factory=dict)
    conflicts: int = 0
    refused: Counter = field(default_factory=Counter)
    queue_s: list[float] = field(default_factory=list)
    claim_s: list[float] = field(default_factory=list)
    resolve_s: list[float] = field(default_factory=list)


async def timed(samples: list[float], request: Awaitable) -> object:
    started = time.perf_counter()
    try:
        return await request
    finally:
        samples.append(time.perf_counter() - started)


async def claimer(http: aiohttp.ClientSession, hub_url: str, name: str, token: str, stats: ClaimStats) -> None:
    """Until the queue is empty: look at it, claim one of the first few tickets, resolve it if won."""
    rng, headers, won = random.Random(name), bearer(token), stats.won.setdefault(name, [])
    while True:
        queue_url = f"{hub_url}/api/v1/agent/queue?limit={CLAIM_PICK_FROM}"  # the top of the queue, as a console shows
        queue = await timed(stats.queue_s, call(http, "GET", queue_url, headers=headers))
        if not queue["tickets"]:
            return
        ticket_id = rng.choice(queue["tickets"][:CLAIM_PICK_FROM])["id"]
        started = time.perf_counter()
        async with http.post(f"{hub_url}/api/v1/agent/tickets/{ticket_id}/claim", headers=headers) as response:
            body = await response.json(content_type=None)
        stats.claim_s.append(time.perf_counter() - started)
        if response.status == 200:
            won.append(ticket_id)
            url = f"{hub_url}/api/v1/agent/tickets/{ticket_id}/resolve"
            await timed(stats.resolve_s, call(http, "POST", url, json={"note": "Benchmark: solved."}, headers=headers))
        elif response.status == 409 and body["error"]["code"] == "already_claimed":
            stats.conflicts += 1
        elif response.status == 409:
            stats.refused[body["error"]["code"]] += 1
        else:
            raise RuntimeError(f"claim of {ticket_id} answered {response.status}: {body}")


@dataclass
class Race:
    stats: ClaimStats
    seconds: float
    cpu: dict  # CPU seconds of the hub, PostgreSQL and the load generator; other processes in cores


async def claim_race(hub_url: str, pids: dict[str, int], names: list[str], console: Console) -> Race:
    """All agents sign in, then claim concurrently until the queue is empty (timed, with the CPU it took)."""
    stats = ClaimStats()
    async with client(CLAIM_AGENTS * 2) as http:
        started = time.perf_counter()
        tokens = await asyncio.gather(*(sign_in(http, hub_url, name) for name in names))
        console.print(f"  {len(names)} agents signed in ({time.perf_counter() - started:.1f} s)")
        with cpu_used(pids) as cpu:
            started = time.perf_counter()
            await asyncio.gather(*(claimer(http, hub_url, n, t, stats) for n, t in zip(names, tokens, strict=True)))
            seconds = time.perf_counter() - started
    return Race(stats, seconds, cpu)


async def verify_claims(url: str, stats: ClaimStats) -> dict:
    """Check in the database that every ticket was claimed exactly once, by the agent who got the 200, and closed.

    A double claim shows as a ticket two agents got a 200 for, or as a conversation with more than one
    queued -> agent transition; a lost ticket as one nobody won, one never claimed, or one not resolved."""
    engine = make_async_engine(url)
    try:
        async with make_sessions(engine)() as session:
            rows = (
                await session.execute(select(Ticket.id, Ticket.conversation_id, Ticket.status, Ticket.agent_id))
            ).all()
            claimed = dict(
                (
                    await session.execute(
                        select(Transition.conversation_id, func.count())
                        .where(Transition.from_state == "queued", Transition.to_state == "agent")
                        .group_by(Transition.conversation_id)
                    )
                ).all()
            )
            agent_ids = dict((await session.execute(select(Agent.username, Agent.id))).all())
    finally:
        await engine.dispose()
    winners = [(ticket_id, name) for name, won in stats.won.items() for ticket_id in won]
    won_by = Counter(ticket_id for ticket_id, _ in winners)
    owner = {row.id: row.agent_id for row in rows}
    transitions = {row.id: claimed.get(row.conversation_id, 0) for row in rows}
    double = {t for t, n in won_by.items() if n > 1} | {t for t, n in transitions.items() if n > 1}
    lost = {row.id for row in rows if row.id not in won_by or transitions[row.id] == 0 or row.status != "resolved"}
    return {
        "tickets": len(rows),
        "claims_200": len(winners),
        "tickets_won_twice": sum(1 for n in won_by.values() if n > 1),
        "claimed_once": sum(1 for n in transitions.values() if n == 1),
        "claimed_more_than_once": sum(1 for n in transitions.values() if n > 1),
        "never_claimed": sum(1 for n in transitions.values() if n == 0),
        "owner_mismatches": sum(1 for ticket_id, name in winners if owner.get(ticket_id) != agent_ids[name]),
        "statuses": dict(Counter(row.status for row in rows)),
        "double_claims": len(double),
        "lost": len(lost),
    }


def claims_cpu_text(result: dict) -> str:
    """Average cores each process used while the agents claimed (client = the load generator)."""
    cores = {name: cpu / result["seconds"] for name, cpu in result["cpu"].items() if name != "other_cores"}
    parts = [f"{name} {value:.2f}" for name, value in cores.items()]
    return ", ".join([*parts, f"other processes {result['cpu']['other_cores']:.2f}"])


def claims(work: Path, console: Console) -> dict:
    """Phase 4 on a fresh PostgreSQL database with its own hub (no Rasa: claiming needs none)."""
    with postgres_database() as url:
        migrate(url)
        settings = get_settings().model_copy(
            update={"database_url": url, "hub_port": free_port(), "rasa_port": free_port()}
        )
        asyncio.run(seed_tickets(url))
        started = time.perf_counter()
        names = asyncio.run(seed_agents(url))
        agents_s = time.perf_counter() - started
        console.print(f"  {CLAIM_TICKETS} queued tickets, {CLAIM_AGENTS} agents created (agents: {agents_s:.1f} s)")
        log = work / "hub-postgres.log"
        hub = runtime.start_hub(settings, log, **HUB_ENV)
        try:
            runtime.wait_until_up(runtime.hub_ready_url(settings), 60, hub)
            pids = {"hub": hub.pid} | ({"postgres": pg} if (pg := postgres_pid()) else {})
            race = asyncio.run(claim_race(settings.hub_url, pids, names, console))
        except BaseException:
            show_log(console, "hub (PostgreSQL)", log)
            raise
        finally:
            runtime.stop(hub)
        checks = asyncio.run(verify_claims(url, race.stats))
    stats = race.stats
    result = {
        "tickets": CLAIM_TICKETS,
        "agents": CLAIM_AGENTS,
        "seconds": race.seconds,
        "claims_per_s": checks["claims_200"] / race.seconds,
        "conflicts": stats.conflicts,
        "refused": dict(stats.refused),
        "queue_get": spread_ms(stats.queue_s),
        "claim_post": spread_ms(stats.claim_s),
        "resolve_post": spread_ms(stats.resolve_s),
        "cpu": race.cpu,
        "checks": checks,
    }
    result["ok"] = (
        checks["claims_200"] == checks["claimed_once"] == CLAIM_TICKETS
        and checks["double_claims"] == checks["lost"] == checks["owner_mismatches"] == 0
    )
    console.print(
        f"  {checks['claims_200']} claims in {race.seconds:.1f} s = {result['claims_per_s']:.1f} claims/s, "
        f"{stats.conflicts} conflicts (409), double claims {checks['double_claims']}, lost {checks['lost']}, "
        f"owner mismatches {checks['owner_mismatches']} -> {'[green]OK[/]' if result['ok'] else '[red]FAILED[/]'}"
    )
    console.print(
        f"  CPU in cores: {claims_cpu_text(result)}; GET queue p50 {result['queue_get']['p50_ms']:.0f} ms, "
        f"claim p50 {result['claim_post']['p50_ms']:.0f} ms"
    )
    return result


# -- the whole run -------------------------------------------------------------------------------------------
def hub_version() -> str:
    """The commit measured, and which hub files differed from it (read-only git calls)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=PROJECT_DIR, capture_output=True, text=True)
        return done.stdout if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown commit"
    changed = [line[3:] for line in git("status", "--porcelain", "--", "handoff", "bot").splitlines()]
    changed = [path for path in changed if path != "handoff/benchmark.py"]
    return f"{commit} + uncommitted changes in {', '.join(changed)}" if changed else commit


def run(output: Path, console: Console | None = None) -> dict:
    """Measure all four phases and write the "## Handoff hub" section of `output`."""
    console = console or Console()
    work = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    results: dict = {"command": COMMAND, "load_before": os.getloadavg()[0], "version": hub_version()}
    try:
        with sqlite_stack(work, console) as stack:
            runs = f"{WORKERS * CONVERSATIONS_PER_WORKER} conversations per run, order {', '.join(ORDER)}"
            step(console, f"1a. hub vs. straight to Rasa ({WORKERS} at once offering {PACED_RATE:.0f} msg/s, {runs})")
            results["paced"] = asyncio.run(overhead(stack, console, PACED_RATE))
            step(console, f"1b. hub vs. straight to Rasa ({WORKERS} at once, back to back, {runs})")
            results["overhead"] = asyncio.run(overhead(stack, console))
            results["queue"], results["relay"] = asyncio.run(agent_phases(stack, console))
        stand_in = f"a stand-in bot answering after {STAND_IN_DELAY_S * 1000:.0f} ms"
        step(console, f"1c. hub vs. straight to {stand_in} ({WORKERS} at once offering {PACED_RATE:.0f} msg/s)")
        results["alone"] = asyncio.run(hub_alone(work / "alone", console))
        step(console, f"4. {CLAIM_TICKETS} tickets, {CLAIM_AGENTS} concurrent agents, PostgreSQL")
        results["claims"] = claims(work, console)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write(output, results)
    console.print(f"[green]✓[/] wrote {output}")
    return results


# -- BENCHMARKS.md ------------------------------------------------------------------------------------------
MARKER = "## Handoff hub"


def _verdict(met: bool) -> str:
    return "met" if met else "**missed**"


SPREAD_ROW = "| {label} | {n} | {p50_ms:.1f} ms | {p95_ms:.1f} ms | {max_ms:.1f} ms |"
SPREAD_HEAD = ["| {what} | n | p50 | p95 | max |", "|---|---|---|---|---|"]


def _spread_table(what: str, rows: list[tuple[str, dict]]) -> list[str]:
    return [SPREAD_HEAD[0].format(what=what), SPREAD_HEAD[1], *(SPREAD_ROW.format(label=k, **v) for k, v in rows)]


def _ratio_rows(what: str, o: dict) -> list[str]:
    """Hub / straight at p50 and p95, with the milliseconds the hub adds."""
    rows = []
    for share, label in (("p50", f"latency through the hub / straight to Rasa, {what}: p50"), ("p95", "the same, p95")):
        ratio = o[f"{share}_ratio"]
        rows.append(
            f"| {label} | x{ratio:.2f} ({_added_ms(o, share):+.0f} ms) | <= x{OVERHEAD_TARGET:.2f} "
            f"| {_verdict(ratio <= OVERHEAD_TARGET)} |"
        )
    return rows


def _added_ms(o: dict, share: str) -> float:
    """Milliseconds the hub adds at a percentile ("p50", "p95")."""
    return o["hub"][f"{share}_ms"] - o["direct"][f"{share}_ms"]


def _added(o: dict, share: str) -> str:
    """Milliseconds the hub adds at a percentile, with the ratio."""
    return f"{_added_ms(o, share):+.1f} ms (x{o[f'{share}_ratio']:.2f})"


def _summary(r: dict) -> list[str]:
    p, o, a, q, rl, c = r["paced"], r["overhead"], r["alone"], r["queue"], r["relay"], r["claims"]
    queue_ms, checks = q["queue"]["p95_ms"], c["checks"]
    return [
        "| figure | measured | target | |",
        "|---|---|---|---|",
        *_ratio_rows(f"{WORKERS} concurrent conversations offering {PACED_RATE:.0f} msg/s", p),
        *_ratio_rows(f"{WORKERS} concurrent conversations back to back (all {os.cpu_count()} cores busy)", o),
        f"| the same, throughput | x{o['throughput_ratio']:.2f} | - | |",
        f"| what the hub itself adds at {PACED_RATE:.0f} msg/s, against a stand-in bot that answers after "
        f"{STAND_IN_DELAY_S * 1000:.0f} ms using no CPU: p50 / p95 | {_added(a, 'p50')} / {_added(a, 'p95')} | - | |",
        f"| handoff packet -> ticket in an agent's live queue: p95 | {queue_ms:.1f} ms | <= {QUEUE_TARGET_MS} ms "
        f"| {_verdict(queue_ms <= QUEUE_TARGET_MS)} |",
        *(
            f"| relay {RELAY_LABELS[key]} (WebSockets): p95 | {rl[key]['p95_ms']:.1f} ms | <= {RELAY_TARGET_MS} ms "
            f"| {_verdict(rl[key]['p95_ms'] <= RELAY_TARGET_MS)} |"
            for key in ("agent_to_customer", "customer_to_agent", "paced_agent_to_customer", "paced_customer_to_agent")
        ),
        f"| {c['tickets']:,} tickets, {c['agents']} concurrent agents (PostgreSQL): double claims / lost "
        f"| {checks['double_claims']} / {checks['lost']} | 0 / 0 | {_verdict(c['ok'])} |",
        f"| the same: claims per second | {c['claims_per_s']:.1f} | - | |",
    ]


def _overhead_runs(o: dict) -> list[str]:
    row = (
        "| {run} | {side} | {messages} | {msg_per_s:.1f} | {p50_ms:.0f} ms | {p95_ms:.0f} ms | {cpu} "
        "| {other_cores:.2f} |"
    )
    return [
        "| run | side | messages | msg/s | p50 | p95 | CPU ms per message | other processes (cores) |",
        "|---|---|---|---|---|---|---|---|",
        *[row.format(run=i + 1, cpu=cpu_text(run), **run) for i, run in enumerate(o["runs"])],
        row.format(run="all", cpu=cpu_text(o["direct"]), **o["direct"]),
        row.format(run="all", cpu=cpu_text(o["hub"]), **o["hub"]),
        "",
        f"Hub / straight: p50 x{o['p50_ratio']:.2f}, p95 x{o['p95_ratio']:.2f}, throughput "
        f"x{o['throughput_ratio']:.2f}. Hub conversations that left the bot mid-script: {o['hub']['off_script']}. "
        f"Runs repeated because other processes used more than {QUIET_CORES} cores meanwhile: {o['repeated']}.",
    ]


def _overhead_section(paced: dict, closed: dict, alone: dict) -> list[str]:
    return [
        "### 1. Latency through the hub vs. straight to Rasa's REST channel",
        "",
        f"The scripted conversations of `python -m bot bench` (German and English), {WORKERS} at once. Straight:",
        "`POST /webhooks/rest/webhook` with a new sender per conversation and the language hint the hub sends as",
        "metadata. Through the hub: `POST /api/v1/conversations`, then each message with `POST .../messages` and the",
        "Bearer token; the hub stores the customer's message, asks Rasa, stores the replies, then answers.",
        "Button presses (`/deny`) go to Rasa as the message and to the hub as `payload` (the hub checks the button",
        "was offered and stores its title; typed text starting with `/` would reach the bot as words).",
        f"After a warm-up ({WARMUP_CONVERSATIONS} conversations each",
        f"side), runs of {WORKERS * CONVERSATIONS_PER_WORKER} conversations in the order {', '.join(ORDER)}. Latency",
        "is per message (creating a hub conversation is not in it, but is in the hub's msg/s). CPU: milliseconds of",
        "CPU each process used during the run per message (client = the load generator); other processes: CPU the",
        f"rest of the machine used meanwhile, in cores (of {os.cpu_count()}): a busy neighbour blurs the ratio.",
        "",
        f"**a. Paced**: the {WORKERS} customers, starting at independent moments, together offer {PACED_RATE:.0f}",
        f"messages per second (each sends its next message {WORKERS / PACED_RATE:.2f} s after the last one, or when",
        "its reply came if that took longer), the load of `python -m bot bench`'s paced figure. This is the latency",
        "a customer sees: what the hub adds to each message.",
        "",
        *_overhead_runs(paced),
        "",
        "**b. Back to back**: each customer sends its next message the moment the reply arrives. Every process,",
        f"the load generator included, then competes for the {os.cpu_count()} cores, so latency is queueing: the",
        "hub's CPU per message (see the CPU column) shows up as lower throughput and longer waits for everyone.",
        "",
        *_overhead_runs(closed),
        "",
        "**c. The hub's own part**: the paced load of a. against a stand-in for Rasa's REST channel that answers",
        f"every message after {STAND_IN_DELAY_S * 1000:.0f} ms (about Rasa's p50 on an unloaded machine) without "
        "using CPU,",
        "straight and through a second hub (fresh SQLite database) in front of it. Nothing competes with the hub for",
        "the cores but the load generator, which also serves the stand-in (its CPU is in the client column on both",
        "sides), so the difference is the hub's own work per message: its HTTP hop, storing the customer's message,",
        "storing the reply. The ratio with the real bot (a.) is what the issue asks for; this says how much of it",
        "is the hub.",
        "",
        *_overhead_runs(alone),
    ]


def _queue_section(q: dict) -> list[str]:
    return [
        "### 2. Handoff packet -> ticket visible in an agent's live queue",
        "",
        f"One agent signed in, console WebSocket open, presence online. {q['handoffs']} customers "
        f"({HANDOFF_CONCURRENCY} at a time) write",
        f'"{HANDOFF_TEXT["en"]}" / "{HANDOFF_TEXT["de"]}"; the bot hands off with a packet, the hub opens the',
        "ticket (`queued_at`) and pushes `ticket_queued`. Queue latency: the agent's receive time minus `queued_at`;",
        "the hub's share: the event's `sent_at` minus `queued_at`; customer total: the customer's POST sent -> the",
        "agent sees the ticket (includes the bot's turn in Rasa). Other processes on the machine meanwhile: "
        f"{q['other_cores']:.2f} cores.",
        "",
        *_spread_table(
            "latency",
            [
                ("`queued_at` -> agent's socket has the ticket", q["queue"]),
                ("of which in the hub (`queued_at` -> `sent_at`)", q["hub"]),
                ("customer's POST -> agent's socket has the ticket", q["total"]),
            ],
        ),
    ]


def _relay_section(rl: dict) -> list[str]:
    rounds_per_s = rl["chats"] / RELAY_PACE_S
    return [
        "### 3. Agent <-> customer relay over WebSockets",
        "",
        f"The agent claimed {rl['chats']} of those tickets; each customer's WebSocket is open. In each chat the",
        "customer and the agent take turns; latency: send on one socket -> `message` event on the other. Back to",
        f"back: the {rl['chats']} chats at once, each message sent when the previous one arrived ({RELAY_ROUNDS} each",
        f"way per chat, a stress test). Paced: a round (customer, agent) per chat every {RELAY_PACE_S} s, i.e.",
        f"{2 * rounds_per_s:.0f} messages/s in all ({RELAY_PACED_ROUNDS} rounds per chat). Last, agent messages one "
        f"at a time. Other processes on the machine meanwhile: {rl['other_cores']:.2f} cores. The hub's CPU per "
        f"relayed message, all of them: {rl['hub_cpu_ms']:.2f} ms (it sets how far the back-to-back figures are "
        "from the one-at-a-time ones).",
        "",
        *_spread_table("relay", [(label, rl[key]) for key, label in RELAY_LABELS.items()]),
    ]


def _claims_section(c: dict) -> list[str]:
    checks = c["checks"]
    return [
        "### 4. Concurrent claims on PostgreSQL",
        "",
        f"{c['tickets']:,} conversations with queued tickets (mixed priority, device category and language), "
        f"{c['agents']} agents",
        "(all skills, capacity 20) signed in over the API. Each agent repeatedly reads its queue, claims one of the",
        f"first {CLAIM_PICK_FROM} tickets at random (real contention), resolves it at once when the claim succeeds (so",
        "capacity never blocks), counts a conflict on `409 already_claimed`, and stops when the queue is empty.",
        "Then the database is checked.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| total time / claims per second | {c['seconds']:.1f} s / {c['claims_per_s']:.1f} |",
        f"| claims answered 200 (sum over agents) | {checks['claims_200']} |",
        f"| conflicts (409 already_claimed) / other refusals | {c['conflicts']} / {c['refused'] or 'none'} |",
        f"| tickets two agents got a 200 for | {checks['tickets_won_twice']} |",
        f"| conversations with exactly one queued -> agent transition | {checks['claimed_once']} |",
        f"| ... with more than one / with none | {checks['claimed_more_than_once']} / {checks['never_claimed']} |",
        f"| ticket owner in the database is not the agent that got the 200 | {checks['owner_mismatches']} |",
        f"| ticket statuses afterwards | {checks['statuses']} |",
        f"| CPU during the claims, in cores | {claims_cpu_text(c)} |",
        "",
        *_spread_table(
            "request under this load",
            [
                ("`GET /api/v1/agent/queue`", c["queue_get"]),
                ("`POST .../claim`", c["claim_post"]),
                ("`POST .../resolve`", c["resolve_post"]),
            ],
        ),
    ]


def section(r: dict) -> str:
    """The Markdown section with every figure of a run."""
    header = [
        MARKER,
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores ({_cpu()}), with "
        f"`{r['command']}` at {r['version']} (load average before the run: {r['load_before']:.2f}).",
        "Action server, Rasa server (one process, SQLite tracker store) and hub with fresh SQLite databases for",
        "phases 1-3; a second hub on a fresh PostgreSQL database for phase 4; the load generator on the same",
        f"machine. Rate limits lifted; the hub's Rasa timeout is {HUB_ENV['RASA_TIMEOUT_S']} s.",
        "",
    ]
    parts = [
        _summary(r),
        _overhead_section(r["paced"], r["overhead"], r["alone"]),
        _queue_section(r["queue"]),
        _relay_section(r["relay"]),
        _claims_section(r["claims"]),
    ]
    return "\n".join(header + [line for part in parts for line in [*part, ""]])


def write(output: Path, results: dict) -> None:
    """Replace (or append) the "## Handoff hub" section of `output`, leaving the other sections alone."""
    replace_section(output, MARKER, section(results))
