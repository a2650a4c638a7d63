"""The public help centre (/help): server-rendered HTML that works without JavaScript;
portal.js adds suggestions as you type and a feedback thank-you without a reload.

Every page has the search box (the query kept in it), breadcrumbs, and "Contact us", which
opens the chat widget with the search carried over as the first message. ``?locale=``
picks the language (kept on every link); an article lists its translations.

Every value from the database or the request is escaped with html.escape; article bodies
are Markdown rendered and sanitised by render.to_html.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlencode

from aiohttp import web
from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select, update

from center.appkeys import DB
from center.knowledge_base import render
from center.knowledge_base.models import PUBLISHED, Article, Category, Feedback
from center.knowledge_base.search import BadQuery, related, search
from center.payloads import Locale, Payload, SearchQuery, clean, describe

routes = web.RouteTableDef()
M = TypeVar("M", bound=BaseModel)
MAX_SLUG_CHARS = 200  # the longest slug a row holds (categories: 120)
STATIC = Path(__file__).with_name("static")
SUGGESTIONS = 5


class ArticleQuery(Payload):
    locale: Locale = "en"


def _href(path: str, locale: str, **params: str) -> str:
    """A portal link keeping the locale (left out when it is the default)."""
    query = {k: v for k, v in params.items() if v}
    if locale != "en":
        query["locale"] = locale
    return escape(path + ("?" + urlencode(query) if query else ""))


def _page(
    title: str,
    body: str,
    *,
    status: int = 200,
    query: str = "",
    locale: str = "en",
    crumbs: list[tuple[str, str]] | None = None,
) -> web.Response:
    """A full page: header with the search box, breadcrumbs, the body, contact footer."""
    trail = [("Help centre", _href("/help", locale)), *(crumbs or [])]
    links = " <span aria-hidden=true>›</span> ".join(
        f"<a href='{href}'>{escape(name)}</a>" if href else f"<span>{escape(name)}</span>"
        for name, href in trail
    )
    hidden = f"<input type=hidden name=locale value='{escape(locale)}'>" if locale != "en" else ""
    search_box = (
        "<form class=search action='/help/search' method=get role=search>"
        f"<input type=search name=q value='{escape(query)}' aria-label='Search help articles'"
        " placeholder='Search for answers…' maxlength=500 autocomplete=off"
        f" data-locale='{escape(locale)}' aria-controls=suggestions>{hidden}"
        " <button>Search</button>"
        "<ul id=suggestions class=suggestions role=listbox hidden></ul></form>"
    )
    contact = _href("/chat", "en", q=query[:500])
    doc = (
        f"<!doctype html><html lang='{escape(locale)}'><head><meta charset=utf-8>"
        f"<title>{escape(title)} · Help centre</title>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        "<link rel=stylesheet href='/help/portal.css'>"
        "<script src='/help/portal.js' defer></script></head><body>"
        f"<header class=top><div class=wrap><a class=brand href='{_href('/help', locale)}'>"
        f"Help centre</a>{search_box}</div></header>"
        f"<main class=wrap><nav class=crumbs aria-label=Breadcrumb>{links}</nav>{body}</main>"
        "<footer class=wrap><p>Can't find what you need? "
        f"<a class=contact href='{contact}'>Contact us</a></p></footer></body></html>"
    )
    return web.Response(text=doc, content_type="text/html", status=status)


@routes.get("/portal.css")
async def stylesheet(_request: web.Request) -> web.FileResponse:
    # Files, not <style>/<script> elements: the Content-Security-Policy allows no inline ones.
    return web.FileResponse(STATIC / "portal.css", headers={"Cache-Control": "max-age=3600"})


@routes.get("/portal.js")
async def script(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "portal.js", headers={"Cache-Control": "max-age=3600"})


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


def _links(articles: list[tuple[str, str]], locale: str) -> str:
    items = "".join(
        f"<li><a href='{_href(f'/help/articles/{slug}', locale)}'>{escape(title)}</a></li>"
        for slug, title in articles
    )
    return f"<ul class=links>{items}</ul>"


@routes.get("")
@routes.get("/")
async def home(request: web.Request) -> web.Response:
    locale = _params(request, ArticleQuery).locale
    published = (Article.status == PUBLISHED) & (Article.locale == locale)
    async with request.config_dict[DB].read() as session:
        categories = list(
            await session.execute(
                select(Category.slug, Category.name, func.count(Article.id))
                .join(Article, Article.category_id == Category.id)
                .where(published)
                .group_by(Category.id, Category.slug, Category.name)
                .order_by(Category.name)
            )
        )
        popular = list(
            await session.execute(
                select(Article.slug, Article.title)
                .where(published)
                .order_by(Article.views.desc(), Article.id)
                .limit(6)
            )
        )
        locales = list(
            await session.scalars(
                select(Article.locale).where(Article.status == PUBLISHED).distinct()
            )
        )
    cards = "".join(
        f"<li><a class=card href='{_href(f'/help/categories/{slug}', locale)}'>"
        f"<strong>{escape(name)}</strong><span>{count} articles</span></a></li>"
        for slug, name, count in categories
    )
    languages = ""
    if len(locales) > 1:
        languages = (
            "<p class=languages>Language: "
            + " · ".join(
                f"<a href='{_href('/help', code)}' hreflang='{escape(code)}'>{escape(code)}</a>"
                for code in sorted(locales)
            )
            + "</p>"
        )
    body = (
        "<h1>How can we help?</h1>"
        f"<ul class=cards>{cards}</ul>"
        + (f"<h2>Popular articles</h2>{_links(popular, locale)}" if popular else "")
        + languages
    )
    return _page("Help centre", body, locale=locale, crumbs=[])


@routes.get("/categories/{slug}")
async def category(request: web.Request) -> web.Response:
    locale = _params(request, ArticleQuery).locale
    slug = _slug(request)
    async with request.config_dict[DB].read() as session:
        found = (
            None
            if slug is None
            else await session.scalar(select(Category).where(Category.slug == slug))
        )
        if found is None:
            return _page("Not found", "<h1>No such category</h1>", status=404, locale=locale)
        articles = list(
            await session.execute(
                select(Article.slug, Article.title)
                .where(
                    Article.category_id == found.id,
                    Article.status == PUBLISHED,
                    Article.locale == locale,
                )
                .order_by(Article.title)
            )
        )
    body = f"<h1>{escape(found.name)}</h1>" + (
        _links(articles, locale) if articles else "<p>No articles here yet.</p>"
    )
    return _page(found.name, body, locale=locale, crumbs=[(found.name, "")])


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
    locale = _params(request, ArticleQuery).locale
    try:
        found = await _published(request)
    except web.HTTPNotFound:
        return _page("Not found", "<h1>No such article</h1>", status=404, locale=locale)
    db = request.config_dict[DB]
    async with db.transaction() as session:
        # An atomic increment: concurrent readers never lose a view.
        await session.execute(
            update(Article).where(Article.id == found.id).values(views=Article.views + 1)
        )
    async with db.read() as session:
        cat = await session.get(Category, found.category_id) if found.category_id else None
        translations = list(
            await session.scalars(
                select(Article.locale).where(
                    Article.slug == found.slug,
                    Article.status == PUBLISHED,
                    Article.locale != found.locale,
                )
            )
        )
    near = await related(db, found.id, locale=locale)
    action = _href(f"/help/articles/{found.slug}/feedback", locale)
    if "thanks" in request.query:
        feedback = "<p class=thanks role=status>Thanks for your feedback!</p>"
    else:
        feedback = (
            f"<form class=feedback method=post action='{action}'>"
            "<span>Was this helpful?</span> <button name=helpful value=yes>Yes</button> "
            "<button name=helpful value=no>No</button></form>"
        )
    other = "".join(
        f" <a href='{_href(f'/help/articles/{found.slug}', code)}' hreflang='{escape(code)}'>"
        f"{escape(code)}</a>"
        for code in sorted(translations)
    )
    body = (
        f"<article><h1>{escape(found.title)}</h1>"
        + (f"<p class=languages>Also in:{other}</p>" if other else "")
        + f"{render.to_html(found.body_md)}</article>{feedback}"
        + (
            f"<section class=related><h2>Related articles</h2>"
            f"{_links([(h.slug, h.title) for h in near], locale)}</section>"
            if near
            else ""
        )
    )
    crumbs = [(cat.name, _href(f"/help/categories/{cat.slug}", locale))] if cat else []
    return _page(found.title, body, locale=locale, crumbs=[*crumbs, (found.title, "")])


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
    if request.headers.get("Accept", "").startswith("application/json"):
        return web.json_response({"thanks": True})  # portal.js: no reload
    # Post/redirect/get, so a reload does not vote twice.
    raise web.HTTPSeeOther(_href(f"/help/articles/{found.slug}", found.locale, thanks="1"))


@routes.get("/search")
async def search_page(request: web.Request) -> web.Response:
    params = _params(request, SearchQuery)
    query, locale = params.q, params.locale or "en"
    try:
        hits = await search(request.config_dict[DB], query, locale=locale)
    except BadQuery as exc:
        body = f"<h1>Search</h1><p>{escape(str(exc))}</p>"
        return _page("Search", body, status=400, query=query[:500], locale=locale)
    contact = _href("/chat", "en", q=query)
    results = (
        "<ol class=hits>"
        + "".join(
            f"<li><a href='{_href(h.url, locale)}'>{escape(h.title)}</a>"
            f"<p class=meta>{h.snippet}</p></li>"  # snippet is already escaped + <mark>
            for h in hits
        )
        + "</ol>"
        if hits
        else "<p>No articles matched. Try other words, or "
        f"<a href='{contact}'>ask us in a chat</a>.</p>"
    )
    body = f"<h1>Results for “{escape(query)}”</h1>{results}"
    return _page(f"Search: {query}", body, query=query, locale=locale, crumbs=[("Search", "")])


@routes.get("/suggest")
async def suggest_json(request: web.Request) -> web.Response:
    """Titles as you type (portal.js): published articles only, never logged as searches."""
    params = _params(request, SearchQuery)
    try:
        hits = await search(
            request.config_dict[DB],
            params.q,
            locale=params.locale or "en",
            limit=SUGGESTIONS,
            log=False,
        )
    except BadQuery:
        hits = []
    return web.json_response([{"title": h.title, "url": h.url} for h in hits])


def portal_app() -> web.Application:
    app = web.Application()
    app.add_routes(routes)
    return app
