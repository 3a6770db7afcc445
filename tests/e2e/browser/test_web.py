"""The chat widget and the agent console in headless Chromium, against the real hub, Rasa and action server."""

from __future__ import annotations

import email
import re
import uuid
from email.message import EmailMessage
from email.policy import default as default_policy

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.browser.conftest import INBOUND_TOKEN, PASSWORD, assert_accessible, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


# -- helpers: what a customer and an agent do ----------------------------------------------------------------
def open_shop(page, live_hub):
    """The demo shop (the widget follows the browser's language) with the chat panel opened."""
    page.goto(f"{live_hub.url}/shop")
    page.get_by_test_id("launcher").click()
    expect(page.get_by_test_id("panel")).to_be_visible()
    return page


def customer_says(page, text: str) -> None:
    page.get_by_test_id("input").fill(text)
    page.get_by_test_id("input").press("Enter")


def messages(page, sender: str):
    return page.locator(f'[data-testid="message"][data-sender="{sender}"]')


def sign_in(page, live_hub, username: str):
    page.goto(f"{live_hub.url}/console")
    page.get_by_test_id("username").fill(username)
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("sign-in").click()
    error = page.get_by_test_id("sign-in-error")
    expect(page.get_by_test_id("presence").or_(error).filter(visible=True).first).to_be_visible()
    assert error.is_hidden(), f"the console refused the sign-in: {error.text_content()}"
    expect(page.get_by_test_id("presence")).to_be_visible()
    return page


def hand_over(page, problem: str) -> None:
    """The customer describes a problem and asks for a person; the widget shows the queue."""
    customer_says(page, problem)
    expect(messages(page, "bot").first).to_be_visible(timeout=20_000)
    customer_says(page, "I want to talk to a human please")
    expect(page.get_by_test_id("queue")).to_be_visible(timeout=20_000)


def claim_from_queue(console, summary: str) -> None:
    item = console.get_by_test_id("queue-item").filter(has_text=summary)
    expect(item).to_be_visible(timeout=10_000)
    item.get_by_test_id("claim").click()
    expect(console.get_by_test_id("chat-item").filter(has_text=summary)).to_be_visible(timeout=10_000)


def the_bot_takes_a_new_problem(customer) -> None:
    """The bot owns the conversation again: a new problem starts a guide."""
    customer_says(customer, "Also my phone battery drains really fast since the update")
    expect(messages(customer, "bot").last).to_contain_text("Step", timeout=20_000)


