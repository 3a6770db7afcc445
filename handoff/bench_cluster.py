"""`python -m handoff bench-cluster`: the relay between a customer and an agent when they are connected to two hub
instances (HUB_REDIS_URL, handoff/cluster.py) against both on one, on PostgreSQL and the local Redis.

Three hub processes on fresh PostgreSQL databases: A and B share one and know each other through Redis; C runs
without Redis on a database of its own (a single instance, the default). No bot is needed: customers ask for a
person with the `/request_human` button and the agent's socket sees each ticket arrive. Each round: 10 customers
and the agent's console on C ("single, no Redis"), or the customers on A and the agent on A ("one instance of
two") or on B ("across two instances"); the agent claims the 10 chats; they chat back to back and then paced (the
phases of `python -m handoff bench`, section 3); the tickets are resolved. Latency: a message sent on one socket
-> its `message` event on the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

from bot import runtime
from bot.db import migrate
from bot.settings import VAR_DIR, Settings
from handoff.agents import create_agent
from handoff.benchmark import (
    HUB_ENV,
    PASSWORD,
    RELAY_CHATS,
    RELAY_PACE_S,
    RELAY_PACED_ROUNDS,
    RELAY_ROUNDS,
    Chat,
    Relayed,
    bearer,
    call,
    client,
    converse,
    cpu_used,
    free_port,
    listen,
    new_conversation,
    postgres_database,
    show_log,
    sign_in,
    spread_ms,
    step,
    ws_url,
)
from handoff.db import make_async_engine, make_sessions

COMMAND = ".venv/bin/python -m handoff bench-cluster"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SINGLE, ONE, ACROSS = "single, no Redis", "one instance of two", "across two instances"
LAYOUTS = (SINGLE, ONE, ACROSS, ACROSS, ONE, SINGLE)
FIGURES = {
    "agent_to_customer": "agent -> customer, back to back",
    "customer_to_agent": "customer -> agent, back to back",
    "paced_agent_to_customer": "agent -> customer, paced",
    "paced_customer_to_agent": "customer -> agent, paced",
}


@contextlib.contextmanager
def three_hubs(shared: str, own: str, work: Path, console: Console) -> Iterator[tuple[tuple[str, str, str], dict]]:
    """Two hub processes on `shared` that know each other through Redis, and one alone on `own`: their base URLs,
    and their process ids by name."""
    token = uuid.uuid4().hex
    processes, logs, urls = [], [], []
    try:
        for name, url, redis_url in (("a", shared, REDIS_URL), ("b", shared, REDIS_URL), ("c", own, "")):
            settings = Settings(database_url=url, hub_port=free_port(), rasa_port=free_port(), rasa_token=token)
            logs.append((f"hub {name}", work / f"hub-{name}.log"))
            processes.append(runtime.start_hub(settings, logs[-1][1], HUB_REDIS_URL=redis_url, **HUB_ENV))
            runtime.wait_until_up(runtime.hub_ready_url(settings), 60, processes[-1])
            urls.append(settings.hub_url)
        yield (urls[0], urls[1], urls[2]), {f"hub {n}": p.pid for n, p in zip("abc", processes, strict=True)}
    except BaseException:
        for name, path in logs:
            show_log(console, name, path)
        raise
    finally:
        runtime.stop(*processes)


async def one_round(customer_hub: str, agent_hub: str, token: str) -> tuple[Relayed, Relayed]:
    """10 chats, customers on `customer_hub`, the agent on `agent_hub`: back to back, then paced."""
    async with client(4 * RELAY_CHATS) as http:
        agent = await listen(http, f"{ws_url(agent_hub)}/api/v1/agent/ws?token={token}")
        await asyncio.sleep(0.5)  # the instances have told each other about the new console
        customers, chats = [], []
        try:
            for index in range(RELAY_CHATS):
                customer = await new_conversation(http, customer_hub, ("en", "de")[index % 2])
                arrival = agent.expect(("ticket", customer.id))
                url = f"{customer_hub}/api/v1/conversations/{customer.id}/messages"
                await call(http, "POST", url, json={"payload": "/request_human"}, headers=bearer(customer.token))
                customer.ticket_id = (await agent.wait(arrival)).event["ticket"]["id"]
                claim = f"{agent_hub}/api/v1/agent/tickets/{customer.ticket_id}/claim"
                await call(http, "POST", claim, headers=bearer(token))
                customers.append(customer)
                socket = f"{ws_url(customer_hub)}/api/v1/conversations/{customer.id}/ws?token={customer.token}"
                chats.append(Chat(customer, await listen(http, socket)))
            stress, paced = Relayed(), Relayed()
            await asyncio.gather(*(converse(chat, agent, RELAY_ROUNDS, 0.0, stress) for chat in chats))
            await asyncio.gather(*(converse(chat, agent, RELAY_PACED_ROUNDS, RELAY_PACE_S, paced) for chat in chats))
            for customer in customers:
                url = f"{agent_hub}/api/v1/agent/tickets/{customer.ticket_id}/resolve"
                await call(http, "POST", url, json={"note": "Benchmark: solved."}, headers=bearer(token))
        finally:
            for chat in chats:
                await chat.socket.close()
            await agent.close()
    return stress, paced


async def signed_in_agent(url: str, hub: str) -> str:
    """A new agent on database `url`, signed in and online at `hub`: the session token."""
    engine = make_async_engine(url)
    try:
        await create_agent(
            make_sessions(engine), username="bench-agent", display_name="Bench Agent", password=PASSWORD, capacity=20
        )
    finally:
        await engine.dispose()
    async with client(4) as http:
        token = await sign_in(http, hub, "bench-agent")
        await call(http, "PUT", f"{hub}/api/v1/agent/presence", json={"presence": "online"}, headers=bearer(token))
    return token


async def measure(shared: str, own: str, hubs: tuple[str, str, str], pids: dict, console: Console) -> dict:
    first, second, alone = hubs
    tokens = {SINGLE: await signed_in_agent(own, alone), ONE: await signed_in_agent(shared, first)}
    tokens[ACROSS] = tokens[ONE]
    collected = {layout: (Relayed(), Relayed()) for layout in LAYOUTS}
    cpu_ms: dict[str, list[float]] = {layout: [] for layout in LAYOUTS}
    places = {SINGLE: (alone, alone), ONE: (first, first), ACROSS: (first, second)}
    for number, layout in enumerate(LAYOUTS, 1):
        with cpu_used(pids) as cpu:
            stress, paced = await one_round(*places[layout], tokens[layout])
        relayed = len(stress.to_agent) + len(stress.to_customer) + len(paced.to_agent) + len(paced.to_customer)
        hub_cpu_ms = sum(cpu[name] for name in pids) * 1000 / relayed
        cpu_ms[layout].append(hub_cpu_ms)
        console.print(
            f"  round {number}, {layout}: back to back p95 "
            f"{spread_ms(stress.to_customer)['p95_ms']:.1f} / {spread_ms(stress.to_agent)['p95_ms']:.1f} ms, "
            f"paced p95 {spread_ms(paced.to_customer)['p95_ms']:.1f} / {spread_ms(paced.to_agent)['p95_ms']:.1f} ms; "
            f"hubs' CPU per relayed message {hub_cpu_ms:.2f} ms ("
            + ", ".join(f"{name} {cpu[name] * 1000 / relayed:.2f}" for name in pids)
            + f"); rest of the machine {cpu['other_cores']:.2f} cores",
            soft_wrap=True,
        )
        all_stress, all_paced = collected[layout]
        for into, source in ((all_stress, stress), (all_paced, paced)):
            into.to_customer += source.to_customer
            into.to_agent += source.to_agent
    result = {}
    for layout, (stress, paced) in collected.items():
        result[layout] = {
            "agent_to_customer": spread_ms(stress.to_customer),
            "customer_to_agent": spread_ms(stress.to_agent),
            "paced_agent_to_customer": spread_ms(paced.to_customer),
            "paced_customer_to_agent": spread_ms(paced.to_agent),
            "hub_cpu_ms": sum(cpu_ms[layout]) / len(cpu_ms[layout]),
        }
    return result


def table(result: dict) -> list[str]:
    layouts = list(dict.fromkeys(LAYOUTS))
    lines = [
        "| relay (10 chats), p50 / p95 | " + " | ".join(layouts) + " | messages each |",
        "|---|" + "---|" * len(layouts) + "---|",
    ]
    for key, label in FIGURES.items():
        cells = [f"{result[layout][key]['p50_ms']:.1f} / {result[layout][key]['p95_ms']:.1f} ms" for layout in layouts]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {result[SINGLE][key]['n']} |")
    cells = [f"{result[layout]['hub_cpu_ms']:.2f} ms" for layout in layouts]
    lines.append("| hubs' CPU per relayed message (claims included) | " + " | ".join(cells) + " | |")
    return lines


def run(console: Console | None = None) -> dict:
    console = console or Console()
    step(console, f"relay across two hub instances (Redis {REDIS_URL}, PostgreSQL), rounds: {', '.join(LAYOUTS)}")
    work = VAR_DIR / f"bench-cluster-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    with postgres_database() as shared, postgres_database() as own:
        migrate(shared)
        migrate(own)
        with three_hubs(shared, own, work, console) as (hubs, pids):
            result = asyncio.run(measure(shared, own, hubs, pids, console))
    console.print()
    for line in table(result):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(f"\n(by `{COMMAND}`; paced: a round per chat every {RELAY_PACE_S} s)", soft_wrap=True)
    return result
