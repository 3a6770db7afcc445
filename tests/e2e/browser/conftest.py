"""A real hub process in front of the real bot, and Debian's headless Chromium driven by Playwright."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe

from bot import runtime
from bot.settings import PROJECT_DIR, Settings

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = PROJECT_DIR / "var" / "screenshots"
PASSWORD = "browser test password"
HUB_PORT = 18000

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@dataclass
class LiveHub:
    url: str
    database_url: str
    mail_dir: Path | None = None  # where the hub writes its e-mails (no SMTP_URL)

    def create_agent(self, display_name: str, role: str = "agent", **options: str) -> str:
        """A new agent through the command line (as an admin would); returns the username."""
        username = f"{display_name.lower().split()[0]}-{uuid.uuid4().hex[:6]}"
        extra = [item for key, value in options.items() for item in (f"--{key}", value)]
        subprocess.run(
            [
                sys.executable,
                "-m",
                "handoff",
                "agent",
                "create",
                username,
                "--display-name",
                display_name,
                "--role",
                role,
                *extra,
            ],
            cwd=PROJECT_DIR,
            env={**os.environ, "DATABASE_URL": self.database_url, "AGENT_PASSWORD": PASSWORD},
            check=True,
            capture_output=True,
        )
        return username


INBOUND_TOKEN = "browser-inbound-token"  # the live hub reads customers' e-mail answers


@contextlib.contextmanager
def hub_process(settings: Settings, log: Path, **env: str) -> Iterator[None]:
    """A hub process for `settings` while the block runs; the end of its log is printed afterwards."""
    process = runtime.start_hub(settings, log, **env)
    try:
        runtime.wait_until_up(runtime.hub_ready_url(settings), 60, process)
        yield
    finally:
        runtime.stop(process)
        print(log.read_text()[-3000:])


@pytest.fixture(scope="session")
def live_hub(servers, tmp_path_factory) -> Iterator[LiveHub]:
    settings = servers.settings.model_copy(update={"hub_port": HUB_PORT})
    work = tmp_path_factory.mktemp("hub")
    with hub_process(
        settings,
        work / "hub.log",
        # every test signs its agents in from 127.0.0.1: the default (10 a minute per address) is a real limit that
        # a fast run of test_web.py reached; its own tests cover the limit
        RATE_CONVERSATIONS_PER_MINUTE="1000",
        RATE_LOGINS_PER_MINUTE="1000",
        RASA_TIMEOUT_S="10",
        AGENT_GRACE_S="2",
        MAIL_DIR=str(work / "mail"),
        EMAIL_DELAY_S="1",
        CUSTOMER_AWAY_AFTER_S="2",
        INBOUND_EMAIL_TOKEN=INBOUND_TOKEN,
    ):
        yield LiveHub(settings.hub_url, settings.database_url, work / "mail")


@pytest.fixture(scope="module")
def browser():
    """Chromium for this module only: Playwright's sync API keeps an event loop running while it is open,
    which would stop the asyncio tests that come later."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: the test command installs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"]
        )
        yield browser
        browser.close()


@pytest.fixture
def page_for(browser):
    """New browser pages (each its own context: separate cookies and storage), closed after the test.

    Every page records JavaScript dialogs (an executed alert() would be one) and page errors; so does a tab a
    link opens from it.
    """
    contexts = []

    def watch(page) -> None:
        page.dialogs, page.errors = [], []
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: page.errors.append(str(e)))

    def open_page(width: int = 1280, height: int = 860, locale: str = "en-GB"):
        context = browser.new_context(viewport={"width": width, "height": height}, locale=locale)
        contexts.append(context)
        context.on("page", watch)  # pages the context opens itself (a link's new tab); new_page() ones too
        page = context.new_page()
        if not hasattr(page, "errors"):
            watch(page)
        return page

    yield open_page
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


# -- accessibility: axe-core (the engine of Lighthouse's and Deque's audits), shipped inside the
# axe-playwright-python package, nothing downloaded; it reads the widget inside its open shadow root
WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
AXE = Axe()


SETTLED = """async () => {
    const hosts = [...document.querySelectorAll("*")].filter((e) => e.shadowRoot);
    const animations = [document, ...hosts.map((e) => e.shadowRoot)].flatMap((r) => r.getAnimations());
    const finite = animations.filter((a) => a.effect.getComputedTiming().endTime !== Infinity);
    await Promise.all(finite.map((a) => a.finished.catch(() => null)));
}"""  # colours are judged as they end up, not halfway through a fade-in


def violations(page) -> list[str]:
    """axe's WCAG 2.1 A/AA violations on the page as it is now, one readable line per rule."""
    page.evaluate(SETTLED)
    found = AXE.run(page, options=WCAG_AA).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']}; "
        + " | ".join(
            f"{' > '.join(map(str, node['target']))}: {node['failureSummary'].splitlines()[-1].strip()}"
            for node in v["nodes"][:4]
        )
        for v in found
    ]


def assert_accessible(page, where: str) -> None:
    found = violations(page)
    if found:
        screenshot(page, f"a11y-{where}")
    assert not found, f"{where}:\n" + "\n".join(found)
