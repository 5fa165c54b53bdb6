"""The one settings object, read from ``LIVEDESK_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIVEDESK_", extra="ignore")

    database_url: str = "sqlite:///./livedesk.db"
    redis_url: str | None = None
    # Signs visitor tokens and agent session cookies. The default is only for the demo;
    # `serve` warns when it is left unset.
    secret_key: str = "livedesk-insecure-development-key-change-me"
    identity_secret: str | None = None
    site_key: str = "default"
    allowed_origins: list[str] = Field(default_factory=list)
    public_url: str | None = None

    visitor_token_ttl_s: int = 30 * 24 * 3600
    session_ttl_s: int = 12 * 3600
    session_cookie: str = "livedesk_session"
    cookie_secure: bool = False

    max_frame_bytes: int = 64 * 1024
    max_text_chars: int = 4000
    rate_limit_per_s: float = 10.0
    rate_limit_burst: int = 30
    flood_errors_before_close: int = 20
    send_queue_frames: int = 1000

    default_agent_cap: int = 5
    group_commit_max_batch: int = 256
    group_commit_max_delay_ms: float = 2.0

    log_level: str = "info"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
