"""The knowledge loop in headless Chromium: a problem no article covers is handed off, the agent resolves it
for the knowledge base, an editor completes and approves the draft, and the bot uses the new article for a
differently worded description, with the same model (no retraining).

The hub here writes into a copy of data/ and tests/stories (never the real files) and shares the e2e
database with the real Rasa and action servers, so the action server sees the imported article.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import expect

import tests.e2e.browser.test_web as web
from bot import review as review_inbox
from bot.db import make_engine, make_session_factory
from bot.kb.importer import import_articles
from bot.settings import PROJECT_DIR
from tests.conftest import KB_DIR
from tests.e2e.browser.conftest import LiveHub, assert_accessible, hub_process, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
LOOP_PORT = 18001


@pytest.fixture(scope="module")
def loop_hub(servers, tmp_path_factory) -> Iterator[tuple[LiveHub, object]]:
    work = tmp_path_factory.mktemp("loop")
    shutil.copytree(PROJECT_DIR / "data", work / "data")
    shutil.copytree(PROJECT_DIR / "tests" / "stories", work / "stories")
    shutil.copy(PROJECT_DIR / "domain.yml", work / "domain.yml")
    settings = servers.settings.model_copy(update={"hub_port": LOOP_PORT})
    try:
        with hub_process(
            settings,
            work / "hub.log",
            KB_DIR=str(work / "data" / "kb"),
            NLU_DIR=str(work / "data" / "nlu"),
            TEST_STORIES_DIR=str(work / "stories"),
            DOMAIN_FILE=str(work / "domain.yml"),
            AUTO_RETRAIN="false",
            RATE_CONVERSATIONS_PER_MINUTE="1000",
            RASA_TIMEOUT_S="10",
        ):
            yield LiveHub(settings.hub_url, settings.database_url), work
    finally:
        engine = make_engine(settings.database_url)  # the other e2e tests get the real knowledge base back
        with make_session_factory(engine)() as session:
            import_articles(session, KB_DIR)
        engine.dispose()


def rasa_model(servers) -> tuple[str, str]:
    """The running model's file and id (GET /status)."""
    status = httpx.get(f"{servers.settings.rasa_url}/status", params={"token": servers.settings.rasa_token}).json()
    return status["model_file"], status["model_id"]


def fill(page, testid: str, text: str) -> None:
    page.get_by_test_id(testid).fill(text)