# -- the journeys --------------------------------------------------------------------------------------------
def test_customer_to_bot_to_agent_and_back_to_a_rating(live_hub, page_for):
    agent = live_hub.create_agent("Anna Berg")
    console = sign_in(page_for(), live_hub, agent)
    customer = open_shop(page_for(), live_hub)
    screenshot(customer, "widget-open")

    customer_says(customer, "My notebook fan is really loud and it gets very hot")
    expect(messages(customer, "bot").last).to_contain_text("Step 1", timeout=20_000)
    expect(customer.get_by_test_id("choice").first).to_be_visible()
    customer.get_by_test_id("choice").filter(has_text="No, still the same").click()
    expect(messages(customer, "bot").last).to_contain_text("Step 2", timeout=20_000)
    screenshot(customer, "widget-guide")

    customer.get_by_test_id("choice").filter(has_text="Talk to a person").last.click()
    expect(customer.get_by_test_id("queue")).to_contain_text("queue", timeout=20_000)
    expect(customer.get_by_test_id("email-form")).to_be_visible()  # Anna is online, but not everyone can wait
    screenshot(customer, "widget-queued")

    claim_from_queue(console, "My notebook fan is really loud")
    expect(console.get_by_test_id("context")).to_contain_text("Notebook")
    expect(console.get_by_test_id("turn").first).to_contain_text("describe_problem")
    tried = console.get_by_test_id("step-tried")  # step 1 did not help; step 2 was on screen, not answered
    expect(tried.first).to_have_attribute("data-outcome", "failed")
    expect(tried.last).to_have_attribute("data-outcome", "open")
    expect(tried.last).to_contain_text("2.")
    screenshot(console, "console-chat")
    expect(customer.get_by_test_id("agent-name")).to_contain_text("Anna Berg", timeout=10_000)

    console.get_by_test_id("composer").fill("Hi, I'm Anna. Is the fan grille blocked by anything?")
    console.get_by_test_id("send").click()
    expect(messages(customer, "agent").last).to_contain_text("Is the fan grille blocked", timeout=10_000)
    customer_says(customer, "It was standing on a blanket. Now it is quiet!")
    expect(console.get_by_test_id("transcript")).to_contain_text("standing on a blanket", timeout=10_000)
    screenshot(customer, "widget-agent")

    console.get_by_test_id("resolve").click()
    console.get_by_test_id("resolution-note").fill("Air intake blocked by a blanket; advised a hard surface.")
    console.get_by_test_id("kb-candidate").check()
    console.get_by_test_id("dialog-confirm").click()
    expect(console.get_by_test_id("chat-item")).to_have_count(0, timeout=10_000)
    console.get_by_test_id("closed-chats").locator("summary").click()  # the chat stays readable: recently closed
    closed = console.get_by_test_id("closed-item").filter(has_text="My notebook fan is really loud")
    expect(closed).to_contain_text("Resolved", timeout=10_000)
    closed.get_by_role("button").first.click()
    expect(console.get_by_test_id("closed-bar")).to_contain_text("resolved. You can still read it.")
    expect(console.get_by_test_id("transcript")).to_contain_text("standing on a blanket")

    expect(customer.get_by_test_id("star").first).to_be_visible(timeout=10_000)
    customer.locator('[data-testid="star"][data-score="5"]').click()
    customer.get_by_test_id("rating-submit").click()
    expect(customer.get_by_test_id("rating-thanks")).to_be_visible(timeout=10_000)
    saved = customer.locator('[data-testid="message"][data-kind="rating_saved"]')
    expect(saved).to_have_count(1, timeout=10_000)  # the hub's notice arrived: for the transcript, not shown
    expect(saved).to_be_hidden()
    thanks = customer.get_by_text(re.compile("thank.*(rating|feedback)", re.I)).all()
    assert len([t for t in thanks if t.is_visible()]) == 1  # said once, not by the form and a notice
    screenshot(customer, "widget-rated")

    # days later, the same browser: the agent sees the earlier case and how it was solved
    customer.get_by_test_id("new-conversation").click()
    hand_over(customer, "My notebook is overheating again and the fan is loud again")
    claim_from_queue(console, "overheating again")
    earlier = console.get_by_test_id("earlier-ticket")
    expect(earlier).to_have_count(1)
    expect(earlier).to_contain_text("Air intake blocked by a blanket")
    earlier.scroll_into_view_if_needed()
    screenshot(console, "console-earlier")
    assert not customer.errors and not console.errors


def test_two_agents_claiming_at_once_exactly_one_gets_the_ticket(live_hub, page_for):
    first = sign_in(page_for(), live_hub, live_hub.create_agent("Carla Diaz"))
    second = sign_in(page_for(), live_hub, live_hub.create_agent("Dev Patel"))
    customer = open_shop(page_for(), live_hub)
    hand_over(customer, "My camera battery is empty after only twenty photos")

    buttons = []
    for console in (first, second):
        item = console.get_by_test_id("queue-item").filter(has_text="twenty photos")
        expect(item).to_be_visible(timeout=10_000)
        buttons.append(item.get_by_test_id("claim"))
    at = first.evaluate("Date.now()") + 400  # both pages click at the same moment of the shared clock
    for button in buttons:
        button.evaluate("(button, at) => setTimeout(() => button.click(), at - Date.now())", at)
    first.wait_for_timeout(2000)
    winners = [c for c in (first, second) if c.get_by_test_id("chat-item").filter(has_text="twenty photos").count()]
    assert len(winners) == 1
    loser = second if winners[0] is first else first
    expect(loser.get_by_test_id("toast").filter(has_text="already took")).to_be_visible(timeout=5_000)


