"""The public self-service portal (/help): server-rendered HTML, works without JavaScript.

Every value from the database or the request is escaped with html.escape; article bodies
are Markdown rendered and sanitised by render.to_html.
"""

from __future__ import annotations

from html import escape
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError
from sqlalchemy import select, update

from center.appkeys import DB
from center.knowledge_base import render
from center.knowledge_base.models import PUBLISHED, Article, Category, Feedback
from center.knowledge_base.search import BadQuery, search
from center.payloads import Locale, Payload, SearchQuery, clean, describe

routes = web.RouteTableDef()
M = TypeVar("M", bound=BaseModel)
MAX_SLUG_CHARS = 200  # the longest slug a row holds (categories: 120)


class ArticleQuery(Payload):
    locale: Locale = "en"


_STYLE = """body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;
line-height:1.5}mark{background:#ffe58a}form.search{margin:1rem 0}input[type=search]{width:70%}
.hit{margin:1rem 0}.meta{color:#666;font-size:.9em}"""


def _page(title: str, body: str, status: int = 200) -> web.Response:
    search_box = (
        '<form class="search" action="/help/search" method="get" role="search">'
        '<input type="search" name="q" aria-label="Search help articles" maxlength="500">'
        " <button>Search</button></form>"
    )
    doc = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}"
        f"</title><meta name=viewport content='width=device-width'>"
        "<link rel=stylesheet href='/help/portal.css'>"
        f"</head><body><p><a href='/help'>Help centre</a></p>{search_box}{body}</body></html>"
    )
    return web.Response(text=doc, content_type="text/html", status=status)


@routes.get("/portal.css")
async def stylesheet(_request: web.Request) -> web.Response:
    # A file, not a <style> element: the Content-Security-Policy allows no inline style.
    return web.Response(
        text=_STYLE, content_type="text/css", headers={"Cache-Control": "max-age=3600"}
    )


def _params(request: web.Request, model: type[M]) -> M:
    """The query string as ``model``, or the portal's own 400 page naming the parameter."""
    try:
        return model.model_validate({k: request.query[k] for k in request.query})
    except ValidationError as exc:
        where, _kind, message = describe(exc)
        page = _page(
            "Bad request", f"<h1>Bad request</h1><p>{escape(where)}: {escape(message)}</p>"
        )
        raise web.HTTPBadRequest(text=page.text, content_type="text/html") from None


def _slug(request: web.Request) -> str | None:
    """The path's slug, or None when no row can have it (too long, NUL, surrogates)."""
    slug = request.match_info["slug"]
    try:
        return clean(slug) if len(slug) <= MAX_SLUG_CHARS else None
    except ValueError:
        return None


def _links(articles: list[Article]) -> str:
    items = "".join(
        f"<li><a href='/help/articles/{escape(a.slug)}'>{escape(a.title)}</a></li>"
        for a in articles
    )
    return f"<ul>{items}</ul>"


@routes.get("")
@routes.get("/")
async def home(request: web.Request) -> web.Response:
    async with request.config_dict[DB].read() as session:
        categories = list(await session.scalars(select(Category).order_by(Category.name)))
    items = "".join(
        f"<li><a href='/help/categories/{escape(c.slug)}'>{escape(c.name)}</a></li>"
        for c in categories
    )
    return _page("Help centre", f"<h1>How can we help?</h1><ul>{items}</ul>")


@routes.get("/categories/{slug}")
async def category(request: web.Request) -> web.Response:
    slug = _slug(request)
    async with request.config_dict[DB].read() as session:
        found = (
            None
            if slug is None
            else await session.scalar(select(Category).where(Category.slug == slug))
        )
        if found is None:
            return _page("Not found", "<h1>No such category</h1>", status=404)
        articles = list(
            await session.scalars(
                select(Article)
                .where(Article.category_id == found.id, Article.status == PUBLISHED)
                .order_by(Article.title)
            )
        )
    return _page(found.name, f"<h1>{escape(found.name)}</h1>{_links(articles)}")


async def _published(request: web.Request) -> Article:
    locale = _params(request, ArticleQuery).locale
    if (slug := _slug(request)) is None:
        raise web.HTTPNotFound(text="no such article")
    async with request.config_dict[DB].read() as session:
        article = await session.scalar(
            select(Article).where(
                Article.slug == slug,
                Article.locale == locale,
                Article.status == PUBLISHED,
            )
        )
    if article is None:
        raise web.HTTPNotFound(text="no such article")
    return article


@routes.get("/articles/{slug}")
async def article(request: web.Request) -> web.Response:
    try:
        found = await _published(request)
    except web.HTTPNotFound:
        return _page("Not found", "<h1>No such article</h1>", status=404)
    async with request.config_dict[DB].transaction() as session:
        # An atomic increment: concurrent readers never lose a view.
        await session.execute(
            update(Article).where(Article.id == found.id).values(views=Article.views + 1)
        )
    thanks = (
        "<p><strong>Thanks for your feedback!</strong></p>" if "thanks" in request.query else ""
    )
    feedback = (
        f"{thanks}<form method='post' action='/help/articles/{escape(found.slug)}/feedback'>"
        "Was this helpful? <button name='helpful' value='yes'>Yes</button> "
        "<button name='helpful' value='no'>No</button></form>"
    )
    body = f"<article><h1>{escape(found.title)}</h1>{render.to_html(found.body_md)}</article>"
    return _page(found.title, body + feedback)


@routes.post("/articles/{slug}/feedback")
async def feedback(request: web.Request) -> web.Response:
    form = await request.post()
    vote = form.get("helpful")
    if vote not in ("yes", "no"):
        return _page("Bad request", "<h1>Choose yes or no</h1>", status=400)
    try:
        found = await _published(request)
    except web.HTTPNotFound:
        return _page("Not found", "<h1>No such article</h1>", status=404)
    async with request.config_dict[DB].transaction() as session:
        session.add(Feedback(article_id=found.id, helpful=vote == "yes"))
    # Post/redirect/get, so a reload does not vote twice.
    raise web.HTTPSeeOther(f"/help/articles/{found.slug}?thanks=1")


@routes.get("/search")
async def search_page(request: web.Request) -> web.Response:
    params = _params(request, SearchQuery)
    query = params.q
    try:
        hits = await search(request.config_dict[DB], query, locale=params.locale)
    except BadQuery as exc:
        return _page("Search", f"<h1>Search</h1><p>{escape(str(exc))}</p>", status=400)
    results = (
        "".join(
            f"<div class=hit><a href='{escape(h.url)}'>{escape(h.title)}</a>"
            f"<div class=meta>{h.snippet}</div></div>"  # snippet is already escaped + <mark>
            for h in hits
        )
        or "<p>No articles matched. Try other words, or contact us.</p>"
    )
    return _page(f"Search: {query}", f"<h1>Results for “{escape(query)}”</h1>{results}")


def portal_app() -> web.Application:
    app = web.Application()
    app.add_routes(routes)
    return app
