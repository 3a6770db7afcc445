"""Replies to customers who left the chat go out by e-mail, if they left an address (the widget promises it).

When an agent answers (or closes the case) while the customer is away, the transaction that stores the message
also queues an e-mail (`queue_reply`). It waits EMAIL_DELAY_S, gathering whatever else is written meanwhile, and
is then sent with everything the customer has not seen (`deliver_due`, run by the hub's background `run` loop).
A customer who comes back before that reads the replies in the chat: the e-mail is skipped. Sending is
at-least-once: a failed send is retried with growing pauses, and is marked failed (with the reason) after
MAX_ATTEMPTS; a crash between sending and recording it may send the same e-mail again. Each e-mail's
Message-ID carries the conversation, signed (`reply_signer`), so the customer's answer finds its way back
(handoff/inbound.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from datetime import datetime, timedelta
from email.message import EmailMessage

from itsdangerous import BadSignature, Signer, URLSafeTimedSerializer
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.settings import Settings
from handoff.hub import Hub
from handoff.mail import Reply, Transport, compose
from handoff.models import Agent, Conversation, Message, OutgoingMail, Ticket
from handoff.serialize import aware

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
POLL_S = 0.25  # how often the loop checks (in memory) whether an e-mail is due
IDLE_LOOK_S = 30  # and reads the database anyway
BATCH = 20
CLAIM_S = 300  # a mail taken for sending is due again after this only if its sender died (several hub instances)
LINK_SALT = "conversation-link"


# -- queueing (inside the caller's transaction) ---------------------------------------------------------------
async def queue_reply(session: AsyncSession, hub: Hub, conversation: Conversation, message: Message) -> None:
    """`message` (from an agent, or a closing notice) is for a customer who may not see it: e-mail it later."""
    if not conversation.email or hub.customer_present(conversation.id):
        return
    pending = await session.scalar(
        select(OutgoingMail.id).where(OutgoingMail.conversation_id == conversation.id, OutgoingMail.status == "pending")
    )
    if pending is not None:  # an e-mail is already gathering this conversation's replies
        return
    await session.flush()  # the message's id
    send_after = hub.now() + timedelta(seconds=hub.settings.email_delay_s)
    session.add(
        OutgoingMail(
            conversation_id=conversation.id,
            to_address=conversation.email,
            after_message_id=message.id - 1,
            send_after=send_after,
        )
    )
    _look_by(hub, send_after)


# -- sending ------------------------------------------------------------------------------------------------
async def run(hub: Hub, transport: Transport, stopping: asyncio.Event) -> None:
    """Send due e-mails until `stopping` is set (the hub's background task).

    The database is read only when an e-mail is due (`hub.mail_due`, set by `queue_reply` and by the last look)
    and every IDLE_LOOK_S otherwise (e-mails left from before a restart). An e-mail queued in the moment between
    a look's start and its commit is found by the next idle look: at most IDLE_LOOK_S late."""
    next_idle_look = 0.0
    while not stopping.is_set():
        due = hub.mail_due
        if (due is not None and due <= hub.now()) or time.monotonic() >= next_idle_look:
            hub.mail_due, next_idle_look = None, time.monotonic() + IDLE_LOOK_S
            try:
                upcoming = await deliver_due(hub, transport)
            except Exception:  # a database hiccup must not end the loop
                log.exception("the outbox could not be processed")
                upcoming = None
            if upcoming is not None:
                _look_by(hub, upcoming)
        with contextlib.suppress(TimeoutError):  # the pause between two checks, cut short by stopping
            await asyncio.wait_for(stopping.wait(), POLL_S)


def _look_by(hub: Hub, moment: datetime) -> None:
    """The sending loop reads the database again at `moment` at the latest."""
    hub.mail_due = min(hub.mail_due or moment, moment)


async def deliver_due(hub: Hub, transport: Transport) -> datetime | None:
    """Send every pending e-mail whose gathering time is over; returns when the next pending one is due."""
    async with hub.sessions() as session:
        due = (
            await session.scalars(
                select(OutgoingMail.id)
                .where(OutgoingMail.status == "pending", OutgoingMail.send_after <= hub.now())
                .order_by(OutgoingMail.id)
                .limit(BATCH)
            )
        ).all()
    for mail_id in due:
        if not await _claim(hub, mail_id):
            continue  # another hub instance is sending it
        try:
            await _deliver(hub, transport, mail_id)
        except Exception as exc:  # e.g. an address no e-mail can carry: that mail is retried later, the rest go now
            log.exception("could not prepare e-mail %s", mail_id)
            await _record_failure(hub, mail_id, exc)
    async with hub.sessions() as session:
        upcoming = await session.scalar(
            select(func.min(OutgoingMail.send_after)).where(OutgoingMail.status == "pending")
        )
    return aware(upcoming) if upcoming is not None else None


async def _claim(hub: Hub, mail_id: int) -> bool:
    """Take a due mail for this instance: its due time moves CLAIM_S ahead in one conditional UPDATE, so of several
    hub instances exactly one sends it (and another only if that one died before recording the result)."""
    now = hub.now()
    async with hub.sessions() as session, session.begin():
        taken = await session.execute(
            update(OutgoingMail)
            .where(OutgoingMail.id == mail_id, OutgoingMail.status == "pending", OutgoingMail.send_after <= now)
            .values(send_after=now + timedelta(seconds=CLAIM_S))
        )
    return taken.rowcount == 1


async def _deliver(hub: Hub, transport: Transport, mail_id: int) -> bool:
    async with hub.sessions() as session, session.begin():
        mail = await session.get(OutgoingMail, mail_id)
        conversation = await session.get(Conversation, mail.conversation_id)
        unseen = await _unseen(session, mail, await hub.customer_last_visit(conversation.id))
        if hub.customer_present(conversation.id) or not unseen:
            mail.status = "skipped"  # they are here, or came back and read it all in the chat
            return False
        message_ids = [message.id for message, _ in unseen]
        first = unseen[0][0].meta or {}  # an acknowledgement of the customer's e-mail answers it (handoff/inbound.py)
        ticket_id = await session.scalar(
            select(Ticket.id).where(Ticket.conversation_id == conversation.id).order_by(Ticket.id.desc()).limit(1)
        )
        mail.to_address = conversation.email or mail.to_address
        email = compose(
            to=mail.to_address,
            sender=hub.settings.mail_from,
            language=conversation.language,
            ticket_id=ticket_id,
            replies=[Reply(author=name or "", text=m.text, sent_at=aware(m.created_at)) for m, name in unseen],
            link=conversation_link(hub, conversation.id),
            link_days=hub.settings.resume_link_days,
            reference=hub.reply_signer.sign(conversation.id).decode(),
            answerable=bool(hub.settings.inbound_email_token),
            acknowledging=first.get("kind", "").startswith("email_received"),
            in_reply_to=first.get("answers_email"),
        )
    try:
        await transport.send(email)
    except Exception as exc:  # refused, unreachable, timed out: try again later
        await _record_failure(hub, mail_id, exc)
        return False
    async with hub.sessions() as session, session.begin():
        mail = await session.get(OutgoingMail, mail_id)
        mail.status, mail.sent_at, mail.message_ids = "sent", hub.now(), message_ids
    await _tell_agent(hub, conversation, message_ids, mail.to_address)
    return True


async def _unseen(session: AsyncSession, mail: OutgoingMail, last_seen: datetime | None) -> list[tuple[Message, str]]:
    """The replies (with their authors' names) the customer has not seen: written after the mail's start and after
    their last visit."""
    rows = (
        await session.execute(
            select(Message, Agent.display_name)
            .outerjoin(Agent, Agent.id == Message.agent_id)
            .where(
                Message.conversation_id == mail.conversation_id,
                Message.id > mail.after_message_id,
                Message.sender.in_(("agent", "system")),
            )
            .order_by(Message.id)
        )
    ).all()
    # if they came back meanwhile, they read what was there then
    return [(message, name) for message, name in rows if last_seen is None or aware(message.created_at) > last_seen]


async def _record_failure(hub: Hub, mail_id: int, exc: Exception) -> None:
    async with hub.sessions() as session, session.begin():
        mail = await session.get(OutgoingMail, mail_id)
        mail.attempts += 1
        mail.last_error = f"{type(exc).__name__}: {exc}"[:1000]
        if mail.attempts >= MAX_ATTEMPTS:
            mail.status = "failed"
            log.error("gave up e-mailing %s after %d attempts: %s", mail.conversation_id, MAX_ATTEMPTS, exc)
        else:
            mail.send_after = hub.now() + timedelta(seconds=min(30 * 2 ** (mail.attempts - 1), 3600))
            log.warning("e-mail for conversation %s failed (attempt %d): %s", mail.conversation_id, mail.attempts, exc)


async def _tell_agent(hub: Hub, conversation: Conversation, message_ids: list[int], address: str) -> None:
    """The agent of the chat sees which of their messages went out by e-mail."""
    if conversation.agent_id is not None:
        event = {"type": "emailed", "conversation_id": conversation.id, "message_ids": message_ids, "to": address}
        await hub.events.to_agent(conversation.agent_id, event)


async def emailed_message_ids(session: AsyncSession, conversation_id: str) -> list[int]:
    """The conversation's messages that went out by e-mail."""
    sent = await session.scalars(
        select(OutgoingMail.message_ids).where(
            OutgoingMail.conversation_id == conversation_id, OutgoingMail.status == "sent"
        )
    )
    return sorted({message_id for ids in sent for message_id in ids})


# -- the link in the e-mail ---------------------------------------------------------------------------------
def link_signer(settings: Settings) -> URLSafeTimedSerializer:
    """Signs and checks the links' keys (made once per hub: the secret may live in a file under var/)."""
    return URLSafeTimedSerializer(settings.resolved_hub_secret(), salt=LINK_SALT)


def conversation_link(hub: Hub, conversation_id: str) -> str:
    """The widget's page with a signed key that opens this conversation (for RESUME_LINK_DAYS)."""
    page = hub.settings.public_url or f"{hub.settings.hub_url}/shop"
    return f"{page.split('#', 1)[0]}#support-chat={conversation_id}~{hub.link_signer.dumps(conversation_id)}"


def link_opens(hub: Hub, conversation_id: str, key: str) -> bool:
    """Whether `key` (from an e-mail's link) is a valid, unexpired key for this conversation."""
    try:
        value = hub.link_signer.loads(key, max_age=hub.settings.resume_link_days * 86400)
    except BadSignature:  # SignatureExpired is one
        return False
    return value == conversation_id


# -- the reference in the e-mails' Message-IDs, for the customer's answers (handoff/inbound.py) -------------
REPLY_SALT = "email-reply"
_REFERENCE = re.compile(r"<[0-9a-f]+\.(?P<signed>\w+\.[\w-]+)@")


def reply_signer(settings: Settings) -> Signer:
    """Signs the conversation id in e-mails' Message-IDs (no expiry: customers answer old e-mails too)."""
    return Signer(settings.resolved_hub_secret(), salt=REPLY_SALT, sep=".")


def referenced_conversation(hub: Hub, mail: EmailMessage) -> str | None:
    """The conversation an answer's In-Reply-To or References points to, if the reference's signature holds."""
    headers = " ".join(str(mail.get(name, "")) for name in ("In-Reply-To", "References"))
    for found in _REFERENCE.finditer(headers):
        with contextlib.suppress(BadSignature):
            return hub.reply_signer.unsign(found.group("signed")).decode()
    return None
