"""Inbound HTML → HTML a console may show, and the plain text for previews and search.

nh3 (ammonia) with an allow-list: no script, style, iframe, form, svg, no event handlers,
no ``style`` attribute (the consoles' CSP forbids it anyway), only http(s)/mailto/cid
links. Remote images are not loaded by default: their ``src`` becomes ``data-remote-src``
(the console offers to load them), so opening a mail tells no tracker it was read.
Header text (display names, subjects) is never HTML: ``escape_header`` when it is put in
markup; the JSON carries it as text for ``textContent``.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from urllib.parse import unquote

import nh3

from center.channels.email.parse import clean_text

TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup",
    "dd", "del", "div", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
    "img", "ins", "kbd", "li", "ol", "p", "pre", "q", "s", "small", "span", "strike",
    "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "ol": {"start"},
}
SCHEMES = {"http", "https", "mailto", "cid"}
# Removed with everything inside them (the rest of the unknown tags keep their text).
DROP_WITH_CONTENT = {"script", "style", "title", "head", "template", "noscript", "textarea"}

# nh3's output is serialised by html5ever: attribute values double-quoted, '"' escaped.
_IMG = re.compile(r"<img((?:\s+[a-zA-Z-]+(?:=\"[^\"]*\")?)*)\s*/?>")
_SRC = re.compile(r'(\s)src="((?:https?:)?//[^"]*)"', re.IGNORECASE)


def _attr_filter(tag: str, attr: str, value: str) -> str | None:
    if tag == "img" and attr == "src":
        low = value.strip().lower()
        if not (low.startswith(("http:", "https:", "//", "cid:"))):
            return None  # data:, javascript:, relative paths: nothing to load
    return value


def sanitize_html(source: str, *, load_remote_images: bool = False) -> str:
    cleaned = nh3.clean(
        source,
        tags=TAGS,
        clean_content_tags=DROP_WITH_CONTENT,
        attributes=ATTRIBUTES,
        url_schemes=SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
        attribute_filter=_attr_filter,
    )
    if not load_remote_images:
        cleaned = _IMG.sub(_park_remote_src, cleaned)
    return cleaned


_CID_SRC = re.compile(r'(<img\b[^>]*?\s)src="cid:([^"]*)"', re.IGNORECASE)


def inline_images(cleaned: str, urls: dict[str, str]) -> str:
    """In sanitised HTML, ``<img src="cid:X">`` → the URL of the part whose Content-ID is
    X (RFC 2392: the cid URL is the Content-ID, percent-encoded); unknown ones kept."""

    def swap(match: re.Match[str]) -> str:
        url = urls.get(unquote(match.group(2)).strip("<>"))
        return match.group(0) if url is None else f'{match.group(1)}src="{url}"'

    return _CID_SRC.sub(swap, cleaned)


def _park_remote_src(match: re.Match[str]) -> str:
    attrs = _SRC.sub(r'\1data-remote-src="\2"', match.group(1))
    return f"<img{attrs}>"


def escape_header(value: str) -> str:
    return html.escape(clean_text(value), quote=True)


class _Text(HTMLParser):
    BLOCK = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
             "pre", "table", "hr"}  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROP_WITH_CONTENT:
            self.skip += 1
        elif tag in self.BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in DROP_WITH_CONTENT:
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCK and tag != "br":
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(data)


def html_to_text(source: str) -> str:
    """Plain text of (sanitised) HTML, for previews, search and mails without a text part."""
    parser = _Text()
    parser.feed(sanitize_html(source))
    parser.close()
    text = "".join(parser.out)
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return clean_text(re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip())


def preview(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
