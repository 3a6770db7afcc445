"""Replies to customers who left the chat go out by e-mail: a real SMTP server (aiosmtpd), SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import email
import re
import uuid
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from handoff.app import create_app
from handoff.keys import HUB
from handoff.mail import FileTransport, Reply, SmtpTransport, compose
from handoff.models import Conversation, OutgoingMail
from tests.hub.conftest import closed_port, new_agent, queued_ticket
from tests.hub.test_monitoring import key, scrape
from tests.hub.test_websockets import _next

ADDRESS = "kunde@example.org"
INBOUND_TOKEN = "inbound-secret"


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
            "inbound_email_token": INBOUND_TOKEN,
        }
    )


@pytest.fixture
async def mail_client(mail_settings, aiohttp_client):  # the database first: it is torn down after the hub
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


async def _settled_outbox(client, timeout: float = 10.0) -> list[OutgoingMail]:
    """The outbox once no e-mail is pending any more (sent, skipped or failed), however busy the machine."""
    async with asyncio.timeout(timeout):
        while True:
            rows = await _outbox(client)
            if all(row.status != "pending" for row in rows):
                return rows
            await asyncio.sleep(0.1)


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

    # present = a request within customer_away_after_s: 0.2 s passed between the two requests below on a busy
    # machine, so the window widens now that the e-mail is out (the customer's last request is 3.8 s old or more)
    mail_client.app[HUB].settings.customer_away_after_s = 2.0
    assert (await anna.json("GET", f"/tickets/{ticket_id}"))["customer"]["present"] is False
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
    (row,) = await _settled_outbox(mail_client)
    assert row.status == "skipped"
    assert inbox.received == []


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


async def test_an_address_no_email_can_carry_holds_up_no_other_customers_email(mail_client, inbox):
    """An address stored before the strict check (or one a mail server would choke on) fails on its own: it used
    to stop the whole outbox, oldest first, for every customer after it."""
    first, first_ticket, anna = await _away_customer_with_email(mail_client)
    async with mail_client.app[HUB].sessions() as session, session.begin():
        await session.execute(update(Conversation).where(Conversation.id == first.id).values(email="a:b@x;c.com"))
    await _write(anna, first_ticket, {"text": "Antwort an die kaputte Adresse"})
    second, second_ticket = await queued_ticket(mail_client)
    contact = f"/api/v1/conversations/{second.id}/contact"
    assert (await mail_client.post(contact, json={"email": ADDRESS}, headers=second.auth)).status == 200
    await anna.call("POST", f"/tickets/{second_ticket}/claim")
    await asyncio.sleep(0.3)
    await _write(anna, second_ticket, {"text": "Antwort an die richtige Adresse"})

    (mail,) = await inbox.wait_for(1)
    assert "Antwort an die richtige Adresse" in mail.get_body(("plain",)).get_content()
    broken = next(row for row in await _outbox(mail_client) if row.conversation_id == first.id)
    assert broken.status == "pending" and broken.attempts == 1 and broken.last_error  # tried again later
    assert (broken.send_after - broken.created_at).total_seconds() > 20


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
    settings = mail_settings.model_copy(
        update={"smtp_url": "", "mail_dir": tmp_path / "mail", "inbound_email_token": ""}
    )
    client = await aiohttp_client(create_app(settings))
    customer, ticket_id, anna = await _away_customer_with_email(client, "en")
    await _write(anna, ticket_id, {"text": "Your repair is booked."})
    async with asyncio.timeout(5):
        while not list((tmp_path / "mail").glob("*.eml")):
            await asyncio.sleep(0.05)
    (path,) = (tmp_path / "mail").glob("*.eml")
    mail = email.message_from_bytes(path.read_bytes(), policy=default_policy)
    plain = mail.get_body(("plain",)).get_content()
    assert mail["To"] == ADDRESS and "Your repair is booked." in plain
    assert "replies to it are not read" in plain  # no INBOUND_EMAIL_TOKEN: the hub does not read answers


# -- the customer's answers by e-mail (handoff/inbound.py) ---------------------------------------------------
def _answer(
    mail: EmailMessage,
    text: str,
    *,
    sender: str = ADDRESS,
    quote: str = "Am Montag schrieb Support:",
    html: bool = False,
    in_reply_to: str | None = None,
) -> bytes:
    """The customer's answer to `mail` as their mail client sends it: the new text, then the quoted e-mail."""
    answer = EmailMessage()
    answer["From"] = f"Kim Kunde <{sender}>"
    answer["To"] = mail["From"]
    answer["Subject"] = "Re: " + mail["Subject"]
    answer["Message-ID"] = f"<{uuid.uuid4().hex}@example.org>"
    answer["In-Reply-To"] = answer["References"] = in_reply_to or mail["Message-ID"]
    quoted = "\n".join("> " + line for line in mail.get_body(("plain",)).get_content().splitlines())
    if html:
        answer.set_content(f"<div>{text}</div><div>{quote}</div><blockquote>{quoted}</blockquote>", subtype="html")
    else:
        answer.set_content(f"{text}\n\n{quote}\n{quoted}\n")
    return answer.as_bytes()


