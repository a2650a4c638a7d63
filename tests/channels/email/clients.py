"""Messages in the shapes real clients produce (written by hand from their sent mail):
Gmail, Outlook/Exchange, Apple Mail, Thunderbird, and Postfix's DSN. Each function
returns the raw bytes a client would hand its submission server, with the headers a
story needs to vary (who, to whom, which message it answers)."""

from __future__ import annotations

SUPPORT = "support@center.test"


def _refs(in_reply_to: str | None, references: list[str] | None) -> str:
    out = ""
    if in_reply_to:
        out += f"In-Reply-To: {in_reply_to}\n"
    if references:
        # Folded the way Gmail folds a long chain: one id per continuation line.
        out += "References: " + "\n ".join(references) + "\n"
    return out


def gmail(
    *,
    sender: str = "ann.customer@gmail.test",
    name: str = "Ann Customer",
    to: str = SUPPORT,
    subject: str = "Order #1234 never arrived",
    body: str = "Hello, my order has not arrived yet. Can you help?",
    message_id: str = "<CAF=x7Yq1@mail.gmail.test>",
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    quoted: str = "",
    cc: str | None = None,
) -> bytes:
    """multipart/alternative, quoted-printable UTF-8, a folded Message-ID, RFC 2047 name,
    the quote in ``<div class="gmail_quote">`` and "On … wrote:" in the text."""
    text_quote = html_quote = ""
    if quoted:
        text_quote = (
            "\n\nOn Tue, 1 Dec 2026 at 09:12, Center Support <support@center.test>\nwrote:\n\n"
            + "\n".join("> " + line for line in quoted.split("\n"))
        )
        html_quote = (
            '<br><div class=3D"gmail_quote"><div dir=3D"ltr" class=3D"gmail_attr">On Tue, 1 '
            "Dec 2026 at 09:12, Center Support &lt;support@center.test&gt; wrote:<br></div>"
            '<blockquote class=3D"gmail_quote" style=3D"margin:0px">'
            + quoted
            + "</blockquote></div>"
        )
    cc_line = f"Cc: {cc}\n" if cc else ""
    return (
        "MIME-Version: 1.0\n"
        "Date: Wed, 2 Dec 2026 10:15:03 +0100\n"
        + _refs(in_reply_to, references)
        + f"Message-ID:\n {message_id}\n"
        f"Subject: =?UTF-8?Q?{_q(subject)}?=\n"
        f"From: =?UTF-8?Q?{_q(name)}?= <{sender}>\n"
        f"To: {to}\n"
        + cc_line
        + 'Content-Type: multipart/alternative; boundary="000000000000a1b2c3"\n'
        "\n"
        "--000000000000a1b2c3\n"
        'Content-Type: text/plain; charset="UTF-8"\n'
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n" + _qp(body + text_quote) + "\n"
        "--000000000000a1b2c3\n"
        'Content-Type: text/html; charset="UTF-8"\n'
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        '<div dir=3D"ltr">' + _qp(body).replace("\n", "<br>") + "</div>" + html_quote + "\n"
        "--000000000000a1b2c3--\n"
    ).encode()


def outlook(
    *,
    sender: str = "bob@contoso.test",
    to: str = SUPPORT,
    subject: str = "RE: Invoice question [#1]",
    body: str = "Thanks, but the invoice still shows the old amount.",
    message_id: str = "<DB9PR01MB1234ABCD@DB9PR01MB1234.eurprd01.prod.exchangelabs.test>",
    in_reply_to: str | None = None,
    references: list[str] | None = None,
) -> bytes:
    """windows-1252 quoted-printable, Exchange's headers (X-Auto-Response-Suppress on an
    ordinary reply, Thread-Index), the "From:/Sent:" block under a rule, divRplyFwdMsg."""
    return (
        f"From: Bob Example <{sender}>\n"
        f"To: Center Support <{to}>\n"
        f"Subject: {subject}\n"
        "Thread-Topic: Invoice question\n"
        "Thread-Index: AQHZx1234567890abcdefAAAAAA==\n"
        "Date: Wed, 2 Dec 2026 09:01:44 +0000\n"
        f"Message-ID: {message_id}\n"
        + _refs(in_reply_to, references)
        + "X-Auto-Response-Suppress: DR, OOF, AutoReply\n"
        "X-MS-Has-Attach:\n"
        "Content-Language: en-GB\n"
        'Content-Type: multipart/alternative;\n\tboundary="_000_DB9PR01MB1234_"\n'
        "MIME-Version: 1.0\n"
        "\n"
        "--_000_DB9PR01MB1234_\n"
        'Content-Type: text/plain; charset="Windows-1252"\n'
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n" + body + " =96 Bob\n"
        "\n"
        "________________________________\n"
        "From: Center Support <support@center.test>\n"
        "Sent: Tuesday, December 1, 2026 4:00 PM\n"
        "To: Bob Example <bob@contoso.test>\n"
        "Subject: Re: Invoice question [#1]\n"
        "\n"
        "We have corrected the invoice.\n"
        "\n"
        "--_000_DB9PR01MB1234_\n"
        'Content-Type: text/html; charset="Windows-1252"\n'
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        "<html><head><style>p{margin:0}</style></head><body><div>" + body + " =96 Bob</div>"
        '<hr style=3D"display:inline-block;width:98%" tabindex=3D"-1">'
        '<div id=3D"divRplyFwdMsg" dir=3D"ltr"><b>From:</b> Center Support<br>'
        "<b>Sent:</b> Tuesday, December 1, 2026 4:00 PM</div>"
        "<div>We have corrected the invoice.</div></body></html>\n"
        "--_000_DB9PR01MB1234_--\n"
    ).encode("cp1252")


