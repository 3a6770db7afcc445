"""Agent accounts (Argon2id password hashes), sign-in sessions with CSRF tokens, presence."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from bot.devices import CATEGORIES
from bot.language import SUPPORTED as LANGUAGES
from handoff import serialize
from handoff.errors import Conflict, Invalid, NotFound, Unauthorized
from handoff.hub import Hub
from handoff.models import Agent, AgentSession
from handoff.queue import open_chats
from handoff.schemas import MAX_DISPLAY_NAME, MIN_PASSWORD, USERNAME, AgentChange
from handoff.serialize import aware

ROLES = ("agent", "editor", "admin")  # editors review knowledge-base drafts; admins do everything
_hasher = PasswordHasher()  # Argon2id, memory-hard (argon2-cffi's RFC 9106 low-memory profile)
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def validate_new_agent(
    username: str, display_name: str, password: str, role: str, categories: list, languages: list, capacity: int
) -> None:
    """Raise Invalid with a precise message for the first thing wrong with a new agent's details."""
    if not USERNAME.fullmatch(username or ""):
        raise Invalid("username: 2-50 characters, lower-case letters, digits, '.', '_' or '-'.", "invalid_username")
    if not (display_name or "").strip() or len(display_name) > MAX_DISPLAY_NAME:
        raise Invalid(f"display_name: 1-{MAX_DISPLAY_NAME} characters.", "invalid_display_name")
    _check_password(password)
    if role not in ROLES:
        raise Invalid(f"role: one of {', '.join(ROLES)}.", "invalid_role")
    if not set(categories) <= set(CATEGORIES):
        raise Invalid(f"categories: any of {', '.join(CATEGORIES)} (none = all).", "invalid_categories")
    if not set(languages) <= set(LANGUAGES):
        raise Invalid(f"languages: any of {', '.join(LANGUAGES)} (none = all).", "invalid_languages")
    if not isinstance(capacity, int) or not 1 <= capacity <= 20:
        raise Invalid("capacity: 1 to 20 concurrent chats.", "invalid_capacity")


async def create_agent(
    sessions,
    *,
    username: str,
    display_name: str,
    password: str,
    role: str = "agent",
    categories: list[str] | None = None,
    languages: list[str] | None = None,
    capacity: int = 3,
) -> Agent:
    """A new agent or admin (used by the console and by `python -m handoff agent create`)."""
    categories, languages = list(categories or []), list(languages or [])
    validate_new_agent(username, display_name, password, role, categories, languages, capacity)
    agent = Agent(
        username=username,
        display_name=display_name.strip(),
        password_hash=_hasher.hash(password),
        role=role,
        categories=categories,
        languages=languages,
        capacity=capacity,
        presence="offline",
    )
    try:
        async with sessions() as session, session.begin():
            session.add(agent)
    except IntegrityError as exc:
        raise Conflict(f"The username {username!r} is taken.", "username_taken") from exc
    return agent


async def sign_in(hub: Hub, username: str, password: str) -> tuple[Agent, str, str]:
    """Check the password; returns (agent, session token, CSRF token). Same error for unknown user and bad password."""
    async with hub.sessions() as session:
        agent = await session.scalar(select(Agent).where(Agent.username == (username or "").strip().lower()))
    stored = agent.password_hash if agent else _DUMMY_HASH  # same work either way: no user enumeration by timing
    try:
        await hub.in_thread(_hasher.verify, stored, password or "")
        ok = agent is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        raise Unauthorized("Wrong username or password.", "bad_credentials")
    _refuse_deactivated(agent)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    async with hub.sessions() as session, session.begin():
        session.add(
            AgentSession(
                token_hash=_token_hash(token),
                agent_id=agent.id,
                csrf_token=csrf,
                expires_at=hub.now() + timedelta(hours=hub.settings.session_hours),
            )
        )
        if _hasher.check_needs_rehash(agent.password_hash):
            (await session.get(Agent, agent.id)).password_hash = _hasher.hash(password)
    return agent, token, csrf


async def session_agent(hub: Hub, token: str | None) -> tuple[Agent, AgentSession]:
    """The signed-in agent for a session token; Unauthorized if missing, unknown or expired."""
    if not token:
        raise Unauthorized("Sign in first.", "not_signed_in")
    async with hub.sessions() as session:
        record = await session.get(AgentSession, _token_hash(token))
        if record is None or aware(record.expires_at) < hub.now():
            raise Unauthorized("Your session has expired. Please sign in again.", "session_expired")
        agent = await session.get(Agent, record.agent_id)
    _refuse_deactivated(agent)
    return agent, record


async def sign_out(hub: Hub, agent: Agent, token: str) -> bool:
    """The session ends, and with it the consoles it opened (other sessions of the agent stay); returns whether
    the agent still has another session that has not expired."""
    token_hash = _token_hash(token)
    async with hub.sessions() as session, session.begin():
        await session.execute(delete(AgentSession).where(AgentSession.token_hash == token_hash))
        others = (await session.scalars(select(AgentSession.expires_at).where(AgentSession.agent_id == agent.id))).all()
    await hub.events.close_agent_sockets(agent.id, session=token_hash, reason="You signed out.")
    return any(aware(expires_at) > hub.now() for expires_at in others)