def test_reloading_the_page_resumes_the_conversation(live_hub, page_for):
    customer = open_shop(page_for(locale="de-DE"), live_hub)
    customer_says(customer, "Mein Handy lädt nicht mehr")
    expect(messages(customer, "bot").last).to_contain_text("Schritt 1", timeout=20_000)
    count = messages(customer, "bot").count()
    customer.reload()
    expect(customer.get_by_test_id("panel")).to_be_visible()  # an open chat stays open across the reload
    expect(messages(customer, "customer").first).to_contain_text("Mein Handy lädt nicht mehr", timeout=10_000)
    expect(messages(customer, "bot")).to_have_count(count)
    customer.get_by_test_id("choice").filter(has_text="Nein").last.click()
    expect(messages(customer, "bot").last).to_contain_text("Schritt 2", timeout=20_000)


def test_a_customer_who_writes_german_on_an_english_page_reads_german_labels_everywhere(live_hub, page_for):
    customer = open_shop(page_for(locale="en-US"), live_hub)
    customer_says(customer, "Mein Notebook findet kein WLAN mehr")
    expect(messages(customer, "bot").last).to_contain_text("Schritt 1", timeout=20_000)
    names = customer.locator('[data-testid="message"][data-sender="bot"] .msg-name')
    assert names.count() >= 1
    expect(names).to_have_text(["Assistent"] * names.count())  # the first bubble too, written before the switch
    expect(customer.locator('[data-testid="message"][data-sender="customer"] .sr-only').first).to_have_text("Sie: ")


def test_return_to_bot_lets_the_bot_continue(live_hub, page_for):
    console = sign_in(page_for(), live_hub, live_hub.create_agent("Eva Klein"))
    customer = open_shop(page_for(), live_hub)
    hand_over(customer, "My phone does not find any wifi network at home")
    claim_from_queue(console, "wifi network at home")
    # the customer asked for a person right after the bot's answer: what came since must be in view (it was not:
    # the widget kept them at the start of the bot's earlier answer, and the agent's joining stayed out of sight)
    expect(messages(customer, "system").last).to_contain_text("joined", timeout=10_000)
    expect(messages(customer, "system").last).to_be_in_viewport()
    console.get_by_test_id("return-to-bot").click()
    console.get_by_test_id("dialog-confirm").click()
    expect(messages(customer, "system").last).to_contain_text("back with the assistant", timeout=10_000)
    go_on = customer.get_by_test_id("choice").filter(has_text="Go on with step 1")
    expect(go_on).to_be_in_viewport(timeout=10_000)  # the guide was handed over at step 1, before an answer
    screenshot(customer, "widget-back-from-person")
    go_on.click()
    expect(messages(customer, "bot").last).to_contain_text("Step 1 of", timeout=20_000)
    the_bot_takes_a_new_problem(customer)


def test_a_waiting_customer_goes_back_to_the_assistant_and_leaves_the_agents_queue(live_hub, page_for):
    console = sign_in(page_for(), live_hub, live_hub.create_agent("Gina Roth"))
    customer = open_shop(page_for(), live_hub)
    hand_over(customer, "My camera battery is empty after a few photos")
    expect(console.get_by_test_id("queue-item").filter(has_text="after a few photos")).to_be_visible(timeout=10_000)
    screenshot(customer, "widget-queued")
    customer_says(customer, "Hello? Is anyone there?")  # a newer message: leaving the queue still works
    expect(messages(customer, "customer").last).to_contain_text("anyone there")
    customer.get_by_role("button", name="Back to the assistant").last.click()
    expect(customer.get_by_test_id("queue")).to_be_hidden(timeout=10_000)
    expect(messages(customer, "system").last).to_contain_text("left the queue", timeout=10_000)
    expect(console.get_by_test_id("queue-item").filter(has_text="after a few photos")).to_have_count(0, timeout=10_000)
    the_bot_takes_a_new_problem(customer)


def test_an_agent_closes_the_request_of_a_customer_who_left_and_the_customer_reads_why_on_return(live_hub, page_for):
    console = sign_in(page_for(), live_hub, live_hub.create_agent("Jana Vogel"))
    customer = open_shop(page_for(), live_hub)
    hand_over(customer, "My notebook battery is empty within an hour since last week")
    shop = customer.context
    customer.close()  # the customer leaves without an e-mail address
    item = console.get_by_test_id("queue-item").filter(has_text="within an hour")
    expect(item.get_by_test_id("queue-customer-away")).to_contain_text("no e-mail address", timeout=10_000)
    screenshot(console, "console-queue-customer-left")
    item.get_by_test_id("close-left").click()  # one click: nobody could answer it
    expect(item).to_have_count(0, timeout=10_000)
    expect(console.get_by_test_id("toast").filter(has_text="Request closed")).to_be_visible()

    back = open_shop(shop.new_page(), live_hub)  # later, the customer comes back to the shop
    expect(messages(back, "system").last).to_contain_text("request for a person was closed", timeout=10_000)
    expect(back.get_by_test_id("queue")).to_be_hidden()
    the_bot_takes_a_new_problem(back)