def apple_mail(
    *,
    sender: str = "carol@icloud.test",
    to: str = SUPPORT,
    subject: str = "Re: Your return [#1]",
    body: str = "Here is the photo of the damaged box.",
    message_id: str = "<5C1E2A3B-0D4F-4A6B-9C8D-7E6F5A4B3C2D@icloud.test>",
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    image: bytes = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
) -> bytes:
    """multipart/mixed with an inline image between two text parts, us-ascii 7bit,
    "On 1 Dec 2026, at 16:00, … wrote:" and ``blockquote type="cite"``."""
    import base64

    b64 = base64.encodebytes(image).decode()
    return (
        f"From: Carol Apple <{sender}>\n"
        'Content-Type: multipart/mixed;\n\tboundary="Apple-Mail=_A1B2C3D4"\n'
        "Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3774.600.62\\))\n"
        f"Subject: {subject}\n"
        "Date: Wed, 2 Dec 2026 11:20:00 +0200\n" + _refs(in_reply_to, references) + f"To: {to}\n"
        f"Message-Id: {message_id}\n"
        "X-Mailer: Apple Mail (2.3774.600.62)\n"
        "\n"
        "--Apple-Mail=_A1B2C3D4\n"
        "Content-Transfer-Encoding: 7bit\n"
        "Content-Type: text/plain;\n\tcharset=us-ascii\n"
        "\n" + body + "\n\n"
        "--Apple-Mail=_A1B2C3D4\n"
        "Content-Transfer-Encoding: base64\n"
        'Content-Disposition: inline;\n\tfilename="IMG_0001.png"\n'
        'Content-Type: image/png;\n\tx-unix-mode=0644;\n\tname="IMG_0001.png"\n'
        "Content-Id: <9F8E7D6C-IMG@icloud.test>\n"
        "\n" + b64 + "\n"
        "--Apple-Mail=_A1B2C3D4\n"
        "Content-Transfer-Encoding: 7bit\n"
        "Content-Type: text/plain;\n\tcharset=us-ascii\n"
        "\n"
        "\n"
        "> On 1 Dec 2026, at 16:00, Center Support <support@center.test> wrote:\n"
        ">\n"
        "> Please send us a photo.\n"
        "\n"
        "--Apple-Mail=_A1B2C3D4--\n"
    ).encode()


def thunderbird(
    *,
    sender: str = "dave@posteo.test",
    to: str = SUPPORT,
    subject: str = "Re: Password reset [#1]",
    body: str = (
        "This is a long line that Thunderbird wraps with format=flowed so the receiving \n"
        "client can join it again into one paragraph.\n"
        "\n"
        "Second paragraph."
    ),
    message_id: str = "<a1b2c3d4-e5f6-7890-abcd-ef1234567890@posteo.test>",
    in_reply_to: str | None = None,
    references: list[str] | None = None,
) -> bytes:
    """text/plain; format=flowed; UTF-8 8bit, "On 12/1/26 4:00 PM, … wrote:"."""
    return (
        f"Message-ID: {message_id}\n"
        "Date: Wed, 2 Dec 2026 12:00:00 +0100\n"
        "MIME-Version: 1.0\n"
        "User-Agent: Mozilla Thunderbird\n"
        f"Subject: {subject}\n"
        f"To: {to}\n"
        + _refs(in_reply_to, references)
        + f"From: =?UTF-8?B?RMOkdmUgTcO8bGxlcg==?= <{sender}>\n"
        "Content-Type: text/plain; charset=UTF-8; format=flowed\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n" + body + "\n"
        "\n"
        "On 12/1/26 4:00 PM, Center Support wrote:\n"
        "> We sent you a reset link.\n"
        "> \n"
        "> Kind regards\n"
    ).encode()


