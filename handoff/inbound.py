"""Customers' e-mail answers to the hub's e-mails land in their conversation, with the person on the case.

Every e-mail the hub sends carries a signed reference to its conversation in its Message-ID; a mail client puts
it into `In-Reply-To` and `References` when the customer answers. The mailbox of MAIL_FROM hands each incoming
e-mail, as raw RFC 5322 bytes, to `POST /api/v1/inbound/email` (an MTA pipe, or a provider's "forward raw MIME"
webhook) with the INBOUND_EMAIL_TOKEN. The hub checks the reference's signature and that the sender is the
address the customer left, keeps only the new text (not the quoted e-mail below it), and stores it as the
customer's message: relayed to the agent (queued or assigned), or, when the chat had ended or gone back to the
bot, in a new ticket in the queue (and the customer is e-mailed that it arrived). The e-mail's Message-ID is the
message's client_id, so a redelivered e-mail is stored once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import parseaddr
from html.parser import HTMLParser

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.handoff_packet import summarize
from handoff import conversations, outbox, tickets
from handoff.errors import Forbidden, Invalid, NotFound
from handoff.hub import Hub
from handoff.models import Conversation, Message, Ticket
from handoff.transcript import add_message, system_message

REASON = "email_reply"  # the ticket's reason when an e-mail answer reopens an ended (or bot) conversation
# Where the quoted e-mail starts: "On Mon, ... wrote:", "Am ... schrieb ...:", Outlook's separators, "> " lines.
_QUOTE_STARTS = (
    re.compile(r"^\s*on\b.{0,200}\bwrote:\s*$", re.IGNORECASE),
    re.compile(r"^\s*am\b.{0,200}\bschrieb\b.{0,100}:\s*$", re.IGNORECASE),
    re.compile(r"^\s*-{2,}\s*(original message|urspr.ngliche nachricht)\s*-{2,}", re.IGNORECASE),
    re.compile(r"^\s*>"),
    re.compile(r"^-- $"),  # the signature separator
)
# Outlook's quoted header block: "From: <address>" followed by "Sent:", "To:" or "Subject:" (or the German ones);
# a line of the customer's own that starts with "From:" is not a quote.
_HEADER_BLOCK_START = re.compile(r"^\s*(from|von):\s.*@", re.IGNORECASE)
_HEADER_BLOCK_NEXT = re.compile(r"^\s*(sent|date|to|subject|gesendet|datum|an|betreff):\s", re.IGNORECASE)
# The same attribution line wrapped in two, as Gmail does with long names and addresses.
_WRAPPED_ATTRIBUTION = re.compile(r"^\s*(on|am)\b.{0,200}\b(wrote|schrieb\b.{0,100}):\s*$", re.IGNORECASE)
_MESSAGE_ID = re.compile(r"<[^<>\s]{3,250}>")  # a Message-ID the hub repeats in In-Reply-To (nothing else)


# -- reading an e-mail ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InboundMail:
    sender: str
    subject: str
    message_id: str
    text: str  # the new text only, without the quoted e-mail
    mail: EmailMessage


def parse(raw: bytes) -> InboundMail:
    """The parts of an incoming e-mail the hub uses; a message without a sender or any text is refused."""
    try:
        mail = message_from_bytes(raw, policy=default_policy)
        sender = parseaddr(str(mail.get("From", "")))[1].strip().lower()
        body = mail.get_body(preferencelist=("plain", "html"))
        content = body.get_content() if body is not None else ""
    except (LookupError, ValueError, TypeError, AttributeError) as exc:  # undecodable parts, broken headers
        raise Invalid(f"The e-mail could not be read: {exc}", "email_unreadable") from exc
    if "@" not in sender:
        raise Invalid("The e-mail has no sender address (From).", "email_without_sender")
    if body is not None and body.get_content_type() == "text/html":
        content = _html_text(content)
    return InboundMail(
        sender=sender,
        subject=str(mail.get("Subject", "")).strip(),
        message_id=str(mail.get("Message-ID", "")).strip(),
        text=new_text(content),
        mail=mail,
    )


def automatic(mail: EmailMessage) -> bool:
    """Whether a mail program, not the customer, sent it: out-of-office notices and other auto-replies
    (RFC 3834 `Auto-Submitted`, and the headers Exchange and mailing lists use)."""
    if str(mail.get("Auto-Submitted", "no")).strip().lower() != "no":
        return True
    if str(mail.get("Precedence", "")).strip().lower() in ("auto_reply", "bulk", "junk", "list"):
        return True
    return any(name in mail for name in ("X-Autoreply", "X-Autorespond"))


def new_text(content: str) -> str:
    """What the customer wrote above the quoted e-mail (and above their signature)."""
    lines = content.replace("\r\n", "\n").split("\n")
    for index, line in enumerate(lines):
        if any(pattern.search(line) for pattern in _QUOTE_STARTS) or _header_block(lines, index):
            lines = lines[:index]
            break
        if index and _WRAPPED_ATTRIBUTION.search(f"{lines[index - 1]} {line}"):  # "On ..., <a@b>" / "wrote:"
            lines = lines[: index - 1]
            break
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in lines)).strip()


def _header_block(lines: list[str], index: int) -> bool:
    """Whether `lines[index]` starts a quoted e-mail's header block ("From: ... @" and, below it, "Sent: ...")."""
    if not _HEADER_BLOCK_START.search(lines[index]):
        return False
    return any(_HEADER_BLOCK_NEXT.search(line) for line in lines[index + 1 : index + 4])


