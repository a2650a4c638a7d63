"""Cut the quoted history and the client's attribution line from a reply.

The stored comment is what the customer wrote this time; the full original (text, HTML
and the raw message) is kept beside it. Text: the first attribution line ("On … wrote:" in
the languages clients use, Outlook's "-----Original Message-----" or its From/Sent block),
else a trailing run of "> " lines. HTML: everything from the first quote container the big
clients write (Gmail's ``gmail_quote``, Apple Mail's and Thunderbird's
``blockquote type=cite``, Outlook's ``divRplyFwdMsg`` / ``appendonsend``); nh3 closes the
tags the cut leaves open.
"""

from __future__ import annotations

import re

_ATTRIBUTION = re.compile(
    r"^\s*(?:"
    r"On\s.{1,300}?\bwrote:"  # Gmail, Apple Mail, Thunderbird (en)
    r"|Am\s.{1,300}?\bschrieb.{0,200}?:"  # de
    r"|Le\s.{1,300}?\ba\s+écrit\s*:"  # fr
    r"|El\s.{1,300}?\bescribió:"  # es
    r"|Op\s.{1,300}?\bschreef.{0,100}?:"  # nl
    r"|-{2,}\s*Original Message\s*-{2,}"  # Outlook (older), many webmails
    r"|-{2,}\s*Ursprüngliche Nachricht\s*-{2,}"
    r"|_{10,}\s*$"  # Outlook's rule above its header block
    r")\s*$",
    re.IGNORECASE | re.DOTALL,
)
# Outlook's header block without the rule: From: / Sent: (or Date:) / To: / Subject:.
_OUTLOOK_BLOCK = re.compile(
    r"^\s*\**(?:From|Von|De)\s*:\**.*\n\s*\**(?:Sent|Date|Gesendet|Envoyé)\s*:\**",
    re.IGNORECASE,
)
_HTML_QUOTE = re.compile(
    r"<div[^>]*class=\"[^\"]*\bgmail_(?:quote|attr)\b"
    r"|<blockquote[^>]*type=\"?cite"
    r"|<div[^>]*class=\"[^\"]*\bmoz-cite-prefix\b"
    r"|<div[^>]*id=\"?(?:divRplyFwdMsg|appendonsend)\b"
    r"|<hr[^>]*id=\"?stopSpelling",
    re.IGNORECASE,
)


def cut_text(text: str) -> str:
    lines = text.split("\n")
    for n, line in enumerate(lines):
        # An attribution may be wrapped over two lines ("On Tue, ... Ann <a@b>\nwrote:").
        pair = line + " " + lines[n + 1] if n + 1 < len(lines) else line
        if _ATTRIBUTION.match(line) or (
            line.strip().lower().startswith(("on ", "am ", "le "))
            and _ATTRIBUTION.match(pair)
            and not _ATTRIBUTION.match(lines[n + 1] if n + 1 < len(lines) else "")
        ):
            return _trim("\n".join(lines[:n]))
        if _OUTLOOK_BLOCK.match("\n".join(lines[n : n + 2])):
            return _trim("\n".join(lines[:n]))
    # No attribution: drop a trailing block of quoted lines (and blank lines among them).
    end = len(lines)
    while end > 0 and (lines[end - 1].startswith(">") or not lines[end - 1].strip()):
        end -= 1
    if end < len(lines) and any(line.startswith(">") for line in lines[end:]):
        return _trim("\n".join(lines[:end]))
    return _trim(text)


def cut_html(source: str) -> str:
    match = _HTML_QUOTE.search(source)
    return source[: match.start()] if match else source


def _trim(text: str) -> str:
    return text.strip("\n").rstrip()