def postfix_dsn(
    *,
    original_message_id: str,
    failed: str = "nobody@gone.test",
    to: str = SUPPORT,
    headers_only: bool = False,
) -> bytes:
    """Postfix's bounce: multipart/report; report-type=delivery-status, from
    MAILER-DAEMON, the original returned as message/rfc822 (or text/rfc822-headers)."""
    original = (
        "Content-Type: text/rfc822-headers\n\n"
        if headers_only
        else "Content-Type: message/rfc822\n\n"
    ) + (
        f"From: Center Support <{to}>\n"
        f"To: {failed}\n"
        "Subject: Re: Help [#1]\n"
        f"Message-ID: {original_message_id}\n"
        "Date: Wed, 2 Dec 2026 08:00:00 +0000\n"
        + ("" if headers_only else "\nWe replied to your question.\n")
    )
    return (
        "Return-Path: <>\n"
        "Date: Wed,  2 Dec 2026 08:00:05 +0000 (UTC)\n"
        "From: MAILER-DAEMON@mx.center.test (Mail Delivery System)\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        f"To: {to}\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status;\n"
        '\tboundary="8A1B2C3D4E.1764662405/mx.center.test"\n'
        "Message-Id: <20261202080005.8A1B2C3D4E@mx.center.test>\n"
        "\n"
        "This is a MIME-encapsulated message.\n"
        "\n"
        "--8A1B2C3D4E.1764662405/mx.center.test\n"
        "Content-Description: Notification\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "\n"
        "This is the mail system at host mx.center.test.\n"
        "\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients.\n"
        "\n"
        f"<{failed}>: host mx.gone.test said: 550 5.1.1 User unknown\n"
        "\n"
        "--8A1B2C3D4E.1764662405/mx.center.test\n"
        "Content-Description: Delivery report\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns; mx.center.test\n"
        "X-Postfix-Queue-ID: 8A1B2C3D4E\n"
        "Arrival-Date: Wed,  2 Dec 2026 08:00:00 +0000 (UTC)\n"
        "\n"
        f"Final-Recipient: rfc822; {failed}\n"
        f"Original-Recipient: rfc822;{failed}\n"
        "Action: failed\n"
        "Status: 5.1.1\n"
        "Remote-MTA: dns; mx.gone.test\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <" + failed + ">: Recipient address rejected:\n"
        "    User unknown in virtual mailbox table\n"
        "\n"
        "--8A1B2C3D4E.1764662405/mx.center.test\n"
        "Content-Description: Undelivered Message\n" + original + "\n"
        "--8A1B2C3D4E.1764662405/mx.center.test--\n"
    ).encode()


def forwarded(
    *, sender: str = "erin@example.test", to: str = SUPPORT, inner_sender: str = "mallory@evil.test"
) -> bytes:
    """A message forwarded as an attachment (message/rfc822): the inner one claims another
    sender and names a Message-ID we might know."""
    return (
        f"From: Erin <{sender}>\n"
        f"To: {to}\n"
        "Subject: Fwd: look at this\n"
        "Date: Wed, 2 Dec 2026 13:00:00 +0000\n"
        "Message-ID: <fwd-1@example.test>\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="fwd"\n'
        "\n"
        "--fwd\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "See the attached message, it looks like phishing.\n"
        "--fwd\n"
        "Content-Type: message/rfc822\n"
        'Content-Disposition: attachment; filename="suspicious.eml"\n'
        "\n"
        f"From: Bank <{inner_sender}>\n"
        "To: erin@example.test\n"
        "Subject: Verify your account\n"
        "Message-ID: <inner-1@evil.test>\n"
        "In-Reply-To: <inner-0@evil.test>\n"
        "Content-Type: text/plain\n"
        "\n"
        "Click here to verify.\n"
        "--fwd--\n"
    ).encode()


def _q(text: str) -> str:
    out = []
    for byte in text.encode():
        ch = chr(byte)
        if (ch.isascii() and ch.isalnum()) or ch in "!*+-/":
            out.append(ch)
        elif ch == " ":
            out.append("_")
        else:
            out.append(f"={byte:02X}")
    return "".join(out)


def _qp(text: str) -> str:
    import quopri

    return quopri.encodestring(text.encode()).decode()
