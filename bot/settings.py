"""One settings object, read from the environment (and an optional `.env` file)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = PROJECT_DIR / "var"


class Settings(BaseSettings):
    """Runtime configuration. Every field can be set as an environment variable of the same name."""

    model_config = SettingsConfigDict(env_file=PROJECT_DIR / ".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{VAR_DIR / 'support.db'}",
        description="App database (knowledge base). SQLite file by default, postgresql+psycopg://... in production.",
    )
    tracker_store_url: str = Field(
        default=f"sqlite:///{VAR_DIR / 'tracker.db'}",
        description="Rasa tracker store (conversation state). SQLite by default, postgresql://... in production.",
    )
    tracker_cache: int = Field(
        default=1000,
        ge=0,
        description="Conversations whose tracker the Rasa server keeps in memory between turns (0: none).",
    )
    rasa_host: str = "127.0.0.1"
    rasa_port: int = 5005
    action_host: str = "127.0.0.1"
    action_port: int = 5055
    rasa_token: str = Field(default="", description="Token for Rasa's HTTP API; generated into var/ when empty.")
    redis_url: str = Field(default="", description="Rasa lock store; in-memory when empty (single instance).")
    rasa_workers: int = Field(
        default=1, ge=1, description="Rasa server worker processes; more than one needs REDIS_URL (shared locks)."
    )
    kb_dir: Path = PROJECT_DIR / "data" / "kb"
    nlu_dir: Path = PROJECT_DIR / "data" / "nlu"
    test_stories_dir: Path = PROJECT_DIR / "tests" / "stories"
    domain_file: Path = PROJECT_DIR / "domain.yml"
    auto_retrain: bool = Field(
        default=True, description="Retrain in the background after an editor approves NLU examples or stories."
    )
    models_dir: Path = PROJECT_DIR / "models"
    search_min_score: float = Field(
        default=0.45, description="Calibrated score from which the bot starts the top article right away."
    )
    search_suggest_score: float = Field(
        default=0.15,
        description="Calibrated score from which the bot offers the top articles to choose from; "
        "below it the search counts as no match.",
    )

    # -- the handoff hub --------------------------------------------------------------------------------
    hub_host: str = "127.0.0.1"
    hub_port: int = 8000
    widget_origins: str = Field(
        default="",
        description="Comma-separated origins of sites that embed the chat widget (CORS and WebSocket origin "
        "check); the hub's own origin is always allowed. '*' allows every origin.",
    )
    rasa_timeout_s: float = Field(
        default=1.8, gt=0, description="How long the hub waits for the bot before telling the customer it is down."
    )
    agent_grace_s: float = Field(
        default=60, ge=0, description="Seconds an agent may be disconnected before their chats go back to the queue."
    )
    hub_redis_url: str = Field(
        default="",
        description="Redis for several hub instances side by side on one database (live events, who is connected, "
        "locks, rate limits; handoff/cluster.py). Empty: one instance, all of that in its process.",
    )
    opening_hours: str = Field(
        default="mon-sun 00:00-24:00",
        description="When second level answers, e.g. 'mon-fri 08:00-18:00; sat 09:00-13:00' (in HUB_TIMEZONE).",
    )
    hub_timezone: str = "Europe/Berlin"
    default_handle_time_s: int = Field(
        default=360, description="Assumed seconds per chat for wait estimates until enough chats were resolved."
    )
    max_message_chars: int = Field(default=2000, description="Longest customer or agent message (longer: 413).")
    rate_messages_per_10s: int = Field(default=20, description="Messages one conversation may send per 10 s.")
    rate_address_messages_per_minute: int = Field(
        default=300, description="Customer messages per client address and minute, over all its conversations."
    )
    rate_conversations_per_minute: int = Field(default=10, description="New conversations per client address.")
    rate_contact_per_hour: int = Field(default=10, description="E-mail addresses one conversation may leave per hour.")
    rate_logins_per_minute: int = Field(default=10, description="Sign-in attempts per client address.")
    session_hours: int = Field(default=12, description="How long an agent's sign-in lasts.")
    cookie_secure: bool = Field(default=False, description="Send the session cookie over HTTPS only (production).")
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or networks of reverse proxies in front of the hub (e.g. "
        "'127.0.0.1,10.0.0.0/8'). Only from them are X-Forwarded-For/-Proto/-Host believed: the customer's address "
        "(rate limits) and the public scheme and host (origin checks). Empty: those headers are ignored.",
    )

    # -- e-mail replies to customers who left the chat (handoff/outbox.py, handoff/mail.py) ---------------
    smtp_url: str = Field(
        default="",
        description="Mail server for replies to absent customers: smtp://user:password@host:587 (STARTTLS when "
        "the server offers it) or smtps://...:465. Empty: each e-mail is written as a .eml file into MAIL_DIR.",
    )
    mail_from: str = Field(default="Support <support@localhost>", description="Sender of e-mails to customers.")
    mail_dir: Path = Field(default=VAR_DIR / "mail", description="Where e-mails go when no SMTP_URL is set.")
    hub_secret: str = Field(
        default="", description="Key that signs the links in e-mails; generated into var/ when empty."
    )
    resume_link_days: int = Field(default=14, gt=0, description="How long a link in an e-mail reopens the chat.")
    public_url: str = Field(
        default="",
        description="The page that embeds the chat widget, for the link in e-mails (default: the hub's demo shop).",
    )
    inbound_email_token: str = Field(
        default="",
        description="Bearer token of POST /api/v1/inbound/email, where the mailbox of MAIL_FROM hands over customers' "
        "answers (raw e-mails). Empty: the endpoint is off (404).",
    )
    inbound_email_max_bytes: int = Field(
        default=10 * 1024 * 1024, gt=0, description="Largest incoming e-mail, attachments included (larger: 413)."
    )
    email_delay_s: float = Field(
        default=60,
        ge=0,
        description="An absent customer's replies are gathered this long into one e-mail (agents often write twice).",
    )
    customer_away_after_s: float = Field(
        default=20,
        gt=0,
        description="A customer without an open WebSocket counts as away this many seconds after their last request "
        "(the widget's polling fallback asks every few seconds).",
    )

    # -- metrics (bot/article_health.py, handoff/metrics.py, /metrics) ----------------------------------
    guide_abandon_after_min: float = Field(
        default=30, gt=0, description="A guide run still open this many minutes after its last step is abandoned."
    )
    queue_abandon_after_min: float = Field(
        default=30,
        gt=0,
        description="A never-claimed ticket whose customer has not been seen (message or open socket) for this "
        "many minutes counts as abandoned in the queue.",
    )
    metrics_token: str = Field(
        default="", description="Bearer token the hub's /metrics requires (empty: open; block it at the proxy)."
    )

    @property
    def hub_url(self) -> str:
        return f"http://{self.hub_host}:{self.hub_port}"

    @property
    def rasa_url(self) -> str:
        return f"http://{self.rasa_host}:{self.rasa_port}"

    @property
    def action_url(self) -> str:
        return f"http://{self.action_host}:{self.action_port}/webhook"

    def resolved_rasa_token(self) -> str:
        """The configured token, or one generated once and kept in `var/rasa_token` (never committed)."""
        return self.rasa_token or _generated_secret("rasa_token")

    def resolved_hub_secret(self) -> str:
        """The key that signs the hub's links, or one generated once and kept in `var/hub_secret`."""
        return self.hub_secret or _generated_secret("hub_secret")


def _generated_secret(name: str) -> str:
    path = VAR_DIR / name
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()
