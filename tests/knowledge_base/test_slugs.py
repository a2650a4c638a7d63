"""Slugs over the REST API: validated, renamed by PATCH, unique per locale."""

from __future__ import annotations

import pytest

from tests.knowledge_base.conftest import KbServer


async def _create(kb_server: KbServer, slug: str) -> dict:
    body = {"slug": slug, "title": f"About {slug}", "body_md": "Text."}
    async with kb_server.admin.post(f"{kb_server.url}/api/kb/articles", json=body) as r:
        assert r.status == 201, await r.text()
        return await r.json()


@pytest.mark.parametrize("slug", ["with spaces", "Upper-Case", "trailing-", "a--b", "ünï", "a/b"])
async def test_a_bad_slug_is_refused_naming_it(kb_server: KbServer, slug: str) -> None:
    body = {"slug": slug, "title": "Bad slug"}
    async with kb_server.admin.post(f"{kb_server.url}/api/kb/articles", json=body) as r:
        assert r.status == 400
        assert "slug" in (await r.json())["error"]
    article = await _create(kb_server, "good-slug")
    url = f"{kb_server.url}/api/kb/articles/{article['id']}"
    async with kb_server.admin.patch(url, json={"slug": slug}) as r:
        assert r.status == 400
        assert "slug" in (await r.json())["error"]
    async with kb_server.admin.get(url) as r:
        assert (await r.json())["slug"] == "good-slug"


async def test_patch_renames_the_article(kb_server: KbServer) -> None:
    article = await _create(kb_server, "old-name")
    url = f"{kb_server.url}/api/kb/articles/{article['id']}"
    async with kb_server.admin.patch(url, json={"slug": "new-name"}) as r:
        assert r.status == 200
        saved = await r.json()
    assert (saved["id"], saved["slug"], saved["result"]) == (article["id"], "new-name", "updated")
    async with kb_server.admin.get(url) as r:
        assert (await r.json())["slug"] == "new-name"
    async with kb_server.admin.get(f"{url}/revisions") as r:
        assert [rev["snapshot"]["slug"] for rev in await r.json()] == ["old-name", "new-name"]
    # Published under the new name in the help center; the old one is gone.
    async with kb_server.admin.post(f"{url}/publish") as r:
        assert r.status == 200
    async with kb_server.anonymous.get(f"{kb_server.url}/help/articles/new-name") as r:
        assert r.status == 200
    async with kb_server.anonymous.get(f"{kb_server.url}/help/articles/old-name") as r:
        assert r.status == 404


async def test_a_taken_slug_is_a_conflict(kb_server: KbServer) -> None:
    first = await _create(kb_server, "first-one")
    second = await _create(kb_server, "second-one")
    url = f"{kb_server.url}/api/kb/articles/{second['id']}"
    async with kb_server.admin.patch(url, json={"slug": "first-one", "title": "Changed"}) as r:
        assert r.status == 409
        assert "first-one" in (await r.json())["error"]
    async with kb_server.admin.get(url) as r:
        kept = await r.json()
    assert (kept["slug"], kept["title"]) == ("second-one", "About second-one")
    async with kb_server.admin.get(f"{kb_server.url}/api/kb/articles/{first['id']}") as r:
        assert (await r.json())["slug"] == "first-one"