async def _deliver_inbound(client, raw: bytes, expect: int = 201, token: str = INBOUND_TOKEN) -> dict:
    response = await client.post(
        "/api/v1/inbound/email",
        data=raw,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "message/rfc822"},
    )
    body = await response.json()
    assert response.status == expect, body
    return body


async def _transcript(client, ticket_id: int, agent) -> list[dict]:
    return (await agent.json("GET", f"/tickets/{ticket_id}"))["transcript"]


async def test_the_customers_email_answer_reaches_the_agent_without_the_quoted_email(mail_client, inbox):
    customer, ticket_id, anna = await _away_customer_with_email(mail_client, "de")
    await _write(anna, ticket_id, {"text": "Bitte halten Sie Power 10 s gedrückt."})
    (mail,) = await inbox.wait_for(1)
    console = await mail_client.ws_connect(f"/api/v1/agent/ws?token={anna.token}")

    answer = _answer(mail, "Das hat <b>nicht</b> geholfen, der Bildschirm bleibt schwarz.\n\nGrüße\nKim")
    result = await _deliver_inbound(mail_client, answer)
    assert result["conversation_id"] == customer.id and result["reopened"] is None

    assert "Sie können auf diese E-Mail antworten" in mail.get_body(("plain",)).get_content()
    relayed = await _next(console, "message")
    assert relayed["message"]["text"] == "Das hat <b>nicht</b> geholfen, der Bildschirm bleibt schwarz.\n\nGrüße\nKim"
    assert relayed["message"]["meta"]["channel"] == "email"
    assert relayed["message"]["meta"]["subject"].startswith("Re: Eine Antwort auf Ihre Supportanfrage")
    transcript = await _transcript(mail_client, ticket_id, anna)
    assert transcript[-1]["id"] == result["message_id"] and "Bitte halten" not in transcript[-1]["text"]

    # the mailbox delivers the same e-mail again: stored once
    again = await _deliver_inbound(mail_client, answer)
    assert again["message_id"] == result["message_id"]
    assert len(await _transcript(mail_client, ticket_id, anna)) == len(transcript)

    # the agent's answer goes out by e-mail again: the conversation goes on by e-mail
    await _write(anna, ticket_id, {"text": "Dann schicken Sie es uns bitte ein."})
    await inbox.wait_for(2)
    assert "Dann schicken Sie es uns bitte ein." in inbox.received[1].get_body(("plain",)).get_content()
    await console.close()


async def test_an_html_only_answer_keeps_its_text_and_drops_the_quote(mail_client, inbox):
    customer, ticket_id, anna = await _away_customer_with_email(mail_client, "en")
    await _write(anna, ticket_id, {"text": "Did the reset help?"})
    (mail,) = await inbox.wait_for(1)
    await _deliver_inbound(mail_client, _answer(mail, "Yes &amp; no: it starts, then stops.", html=True))
    last = (await _transcript(mail_client, ticket_id, anna))[-1]
    assert last["sender"] == "customer" and last["text"] == "Yes & no: it starts, then stops."