def test_an_escalated_customer_without_an_address_is_offered_the_email_form(live_hub, page_for):
    console = sign_in(page_for(), live_hub, live_hub.create_agent("Hugo Brandt"))
    customer = open_shop(page_for(), live_hub)
    hand_over(customer, "My notebook screen flickers when it gets warm")
    claim_from_queue(console, "flickers when it gets warm")
    console.get_by_test_id("escalate").click()
    expect(console.get_by_test_id("escalate-no-email")).to_be_visible()
    console.get_by_test_id("escalate-note").fill("Flicker above 40 degrees; likely the display cable.")
    console.get_by_test_id("dialog-confirm").click()
    expect(messages(customer, "system").last).to_contain_text("e-mail", timeout=10_000)
    form = customer.get_by_test_id("email-form")
    expect(form).to_be_visible()
    expect(customer.get_by_test_id("ended")).to_contain_text("goes on by e-mail")  # not "ended", not "rate us"
    expect(customer.get_by_test_id("rating")).to_be_hidden()
    expect(messages(customer, "system").last).to_be_in_viewport()  # the newest notice, not the bot's answer before
    screenshot(customer, "widget-escalated")
    form.get_by_role("textbox").fill("kim@example.com")
    form.get_by_role("button").click()
    expect(customer.get_by_test_id("queue")).to_contain_text("kim@example.com", timeout=10_000)
    expect(form).to_be_hidden()


def test_the_widget_speaks_the_language_the_customer_writes_at_once(live_hub, page_for):
    customer = open_shop(page_for(locale="en-US"), live_hub)
    expect(customer.get_by_test_id("input")).to_have_attribute("placeholder", "Write a message…")
    customer_says(customer, "Mein Handy lädt seit gestern nicht mehr richtig")
    expect(messages(customer, "bot").first).to_be_visible(timeout=20_000)
    expect(customer.get_by_test_id("input")).to_have_attribute("placeholder", "Nachricht schreiben …")


def test_a_refusal_is_explained_in_the_customers_language_with_the_wait(live_hub, page_for):
    """The hub's error messages are English; the widget says a 429 in the customer's language, with its wait."""
    customer = open_shop(page_for(locale="de-DE"), live_hub)
    refusal = '{"error": {"code": "rate_limited", "message": "Too many messages. Please wait 7 s and try again."}}'

    def limited(route):
        if route.request.method != "POST":
            return route.continue_()
        headers = {"Retry-After": "7", "Content-Type": "application/json"}
        return route.fulfill(status=429, headers=headers, body=refusal)

    customer.route("**/messages", limited)
    customer_says(customer, "Mein Handy lädt nicht mehr")
    expect(customer.get_by_test_id("error")).to_contain_text("Bitte warten Sie 7 s")
    expect(customer.get_by_test_id("error")).not_to_contain_text("Too many")


def test_hostile_customer_text_is_shown_as_text_in_the_console(live_hub, page_for):
    console = sign_in(page_for(), live_hub, live_hub.create_agent("Finn Lee"))
    customer = open_shop(page_for(), live_hub)
    hostile = "<img src=x onerror=alert(1)>"
    hand_over(customer, f"{hostile} my camera lens is stuck")
    claim_from_queue(console, "my camera lens is stuck")
    transcript = console.get_by_test_id("transcript")
    expect(transcript).to_contain_text(hostile)
    assert transcript.locator("img").count() == 0
    expect(console.get_by_test_id("context")).to_contain_text(hostile)
    console.wait_for_timeout(500)
    assert console.dialogs == [] and customer.dialogs == []
    expect(messages(customer, "customer").first).to_contain_text(hostile)


