"""The public /help portal over real HTTP: pages, search, drafts hidden, feedback form."""

from __future__ import annotations

from sqlalchemy import select

from center.knowledge_base.articles import Fields, save_one
from center.knowledge_base.models import Article, Feedback
from tests.knowledge_base.conftest import KbServer


async def test_home_category_and_article_pages(kb_server: KbServer) -> None:
    web = kb_server.anonymous
    async with web.get(f"{kb_server.url}/help/") as r:
        assert r.status == 200 and "Billing" in await r.text()
    async with web.get(f"{kb_server.url}/help/categories/billing") as r:
        assert "Cancelling your subscription" in await r.text()
    async with web.get(f"{kb_server.url}/help/articles/resetting-your-password") as r:
        page = await r.text()
        assert r.status == 200 and "<h1>Resetting your password</h1>" in page
        assert "<strong>Forgot password?</strong>" in page and "Was this helpful?" in page
    async with web.get(f"{kb_server.url}/help/articles/nope") as r:
        assert r.status == 404


async def test_search_page_marks_matches_and_rejects_bad_queries(kb_server: KbServer) -> None:
    url = f"{kb_server.url}/help/search"
    async with kb_server.anonymous.get(url, params={"q": "how do I reset my password?"}) as r:
        page = await r.text()
        assert r.status == 200 and "/help/articles/resetting-your-password" in page
        assert "<mark>" in page
    async with kb_server.anonymous.get(url, params={"q": "<script>alert(1)</script>"}) as r:
        assert "<script>alert" not in await r.text()
    for bad in ["", "*", "x" * 10_000]:
        async with kb_server.anonymous.get(url, params={"q": bad}) as r:
            assert r.status == 400


async def test_drafts_and_scripts_never_reach_the_portal(kb_server: KbServer) -> None:
    body = "Hello <script>alert('x')</script> [link](javascript:alert(1)) <img src=x onerror=y>"
    await save_one(kb_server.db, Fields(slug="draft-one", title="Draft one", body_md=body), None)
    async with kb_server.anonymous.get(f"{kb_server.url}/help/articles/draft-one") as r:
        assert r.status == 404
    await save_one(
        kb_server.db,
        Fields(slug="draft-one", title="Draft one", body_md=body, status="published"),
        None,
    )
    async with kb_server.anonymous.get(f"{kb_server.url}/help/articles/draft-one") as r:
        page = await r.text()
        assert r.status == 200 and "Hello" in page
        assert "<script>alert" not in page and 'href="javascript' not in page
        assert "onerror" not in page


async def test_feedback_form_without_js_is_stored(kb_server: KbServer) -> None:
    url = f"{kb_server.url}/help/articles/return-policy/feedback"
    async with kb_server.anonymous.post(url, data={"helpful": "yes"}) as r:
        assert r.status == 200 and "Thanks for your feedback" in await r.text()
    async with kb_server.anonymous.post(url, data={"helpful": "maybe"}) as r:
        assert r.status == 400
    async with kb_server.db.read() as session:
        article = await session.scalar(select(Article).where(Article.slug == "return-policy"))
        votes = list(await session.scalars(select(Feedback)))
    assert article is not None and article.views == 1
    assert [(v.article_id, v.helpful) for v in votes] == [(article.id, True)]
