"""The REST boundary on the real server: odd input is a JSON 4xx, never a 500, a hang or a
silent coercion; what no handler expected is a JSON 500 without a trace, logged."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text

from center.records.enums import Role
from center.records.queues import QueueRow
from tests.rest import Http, strict_json
from tests.support import Server

ARTICLE = {"slug": "printer", "title": "Printer setup", "body_md": "Plug it in."}


@pytest.fixture
async def admin(server: Server) -> AsyncIterator[Http]:
    http = await Http(server).login(server, "root", Role.ADMIN)
    yield http
    await http.close()


@pytest.fixture
async def anonymous(server: Server) -> AsyncIterator[Http]:
    http = Http(server)
    yield http
    await http.close()


def _refused(answer: Any, status: int = 400) -> dict[str, Any]:
    assert answer.status == status, (answer.status, answer.text[:300])
    body = answer.json
    assert body["error"], body
    return body


async def test_large_bodies_are_read_whole(admin: Http) -> None:
    # A body arrives in many chunks; reading "up to n bytes" once got only the first ones.
    for i, size in enumerate([260_000, 260_000, 260_000, 900_000, 900_000, 900_000]):
        body = {**ARTICLE, "slug": f"long-{i}", "body_md": "word " * (size // 5)}
        answer = await admin.call("POST", "/api/kb/articles", body)
        assert answer.status == 201, (size, answer.text[:200])
    too_big = {**ARTICLE, "body_md": "x" * 1_100_000}
    assert (await admin.call("POST", "/api/kb/articles", too_big)).status == 413


@pytest.mark.parametrize(
    "raw",
    [
        '{"sl_seconds": NaN}',
        '{"sl_seconds": Infinity}',
        '{"sl_seconds": -Infinity}',
        '{"sl_seconds": 1e400}',  # valid JSON that becomes infinite as a float
    ],
)
async def test_nan_and_infinity_are_not_json(server: Server, admin: Http, raw: str) -> None:
    _refused(await admin.call("PUT", "/api/queues/default", raw=raw))
    queue = (await admin.call("GET", "/api/queues/default")).json["queue"]
    assert queue["sl_seconds"] == 20.0
    assert (await admin.call("GET", "/api/supervisor/stats")).status == 200


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sl_seconds", 1e-300),
        ("sl_seconds", 0.5),
        pytest.param("sl_seconds", 10**400, id="sl_seconds-int-float-cannot-take"),
        ("sl_seconds", 1e30),
        ("aging_s", 1e-300),
        ("escalation", [{"after_s": 1e30}]),
    ],
)
async def test_numbers_out_of_range_are_refused(admin: Http, field: str, value: Any) -> None:
    body = _refused(await admin.call("PUT", "/api/queues/default", {field: value}))
    assert body["field"].startswith(field), body


@pytest.mark.skipif(
    "postgresql" in __import__("os").environ.get("CENTER_DATABASE_URL", ""),
    reason="PostgreSQL's JSON type never stored NaN (it answered 500 instead)",
)
async def test_a_stored_nan_is_never_sent(server: Server, admin: Http) -> None:
    # What the API accepted on SQLite before the fix, and a restart brought back.
    async with server.db.transaction() as s:
        s.add(QueueRow(name="default", definition={"sl_seconds": float("nan")}, removed=False))
    answer = await admin.call("GET", "/api/queues")
    queues = strict_json(answer.text)["queues"]  # (raises on a bare NaN)
    assert [q["sl_seconds"] for q in queues] == [20.0]
    assert (await admin.call("GET", "/api/supervisor/stats")).status == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/customers/²",  # a digit to str.isdigit, not to int()
        "/api/customers/٣",  # a digit to int() too, and to no database
        "/api/customers/0",
        "/api/customers/99999999999999999999",
        "/api/customers/9223372036854775808/timeline",  # 2^63: past BIGINT
        "/api/interactions/9223372036854775808",
        "/api/kb/articles/99999999999999999999999999",
        "/api/kb/attachments/²",
    ],
)
async def test_ids_no_row_can_have_are_404(admin: Http, path: str) -> None:
    _refused(await admin.call("GET", path), 404)


async def test_deep_nesting_is_refused(admin: Http) -> None:
    for depth in (40, 3_000, 100_000):
        raw = '{"text": ' + "[" * depth + "]" * depth + "}"
        _refused(await admin.call("POST", "/api/kb/suggest", raw=raw))


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/login", {"username": "root\x00", "password": "x"}),
        ("POST", "/api/login", {"username": "\ud800", "password": "x"}),
        ("POST", "/api/kb/articles", {**ARTICLE, "title": "Printer\x00"}),
        ("POST", "/api/kb/articles", {**ARTICLE, "body_md": "a \udfff b"}),
        ("POST", "/api/kb/suggest", {"text": "refund\x00"}),
        ("GET", "/api/kb/search?q=refund%00", None),
        ("GET", "/api/kb/search?q=refund&locale=en%00", None),
        ("GET", "/api/kb/answer?q=%00", None),
        ("GET", "/help/search?q=refund%00", None),
        ("GET", "/api/supervisor/history?queue=a%00", None),
        ("GET", "/api/customers/1/timeline?limit=99999999999999999999999", None),
        ("DELETE", "/api/queues/default?move_to=%00", None),
    ],
)
async def test_text_no_store_takes_is_refused(
    admin: Http, method: str, path: str, body: Any
) -> None:
    answer = await admin.call(method, path, body)
    assert answer.status == 400, (answer.status, answer.text[:300])
    if not path.startswith("/help"):  # (the portal answers with its own page)
        assert answer.json["error"]


@pytest.mark.parametrize(
    "change",
    [
        {"locale": "x" * 17},
        {"locale": 5},
        {"category": "c" * 121},
        {"category": {"slug": "billing"}},
        {"title": {"text": "Printer"}},
        {"body_md": ["Plug it in."]},
        {"answer": 42},
        {"tags": [1, 2]},
        {"tags": "printer"},
        {"status": ["published"]},
    ],
)
async def test_kb_fields_must_be_text_within_their_columns(
    admin: Http, change: dict[str, Any]
) -> None:
    field = next(iter(change))
    body = _refused(await admin.call("POST", "/api/kb/articles", {**ARTICLE, **change}))
    assert field in body["error"], body
    assert (await admin.call("GET", "/api/kb/articles")).json == []  # nothing stored


async def test_unexpected_errors_are_json_without_a_trace_and_logged(
    server: Server, admin: Http, caplog: pytest.LogCaptureFixture
) -> None:
    # A database the handler did not expect: the table is gone.
    async with server.db.transaction() as s:
        await s.execute(text("ALTER TABLE kb_articles RENAME TO kb_articles_gone"))
    with caplog.at_level(logging.ERROR, logger="center.errors"):
        answer = await admin.call("GET", "/api/kb/articles")
    assert answer.status == 500
    assert answer.json == {"error": "internal error"}
    assert "Traceback" not in answer.text and "kb_articles" not in answer.text
    assert any(r.exc_info for r in caplog.records if r.name == "center.errors")
    async with server.db.transaction() as s:
        await s.execute(text("ALTER TABLE kb_articles_gone RENAME TO kb_articles"))


async def test_aiohttp_errors_are_json_too(anonymous: Http) -> None:
    assert _refused(await anonymous.call("GET", "/no/such/page"), 404) == {"error": "Not Found"}
    answer = await anonymous.call("DELETE", "/api/me")
    _refused(answer, 405)
    assert (await anonymous.call("GET", "/healthz")).json == {"ok": True}
