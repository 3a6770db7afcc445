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
    models_dir: Path = PROJECT_DIR / "models"
    search_min_score: float = Field(
        default=0.45, description="Calibrated score from which the bot starts the top article right away."
    )
    search_suggest_score: float = Field(
        default=0.15,
        description="Calibrated score from which the bot offers the top articles to choose from; "
        "below it the search counts as no match.",
    )

    @property
    def rasa_url(self) -> str:
        return f"http://{self.rasa_host}:{self.rasa_port}"

    @property
    def action_url(self) -> str:
        return f"http://{self.action_host}:{self.action_port}/webhook"

    def resolved_rasa_token(self) -> str:
        """The configured token, or one generated once and kept in `var/rasa_token` (never committed)."""
        if self.rasa_token:
            return self.rasa_token
        path = VAR_DIR / "rasa_token"
        if not path.exists():
            VAR_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(24))
            path.chmod(0o600)
        return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()
