"""Which mail makes no work, and which may get an acknowledgement (RFC 3834)."""

from __future__ import annotations

from datetime import UTC, datetime

from center.channels.email import tokens
from center.channels.email.parse import parse
from center.channels.email.suppress import Suppression, classify, may_auto_acknowledge
from tests.channels.email import clients

NOW = datetime(2026, 12, 2, tzinfo=UTC)


def _mail(extra: str = "", subject: str = "Hello", sender: str = "a@x.test") -> bytes:
    head = f"From: {sender}\r\nTo: support@center.test\r\nSubject: {subject}\r\n"
    return f"{head}{extra}\r\nbody\r\n".encode()


def _why(raw: bytes, *, own: bool = False, null: bool = False) -> Suppression | None:
    return classify(parse(raw, received_at=NOW), own_message_id=own, null_sender=null)


def test_real_client_mail_is_not_suppressed_and_exchange_header_is_no_signal() -> None:
    for raw in (clients.gmail(), clients.outlook(), clients.apple_mail(), clients.thunderbird()):
        assert _why(raw) is None
    outlook = parse(clients.outlook(), received_at=NOW)
    assert "x-auto-response-suppress" in outlook.headers
    assert may_auto_acknowledge(outlook, null_sender=False)


def test_auto_replies() -> None:
    assert _why(_mail("Auto-Submitted: auto-replied\r\n")) is Suppression.AUTO_REPLY
    assert (
        _why(_mail("Auto-Submitted: auto-generated; owner-email=x\r\n")) is Suppression.AUTO_REPLY
    )
    assert _why(_mail("Auto-Submitted: no\r\n")) is None
    assert _why(_mail("X-Autoreply: yes\r\n")) is Suppression.AUTO_REPLY
    for subject in ("Out of Office: back Monday", "Automatic reply: Hello", "Auto: Hello",
                    "Abwesenheitsnotiz: Hallo"):  # fmt: skip
        assert _why(_mail(subject=subject)) is Suppression.AUTO_REPLY, subject
    # A customer who writes about being out of the office is not an auto-reply.
    assert _why(_mail(subject="Re: my out of office order")) is None


def test_bounces_bulk_lists_and_loops() -> None:
    dsn = clients.postfix_dsn(original_message_id="<x@y>")
    assert _why(dsn, null=True) is Suppression.BOUNCE
    assert _why(_mail(subject="Returned mail", sender="MAILER-DAEMON@mx.test"), null=True) is (
        Suppression.BOUNCE
    )
    assert _why(_mail("Precedence: bulk\r\n")) is Suppression.BULK
    assert _why(_mail("List-Id: <news.shop.test>\r\n")) is Suppression.MAILING_LIST
    assert _why(_mail("Precedence: list\r\n")) is Suppression.MAILING_LIST
    assert _why(_mail(), own=True) is Suppression.LOOP


def test_no_acknowledgement_to_a_null_sender() -> None:
    mail = parse(_mail(), received_at=NOW)
    assert may_auto_acknowledge(mail, null_sender=False)
    assert not may_auto_acknowledge(mail, null_sender=True)


def test_tokens() -> None:
    assert tokens.subject_number("Re: AW: Help [#42] now") == 42
    assert tokens.subject_number("Re: Help #42") is None
    assert tokens.with_subject_token("Help", 7) == "Re: Help [#7]"
    assert tokens.with_subject_token("RE: Help [#7]", 7) == "RE: Help [#7]"
    support = {"support@center.test"}
    token = tokens.new_token()
    addr = tokens.tokenised("support@center.test", token)
    assert tokens.address_token(["x@y", addr.upper()], support) == token
    assert tokens.address_token(["other+abcdef0123@center.test"], support) is None
    assert tokens.base_address(addr, support) == "support@center.test"
    assert tokens.base_address("sales@center.test", support) is None
    mid = tokens.new_message_id("center.test")
    assert tokens.is_ours(mid, "center.test") and not tokens.is_ours(
        "<a@center.test>", "center.test"
    )