def test_the_widget_fills_a_phone_screen_and_works_with_the_keyboard(live_hub, page_for):
    phone = page_for(width=390, height=844, locale="de-DE")
    phone.goto(f"{live_hub.url}/shop")
    phone.keyboard.press("Tab")
    launcher = phone.get_by_test_id("launcher")
    launcher.focus()
    phone.keyboard.press("Enter")
    panel = phone.get_by_test_id("panel")
    expect(panel).to_be_visible()
    panel.evaluate("el => Promise.all(el.getAnimations().map((a) => a.finished))")  # it opens scaled from 0.98
    box = panel.bounding_box()
    assert box["width"] >= 385 and box["height"] >= 800
    phone.get_by_test_id("input").type("Meine Kamera geht nicht mehr an")
    phone.keyboard.press("Enter")
    expect(messages(phone, "bot").last).to_contain_text("Schritt 1", timeout=20_000)
    screenshot(phone, "widget-phone")
    phone.keyboard.press("Escape")
    expect(panel).to_be_hidden()


def test_the_console_fits_a_phone_screen(live_hub, page_for):
    """Below 760 px the console is one column: nothing to pan sideways, the chat and its composer in reach."""
    console = sign_in(page_for(width=390, height=844), live_hub, live_hub.create_agent("Pia Klein"))
    customer = open_shop(page_for(), live_hub)
    hand_over(customer, "My notebook keyboard types the wrong letters")
    claim_from_queue(console, "wrong letters")
    assert console.evaluate("() => document.documentElement.scrollWidth") <= 390
    composer = console.get_by_test_id("composer")
    composer.scroll_into_view_if_needed()
    composer.fill("Which keyboard layout is set?")
    console.get_by_test_id("send").click()
    expect(messages(customer, "agent").last).to_contain_text("keyboard layout", timeout=10_000)
    console.evaluate("() => window.scrollTo(0, 0)")
    screenshot(console, "console-phone")


def test_a_long_answer_is_shown_from_its_first_line(live_hub, page_for):
    """A step taller than the chat was scrolled to its end: the customer read "how to tell it helped" first."""
    customer = open_shop(page_for(width=1280, height=520, locale="de-DE"), live_hub)  # a short chat panel
    customer_says(customer, "Meine Kamera erkennt die Speicherkarte nicht mehr")
    expect(messages(customer, "bot").last).to_contain_text("Schritt 1", timeout=20_000)
    customer.wait_for_timeout(300)  # the typing indicator goes, the log settles
    reply = customer.locator('[data-sender="customer"] + [data-sender="bot"]').last  # the answer's first message
    box = reply.evaluate(
        "el => [el.getBoundingClientRect().top - el.closest('.scroller').getBoundingClientRect().top,"
        " el.closest('.scroller').scrollHeight - el.closest('.scroller').clientHeight]"
    )
    assert box[1] > 0, "the answer fits the panel: this checks nothing"
    assert box[0] >= -1, f"the answer starts {-box[0]:.0f} px above the visible chat: it is read from its end"
    screenshot(customer, "widget-long-answer")
    customer.get_by_test_id("choice").filter(has_text="Ja").last.click()  # solved: the bot asks for stars
    expect(customer.get_by_role("button", name="3 von 5 Sternen")).to_be_visible(timeout=20_000)  # not "★★★"


def test_a_link_with_a_conversations_own_token_does_not_put_a_visitor_into_that_conversation(live_hub, page_for):
    """Only the hub's signed e-mail links open a conversation: anyone can make a conversation and its token, and a
    link with them would put a visitor into a chat its maker reads (found in a review)."""
    made = httpx.post(f"{live_hub.url}/api/v1/conversations", json={"language": "en"}).json()
    auth = {"Authorization": f"Bearer {made['token']}"}
    httpx.post(f"{live_hub.url}/api/v1/conversations/{made['id']}/messages", json={"text": "planted"}, headers=auth)
    visitor = page_for()
    visitor.goto(f"{live_hub.url}/shop#support-chat={made['id']}~{made['token']}")
    visitor.wait_for_timeout(1000)
    expect(visitor.get_by_test_id("panel")).to_be_hidden()
    visitor.get_by_test_id("launcher").click()
    expect(visitor.get_by_test_id("panel")).to_be_visible()
    expect(messages(visitor, "customer")).to_have_count(0)
    stored = visitor.evaluate("() => Object.entries(localStorage).filter(([k]) => k.startsWith('support-widget:'))")
    assert all(made["id"] not in value for _, value in stored)


