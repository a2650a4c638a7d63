"""Raw bytes of one email → a ``ParsedEmail``, leniently.

Mail in the wild is broken in every way a parser can meet: no Date, 8-bit bytes in headers
and bodies nobody declared, header lines that do not parse, charsets that do not exist.
Every header is read through ``_header`` (the parsed value, else the raw one decoded by
hand), every body through ``_decode`` (declared charset, else UTF-8, else cp1252), so a bad
part degrades one field, never the message. Only a message with no header block at all is
``Unparseable``: the caller quarantines it (the raw bytes are kept either way).

The message is split with the ``compat32`` policy (raw header strings, no header
registry): the default policy parses every header into objects on access, which made the
parse 15 times slower and most of an inbound mail's CPU. The few headers used are decoded
here (RFC 2047 words, undeclared 8-bit); addresses are split before their display names
are decoded, so an encoded comma never splits an address.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import HeaderParser
from email.utils import getaddresses, parsedate_to_datetime

# Preserves the source's header lines when a part is written back out (message/rfc822
# attachments are kept as they came, not refolded).
_KEEP = email.policy.default.clone(refold_source="none", max_line_length=0, linesep="\r\n")
_MSGID = re.compile(r"<[^<>\s]+>")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Unparseable(ValueError):
    """No header block: nothing to thread, nobody to answer. Quarantined, never dropped."""


@dataclass(frozen=True, slots=True)
class Address:
    name: str
    addr: str  # lower-cased; the whole address is one identity

    def __str__(self) -> str:
        return self.addr


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes
    inline: bool = False
    content_id: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """A DSN (RFC 3464): who failed, why, and which of our messages it was."""

    action: str  # failed / delayed / delivered / relayed / expanded
    recipients: list[str]
    status: str
    diagnostic: str
    original_message_id: str | None


@dataclass(slots=True)
class ParsedEmail:
    message_id: str | None
    in_reply_to: list[str]
    references: list[str]
    from_: Address | None
    reply_to: list[Address]
    to: list[Address]
    cc: list[Address]
    subject: str
    date: datetime
    date_missing: bool
    text: str
    html: str | None
    attachments: list[Attachment]
    headers: dict[str, str]  # the few headers suppression looks at, lower-case names
    report: DeliveryReport | None = None
    defects: list[str] = field(default_factory=list)

    @property
    def participants(self) -> set[str]:
        found = {a.addr for a in (*self.to, *self.cc, *self.reply_to)}
        if self.from_ is not None:
            found.add(self.from_.addr)
        return found


_WATCHED = (
    "auto-submitted",
    "precedence",
    "list-id",
    "list-unsubscribe",
    "x-autoreply",
    "x-autorespond",
    "x-auto-response-suppress",
    "x-failed-recipients",
    "return-path",
    "content-type",
)


def clean_text(value: str) -> str:
    """No NULs, no lone surrogates, no control characters (PostgreSQL refuses the first
    two; the consoles have no use for the third)."""
    value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return _CONTROL.sub("", value)


def parse(raw: bytes, *, received_at: datetime) -> ParsedEmail:
    if not raw or not raw.strip():
        raise Unparseable("empty message")
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    if not msg.keys():
        raise Unparseable("no header block")
    headers = {}
    for name in _WATCHED:
        value = _header(msg, name)
        if value is not None:
            headers[name] = value
    date, missing = _date(msg, received_at)
    text_parts: list[str] = []
    html_parts: list[str] = []
    attachments: list[Attachment] = []
    _walk(msg, text_parts, html_parts, attachments)
    html = "\n".join(html_parts) if html_parts else None
    report = _delivery_report(msg) if msg.get_content_type() == "multipart/report" else None
    froms = _addresses(msg, "from")
    return ParsedEmail(
        message_id=_one_id(_header(msg, "message-id")),
        in_reply_to=_ids(_header(msg, "in-reply-to")),
        references=_ids(_header(msg, "references")),
        from_=froms[0] if froms else None,
        reply_to=_addresses(msg, "reply-to"),
        to=_addresses(msg, "to"),
        cc=_addresses(msg, "cc"),
        subject=_header(msg, "subject") or "",
        date=date,
        date_missing=missing,
        text="\n".join(text_parts),
        html=html,
        attachments=attachments,
        headers=headers,
        report=report,
        defects=sorted({type(d).__name__ for d in msg.defects}),
    )


def _header(msg: Message, name: str) -> str | None:
    """One header's decoded text, unfolded (never raises: a broken header costs only
    itself)."""
    raw = _raw(msg, name)
    return None if raw is None else clean_text(" ".join(_decode_words(raw).split()))


def _raw(msg: Message, name: str) -> str | None:
    """One header's value as it came (the first of that name), unfolded; undeclared 8-bit
    (kept as surrogates by the parser) read as UTF-8, else cp1252."""
    for key, value in msg.raw_items():  # (not msg.get: it hides 8-bit behind U+FFFD)
        if key.lower() == name:
            if not isinstance(value, str):  # (a Header object: a part built in code)
                value = str(value)
            if any("\udc80" <= ch <= "\udcff" for ch in value):
                value = _redecode(value)
            return " ".join(value.split())
    return None


def _redecode(value: str) -> str:
    data = value.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def _decode_words(raw: str) -> str:
    """RFC 2047 encoded words decoded; an unknown charset or a broken word costs only that
    word (its bytes read as UTF-8 with replacement)."""
    if "=?" not in raw:
        return raw
    try:
        words = decode_header(raw)
    except (ValueError, HeaderParseError, UnicodeError):
        return raw
    try:
        return str(make_header(words))
    except (ValueError, LookupError, UnicodeError, HeaderParseError):
        return "".join(
            w if isinstance(w, str) else w.decode("utf-8", "replace") for w, _charset in words
        )


def _addresses(msg: Message, name: str) -> list[Address]:
    value = _raw(msg, name)
    if not value:
        return []
    if "=?" in value:
        # Encoded display names (an encoded comma is common even where RFC 2047 forbids
        # it): the header registry's address parser, for these headers only.
        with contextlib.suppress(HeaderParseError, ValueError, IndexError, TypeError):
            value = str(email.policy.default.header_factory(name, value))
    found = []
    for display, addr in getaddresses([value]):
        addr = addr.strip().strip("<>").lower()
        if "@" not in addr or len(addr) > 254 or " " in addr:
            continue
        found.append(Address(name=clean_text(_decode_words(display)).strip(), addr=addr))
    return found


def _one_id(value: str | None) -> str | None:
    ids = _ids(value)
    if ids:
        return ids[0]
    if value and value.strip() and " " not in value.strip() and len(value) < 900:
        # An id without its angle brackets (seen from broken scripts): still an id.
        return f"<{value.strip()}>"
    return None


def _ids(value: str | None) -> list[str]:
    if not value:
        return []
    return [m for m in _MSGID.findall(value) if len(m) <= 900]


def _date(msg: Message, received_at: datetime) -> tuple[datetime, bool]:
    raw = _header(msg, "date")
    if raw:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return when.astimezone(UTC), False
    return received_at, True


def _decode(part: Message) -> str:
    try:
        data = part.get_payload(decode=True)
    except (ValueError, TypeError, AssertionError):
        data = None
    if data is None:
        payload = part.get_payload()
        data = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""
    charset = None
    with contextlib.suppress(ValueError, LookupError):
        charset = part.get_content_charset()
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            text = data.decode(candidate)
            break
        except (LookupError, UnicodeDecodeError):
            continue
    else:
        text = data.decode("cp1252", "replace")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    params = dict(part.get_params() or [])
    if part.get_content_type() == "text/plain" and params.get("format", "").lower() == "flowed":
        text = unflow(text, delsp=params.get("delsp", "").lower() == "yes")
    return clean_text(text)


def unflow(text: str, *, delsp: bool = False) -> str:
    """RFC 3676 format=flowed: a line ending in a space continues on the next one."""
    out: list[str] = []
    current: str | None = None
    depth_now = -1
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        body = line[depth:]
        if body.startswith(" "):
            body = body[1:]  # space-stuffing
        if current is not None and depth != depth_now:
            out.append(current)
            current = None
        if body == "-- ":  # the signature separator is never flowed
            if current is not None:
                out.append(current)
            out.append(">" * depth + body)
            current = None
            continue
        if current is None:
            current, depth_now = ">" * depth + ("" if not depth else " "), depth
        if body.endswith(" "):
            current += body[:-1] if delsp else body
        else:
            out.append(current + body)
            current = None
    if current is not None:
        out.append(current)
    return "\n".join(out)


def _filename(part: Message) -> str:
    try:
        name = part.get_filename()
    except (ValueError, TypeError, HeaderParseError, IndexError):
        name = None
    name = clean_text(_decode_words(name or "")).replace("/", "_").replace("\\", "_").strip()
    return name[:255]


def _walk(part: Message, texts: list[str], htmls: list[str], attachments: list[Attachment]) -> None:
    ctype = part.get_content_type()
    if ctype == "message/rfc822":
        # A forwarded message: one attachment as it came. Never walked into: its text is
        # not the customer's, its headers never thread or name anyone.
        inner = part.get_payload()
        inner = inner[0] if isinstance(inner, list) and inner else inner
        data = inner.as_bytes(policy=_KEEP) if isinstance(inner, Message) else b""
        subject = _header(inner, "subject") if isinstance(inner, Message) else None
        attachments.append(
            Attachment(
                filename=_filename(part) or f"{(subject or 'message')[:200]}.eml",
                content_type="message/rfc822",
                data=data,
            )
        )
        return
    if part.is_multipart():
        children = part.get_payload()
        if ctype == "multipart/alternative" and isinstance(children, list):
            # One rendering of the text each: the plain one and the HTML one.
            plain = [c for c in children if c.get_content_type() == "text/plain"]
            html = [c for c in children if c.get_content_type() == "text/html"]
            others = [c for c in children if c not in plain and c not in html]
            if plain:
                texts.append(_decode(plain[0]))
            if html:
                htmls.append(_decode(html[0]))
            for child in others:
                _walk(child, texts if not plain else [], htmls if not html else [], attachments)
            return
        if ctype in ("message/delivery-status",):
            return
        for child in children if isinstance(children, list) else []:
            _walk(child, texts, htmls, attachments)
        return
    disposition = (part.get_content_disposition() or "").lower()
    filename = _filename(part)
    if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
        (texts if ctype == "text/plain" else htmls).append(_decode(part))
        return
    if ctype in ("message/delivery-status", "text/rfc822-headers"):
        return  # read by _delivery_report
    try:
        data = part.get_payload(decode=True) or b""
    except (ValueError, TypeError, AssertionError):
        data = b""
    cid = _header(part, "content-id")
    attachments.append(
        Attachment(
            filename=filename or "attachment",
            content_type=ctype,
            data=data,
            inline=disposition == "inline",
            content_id=cid.strip("<>") if cid else None,
        )
    )


def _delivery_report(msg: Message) -> DeliveryReport | None:
    action, status, diagnostic = "", "", ""
    recipients: list[str] = []
    original: str | None = None
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            blocks = part.get_payload()
            if isinstance(blocks, str):
                blocks = _status_blocks(blocks)
            for block in blocks or []:
                if not isinstance(block, Message):
                    continue
                rcpt = block.get("Final-Recipient") or block.get("Original-Recipient")
                if rcpt:
                    recipients.append(str(rcpt).split(";")[-1].strip().strip("<>").lower())
                if block.get("Action"):
                    action = action if action == "failed" else str(block["Action"]).strip()
                    action = action.lower()
                status = status or str(block.get("Status") or "").strip()
                diagnostic = diagnostic or " ".join(str(block.get("Diagnostic-Code") or "").split())
        elif ctype in ("message/rfc822", "text/rfc822-headers") and original is None:
            if ctype == "message/rfc822":
                inner = part.get_payload()
                inner = inner[0] if isinstance(inner, list) and inner else inner
                value = _header(inner, "message-id") if isinstance(inner, Message) else None
            else:
                headers = HeaderParser(policy=email.policy.default).parsestr(_decode(part))
                value = _header(headers, "message-id")
            original = _one_id(value)
    if not action and not recipients:
        return None
    return DeliveryReport(
        action=action or "failed",
        recipients=sorted(set(recipients)),
        status=status,
        diagnostic=clean_text(diagnostic)[:500],
        original_message_id=original,
    )


def _status_blocks(text: str) -> list[EmailMessage]:
    parser = HeaderParser(policy=email.policy.default)
    return [parser.parsestr(b.strip() + "\n") for b in re.split(r"\n\s*\n", text) if b.strip()]
