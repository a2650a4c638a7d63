"""Attachments are as public as their article: a draft's files only for signed-in staff."""

from __future__ import annotations

import aiohttp

from tests.knowledge_base.conftest import KbServer


async def _upload(kb_server: KbServer, article_id: int) -> str:
    form = aiohttp.FormData()
    form.add_field("file", b"secret plan", filename="plan.pdf", content_type="application/pdf")
    url = f"{kb_server.url}/api/kb/articles/{article_id}/attachments"
    async with kb_server.admin.post(url, data=form) as r:
        assert r.status == 201
        return f"{kb_server.url}{(await r.json())['url']}"


async def test_a_drafts_attachment_is_hidden_until_published(kb_server: KbServer) -> None:
    draft = {"slug": "upcoming-launch", "title": "Our launch", "body_md": "Soon."}
    async with kb_server.admin.post(f"{kb_server.url}/api/kb/articles", json=draft) as r:
        assert r.status == 201
        article = await r.json()
    assert article["status"] == "draft"
    link = await _upload(kb_server, article["id"])

    async with kb_server.anonymous.get(link) as r:
        assert r.status == 404  # the same answer as for an id that does not exist
        assert b"secret plan" not in await r.read()
    async with kb_server.admin.get(link) as r:  # staff preview the draft's files
        assert r.status == 200 and await r.read() == b"secret plan"

    publish = f"{kb_server.url}/api/kb/articles/{article['id']}/publish"
    async with kb_server.admin.post(publish) as r:
        assert r.status == 200
    async with kb_server.anonymous.get(link) as r:
        assert r.status == 200 and await r.read() == b"secret plan"

    # Unpublished again: hidden again.
    patch = f"{kb_server.url}/api/kb/articles/{article['id']}"
    async with kb_server.admin.patch(patch, json={"status": "draft"}) as r:
        assert r.status == 200
    async with kb_server.anonymous.get(link) as r:
        assert r.status == 404