async def test_an_answer_after_the_case_was_resolved_opens_a_new_ticket_in_the_queue(mail_client, inbox):
    customer, ticket_id, anna = await _away_customer_with_email(mail_client, "en")
    await anna.call("POST", f"/tickets/{ticket_id}/resolve", {"note": "Replaced the cable", "kb_candidate": False})
    (mail,) = await inbox.wait_for(1)
    console = await mail_client.ws_connect(f"/api/v1/agent/ws?token={anna.token}")

    On = "On Monday, 30 November 2026 at 10:02, Support <support@shop.example> wrote:"
    answer = _answer(mail, "It broke again today.", quote=On)
    result = await _deliver_inbound(mail_client, answer)
    assert result["reopened"] and result["reopened"] != ticket_id
    queued = await _next(console, "ticket_queued")
    assert queued["ticket"]["id"] == result["reopened"] and queued["ticket"]["reason"] == "email_reply"
    detail = await anna.json("GET", f"/tickets/{result['reopened']}")
    assert detail["ticket"]["status"] == "queued" and detail["ticket"]["reason"] == "email_reply"
    texts = [m["text"] for m in detail["transcript"]]
    assert "It broke again today." in texts and "Replaced the cable" not in texts[-1]
    await console.close()

    # the customer is told by e-mail that their answer arrived, in which ticket, and that someone is there
    _, acknowledgement = await inbox.wait_for(2)
    assert acknowledgement["Subject"] == f"We have received your e-mail [#{result['reopened']}]"
    answer_id = email.message_from_bytes(answer)["Message-ID"]
    assert acknowledgement["In-Reply-To"] == acknowledgement["References"] == answer_id  # it answers their e-mail
    plain = acknowledgement.get_body(("plain",)).get_content()
    assert "here is the latest on your support request:" in plain
    assert "Thank you for your e-mail, it has reached us." in plain
    assert f"back in our queue as ticket #{result['reopened']}; someone from our support team will answer" in plain
    assert "You can answer this e-mail" in plain


async def test_an_answer_when_nobody_is_there_is_acknowledged_honestly(mail_client, inbox):
    customer, ticket_id, anna = await _away_customer_with_email(mail_client, "de")
    await anna.call("POST", f"/tickets/{ticket_id}/resolve", {"note": "Akku getauscht", "kb_candidate": False})
    (mail,) = await inbox.wait_for(1)
    await anna.json("PUT", "/presence", {"presence": "away"})
    result = await _deliver_inbound(mail_client, _answer(mail, "Der Akku ist schon wieder leer."))
    _, acknowledgement = await inbox.wait_for(2)
    assert acknowledgement["Subject"] == f"Wir haben Ihre E-Mail erhalten [#{result['reopened']}]"
    plain = acknowledgement.get_body(("plain",)).get_content()
    assert f"als Ticket #{result['reopened']} wieder in unserer Warteschlange. Gerade ist niemand" in plain
    # the chat shows the same notice, after the customer's e-mail
    history = await customer.messages()
    assert [m["meta"].get("kind") for m in history["messages"][-2:]] == [None, "email_received_later"]
    assert history["messages"][-2]["text"] == "Der Akku ist schon wieder leer."


@pytest.mark.parametrize("header", ["Auto-Submitted: auto-replied", "Precedence: auto_reply", "X-Autoreply: yes"])
async def test_an_out_of_office_notice_is_no_answer_and_reopens_nothing(mail_client, inbox, header):
    customer, ticket_id, anna = await _away_customer_with_email(mail_client, "en")
    await anna.call("POST", f"/tickets/{ticket_id}/resolve", {"note": "Replaced the cable", "kb_candidate": False})
    (mail,) = await inbox.wait_for(1)
    before = await _transcript(mail_client, ticket_id, anna)
    name, value = header.split(": ")
    notice = email.message_from_bytes(_answer(mail, "I am out of the office until Monday."), policy=default_policy)
    notice[name] = value
    response = await mail_client.post(
        "/api/v1/inbound/email",
        data=notice.as_bytes(),
        headers={"Authorization": f"Bearer {INBOUND_TOKEN}", "Content-Type": "message/rfc822"},
    )
    assert response.status == 202
    assert (await response.json()) == {
        "conversation_id": customer.id,
        "message_id": None,
        "reopened": None,
        "ignored": "automatic",
    }
    assert await _transcript(mail_client, ticket_id, anna) == before
    assert (await anna.json("GET", "/queue"))["tickets"] == []


