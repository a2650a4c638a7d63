"""Inbound HTML is shown only after the allow-list, with remote images held back."""

from __future__ import annotations

from center.channels.email.quotes import cut_html, cut_text
from center.channels.email.sanitize import escape_header, html_to_text, sanitize_html


def test_active_content_is_removed() -> None:
    hostile = (
        "<p onclick='steal()'>Hi<script>alert(1)</script></p>"
        "<style>body{display:none}</style><iframe src='https://evil.test'></iframe>"
        "<form action='https://evil.test'><input name=p></form>"
        "<svg><script>alert(2)</script></svg>"
        "<a href='javascript:alert(3)'>x</a><a href='data:text/html,<b>'>y</a>"
        "<img src='data:image/png;base64,AAAA'><p style='color:red'>z</p>"
    )
    out = sanitize_html(hostile)
    for bad in ("script", "alert", "style", "iframe", "form", "input", "svg", "onclick",
                "javascript:", "data:", "display:none"):  # fmt: skip
        assert bad not in out, bad
    assert "<p>Hi</p>" in out and "<p>z</p>" in out


def test_remote_images_are_not_loaded_by_default() -> None:
    out = sanitize_html('<p>x</p><img alt="a>b" src="https://tracker.test/p.gif?u=1" width="1">')
    assert ' src="' not in out
    assert 'data-remote-src="https://tracker.test/p.gif?u=1"' in out
    assert 'src="https://tracker.test' in sanitize_html(
        '<img src="https://tracker.test/p.gif">', load_remote_images=True
    )
    # Embedded (cid:) images are ours to serve, not remote.
    assert 'src="cid:img1@x"' in sanitize_html('<img src="cid:img1@x">')


def test_links_are_kept_safe() -> None:
    out = sanitize_html('<a href="https://shop.test/o/1">order</a>')
    assert 'href="https://shop.test/o/1"' in out and "noopener" in out


def test_header_text_is_escaped() -> None:
    assert escape_header('<img src=x onerror=alert(1)> "Bob"') == (
        "&lt;img src=x onerror=alert(1)&gt; &quot;Bob&quot;"
    )


def test_text_of_html_drops_scripts_and_keeps_lines() -> None:
    text = html_to_text("<div>Line one<br>Line two</div><script>evil()</script><p>Para</p>")
    assert text.split("\n") == ["Line one", "Line two", "", "Para"] or "evil" not in text
    assert "evil" not in text and "Line one" in text and "Para" in text


def test_quote_cutting_per_client() -> None:
    assert (
        cut_text("Thanks!\n\nOn Tue, 1 Dec 2026 at 09:12, Support <s@x>\nwrote:\n> old")
        == "Thanks!"
    )
    assert cut_text("Danke\n\nAm 01.12.2026 um 16:00 schrieb Support <s@x>:\n> alt") == "Danke"
    assert cut_text("Yes\n\n-----Original Message-----\nFrom: x\n") == "Yes"
    assert cut_text("Ok\n\nFrom: Support <s@x>\nSent: Tuesday\nTo: me\n\nold") == "Ok"
    assert cut_text("Reply\n\n> quoted one\n> quoted two\n") == "Reply"
    # Inline answers between quotes are the customer's words: kept.
    assert "my answer" in cut_text("> q1\nmy answer\n> q2\nmore")
    assert cut_html('<div>new</div><div class="gmail_quote">old</div>') == "<div>new</div>"
    assert cut_html('<p>new</p><blockquote type="cite">old</blockquote>') == "<p>new</p>"
    assert cut_html('<p>new</p><div id="divRplyFwdMsg">old</div>') == "<p>new</p>"
    assert cut_html('<p>new</p><div class="moz-cite-prefix">On …</div>') == "<p>new</p>"