def test_a_customer_who_left_gets_the_reply_by_email_and_its_link_reopens_the_chat(live_hub, page_for):
    console = sign_in(page_for(), live_hub, live_hub.create_agent("Greta Hahn"))
    customer = open_shop(page_for(locale="de-DE"), live_hub)
    customer_says(customer, "Meine Kamera zeigt seit gestern nur noch einen schwarzen Bildschirm")
    expect(messages(customer, "bot").first).to_be_visible(timeout=20_000)
    customer_says(customer, "Ich möchte bitte mit einem Menschen sprechen")
    expect(customer.get_by_test_id("queue")).to_be_visible(timeout=20_000)
    tag = uuid.uuid4().hex[:8]
    address = f"kunde+{tag}?cc=x@example.org"  # legal, and the console's mailto: link must not read a Cc into it
    stored = customer.evaluate(
        "() => JSON.parse(Object.entries(localStorage).find(([k]) => k.startsWith('support-widget:'))[1])"
    )
    response = httpx.post(  # what the widget's e-mail form sends (it shows only while nobody is online)
        f"{live_hub.url}/api/v1/conversations/{stored['id']}/contact",
        json={"email": address},
        headers={"Authorization": f"Bearer {stored['token']}"},
    )
    assert response.status_code == 200, response.text
    customer.context.close()  # the customer leaves
    waiting = console.get_by_test_id("queue-item").filter(has_text="schwarzen Bildschirm")
    expect(waiting.get_by_test_id("queue-customer-away")).to_contain_text("e-mail", timeout=10_000)  # the queue says so

    claim_from_queue(console, "schwarzen Bildschirm")
    away = console.get_by_test_id("customer-away")
    expect(away).to_contain_text(address, timeout=10_000)
    link = console.get_by_test_id("customer-email")
    expect(link).to_have_attribute("href", f"mailto:kunde%2B{tag}%3Fcc%3Dx@example.org")
    left = console.get_by_test_id("chat-item").filter(has_text="schwarzen Bildschirm").get_by_test_id("customer-left")
    expect(left).to_be_visible()  # the chat list says so too
    console.get_by_test_id("composer").fill("Bitte nehmen Sie den Akku für 30 Sekunden heraus und setzen ihn ein.")
    console.get_by_test_id("send").click()
    expect(console.get_by_test_id("emailed")).to_be_visible(timeout=15_000)
    screenshot(console, "console-customer-away")

    mails = [email.message_from_bytes(p.read_bytes(), policy=default_policy) for p in live_hub.mail_dir.glob("*.eml")]
    (mail,) = [m for m in mails if m["To"] == address]
    plain = mail.get_body(("plain",)).get_content()
    assert "Akku für 30 Sekunden" in plain and mail["Subject"].startswith("Eine Antwort auf Ihre Supportanfrage")
    link = re.search(r"http\S+#support-chat=\S+", plain).group(0)

    # the customer answers the e-mail (as the mailbox hands it to the hub): the agent reads it, as text
    answer = EmailMessage()
    answer["From"], answer["To"], answer["Subject"] = address, mail["From"], "Re: " + mail["Subject"]
    answer["Message-ID"] = f"<{uuid.uuid4().hex}@example.org>"
    answer["In-Reply-To"] = answer["References"] = mail["Message-ID"]
    answer.set_content("Geht leider nicht <img src=x onerror=alert(1)>\n\nAm Montag schrieb Support:\n> Bitte ...\n")
    response = httpx.post(
        f"{live_hub.url}/api/v1/inbound/email",
        content=answer.as_bytes(),
        headers={"Authorization": f"Bearer {INBOUND_TOKEN}", "Content-Type": "message/rfc822"},
    )
    assert response.status_code == 201, response.text
    expect(console.get_by_test_id("by-email")).to_be_visible(timeout=10_000)
    expect(console.get_by_test_id("transcript")).to_contain_text("Geht leider nicht <img src=x onerror=alert(1)>")
    assert not console.dialogs and not console.locator("img[src=x]").count()
    expect(away).to_be_visible()  # an e-mail answer does not bring them back to the chat: replies still go by e-mail
    expect(left).to_be_visible()
    screenshot(console, "console-email-answer")

    elsewhere = page_for(width=390, height=780, locale="de-DE")  # another device: nothing stored there
    elsewhere.goto(link)
    expect(elsewhere.get_by_test_id("panel")).to_be_visible(timeout=10_000)  # the link opens the chat at once
    expect(messages(elsewhere, "customer").first).to_contain_text("schwarzen Bildschirm", timeout=10_000)
    expect(messages(elsewhere, "agent").last).to_contain_text("Akku für 30 Sekunden")
    assert "support-chat" not in elsewhere.url  # the key does not stay in the address bar
    elsewhere.wait_for_timeout(400)  # the panel's opening animation
    screenshot(elsewhere, "widget-from-email")
    customer_says(elsewhere, "Das hat geholfen, danke!")
    expect(console.get_by_test_id("transcript")).to_contain_text("Das hat geholfen", timeout=10_000)
    expect(away).to_be_hidden()
    expect(left).to_be_hidden()
    assert not elsewhere.errors and not console.errors


