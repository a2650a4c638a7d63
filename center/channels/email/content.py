"""What an inbound message is stored as: the comment (the reply without its quoted
history and attribution line) as the message body, and the meta the ticket view shows
beside it (the sanitised HTML, the full text, the headers that matter)."""

from __future__ import annotations

from typing import Any

from center.channels.email.parse import ParsedEmail
from center.channels.email.quotes import cut_html, cut_text
from center.channels.email.sanitize import html_to_text, preview, sanitize_html


def message_content(mail: ParsedEmail, *, limit: int) -> tuple[str, dict[str, Any]]:
    """(the stored comment, the message meta): the reply without its quoted history;
    the full text and the sanitised HTML kept beside it (the console shows ``html``)."""
    full_text = mail.text or (html_to_text(mail.html) if mail.html else "")
    if mail.text:
        comment = cut_text(mail.text)
    elif mail.html:
        comment = html_to_text(cut_html(mail.html))
    else:
        comment = ""
    meta = {
        "message_id_header": mail.message_id,
        "from": mail.from_.addr if mail.from_ else None,
        "from_name": mail.from_.name if mail.from_ else "",
        "to": [a.addr for a in mail.to],
        "cc": [a.addr for a in mail.cc],
        "subject": mail.subject[:998],
        "date": mail.date.isoformat(),
        "date_missing": mail.date_missing,
        "in_reply_to": mail.in_reply_to[:20],
        "references": mail.references[-20:],
        "text_full": full_text[:limit],
        "html": sanitize_html(mail.html)[:limit] if mail.html else None,
        "html_reply": sanitize_html(cut_html(mail.html))[:limit] if mail.html else None,
        "preview": preview(comment or full_text),
        "quote_cut": comment != full_text.strip(),
    }
    return comment[:limit] or "(no text)", meta
