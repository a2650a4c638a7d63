"""The /api/kb REST API over real HTTP, logged in through /api/login."""

from __future__ import annotations

import aiohttp
import pytest

from tests.knowledge_base.conftest import KbServer

ARTICLE = {
    "slug": "printer-setup",
    "title": "Setting up the label printer",
    "body_md": "Plug in the **printer**. <script>steal()</script>",
    "category": "troubleshooting",
    "tags": ["printer"],
}


async def test_crud_publish_and_revision_history(kb_server: KbServer) -> None:
    api, url = kb_server.admin, f"{kb_server.url}/api/kb"
    async with api.post(f"{url}/articles", json=ARTICLE) as r:
        created = await r.json()
        assert r.status == 201 and created["status"] == "draft"
        assert "<strong>printer</strong>" in created["html"] and "script" not in created["html"]
    article = f"{url}/articles/{created['id']}"
    async with api.patch(article, json={"title": "Label printer setup"}) as r:
        assert (await r.json())["result"] == "updated"
    async with api.post(f"{article}/publish") as r:
        assert (await r.json())["status"] == "published"
    async with api.get(f"{article}/revisions") as r:
        revisions = await r.json()
    assert [rev["action"] for rev in revisions] == ["created", "updated", "updated"]
    assert all(rev["author_id"] is not None for rev in revisions)
    assert revisions[1]["snapshot"]["title"] == "Label printer setup"
    async with kb_server.anonymous.get(f"{kb_server.url}/help/articles/printer-setup") as r:
        assert r.status == 200


async def test_validation_and_auth(kb_server: KbServer) -> None:
    url = f"{kb_server.url}/api/kb"
    async with kb_server.anonymous.post(f"{url}/articles", json=ARTICLE) as r:
        assert r.status == 401
    async with kb_server.admin.post(f"{url}/articles", json={"slug": "x"}) as r:
        assert r.status == 400 and "title" in (await r.json())["error"]
    async with kb_server.admin.get(f"{url}/articles/abc") as r:
        assert r.status == 404


@pytest.mark.parametrize("query", ['"foo AND (bar', "NEAR(", "*", "-", "", "x" * 2_000])
async def test_search_never_500s(kb_server: KbServer, query: str) -> None:
    async with kb_server.admin.get(f"{kb_server.url}/api/kb/search", params={"q": query}) as r:
        assert r.status in (200, 400)
        body = await r.json()
        if r.status == 400:
            assert body["error"]


async def test_search_suggest_answer_and_reports(kb_server: KbServer) -> None:
    api, url = kb_server.admin, f"{kb_server.url}/api/kb"
    async with api.get(f"{url}/search", params={"q": "pasword reset"}) as r:
        assert (await r.json())[0]["slug"] == "resetting-your-password"
    async with api.get(f"{url}/search", params={"q": "xylophone"}) as r:
        assert await r.json() == []
    async with api.post(f"{url}/suggest", json={"text": "my parcel tracking shows delivered"}) as r:
        assert r.status == 200 and len(await r.json()) <= 3
    async with api.get(f"{url}/answer", params={"q": "how do I cancel my subscription"}) as r:
        assert (await r.json())["title"] == "Cancelling your subscription"
    async with api.get(f"{url}/reports") as r:
        report = await r.json()
    assert {"query": "xylophone", "count": 1} in report["no_result_searches"]
    assert report["deflection"] == {"deflected": 0, "chats": 0, "rate": 0.0}


async def test_attachment_upload_size_limit_and_download(kb_server: KbServer) -> None:
    api, url = kb_server.admin, f"{kb_server.url}/api/kb/articles"
    async with api.get(url) as r:
        first = (await r.json())[0]["id"]
    form = aiohttp.FormData()
    form.add_field("file", b"\x89PNG fake", filename="shot.png", content_type="image/png")
    async with api.post(f"{url}/{first}/attachments", data=form) as r:
        assert r.status == 201
        link = (await r.json())["url"]
    async with kb_server.anonymous.get(f"{kb_server.url}{link}") as r:
        assert r.content_type == "image/png" and await r.read() == b"\x89PNG fake"
    big = aiohttp.FormData()
    big.add_field("file", b"x" * (6 * 1024 * 1024), filename="big.bin")
    async with api.post(f"{url}/{first}/attachments", data=big) as r:
        assert r.status == 413