async def change_agent(hub: Hub, admin: Agent, agent_id: int, change: AgentChange) -> tuple[Agent, set[str]]:
    """An administrator changes an agent: locks them out (or lets them back in), sets a new password or role (each
    ends the agent's sessions, and their open consoles at once), or their name, skills or capacity (at once).
    Returns the agent and the names of what changed."""
    if agent_id == admin.id and change.active is False:
        raise Conflict("You cannot deactivate yourself.", "self_deactivation")
    if agent_id == admin.id and change.role not in (None, "admin"):
        raise Conflict("You cannot take your own admin role; ask another admin.", "self_demotion")
    if change.display_name is not None and not change.display_name.strip():
        raise Invalid(f"display_name: 1-{MAX_DISPLAY_NAME} characters.", "invalid_display_name")
    new_hash = await hub.in_thread(hash_password, change.password) if change.password is not None else None
    fields = change.model_dump(include={"active", "display_name", "role", "categories", "languages", "capacity"})
    agent, changed = await update_agent(hub.sessions, Agent.id == agent_id, password_hash=new_hash, **fields)
    if changed & SIGNS_OUT:  # the console shows the reason on its sign-in form
        reason = (
            DEACTIVATED if "deactivated" in changed else "An administrator changed your account. Please sign in again."
        )
        await hub.events.close_agent_sockets(agent.id, reason=reason)
    return agent, changed


SIGNS_OUT = {"password", "role", "deactivated"}  # changes after which the agent signs in again


async def update_agent(sessions, which, *, password_hash: str | None = None, **fields: object) -> tuple[Agent, set]:
    """Change the agent `which` selects (also `python -m handoff agent ...`): the `fields` given and not None, and
    the password hash. Locking out, a new password or a new role ends the agent's sessions (a hub closes their
    open consoles within SESSION_CHECK_S, handoff/views/sockets.py). Returns the agent and what changed (field
    names; "deactivated" for a lock-out)."""
    fields = {name: value for name, value in fields.items() if value is not None}
    if "display_name" in fields:
        fields["display_name"] = fields["display_name"].strip()
    for name in ("categories", "languages"):
        if name in fields:
            fields[name] = list(dict.fromkeys(fields[name]))  # each once, in the order given
    async with sessions() as session, session.begin():
        agent = await session.scalar(select(Agent).where(which))
        if agent is None:
            raise NotFound("There is no such agent.", "agent_not_found")
        changed = {name for name, value in fields.items() if getattr(agent, name) != value}
        if agent.role == "admin" and ({"role", "active"} & changed) and await _last_admin(session, agent):
            raise Conflict("This is the only active admin: make someone else an admin first.", "last_admin")
        for name in changed:
            setattr(agent, name, fields[name])
        if fields.get("active") is False:
            agent.presence = "offline"
            changed.add("deactivated")
        if password_hash is not None:
            agent.password_hash = password_hash
            changed.add("password")
        if changed & SIGNS_OUT:
            await session.execute(delete(AgentSession).where(AgentSession.agent_id == agent.id))
    return agent, changed


async def _last_admin(session, agent: Agent) -> bool:
    """Whether `agent` is the only active admin. The active admins' rows are locked in id order (the agent's own
    among them, before it is changed): two admins demoting each other at once wait for one another without a
    deadlock, and the second sees that the first is no admin any more."""
    admins = (
        await session.scalars(
            select(Agent.id).where(Agent.role == "admin", Agent.active.is_(True)).order_by(Agent.id).with_for_update()
        )
    ).all()
    return admins == [agent.id]


def hash_password(password: str) -> str:
    _check_password(password)
    return _hasher.hash(password)


def _check_password(password: str | None) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise Invalid(f"password: at least {MIN_PASSWORD} characters.", "weak_password")


DEACTIVATED = "This account is deactivated. Please ask an administrator."


def _refuse_deactivated(agent: Agent) -> None:
    if not agent.active:
        raise Unauthorized(DEACTIVATED, "deactivated")


async def set_presence(hub: Hub, agent: Agent, presence: str) -> Agent:
    if presence not in ("online", "away", "offline"):
        raise Invalid("presence: online, away or offline.", "invalid_presence")
    async with hub.sessions() as session, session.begin():
        stored = await session.get(Agent, agent.id)
        stored.presence = presence
    return stored


async def list_agents(hub: Hub) -> list[dict]:
    async with hub.sessions() as session:
        agents = (await session.scalars(select(Agent).order_by(Agent.display_name))).all()
        counts = await open_chats(session)
    return [serialize.agent(a, counts.get(a.id, 0)) for a in agents]


async def describe(hub: Hub, agent: Agent) -> dict:
    async with hub.sessions() as session:
        counts = await open_chats(session)
    return serialize.agent(agent, counts.get(agent.id, 0))