async def test_answers_that_are_not_the_customers_are_refused(mail_client, inbox):
    customer, ticket_id, anna = await _away_customer_with_email(mail_client, "en")
    await _write(anna, ticket_id, {"text": "Please send a photo."})
    (mail,) = await inbox.wait_for(1)
    before = len(await _transcript(mail_client, ticket_id, anna))

    stranger = await _deliver_inbound(mail_client, _answer(mail, "hi", sender="mallory@evil.example"), expect=403)
    assert stranger["error"]["code"] == "sender_mismatch"
    local, domain = mail["Message-ID"].split("@")
    flipped = "A" if local[-5] != "A" else "B"  # inside the signature (a base64 string's last character may not count)
    tampered = _answer(mail, "hi", in_reply_to=f"{local[:-5]}{flipped}{local[-4:]}@{domain}")
    assert (await _deliver_inbound(mail_client, tampered, expect=404))["error"]["code"] == "not_a_reply"
    fresh = EmailMessage()
    fresh["From"], fresh["Subject"] = ADDRESS, "Hello"
    fresh.set_content("A new e-mail, not an answer.")
    assert (await _deliver_inbound(mail_client, fresh.as_bytes(), expect=404))["error"]["code"] == "not_a_reply"
    only_quote = _answer(mail, "")
    assert (await _deliver_inbound(mail_client, only_quote, expect=400))["error"]["code"] == "email_empty"
    await _deliver_inbound(mail_client, _answer(mail, "hi"), expect=401, token="wrong")
    assert len(await _transcript(mail_client, ticket_id, anna)) == before


async def test_the_inbound_endpoint_is_off_without_a_token_and_refuses_oversized_mail(mail_settings, aiohttp_client):
    off = await aiohttp_client(create_app(mail_settings.model_copy(update={"inbound_email_token": ""})))
    response = await off.post("/api/v1/inbound/email", data=b"From: a@b.c\r\n\r\nhi")
    assert response.status == 404 and (await response.json())["error"]["code"] == "not_enabled"
    small = await aiohttp_client(create_app(mail_settings.model_copy(update={"inbound_email_max_bytes": 1000})))
    big = b"From: kunde@example.org\r\nSubject: photo\r\n\r\n" + b"x" * 5000
    body = await _deliver_inbound(small, big, expect=413)
    assert body["error"]["code"] == "email_too_large"
    # larger than the JSON API's body limit (16 KB), within the e-mail limit: read whole, refused for what it is
    roomy = await aiohttp_client(create_app(mail_settings))
    long = b"From: kunde@example.org\r\nSubject: photo\r\n\r\n" + b"x" * 50_000
    assert (await _deliver_inbound(roomy, long, expect=404))["error"]["code"] == "not_a_reply"


def test_the_new_text_ends_where_the_quote_or_signature_starts():
    from handoff.inbound import new_text

    assert new_text("Thanks!\n\n-----Original Message-----\nFrom: x") == "Thanks!"
    assert new_text("Danke\r\n\r\nVon: support@shop.example\r\nGesendet: ...") == "Danke"
    assert new_text("Works now.\n-- \nKim Kunde\nPhone 123") == "Works now."
    assert new_text("Line one\n\n\n\nLine two\n> quoted") == "Line one\n\nLine two"
    wrapped = "Still broken.\n\nOn Mon, 30 Nov 2026 at 10:02, Support <support@shop.example>\nwrote:\n\nHello"
    assert new_text(wrapped) == "Still broken."
    assert new_text("Geht nicht.\nAm 30.11.2026 um 10:02 schrieb Support\n<support@shop.example>:\nHallo") == (
        "Geht nicht."
    )
    assert new_text("On second thought\nit works now.") == "On second thought\nit works now."
    outlook = "OK.\n\nFrom: Support <support@shop.example>\nSent: Monday, 30 November 2026 10:02\nTo: Kim\nSubject: Re"
    assert new_text(outlook) == "OK."
    own_line = "From: now on please write to kim@example.net.\nThe camera works again."
    assert new_text(own_line) == own_line  # the customer's own line, not a quoted header block


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
