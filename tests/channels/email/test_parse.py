"""Parsing real clients' mail and broken mail, leniently."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from center.channels.email.parse import Unparseable, parse
from tests.channels.email import clients

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_gmail_folded_message_id_rfc2047_and_quoted_printable() -> None:
    mail = parse(clients.gmail(subject="Bestellung über 10 €"), received_at=NOW)
    # Folded onto its own line: str() keeps the leading space; we strip it.
    assert mail.message_id == "<CAF=x7Yq1@mail.gmail.test>"
    assert mail.subject == "Bestellung über 10 €"
    assert mail.from_ is not None and mail.from_.name == "Ann Customer"
    assert mail.from_.addr == "ann.customer@gmail.test"
    assert mail.text.startswith("Hello, my order has not arrived yet.")
    assert mail.html is not None and '<div dir="ltr">' in mail.html
    assert mail.date == datetime(2026, 12, 2, 9, 15, 3, tzinfo=UTC)


def test_outlook_windows_1252_and_references() -> None:
    mail = parse(
        clients.outlook(in_reply_to="<a@x>", references=["<root@x>", "<a@x>"]), received_at=NOW
    )
    assert "– Bob" in mail.text  # =96 in windows-1252 is an en dash
    assert mail.in_reply_to == ["<a@x>"]
    assert mail.references == ["<root@x>", "<a@x>"]


def test_thunderbird_format_flowed_is_joined() -> None:
    mail = parse(clients.thunderbird(), received_at=NOW)
    assert "receiving client can join it again into one paragraph." in mail.text
    assert "receiving \n" not in mail.text
    assert mail.from_ is not None and mail.from_.name == "Däve Müller"


def test_apple_mail_inline_image_is_an_attachment_byte_exact() -> None:
    image = bytes(range(256)) * 8
    mail = parse(clients.apple_mail(image=image), received_at=NOW)
    [att] = mail.attachments
    assert att.data == image and att.sha256 == hashlib.sha256(image).hexdigest()
    assert att.filename == "IMG_0001.png" and att.inline and att.content_type == "image/png"
    assert mail.text.startswith("Here is the photo")


def test_postfix_dsn_names_the_original_and_the_failed_recipient() -> None:
    for headers_only in (False, True):
        mail = parse(
            clients.postfix_dsn(
                original_message_id="<r1.center@center.test>", headers_only=headers_only
            ),
            received_at=NOW,
        )
        assert mail.report is not None
        assert mail.report.action == "failed" and mail.report.status == "5.1.1"
        assert mail.report.recipients == ["nobody@gone.test"]
        assert mail.report.original_message_id == "<r1.center@center.test>"
        assert "User unknown" in mail.report.diagnostic


def test_forwarded_message_is_one_attachment_and_never_flattened() -> None:
    mail = parse(clients.forwarded(), received_at=NOW)
    assert mail.from_ is not None and mail.from_.addr == "erin@example.test"
    assert mail.in_reply_to == [] and mail.references == []
    assert "Click here" not in mail.text
    [att] = mail.attachments
    assert att.content_type == "message/rfc822" and att.filename == "suspicious.eml"
    assert b"From: Bank <mallory@evil.test>" in att.data
    assert b"Click here to verify." in att.data


def test_missing_date_is_time_of_receipt_and_8bit_undeclared() -> None:
    raw = (
        "From: Zoë <zoe@example.test>\r\n"
        "To: support@center.test\r\n"
        "Subject: Caf\xe9 order\r\n"
        "\r\n"
        "Bonjour, le caf\xe9 est froid.\r\n"
    ).encode("latin-1")
    mail = parse(raw, received_at=NOW)
    assert mail.date == NOW and mail.date_missing
    assert mail.subject == "Café order"
    assert "café est froid" in mail.text


def test_utf8_undeclared_body_and_broken_header_lines() -> None:
    raw = (
        b"From: broken <<<@@>>\r\n"
        b"To: support@center.test\r\n"
        b"Date: not a date at all\r\n"
        b"Message-ID: no-brackets@example.test\r\n"
        b"this line is not a header\r\n"
        b"Subject: still here\r\n"
        b"\r\n"
        b"Gr\xc3\xbc\xc3\x9fe \x00 aus K\xc3\xb6ln\r\n"
    )
    mail = parse(raw, received_at=NOW)
    assert mail.date == NOW
    assert mail.message_id == "<no-brackets@example.test>"
    assert "Grüße" in mail.text and "\x00" not in mail.text


def test_nothing_parseable_is_refused_for_quarantine() -> None:
    for raw in (b"", b"   \r\n", b"\r\n\r\njust a body without headers"):
        with pytest.raises(Unparseable):
            parse(raw, received_at=NOW)
