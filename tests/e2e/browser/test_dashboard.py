"""The support dashboard in headless Chromium against the live hub, on conversations seeded with known figures.

The seeded conversations lie six weeks back, so the other browser tests' conversations (today) never mix in;
the test picks that week with the custom period.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from bot.db import make_engine, make_session_factory
from bot.guide_runs import GuideRun
from handoff.models import Conversation, Message, Ticket, Transition
from tests.e2e.browser.conftest import PASSWORD, SCREENSHOTS, assert_accessible

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

FIRST_DAY = datetime.now(ZoneInfo("Europe/Berlin")).date() - timedelta(days=46)
LAST_DAY = FIRST_DAY + timedelta(days=6)
# claimed handoffs: (reason, queue wait s, first agent reply s after the claim, status, agent rating)
CLAIMED = [
    ("steps_exhausted", 30, 20, "resolved", 5),
    ("steps_exhausted", 45, 20, "resolved", 4),
    ("steps_exhausted", 60, 30, "resolved", 4),
    ("customer_request", 60, 30, "resolved", None),
    ("customer_request", 90, 40, "resolved", None),
    ("human_topic", 120, 40, "escalated", None),
    ("human_topic", 150, 60, "resolved", None),
    ("safety", 300, 90, "resolved", None),
]
WAITING = ["steps_exhausted", "customer_request"]  # never claimed, customer long gone: abandoned


class Seeder:
    def __init__(self, session):
        self.session = session
        self.count = 0

    def conversation(self, day: int, language: str = "en", **values) -> tuple[str, datetime]:
        self.count += 1
        zone = ZoneInfo("Europe/Berlin")
        start = datetime.combine(FIRST_DAY + timedelta(days=day), time(9 + self.count % 8), zone).astimezone(UTC)
        cid = secrets.token_hex(16)
        self.session.add(
            Conversation(
                id=cid,
                token_hash=secrets.token_hex(32),
                language=language,
                created_at=start,
                updated_at=start,
                state=values.pop("state", "bot"),
                **values,
            )
        )
        self.message(cid, "customer", start + timedelta(seconds=5))
        return cid, start

    def message(self, cid: str, sender: str, at: datetime) -> None:
        self.session.add(Message(conversation_id=cid, sender=sender, text="…", created_at=at))

    def move(self, cid: str, from_state: str, to_state: str, at: datetime) -> None:
        self.session.add(
            Transition(
                conversation_id=cid,
                from_state=from_state,
                to_state=to_state,
                actor="test",
                reason="seed",
                created_at=at,
            )
        )

    def run(self, cid: str, article: str, category: str, started: datetime, outcome: str, **values) -> None:
        self.session.add(
            GuideRun(
                conversation_id=cid,
                article_id=article,
                language="en",
                category=category,
                started_at=started,
                last_step_at=started + timedelta(minutes=2),
                steps_total=4,
                last_step=values.pop("last_step", 2),
                outcome=outcome,
                **values,
            )
        )

    def ticket(self, cid: str, reason: str, queued: datetime, **values) -> None:
        self.session.add(
            Ticket(
                conversation_id=cid,
                reason=reason,
                priority="normal",
                priority_rank=1,
                category=values.pop("category", "phone"),
                language="en",
                summary="seeded",
                bot_context={},
                kb_candidate=False,
                queued_at=queued,
                **values,
            )
        )


def seed(database_url: str) -> None:
    """20 conversations: 6 solved by the bot (4 rated in the guide: 5, 4, 5, 4), 4 more without a ticket,
    8 handed off and claimed (3 rated by the customer: 5, 4, 4), 2 handed off and left waiting. Plus guide runs
    that flag phone-not-charging (solve rate drop) and camera-wont-turn-on (handoffs)."""
    engine = make_engine(database_url)
    with make_session_factory(engine).begin() as session:
        s = Seeder(session)
        for n, rating in enumerate((5, 4, 5, 4, None, None)):
            cid, start = s.conversation(n % 7, language="de" if n % 2 else "en")
            s.run(cid, "phone-wifi", "phone", start, "solved", solved_at_step=1 + n % 3, rating=rating)
        for n in range(4):
            cid, start = s.conversation(n + 2)
            if n < 2:
                s.run(cid, "notebook-overheating-fan", "notebook", start, "open")
        for n, (reason, wait, reply, status, rating) in enumerate(CLAIMED):
            values = {"rating": rating, "rated_after": "agent"} if rating else {}
            cid, start = s.conversation(n % 7, language="de" if n % 3 == 0 else "en", state="closed", **values)
            queued = start + timedelta(minutes=3)
            claimed, closed = queued + timedelta(seconds=wait), queued + timedelta(minutes=12 + n)
            s.ticket(cid, reason, queued, status=status, claimed_at=claimed, closed_at=closed)
            s.move(cid, "bot", "queued", queued)
            s.move(cid, "queued", "agent", claimed)
            s.message(cid, "system", claimed)
            s.message(cid, "agent", claimed + timedelta(seconds=reply))
            s.move(cid, "agent", "closed", closed)
        for n, reason in enumerate(WAITING):
            cid, start = s.conversation(5 + n, state="queued")
            s.ticket(cid, reason, start + timedelta(minutes=1), status="queued", category="camera")
            s.move(cid, "bot", "queued", start + timedelta(minutes=1))
        week = datetime.combine(FIRST_DAY, time(12), UTC)
        for n in range(12):  # phone-not-charging: 10 of 12 solved the week before, 4 of 12 in the chosen week
            before = "solved" if n < 10 else "handoff"
            s.run(f"before-{n}", "phone-not-charging", "phone", week - timedelta(days=4), before)
            if n < 4:
                outcome, done = "solved", {"solved_at_step": 2}
            elif n < 9:
                outcome, done = "handoff", {"handoff_after_step": 3 + n % 2, "handoff_reason": "steps_exhausted"}
            else:
                outcome, done = "open", {}  # abandoned long ago
            s.run(f"now-{n}", "phone-not-charging", "phone", week + timedelta(days=n % 6), outcome, **done)
        for n in range(6):  # camera-wont-turn-on: 4 of 6 handed off
            outcome = "handoff" if n < 4 else "solved"
            done = {"handoff_after_step": 1 + n % 2} if n < 4 else {"solved_at_step": 1}
            s.run(f"cam-{n}", "camera-wont-turn-on", "camera", week + timedelta(days=n), outcome, **done)
    engine.dispose()


def kpi(page, name: str):
    return page.get_by_test_id(f"kpi-{name}").get_by_test_id("kpi-value")


def test_the_dashboard_shows_the_figures_charts_and_flagged_articles(live_hub, page_for):
    seed(live_hub.database_url)
    username = live_hub.create_agent("Dana Fischer")
    page = page_for(width=1440, height=900)
    page.goto(f"{live_hub.url}/console")
    page.get_by_test_id("username").fill(username)
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("sign-in").click()
    console = page
    with console.context.expect_page() as opened:  # a new tab: the console, and the agent's chats, stay open
        console.get_by_test_id("nav-dashboard").click()
    page = opened.value
    expect(page).to_have_url(f"{live_hub.url}/console/dashboard")
    expect(console).to_have_url(f"{live_hub.url}/console")
    expect(page.get_by_test_id("me-name")).to_have_text("Dana Fischer")

    page.get_by_test_id("range-custom").click()
    page.get_by_test_id("from").fill(FIRST_DAY.isoformat())
    page.get_by_test_id("to").fill(LAST_DAY.isoformat())
    expect(page.get_by_test_id("period-label")).to_contain_text("20 conversations", timeout=10_000)

    expect(kpi(page, "containment")).to_have_text("50%")
    expect(kpi(page, "solved")).to_have_text("30%")
    expect(kpi(page, "handoff")).to_have_text("50%")
    expect(kpi(page, "abandoned")).to_have_text("20%")
    expect(kpi(page, "queue-wait")).to_have_text("1 min 15 s / 3 min 15 s")  # waits 30 … 300 s: p50 75, p90 195
    expect(kpi(page, "first-reply")).to_have_text("35 s")  # bot and system messages never count
    expect(page.get_by_test_id("rating-bot")).to_have_text("Bot 4.5")
    expect(page.get_by_test_id("rating-agent")).to_have_text("Agent 4.3")

    bars = page.get_by_test_id("reason-bar")
    expect(bars).to_have_count(4)
    expect(bars.first).to_have_attribute("data-reason", "steps_exhausted")
    expect(page.get_by_test_id("day-bar")).to_have_count(7)

    flagged = page.locator('[data-testid="health-row"][data-flagged="true"]')
    expect(flagged).to_have_count(2)
    phone = page.locator('[data-testid="health-row"][data-article="phone-not-charging"]')
    expect(phone.get_by_test_id("flag")).to_have_attribute("data-code", "solve_rate_drop")
    expect(phone).to_contain_text("was 83.3%")
    camera = page.locator('[data-testid="health-row"][data-article="camera-wont-turn-on"]')
    expect(camera.get_by_test_id("flag")).to_have_attribute("data-code", "high_handoff")
    expect(page.locator('[data-testid="health-row"][data-article="phone-wifi"]')).to_have_attribute(
        "data-flagged", "false"
    )

    page.get_by_test_id("language").select_option("de")
    expect(page.get_by_test_id("period-label")).to_contain_text("German", timeout=10_000)
    expect(page.get_by_test_id("period-label")).to_contain_text("6 conversations")
    page.get_by_test_id("language").select_option("")
    expect(page.get_by_test_id("period-label")).to_contain_text("20 conversations", timeout=10_000)

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)
    assert_accessible(page, "dashboard")
    assert not page.errors and not page.dialogs

    page.locator("#nav-console").click()  # the two seeded tickets still wait, six weeks on: in days, not hours
    seeded = page.get_by_test_id("queue-item").filter(has_text="seeded")
    expect(seeded).to_have_count(2, timeout=10_000)
    expect(seeded.first.get_by_test_id("wait")).to_have_text(re.compile(r"^4\d d \d{1,2} h$"))


def test_the_dashboard_asks_strangers_to_sign_in(live_hub, page_for):
    page = page_for()
    page.goto(f"{live_hub.url}/console/dashboard")
    expect(page.get_by_test_id("go-sign-in")).to_be_visible()
    assert not page.errors