class _TextOfHtml(HTMLParser):
    """Text of an HTML-only e-mail: block elements become line breaks, quoted blocks are dropped."""

    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._quoted = 0

    def handle_starttag(self, tag, attrs):
        if tag == "blockquote":
            self._quoted += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag == "blockquote":
            self._quoted = max(0, self._quoted - 1)

    def handle_data(self, data):
        if not self._quoted:
            self.parts.append(data)


def _html_text(content: str) -> str:
    parser = _TextOfHtml()
    parser.feed(content)
    return "".join(parser.parts)


# -- receiving -----------------------------------------------------------------------------------------------
async def receive(hub: Hub, raw: bytes) -> dict:
    """Store a customer's e-mail answer in its conversation; returns where it went."""
    inbound = parse(raw)
    conversation_id = outbox.referenced_conversation(hub, inbound.mail)
    if conversation_id is None:
        raise NotFound(
            "This e-mail does not answer an e-mail of the hub (no signed reference in In-Reply-To or References).",
            "not_a_reply",
        )
    if automatic(inbound.mail):  # an out-of-office notice is no answer: it must not reopen a case
        return {"conversation_id": conversation_id, "message_id": None, "reopened": None, "ignored": "automatic"}
    async with hub.sessions() as session:
        conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound("The conversation this e-mail answers no longer exists.", "conversation_not_found")
    if not conversation.email or conversation.email.lower() != inbound.sender:
        raise Forbidden(
            "The e-mail comes from another address than the one the customer left for this conversation.",
            "sender_mismatch",
        )
    if not inbound.text:
        raise Invalid("The e-mail contains no new text above the quoted message.", "email_empty")
    text = _fitted(hub, inbound.text)
    client_id = "email:" + hashlib.sha256((inbound.message_id or inbound.text).encode()).hexdigest()[:40]
    meta = {"channel": "email", "subject": inbound.subject[:200]}
    if conversation.state in ("queued", "agent"):
        result = await conversations.post(hub, conversation_id, text=text, client_id=client_id, meta=meta)
        message_id, ticket_id = result["customer_message"]["id"], None
    else:
        message_id, ticket_id = await _reopen(hub, conversation_id, text, client_id, meta, inbound.message_id)
    return {"conversation_id": conversation_id, "message_id": message_id, "reopened": ticket_id, "ignored": None}


def _fitted(hub: Hub, text: str) -> str:
    """E-mails are not refused for length (the customer cannot see why): a long one is cut, and says so."""
    limit = hub.settings.max_message_chars
    return text if len(text) <= limit else text[: limit - 2].rstrip() + " …"


async def _reopen(
    hub: Hub, conversation_id: str, text: str, client_id: str, meta: dict, email_id: str
) -> tuple[int, int | None]:
    """The chat had ended (or was back with the bot): the answer goes to the queue in a new ticket."""
    async with hub.lock(conversation_id):
        async with hub.sessions() as session, session.begin():
            conversation = await session.get(Conversation, conversation_id)
            already = await tickets.stored_message(session, conversation_id, client_id)
            if already is not None:  # the same e-mail delivered again
                return already.id, None
            earlier = await session.scalar(
                select(Ticket).where(Ticket.conversation_id == conversation_id).order_by(Ticket.id.desc()).limit(1)
            )
            stored = add_message(session, conversation_id, "customer", text, meta=meta, client_id=client_id)
            conversation.agent_id = None
            ticket = tickets.new_ticket(
                session,
                conversation,
                reason=REASON,
                priority=earlier.priority if earlier else "normal",
                category=earlier.category if earlier else None,
                summary=summarize(text),
                packet=None,
                actor="customer",
            )
            notice = await _acknowledgement(session, hub, conversation, ticket, email_id)
            await outbox.queue_reply(session, hub, conversation, notice)
        await conversations.announce(hub, conversation, ticket, [stored, notice])
    return stored.id, ticket.id


async def _acknowledgement(
    session: AsyncSession, hub: Hub, conversation: Conversation, ticket: Ticket, email_id: str
) -> Message:
    """The customer is told that their e-mail arrived, in which ticket, and honestly whether anyone is there to
    answer now. The notice is e-mailed to them, as every notice for a customer who is away, as an answer to
    their e-mail (`answers_email`: its Message-ID, so that their mail client puts the two together)."""
    situation = await tickets.waiting_situation(session, hub, ticket)
    kind = "email_received" if situation == "queued" else "email_received_later"
    notice = system_message(session, conversation, kind, ticket=ticket.id)
    if _MESSAGE_ID.fullmatch(email_id):
        notice.meta = {**notice.meta, "answers_email": email_id}
    return notice
