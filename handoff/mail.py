"""E-mails to customers: what one contains (in the conversation's language) and how it leaves (SMTP or a file).

Without SMTP_URL the hub writes every e-mail as a `.eml` file into MAIL_DIR (like Django's file backend), so the
default run needs no mail server and nothing is lost; a mail client opens the files as they are.
"""

from __future__ import annotations

import asyncio
import html
import uuid
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

from bot.messages import text as catalogue_text
from bot.settings import Settings


@dataclass(frozen=True)
class Reply:
    """One message of the e-mail: a person's reply (`author` set) or a notice of the hub (`author` empty)."""

    author: str
    text: str
    sent_at: datetime


def compose(
    *,
    to: str,
    sender: str,
    language: str,
    ticket_id: int | None,
    replies: list[Reply],
    link: str,
    link_days: int,
    reference: str | None = None,
    answerable: bool = False,
    acknowledging: bool = False,
    in_reply_to: str | None = None,
) -> EmailMessage:
    """The e-mail with `replies`: plain text, and the same as escaped HTML for mail clients that prefer it.

    `reference` (the signed conversation, handoff/outbox.py) goes into the Message-ID, so that the customer's
    answer, which quotes it in In-Reply-To, finds its way back to the conversation (handoff/inbound.py);
    `answerable` says whether the hub reads such answers (the footer tells the customer either way);
    `acknowledging`: the e-mail starts by confirming that the customer's own e-mail answer arrived, and answers
    that e-mail (`in_reply_to`, its Message-ID)."""
    subject = catalogue_text("mail_subject_received" if acknowledging else "mail_subject", language)
    if ticket_id is not None:
        subject = f"{subject} [#{ticket_id}]"
    intro = catalogue_text("mail_intro_received" if acknowledging else "mail_intro", language)
    continue_text = catalogue_text("mail_continue", language, days=link_days)
    footer = catalogue_text("mail_footer_answerable" if answerable else "mail_footer", language)

    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    domain = _domain(sender)
    message["Message-ID"] = f"<{uuid.uuid4().hex}.{reference}@{domain}>" if reference else make_msgid(domain=domain)
    if in_reply_to:
        message["In-Reply-To"] = message["References"] = in_reply_to
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office answers to it
    message.set_content(_plain(intro, replies, continue_text, link, footer))
    message.add_alternative(_html(intro, replies, continue_text, link, footer), subtype="html")
    return message


def _plain(intro: str, replies: list[Reply], continue_text: str, link: str, footer: str) -> str:
    blocks = [intro]
    for reply in replies:
        heading = f"{reply.author} ({_time(reply.sent_at)}):" if reply.author else f"({_time(reply.sent_at)})"
        blocks.append(f"{heading}\n{reply.text}")
    blocks += [f"{continue_text}\n{link}", f"-- \n{footer}"]
    return "\n\n".join(blocks) + "\n"


def _html(intro: str, replies: list[Reply], continue_text: str, link: str, footer: str) -> str:
    def paragraph(value: str, style: str = "") -> str:
        body = html.escape(value).replace("\n", "<br>")
        return f'<p style="{style}">{body}</p>' if style else f"<p>{body}</p>"

    quoted = []
    for reply in replies:
        who = html.escape(reply.author) + " · " if reply.author else ""
        quoted.append(
            '<div style="border-left:3px solid #2563eb;margin:12px 0;padding:4px 12px">'
            f'<div style="color:#555;font-size:13px">{who}{_time(reply.sent_at)}</div>'
            f"{paragraph(reply.text, 'margin:4px 0')}</div>"
        )
    return (
        '<!doctype html><html><body style="font-family:system-ui,sans-serif;font-size:15px;color:#111">'
        f"{paragraph(intro)}{''.join(quoted)}{paragraph(continue_text)}"
        f'<p><a href="{html.escape(link, quote=True)}" style="background:#2563eb;color:#fff;padding:8px 14px;'
        f'border-radius:6px;text-decoration:none">{html.escape(_link_label(continue_text))}</a></p>'
        f"{paragraph(footer, 'color:#666;font-size:13px')}</body></html>"
    )


def _link_label(continue_text: str) -> str:
    """The button's label: the sentence up to its first colon or full stop ("Continue in the chat")."""
    for mark in (":", "."):
        if mark in continue_text:
            return continue_text.split(mark, 1)[0]
    return continue_text


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _domain(address: str) -> str:
    """The sender's domain for Message-ID (`Support <support@example.com>` -> example.com)."""
    return address.rsplit("@", 1)[-1].strip(" >") or "localhost"


class Transport(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class SmtpTransport:
    """A mail server: smtp://user:password@host:587 (STARTTLS when offered) or smtps://user:password@host:465."""

    def __init__(self, url: str, local_hostname: str = "localhost", timeout_s: float = 15):
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"SMTP_URL must look like smtp://user:password@host:587, not {url!r}")
        self._options = {
            "hostname": parts.hostname,
            "port": parts.port or (465 if parts.scheme == "smtps" else 25),
            "username": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password else None,
            "use_tls": parts.scheme == "smtps",
            "local_hostname": local_hostname,  # else the name is looked up in DNS, which may hang
            "timeout": timeout_s,
        }

    async def send(self, message: EmailMessage) -> None:
        await aiosmtplib.send(message, **self._options)


class FileTransport:
    """Each e-mail as a `.eml` file in `directory` (the default run's mail server)."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._write, message)

    def _write(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}.eml"
        temporary = self.directory / f".{name}.tmp"
        temporary.write_bytes(message.as_bytes())
        temporary.replace(self.directory / name)  # readers never see half a file


def make_transport(settings: Settings) -> Transport:
    if settings.smtp_url:
        return SmtpTransport(settings.smtp_url, local_hostname=_domain(settings.mail_from))
    return FileTransport(settings.mail_dir)
