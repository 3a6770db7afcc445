"""The hub's command line: `python -m handoff serve`, `python -m handoff agent create ...`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from bot.settings import get_settings
from handoff.errors import HubError

app = typer.Typer(help="The handoff hub: customer chat, second-level queue, agent console.", no_args_is_help=True)
agent_app = typer.Typer(help="Agent accounts.", no_args_is_help=True)
app.add_typer(agent_app, name="agent")


@app.command()
def serve() -> None:
    """Run the hub (HUB_HOST:HUB_PORT, default 127.0.0.1:8000) on the configured database and Rasa server."""
    from handoff.app import serve as run

    run(get_settings())


@app.command()
def bench(output: Path = Path("BENCHMARKS.md")) -> None:
    """Benchmark the hub: overhead over Rasa, handoff and relay latency, concurrent claims on PostgreSQL."""
    from handoff.benchmark import run

    run(output)


@app.command("bench-cluster")
def bench_cluster() -> None:
    """Benchmark the relay across two hub instances (Redis, PostgreSQL) against one; prints its table."""
    from handoff.bench_cluster import run

    run()


@app.command("bench-knowledge")
def bench_knowledge(output: Path = Path("BENCHMARKS.md")) -> None:
    """Benchmark the knowledge loop: approval -> the bot uses the new article; validation of data/."""
    from handoff.bench_knowledge import run

    run(output)


@agent_app.command("create")
def create(
    username: str,
    display_name: Annotated[str, typer.Option(help="Shown to customers, e.g. 'Anna (Support)'.")],
    role: Annotated[str, typer.Option(help="agent, editor (reviews knowledge-base drafts) or admin")] = "agent",
    category: Annotated[list[str], typer.Option(help="phone, camera, notebook (repeat; none = all)")] = [],  # noqa: B006
    language: Annotated[list[str], typer.Option(help="de, en (repeat; none = all)")] = [],  # noqa: B006
    capacity: int = 3,
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, envvar="AGENT_PASSWORD")
    ] = "",
) -> None:
    """Create an agent (or admin). The password is asked for (or taken from AGENT_PASSWORD)."""
    from handoff.agents import create_agent

    async def run(sessions) -> None:
        agent = await create_agent(
            sessions,
            username=username,
            display_name=display_name,
            password=password,
            role=role,
            categories=category,
            languages=language,
            capacity=capacity,
        )
        typer.echo(f"Created {agent.role} {agent.username} ({agent.display_name}).")

    _on_the_database(run)


def _on_the_database(work) -> None:
    """Run `await work(sessions)` on the configured database; a HubError ends the command with its message."""
    from handoff.db import make_async_engine, make_sessions

    async def run() -> None:
        engine = make_async_engine(get_settings().database_url)
        try:
            await work(make_sessions(engine))
        finally:
            await engine.dispose()

    try:
        asyncio.run(run())
    except HubError as exc:
        typer.echo(f"Error: {exc.message}", err=True)
        raise typer.Exit(1) from exc


@agent_app.command("deactivate")
def deactivate(username: str) -> None:
    """Lock an agent out: they can no longer sign in, their sessions end (an open console within 30 s, and its
    chats go back to the queue after the grace period)."""
    _update_agent(username, active=False)


@agent_app.command("activate")
def activate(username: str) -> None:
    """Let a deactivated agent sign in again."""
    _update_agent(username, active=True)


@agent_app.command("password")
def password(
    username: str,
    new_password: Annotated[
        str, typer.Option("--password", prompt=True, hide_input=True, confirmation_prompt=True, envvar="AGENT_PASSWORD")
    ] = "",
) -> None:
    """Set a new password (asked for, or AGENT_PASSWORD); the agent's sessions end."""
    from handoff.agents import hash_password

    try:
        password_hash = hash_password(new_password)
    except HubError as exc:
        typer.echo(f"Error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    _update_agent(username, password_hash=password_hash)


def _update_agent(username: str, **change) -> None:
    from handoff.agents import update_agent
    from handoff.models import Agent

    async def run(sessions) -> None:
        agent, _ = await update_agent(sessions, Agent.username == username.strip().lower(), **change)
        state = "active" if agent.active else "deactivated"
        typer.echo(f"{agent.username} ({agent.display_name}): {state}; sessions ended where asked.")

    _on_the_database(run)


@agent_app.command("bootstrap")
def bootstrap() -> None:
    """Create the first admin ('admin') if there is no agent yet; the password goes to var/admin_password."""
    import secrets

    from sqlalchemy import func, select

    from bot.settings import VAR_DIR
    from handoff.agents import create_agent
    from handoff.db import make_async_engine, make_sessions
    from handoff.models import Agent

    async def run() -> None:
        engine = make_async_engine(get_settings().database_url)
        sessions = make_sessions(engine)
        try:
            async with sessions() as session:
                if await session.scalar(select(func.count()).select_from(Agent)):
                    return
            password = secrets.token_urlsafe(12)
            await create_agent(sessions, username="admin", display_name="Admin", password=password, role="admin")
            path = VAR_DIR / "admin_password"
            path.write_text(password + "\n")
            path.chmod(0o600)
            typer.echo(f"Created the first admin: user 'admin', password in {path}")
        finally:
            await engine.dispose()

    asyncio.run(run())
