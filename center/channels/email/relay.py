"""Outbound SMTP through ``CENTER_SMTP_RELAY`` with aiosmtplib.

``smtp://[user:password@]host[:port][?starttls=1]`` (port 25 by default; 587 is usual with
STARTTLS) or ``smtps://…`` (implicit TLS, port 465). The relay's answer decides the
outcome: a 4xx or a connection failure is retryable, a 5xx is permanent (its text is the
reason the agent sees).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib


@dataclass(frozen=True, slots=True)
class Relay:
    host: str
    port: int
    use_tls: bool = False
    start_tls: bool = False
    username: str | None = None
    password: str | None = None
    timeout_s: float = 30.0


def parse_relay(url: str) -> Relay:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("CENTER_SMTP_RELAY must be smtp://host[:port] or smtps://host[:port]")
    query = parse_qs(parts.query)
    start_tls = query.get("starttls", ["0"])[0].lower() in ("1", "true", "yes")
    implicit = parts.scheme == "smtps"
    return Relay(
        host=parts.hostname,
        port=parts.port or (465 if implicit else 25),
        use_tls=implicit,
        start_tls=start_tls and not implicit,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


class RelayError(Exception):
    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason, self.permanent = reason, permanent


async def send(relay: Relay, message: EmailMessage, *, sender: str, recipients: list[str]) -> str:
    """Hand one message to the relay; its reply text. RelayError says whether to retry."""
    try:
        errors, reply = await aiosmtplib.send(
            message,
            sender=sender,
            recipients=recipients,
            hostname=relay.host,
            port=relay.port,
            use_tls=relay.use_tls,
            start_tls=relay.start_tls if relay.start_tls else False,
            username=relay.username,
            password=relay.password,
            timeout=relay.timeout_s,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        reason = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        raise RelayError(reason, permanent=all(c >= 500 for c in codes)) from exc
    except aiosmtplib.SMTPResponseException as exc:
        raise RelayError(f"{exc.code} {exc.message}", permanent=exc.code >= 500) from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise RelayError(f"relay unreachable: {exc}", permanent=False) from exc
    if errors:
        # Some recipients refused, others took it: sent (the refusals are the reason kept).
        refused = "; ".join(f"{k}: {v.code} {v.message}" for k, v in errors.items())
        return f"{reply} (refused: {refused})"
    return reply
