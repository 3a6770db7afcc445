"""The widget and the console checked by axe-core for WCAG 2.1 A and AA failures (`assert_accessible`), in
the states customers and agents actually see them. The editor and the dashboard are checked in their own
journeys (test_knowledge_loop.py, test_dashboard.py), where they have content."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.conftest import PASSWORD, assert_accessible
from tests.e2e.browser.test_web import claim_from_queue, customer_says, hand_over, messages, open_shop, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_the_widget_is_accessible_in_every_state_in_both_languages(live_hub, page_for):
    for locale, problem, step, person in (
        ("en-GB", "My phone does not charge any more", "Step 1", "I want to talk to a human please"),
        ("de-DE", "Mein Handy lädt nicht mehr", "Schritt 1", "Ich möchte mit einem Menschen sprechen"),
    ):
        page = page_for(locale=locale)
        page.goto(f"{live_hub.url}/shop")
        assert_accessible(page, f"shop-{locale}")
        open_shop(page, live_hub)
        assert_accessible(page, f"widget-open-{locale}")
        customer_says(page, problem)
        expect(messages(page, "bot").last).to_contain_text(step, timeout=20_000)
        assert_accessible(page, f"widget-guide-{locale}")
        customer_says(page, person)
        expect(page.get_by_test_id("queue")).to_be_visible(timeout=20_000)
        expect(page.get_by_test_id("email-form")).to_be_visible()  # nobody online: the e-mail offer
        assert_accessible(page, f"widget-queued-{locale}")

    phone = page_for(width=390, height=844, locale="en-GB")
    open_shop(phone, live_hub)
    customer_says(phone, "My camera does not turn on")
    expect(messages(phone, "bot").last).to_contain_text("Step 1", timeout=20_000)
    assert_accessible(phone, "widget-phone")


def test_the_console_is_accessible_from_sign_in_to_a_live_chat(live_hub, page_for):
    console = page_for()
    console.goto(f"{live_hub.url}/console")
    expect(console.get_by_test_id("sign-in")).to_be_visible()
    assert_accessible(console, "console-sign-in")

    agent = live_hub.create_agent("Ada Lovelace", role="admin")
    sign_in(console, live_hub, agent)
    customer = open_shop(page_for(), live_hub)
    hand_over(customer, "My notebook battery drains within an hour")
    expect(console.get_by_test_id("queue-item").filter(has_text="battery drains")).to_be_visible(timeout=10_000)
    assert_accessible(console, "console-queue")

    claim_from_queue(console, "battery drains")
    console.get_by_test_id("composer").fill("Hello, I'm Ada. Which notebook model is it?")
    console.get_by_test_id("send").click()
    expect(messages(customer, "agent").last).to_contain_text("Which notebook model", timeout=10_000)
    assert_accessible(console, "console-chat")
    assert_accessible(customer, "widget-agent")

    console.get_by_test_id("resolve").click()
    console.get_by_test_id("resolution-note").fill("Battery worn out: 480 cycles. Offered a replacement.")
    assert_accessible(console, "console-resolve-dialog")
    console.get_by_test_id("dialog-confirm").click()
    expect(customer.get_by_test_id("star").first).to_be_visible(timeout=10_000)
    assert_accessible(customer, "widget-rating")


def tab_to(page, target, presses: int = 80) -> None:
    """Press Tab until `target` has the keyboard focus; fails if it is never reached."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"{target} cannot be reached with the Tab key")


def test_an_agent_signs_in_claims_and_answers_with_the_keyboard_alone(live_hub, page_for):
    agent = live_hub.create_agent("Kim Keys")
    console = page_for()
    console.goto(f"{live_hub.url}/console")
    tab_to(console, console.get_by_test_id("username"))
    console.keyboard.type(agent)
    console.keyboard.press("Tab")
    console.keyboard.type(PASSWORD)
    console.keyboard.press("Enter")
    expect(console.get_by_test_id("presence")).to_be_focused()  # not lost on the page's body

    customer = open_shop(page_for(), live_hub)
    hand_over(customer, "My camera lens is stuck and will not retract")
    item = console.get_by_test_id("queue-item").filter(has_text="will not retract")
    expect(item).to_be_visible(timeout=10_000)
    tab_to(console, item.get_by_test_id("claim"))
    console.keyboard.press("Enter")
    expect(console.get_by_test_id("chat-item").filter(has_text="will not retract")).to_be_visible(timeout=10_000)

    tab_to(console, console.get_by_test_id("composer"))
    console.keyboard.type("Hello, this is Kim. Which camera model is it?")
    console.keyboard.press("Enter")
    expect(messages(customer, "agent").last).to_contain_text("Which camera model", timeout=10_000)

    tab_to(console, console.get_by_test_id("resolve"))
    console.keyboard.press("Enter")
    note = console.get_by_test_id("resolution-note")
    expect(note).to_be_focused()  # the dialog takes the focus
    console.keyboard.type("Lens mechanism jammed by sand; sent to repair.")
    tab_to(console, console.get_by_test_id("dialog-confirm"), presses=10)  # inside the dialog: focus is trapped
    console.keyboard.press("Enter")
    expect(console.get_by_test_id("chat-item")).to_have_count(0, timeout=10_000)
    assert not console.errors