def test_an_admin_edits_an_agent_and_the_agents_queue_follows(live_hub, page_for):
    """Agents tab -> Edit: name, capacity and skills change at once; the agent's open console shows the tickets
    they now cover without a reload."""
    admin = sign_in(page_for(), live_hub, live_hub.create_agent("Olga Admin", role="admin"))
    agent_name = live_hub.create_agent("Theo Wagner", category="phone")
    console = sign_in(page_for(), live_hub, agent_name)
    customer = open_shop(page_for(), live_hub)
    hand_over(customer, "My camera zoom lens is jammed and makes a grinding noise")
    expect(admin.get_by_test_id("queue-item").filter(has_text="grinding noise")).to_be_visible(timeout=10_000)
    expect(console.get_by_test_id("queue-item").filter(has_text="grinding noise")).to_have_count(0)

    admin.get_by_test_id("nav-agents").click()
    row = admin.get_by_test_id("agent-row").filter(has_text=agent_name)
    row.get_by_test_id("edit-agent").click()
    admin.get_by_test_id("edit-display-name").fill("Theo Wagner (Kameras)")
    admin.get_by_test_id("edit-capacity").fill("4")
    admin.get_by_test_id("edit-categories-camera").check()
    assert_accessible(admin, "console-edit-agent-dialog")
    screenshot(admin, "console-edit-agent")
    admin.get_by_test_id("dialog-confirm").click()
    expect(row).to_contain_text("Theo Wagner (Kameras)")
    expect(row).to_contain_text("Camera")
    expect(row).to_contain_text("/ 4")
    expect(console.get_by_test_id("queue-item").filter(has_text="grinding noise")).to_be_visible(timeout=10_000)

    row.get_by_test_id("edit-agent").click()
    admin.get_by_test_id("edit-categories-phone").uncheck()
    admin.get_by_test_id("edit-categories-camera").uncheck()
    admin.get_by_test_id("edit-categories-notebook").uncheck()
    admin.get_by_test_id("dialog-confirm").click()
    expect(admin.locator("#dialog-error")).to_contain_text("at least one category")
    admin.keyboard.press("Escape")
    assert not admin.errors and not console.errors


def test_an_agent_who_signs_out_with_an_open_chat_confirms_and_the_customer_is_told(live_hub, page_for):
    console = sign_in(page_for(), live_hub, live_hub.create_agent("Ida Sommer"))
    customer = open_shop(page_for(), live_hub)
    hand_over(customer, "The mode dial of my camera spins freely without clicking")
    claim_from_queue(console, "mode dial of my camera spins")
    expect(customer.get_by_test_id("agent-name")).to_contain_text("Ida Sommer", timeout=10_000)
    console.get_by_test_id("sign-out").click()
    expect(console.get_by_test_id("sign-out-warning")).to_contain_text("1 open chat")
    screenshot(console, "console-sign-out")
    console.get_by_test_id("dialog-confirm").click()
    expect(console.get_by_test_id("username")).to_be_visible(timeout=10_000)
    expect(messages(customer, "system").last).to_contain_text("no longer available", timeout=10_000)  # at once
    expect(customer.get_by_test_id("queue")).to_be_visible()
