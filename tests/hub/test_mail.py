"""Replies to customers who left the chat go out by e-mail: a real SMTP server (aiosmtpd), SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import email
import re
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from handoff.app import create_app
from handoff.keys import HUB
from handoff.mail import FileTransport, Reply, SmtpTransport, compose
from handoff.models import OutgoingMail
from tests.hub.conftest import closed_port, new_agent, queued_ticket
from tests.hub.test_monitoring import key, scrape
from tests.hub.test_websockets import _next

ADDRESS = "kunde@example.org"


class Inbox:
    """What the SMTP server received (aiosmtpd calls handle_DATA from its own thread)."""

    def __init__(self) -> None:
        self.received: list[EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.received.append(email.message_from_bytes(envelope.content, policy=default_policy))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[EmailMessage]:
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                await asyncio.sleep(0.05)
        return self.received


@pytest.fixture
def smtp_port() -> int:
    return closed_port()


@pytest.fixture
def inbox(smtp_port):
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    yield handler
    controller.stop()


@pytest.fixture
def mail_settings(hub_settings, smtp_port):
    return hub_settings.model_copy(
        update={
            "smtp_url": f"smtp://127.0.0.1:{smtp_port}",
            "mail_from": "Support <support@shop.example>",
            "email_delay_s": 0.4,
            "customer_away_after_s": 0.2,
            "hub_secret": "test-secret",
        }
    )


@pytest.fixture
async def mail_client(aiohttp_client, mail_settings):
    return await aiohttp_client(create_app(mail_settings))


async def _customer_with_email(client, language: str = "de"):
    """A queued customer who left an e-mail address, and an agent (online, not claimed yet)."""
    customer, ticket_id = await queued_ticket(client, language=language)
    response = await client.post(
        f"/api/v1/conversations/{customer.id}/contact", json={"email": ADDRESS}, headers=customer.auth
    )
    assert response.status == 200, await response.text()
    return customer, ticket_id, await new_agent(client, "anna")


async def _away_customer_with_email(client, language: str = "de"):
    """The same, after the customer closed the chat and the agent claimed it."""
    customer, ticket_id, anna = await _customer_with_email(client, language)
    await anna.call("POST", f"/tickets/{ticket_id}/claim")
    await asyncio.sleep(0.3)  # longer than customer_away_after_s: the customer is gone
    return customer, ticket_id, anna


async def _write(agent, ticket_id: int, body: dict) -> dict:
    return (await agent.json("POST", f"/tickets/{ticket_id}/messages", body, expect=201))["message"]


async def _outbox(client) -> list[OutgoingMail]:
    async with client.app[HUB].sessions() as session:
        return list((await session.scalars(select(OutgoingMail).order_by(OutgoingMail.id))).all())


async def test_an_absent_customers_replies_go_out_in_one_email_in_their_language(mail_client, inbox):
    mail_client.app[HUB].settings.email_delay_s = 1.5  # room for the second reply on a busy machine
    customer, ticket_id, anna = await _away_customer_with_email(mail_client, "de")
    detail = await anna.json("GET", f"/tickets/{ticket_id}")
    assert detail["customer"] == {"present": False, "email": ADDRESS}

    first = await _write(anna, ticket_id, {"text": 'Bitte halten Sie <b>Power</b> & "Lauter" 10 s.'})
    second = await _write(anna, ticket_id, {"text": "Startet es danach?"})

    (mail,) = await inbox.wait_for(1)
    await asyncio.sleep(2.0)  # and no second e-mail for the second message
    assert len(inbox.received) == 1
    assert inbox.recipients == [[ADDRESS]]
    assert mail["To"] == ADDRESS and "support@shop.example" in mail["From"]
    assert mail["Subject"] == f"Eine Antwort auf Ihre Supportanfrage [#{ticket_id}]"
    assert mail["Auto-Submitted"] == "auto-generated"
    plain = mail.get_body(("plain",)).get_content()
    assert "Sie hatten unseren Support-Chat schon verlassen" in plain
    assert 'Bitte halten Sie <b>Power</b> & "Lauter" 10 s.' in plain and "Startet es danach?" in plain
    assert plain.index("Bitte halten") < plain.index("Startet es")
    assert "Anna" in plain
    html = mail.get_body(("html",)).get_content()
    assert "&lt;b&gt;Power&lt;/b&gt; &amp; &quot;Lauter&quot;" in html and "<b>Power" not in html

    # the link reopens the conversation (and only with an intact key)
    link = re.search(r"(http\S+#support-chat=(\w+)~(\S+))", plain)
    assert link and link.group(2) == customer.id
    key = link.group(3)
    assert f'href="{link.group(1)}"' in html
    tampered = key[:-2] + ("AA" if not key.endswith("AA") else "BB")
    response = await mail_client.get(
        f"/api/v1/conversations/{customer.id}/messages", headers={"Authorization": f"Bearer {tampered}"}
    )
    assert response.status == 401

    (row,) = await _outbox(mail_client)
    assert row.status == "sent" and row.attempts == 0
    assert row.message_ids == [first["id"], second["id"]]
    detail = await anna.json("GET", f"/tickets/{ticket_id}")
    assert detail["emailed_message_ids"] == [first["id"], second["id"]]

    response = await mail_client.get(
        f"/api/v1/conversations/{customer.id}/messages", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status == 200
    texts = [m["text"] for m in (await response.json())["messages"]]
    assert "Startet es danach?" in texts
    detail = await anna.json("GET", f"/tickets/{ticket_id}")
    assert detail["customer"]["present"] is True  # the link brought them back


async def test_a_key_opens_only_the_conversation_it_was_made_for(mail_client, inbox):
    customer, ticket_id, anna = await _away_customer_with_email(mail_client, "en")
    other, _ = await queued_ticket(mail_client, language="en")
    await _write(anna, ticket_id, {"text": "Please try a different cable."})
    (mail,) = await inbox.wait_for(1)
    assert mail["Subject"].startswith("A reply to your support request")
    key = re.search(r"#support-chat=\w+~(\S+)", mail.get_body(("plain",)).get_content()).group(1)
    response = await mail_client.get(
        f"/api/v1/conversations/{other.id}/messages", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status == 401


async def test_no_email_while_the_customer_reads_along(mail_client, inbox):
    customer, ticket_id, anna = await _customer_with_email(mail_client, "en")
    socket = await mail_client.ws_connect(f"/api/v1/conversations/{customer.id}/ws?token={customer.token}")
    await anna.call("POST", f"/tickets/{ticket_id}/claim")
    await asyncio.sleep(0.3)
    await _write(anna, ticket_id, {"text": "Are you still there?"})
    await asyncio.sleep(1.0)
    assert inbox.received == [] and await _outbox(mail_client) == []
    await socket.close()


async def test_a_customer_back_before_the_email_goes_reads_it_in_the_chat_instead(mail_client, inbox):
    mail_client.app[HUB].settings.email_delay_s = 1.0  # they are back well within it, even on a busy machine
    customer, ticket_id, anna = await _away_customer_with_email(mail_client)
    await _write(anna, ticket_id, {"text": "Bitte laden Sie das Gerät 30 Minuten."})
    await customer.messages()  # the widget polls: they are back within the gathering time
    await asyncio.sleep(1.5)
    assert inbox.received == []
    (row,) = await _outbox(mail_client)
    assert row.status == "skipped"


async def test_a_customer_who_read_some_replies_gets_only_the_later_ones(mail_client, inbox):
    mail_client.app[HUB].settings.email_delay_s = 1.0
    customer, ticket_id, anna = await _away_customer_with_email(mail_client)
    await _write(anna, ticket_id, {"text": "Erste Antwort."})
    await customer.messages()  # back for a moment, then gone again
    await asyncio.sleep(0.3)
    await _write(anna, ticket_id, {"text": "Zweite Antwort."})
    (mail,) = await inbox.wait_for(1)
    plain = mail.get_body(("plain",)).get_content()
    assert "Zweite Antwort." in plain and "Erste Antwort." not in plain


async def test_resolving_for_an_absent_customer_emails_the_outcome(mail_client, inbox):
    customer, ticket_id, anna = await _away_customer_with_email(mail_client, "en")
    await anna.call("POST", f"/tickets/{ticket_id}/resolve", {"note": "Replaced the cable", "kb_candidate": False})
    (mail,) = await inbox.wait_for(1)
    plain = mail.get_body(("plain",)).get_content()
    assert "has marked your case as solved" in plain and "rate it from 1 to 5 stars" in plain


async def test_no_address_no_email(mail_client, inbox):
    customer, ticket_id = await queued_ticket(mail_client)
    anna = await new_agent(mail_client, "anna")
    await anna.call("POST", f"/tickets/{ticket_id}/claim")
    await asyncio.sleep(0.3)
    await _write(anna, ticket_id, {"text": "Hello?"})
    await asyncio.sleep(0.8)
    assert inbox.received == [] and await _outbox(mail_client) == []
    detail = await anna.json("GET", f"/tickets/{ticket_id}")
    assert detail["customer"] == {"present": False, "email": None}


async def test_a_refused_email_is_retried_and_nothing_is_lost(mail_settings, smtp_port, aiohttp_client):
    # (the database fixture first: it is torn down after the hub)
    client = await aiohttp_client(create_app(mail_settings))  # no SMTP server listens yet
    customer, ticket_id, anna = await _away_customer_with_email(client)
    await _write(anna, ticket_id, {"text": "Ihr Ersatzgerät ist unterwegs."})
    async with asyncio.timeout(5):
        while not (rows := await _outbox(client)) or rows[0].attempts == 0:
            await asyncio.sleep(0.1)
    (row,) = rows
    assert row.status == "pending" and row.attempts == 1
    assert "ConnectionRefused" in row.last_error or "SMTPConnect" in row.last_error
    assert (row.send_after - row.created_at).total_seconds() > 20  # a pause before the next attempt
    found = await scrape(client)
    assert found[key("hub_outbox_emails", status="pending")] == 1
    assert found[key("hub_outbox_emails", status="sent")] == 0

    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        hub = client.app[HUB]
        async with hub.sessions() as session, session.begin():  # the pause is over
            await session.execute(update(OutgoingMail).values(send_after=row.created_at))
        hub.mail_due = hub.now()  # (the loop would look at the old send_after)
        (mail,) = await handler.wait_for(1)
    finally:
        controller.stop()
    assert "Ihr Ersatzgerät ist unterwegs." in mail.get_body(("plain",)).get_content()
    async with asyncio.timeout(5):  # recorded right after the server took it
        while (row := (await _outbox(client))[0]).status == "pending":
            await asyncio.sleep(0.05)
    assert row.status == "sent" and row.attempts == 1
    assert (await scrape(client))[key("hub_outbox_emails", status="sent")] == 1


async def test_the_agent_sees_the_customer_leave_and_come_back_and_what_was_emailed(mail_client, inbox):
    customer, ticket_id, anna = await _customer_with_email(mail_client, "en")
    console = await mail_client.ws_connect(f"/api/v1/agent/ws?token={anna.token}")
    await anna.call("POST", f"/tickets/{ticket_id}/claim")
    widget = await mail_client.ws_connect(f"/api/v1/conversations/{customer.id}/ws?token={customer.token}")
    arrived = await _next(console, "customer_presence")
    assert arrived == {"type": "customer_presence", "ticket_id": ticket_id, "present": True}
    (chat,) = (await anna.json("GET", "/chats"))["tickets"]
    assert chat["customer_present"] is True
    await widget.close()
    assert (await _next(console, "customer_presence"))["present"] is False
    (chat,) = (await anna.json("GET", "/chats"))["tickets"]
    assert chat["customer_present"] is False  # the console's chat list marks it
    message = await _write(anna, ticket_id, {"text": "I'll e-mail you then."})
    event = await _next(console, "emailed")
    assert event == {"type": "emailed", "conversation_id": customer.id, "message_ids": [message["id"]], "to": ADDRESS}
    await console.close()


async def test_without_a_mail_server_emails_are_files(mail_settings, tmp_path, aiohttp_client):
    settings = mail_settings.model_copy(update={"smtp_url": "", "mail_dir": tmp_path / "mail"})
    client = await aiohttp_client(create_app(settings))
    customer, ticket_id, anna = await _away_customer_with_email(client, "en")
    await _write(anna, ticket_id, {"text": "Your repair is booked."})
    async with asyncio.timeout(5):
        while not list((tmp_path / "mail").glob("*.eml")):
            await asyncio.sleep(0.05)
    (path,) = (tmp_path / "mail").glob("*.eml")
    mail = email.message_from_bytes(path.read_bytes(), policy=default_policy)
    assert mail["To"] == ADDRESS and "Your repair is booked." in mail.get_body(("plain",)).get_content()


# -- units ---------------------------------------------------------------------------------------------------
def test_smtp_urls_are_checked():
    with pytest.raises(ValueError, match="SMTP_URL"):
        SmtpTransport("mail.example.com:587")
    transport = SmtpTransport("smtps://user%40shop:p%3Ass@mail.example.com")
    assert transport._options["port"] == 465 and transport._options["use_tls"] is True
    assert transport._options["username"] == "user@shop" and transport._options["password"] == "p:ss"


async def test_file_transport_writes_whole_files(tmp_path):
    from datetime import UTC, datetime

    message = compose(
        to=ADDRESS,
        sender="Support <support@shop.example>",
        language="en",
        ticket_id=None,
        replies=[Reply(author="", text="Notice", sent_at=datetime.now(UTC))],
        link="http://shop.example/#support-chat=x~y",
        link_days=14,
    )
    await FileTransport(tmp_path).send(message)
    (path,) = tmp_path.iterdir()
    assert path.suffix == ".eml" and not path.name.startswith(".")
    assert message["Subject"] == "A reply to your support request"
