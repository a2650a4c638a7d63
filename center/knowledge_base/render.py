"""Markdown → sanitised HTML (markdown-it-py + nh3) and → plain text for the search index."""

from __future__ import annotations

import html
import re

import nh3
from markdown_it import MarkdownIt

_TAGS = {
    "a",
    "p",
    "ul",
    "ol",
    "li",
    "strong",
    "em",
    "code",
    "pre",
    "blockquote",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "br",
    "img",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
_ATTRS = {"a": {"href", "title"}, "img": {"src", "alt", "title"}}


def _markdown() -> MarkdownIt:
    # Raw HTML in articles is allowed through the parser but nh3 keeps only the safe subset.
    return MarkdownIt("commonmark", {"html": True}).enable("table")


def to_html(markdown: str) -> str:
    raw = _markdown().render(markdown)
    return nh3.clean(raw, tags=_TAGS, attributes=_ATTRS, url_schemes={"http", "https", "mailto"})


def to_text(markdown: str) -> str:
    """Visible text only (scripts dropped), whitespace collapsed: what search indexes."""
    cleaned = nh3.clean(_markdown().render(markdown), tags=set(), attributes={})
    return re.sub(r"\s+", " ", html.unescape(cleaned)).strip()
