"""Mail that must make no work (RFC 3834): why, or None for a real customer message.

Auto-replies (``Auto-Submitted`` other than ``no``; the vendor headers and subject prefixes
as a fallback), delivery reports (DSNs and the mailer-daemon's older shape), bulk and list
mail, and our own messages coming back. Exchange's ``X-Auto-Response-Suppress`` is on
ordinary mail from Outlook (it asks *us* not to auto-reply): it is not a signal here.
None of these reopens a ticket, resets an SLA clock or gets an acknowledgement.
"""

from __future__ import annotations

import re
from enum import StrEnum

from center.channels.email.parse import ParsedEmail


class Suppression(StrEnum):
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    BULK = "bulk"
    MAILING_LIST = "mailing_list"
    LOOP = "loop"  # a Message-ID we generated came back in


_AUTO_SUBJECT = re.compile(
    r"^\s*(?:auto(?:matic)?\s*(?:reply|response|antwort)\b|auto:|autoreply\b"
    r"|out of (?:the )?office\b|abwesenheitsnotiz\b|réponse automatique\b"
    r"|respuesta automática\b|automatisch antwoord\b|\[?vacation\]?\s*:)",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(?:undeliver(?:able|ed)\b|undelivered mail returned to sender\b"
    r"|delivery status notification\b|returned mail\b|mail delivery failed\b"
    r"|failure notice\b|delivery failure\b|unzustellbar\b|non remis\b)",
    re.IGNORECASE,
)
_DAEMONS = ("mailer-daemon@", "postmaster@")


def classify(mail: ParsedEmail, *, own_message_id: bool, null_sender: bool) -> Suppression | None:
    h = mail.headers
    if own_message_id:
        return Suppression.LOOP
    if mail.report is not None or "x-failed-recipients" in h:
        return Suppression.BOUNCE
    sender = mail.from_.addr if mail.from_ else ""
    if (null_sender or sender.startswith(_DAEMONS)) and (
        _BOUNCE_SUBJECT.match(mail.subject) or sender.startswith(_DAEMONS)
    ):
        return Suppression.BOUNCE
    auto = h.get("auto-submitted", "").split(";")[0].strip().lower()
    if auto and auto != "no":
        return Suppression.AUTO_REPLY
    if "x-autoreply" in h or "x-autorespond" in h:
        return Suppression.AUTO_REPLY
    precedence = h.get("precedence", "").strip().lower()
    if precedence in ("bulk", "junk"):
        return Suppression.BULK
    if precedence == "list" or "list-id" in h:
        return Suppression.MAILING_LIST
    if precedence == "auto_reply" or _AUTO_SUBJECT.match(mail.subject):
        return Suppression.AUTO_REPLY
    if _BOUNCE_SUBJECT.match(mail.subject) and null_sender:
        return Suppression.BOUNCE
    return None


def may_auto_acknowledge(mail: ParsedEmail, *, null_sender: bool) -> bool:
    """RFC 3834 §2: never answer a null sender (bounces and other automatic mail are
    suppressed before this is asked). Exchange's X-Auto-Response-Suppress is on ordinary
    Outlook mail too: honouring it would leave every Outlook customer unacknowledged."""
    return not null_sender and mail.from_ is not None
