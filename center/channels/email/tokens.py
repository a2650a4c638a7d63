"""What in a message can name a ticket: Message-IDs, the ``[#N]`` subject token, and the
tokenised reply-to address ``support+<token>@…``. Pure; the lookups are in threading.py."""

from __future__ import annotations

import re
import secrets
import uuid

_SUBJECT_TOKEN = re.compile(r"\[#(\d{1,12})\]")
_ADDRESS_TOKEN = re.compile(r"^([^+@]+)\+([a-z0-9]{8,40})@(.+)$")


def subject_number(subject: str) -> int | None:
    found = _SUBJECT_TOKEN.search(subject)
    return int(found.group(1)) if found else None


def with_subject_token(subject: str, number: int) -> str:
    """The reply's subject: the customer's, with ``Re:`` once and our token once."""
    subject = " ".join(subject.split()) or "(no subject)"
    if subject_number(subject) != number:
        subject = f"{subject} [#{number}]"
    if not re.match(r"^\s*re\s*:", subject, re.IGNORECASE):
        subject = f"Re: {subject}"
    return subject


def address_token(recipients: list[str], support: set[str]) -> str | None:
    """The token of the first recipient ``local+token@domain`` whose ``local@domain`` is
    one of our support addresses."""
    for rcpt in recipients:
        found = _ADDRESS_TOKEN.match(rcpt.lower())
        if found and f"{found.group(1)}@{found.group(3)}" in support:
            return found.group(2)
    return None


def tokenised(address: str, token: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local}+{token}@{domain}"


def new_token() -> str:
    return secrets.token_hex(8)


def new_message_id(domain: str) -> str:
    return f"<{uuid.uuid4().hex}.center@{domain}>"


def is_ours(message_id: str, domain: str) -> bool:
    return message_id.lower().endswith(f".center@{domain.lower()}>")


def base_address(address: str, support: set[str]) -> str | None:
    """The support address a recipient is (with or without a +token), else None."""
    address = address.lower()
    if address in support:
        return address
    found = _ADDRESS_TOKEN.match(address)
    if found and f"{found.group(1)}@{found.group(3)}" in support:
        return f"{found.group(1)}@{found.group(3)}"
    return None