def test_what_second_level_solves_becomes_an_article_the_bot_uses_without_retraining(servers, loop_hub, page_for):
    hub, work = loop_hub
    model_before = rasa_model(servers)
    agent = hub.create_agent("Vera Lind")
    editor = hub.create_agent("Emil Stone", role="editor")
    console = web.sign_in(page_for(), hub, agent)

    # 1. A problem no article covers: the customer asks for a person.
    customer = web.open_shop(page_for(), hub)
    web.hand_over(customer, "My phone doesn't vibrate anymore when someone calls")
    web.claim_from_queue(console, "vibrate")

    # 2. The agent solves it and marks the solution for the knowledge base.
    console.get_by_test_id("composer").fill(
        "Please open Settings > Sounds and vibration. Is 'Vibrate while ringing' on?"
    )
    console.get_by_test_id("send").click()
    web.customer_says(customer, "It was switched off. Now it vibrates again, thanks!")
    expect(console.get_by_test_id("transcript")).to_contain_text("vibrates again", timeout=10_000)
    console.get_by_test_id("resolve").click()
    console.get_by_test_id("resolution-note").fill(
        "Open Settings > Sounds and vibration and switch on 'Vibrate while ringing'; also check that "
        "Do Not Disturb is off."
    )
    console.get_by_test_id("kb-candidate").check()
    console.get_by_test_id("dialog-confirm").click()
    expect(console.get_by_test_id("chat-item")).to_have_count(0, timeout=10_000)
    console.get_by_test_id("suggestions").locator("summary").click()  # "My suggestions": waiting for review
    suggestion = console.get_by_test_id("suggestion")
    expect(suggestion).to_have_attribute("data-status", "pending", timeout=10_000)

    # 3. The editor completes the draft (German, a clearer id and title) and approves it.
    review = page_for(width=1440, height=1000)
    _editor_sign_in(review, hub, editor)
    row = review.get_by_test_id("draft-row").filter(has_text="vibrate")
    expect(row).to_be_visible(timeout=10_000)
    row.click()
    expect(review.get_by_test_id("draft-missing")).to_contain_text("German")
    expect(review.get_by_test_id("source-resolution")).to_contain_text("Vibrate while ringing")
    expect(review.get_by_test_id("source")).to_contain_text("doesn't vibrate anymore")
    screenshot(review, "editor-draft")
    assert_accessible(review, "editor-draft")
    fill(review, "article-id", "phone-no-vibration")
    fill(review, "article-topic", "no_vibration")
    fill(review, "title-en", "Phone does not vibrate")
    fill(review, "title-de", "Handy vibriert nicht")
    symptoms_en = review.get_by_test_id("symptoms-en")
    symptoms_en.fill(symptoms_en.input_value() + "\nno vibration for calls or messages\nvibration stopped working")
    fill(review, "symptoms-de", "Handy vibriert nicht mehr bei Anrufen\nVibration funktioniert nicht mehr")
    fill(
        review,
        "step-1-de-do",
        "Öffnen Sie Einstellungen > Töne und Vibration und schalten Sie „Beim Klingeln vibrieren“ ein; "
        "prüfen Sie außerdem, dass „Nicht stören“ aus ist.",
    )
    review.get_by_test_id("approve-draft").click()
    expect(review.get_by_test_id("draft-result")).to_contain_text("Approved", timeout=20_000)
    approved_at = time.monotonic()
    screenshot(review, "editor-approved")
    expect(suggestion).to_have_attribute("data-status", "approved", timeout=10_000)  # the agent sees it live
    expect(suggestion).to_contain_text("Emil Stone")
    screenshot(console, "console-suggestions")
    assert_accessible(console, "console-suggestions")
    written = work / "data" / "kb" / "phone" / "no-vibration.yml"
    assert written.exists() and "Beim Klingeln vibrieren" in written.read_text()

    # 4. A new customer, other words: the bot starts the new article, with the same model as before.
    time.sleep(max(0.0, 2.0 - (time.monotonic() - approved_at)))  # KB checked every 0.5 s; slack for a loaded CI
    second = web.open_shop(page_for(), hub)
    web.customer_says(second, "vibration alert on my mobile isn't working at all")
    expect(web.messages(second, "bot").last).to_contain_text("Vibrate while ringing", timeout=20_000)
    screenshot(second, "widget-new-article")
    assert rasa_model(servers) == model_before

    # 5. A message the bot did not understand arrives while the editor works (as the action server records
    #    it on a fallback): switching to "Messages to label" shows it without reloading the page.
    engine = make_engine(hub.database_url)
    with make_session_factory(engine)() as session:
        review_inbox.record(
            session, conversation_id=uuid.uuid4().hex, language="en", text="the thingy blinks purple thrice",
            intent="nlu_fallback", confidence=0.31, suggested="describe_problem", source="fallback",
        )  # fmt: skip
    engine.dispose()
    review.get_by_test_id("tab-messages").click()
    expect(review.get_by_test_id("message-row").filter(has_text="blinks purple")).to_be_visible(timeout=10_000)
    screenshot(review, "editor-messages")
    assert_accessible(review, "editor-messages")
    assert not customer.errors and not console.errors and not review.errors and not second.errors


def _editor_sign_in(page, hub, username: str) -> None:
    """Editors sign in on the console and land on the knowledge page."""
    page.goto(f"{hub.url}/console")
    page.get_by_test_id("username").fill(username)
    page.get_by_test_id("password").fill(web.PASSWORD)
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("tab-drafts")).to_be_visible(timeout=10_000)
