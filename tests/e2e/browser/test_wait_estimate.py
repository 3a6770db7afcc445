"""The widget's wait estimate when second level is busy: a long wait is said in hours, in both languages.

A hub of its own on a fresh database, so the estimate rests on the assumed handling time (DEFAULT_HANDLE_TIME_S:
no chats resolved yet) and on one agent with room for one chat, who is busy with another customer.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

import tests.e2e.browser.test_web as web
from bot.db import migrate
from tests.e2e.browser.conftest import LiveHub, hub_process, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
BUSY_PORT = 18002
HANDLE_TIME_S = 5580  # 93 min per chat: said as "about 1 h 30 min", to the quarter hour


@pytest.fixture
def busy_hub(servers, tmp_path) -> Iterator[LiveHub]:
    database_url = f"sqlite:///{tmp_path / 'busy.db'}"
    migrate(database_url)
    settings = servers.settings.model_copy(update={"hub_port": BUSY_PORT, "database_url": database_url})
    with hub_process(settings, tmp_path / "hub.log", DEFAULT_HANDLE_TIME_S=str(HANDLE_TIME_S), RASA_TIMEOUT_S="10"):
        yield LiveHub(settings.hub_url, database_url)


def test_a_long_wait_is_estimated_in_hours_and_minutes_in_both_languages(busy_hub, page_for):
    console = web.sign_in(page_for(), busy_hub, busy_hub.create_agent("Ida Wolf", capacity="1"))
    first = web.open_shop(page_for(), busy_hub)
    web.hand_over(first, "My camera lens is stuck and will not retract")
    web.claim_from_queue(console, "lens is stuck")  # the one agent online is now at capacity

    english = web.open_shop(page_for(), busy_hub)
    web.hand_over(english, "My phone does not charge any more")
    expect(english.get_by_test_id("queue")).to_contain_text("estimated wait about 1 h 30 min", timeout=10_000)
    screenshot(english, "widget-long-wait")

    german = web.open_shop(page_for(locale="de-DE"), busy_hub)
    web.customer_says(german, "Mein Notebook wird sehr heiß und der Lüfter ist laut")
    expect(web.messages(german, "bot").first).to_be_visible(timeout=20_000)
    web.customer_says(german, "Ich möchte bitte mit einem Menschen sprechen")
    expect(german.get_by_test_id("queue")).to_contain_text(
        "Sie sind Nummer 2 in der Warteschlange – geschätzte Wartezeit etwa 3 Std.", timeout=20_000
    )
    assert not (console.errors or first.errors or english.errors or german.errors)
