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


async def test_every_page_searches_keeps_the_query_and_leads_to_a_chat(kb_server: KbServer) -> None:
    web, url = kb_server.anonymous, kb_server.url
    async with web.get(f"{url}/help/search", params={"q": "my parcel never came"}) as r:
        page = await r.text()
    assert r.status == 200 and "value='my parcel never came'" in page
    assert "/help/articles/package-lost" in page
    assert "href='/chat?q=my+parcel+never+came'" in page  # "Contact us" carries the search
    assert "<nav class=crumbs" in page and "/help/portal.js" in page
    async with web.get(f"{url}/help/search", params={"q": "zzqxv wwqpt"}) as r:
        assert "ask us in a chat" in await r.text()
    async with web.get(f"{url}/help/articles/resetting-your-password") as r:
        page = await r.text()
    # Breadcrumbs: help centre > category > article; related articles close in meaning.
    assert "<a href='/help/categories/accounts'>Accounts</a>" in page
    assert "Related articles" in page and "/help/articles/account-locked" in page
    assert "form class=search" in page and "role=search" in page
    async with web.get(f"{url}/help/suggest", params={"q": "refund"}) as r:
        suggestions = await r.json()
    assert r.status == 200 and 1 <= len(suggestions) <= 5
    assert {"title", "url"} == set(suggestions[0]) and suggestions[0]["url"].startswith("/help/")
    for odd in ["", "*", "😀", "שלום"]:
        async with web.get(f"{url}/help/suggest", params={"q": odd}) as r:
            assert r.status == 200 and isinstance(await r.json(), list)
    async with web.get(f"{url}/help/suggest", params={"q": "x" * 10_000}) as r:
        assert r.status == 400


async def test_feedback_by_script_is_thanked_in_place(kb_server: KbServer) -> None:
    url = f"{kb_server.url}/help/articles/return-policy/feedback"
    headers = {"Accept": "application/json"}
    async with kb_server.anonymous.post(url, data={"helpful": "no"}, headers=headers) as r:
        assert r.status == 200 and await r.json() == {"thanks": True}
    async with kb_server.anonymous.get(
        f"{kb_server.url}/help/articles/return-policy?thanks=1"
    ) as r:
        page = await r.text()
    assert "Thanks for your feedback!" in page and "Was this helpful?" not in page


async def test_pages_per_locale(kb_server: KbServer) -> None:
    db, web, url = kb_server.db, kb_server.anonymous, kb_server.url
    fr = Fields(
        slug="return-policy",
        locale="fr",
        title="Politique de retour",
        body_md="Vous pouvez retourner un article sous 30 jours.",
        status="published",
        category="returns",
    )
    await save_one(db, fr, None)
    async with web.get(f"{url}/help/articles/return-policy") as r:
        page = await r.text()
    assert "Also in:" in page and "href='/help/articles/return-policy?locale=fr'" in page
    async with web.get(f"{url}/help/articles/return-policy", params={"locale": "fr"}) as r:
        page = await r.text()
    assert "<html lang='fr'>" in page and "Politique de retour" in page
    assert "name=locale value='fr'" in page  # searching from here stays in French
    async with web.get(f"{url}/help", params={"locale": "fr"}) as r:
        page = await r.text()
    assert "1 articles" in page and "Language:" in page
    async with web.get(f"{url}/help/search", params={"q": "retourner", "locale": "fr"}) as r:
        assert "/help/articles/return-policy?locale=fr" in await r.text()
