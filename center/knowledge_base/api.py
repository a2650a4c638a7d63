"""REST API for agents and admins under /api/kb: articles, revisions, attachments, search,
reports. Writes need the admin or supervisor role; reads and search any agent role."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from center.agent_ui.auth import current_user, require_user
from center.appkeys import DB
from center.httpjson import body_as, error, int_param, json_body, query_as, too_large, validated
from center.knowledge_base import reports
from center.knowledge_base.articles import (
    SlugTaken,
    article_json,
    fields_from,
    save_one,
    snapshot,
)
from center.knowledge_base.models import PUBLISHED, Article, Attachment, Category, Revision
from center.knowledge_base.search import BadQuery, answer, search, suggest
from center.payloads import Payload, SearchQuery, Text
from center.records.enums import Role
from center.records.models import User

routes = web.RouteTableDef()
MAX_ATTACHMENT = 5 * 1024 * 1024
READERS = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)
EDITORS = (Role.SUPERVISOR, Role.ADMIN)
MAX_SUGGEST_CHARS = 10_000  # a conversation's worth of text


class SuggestIn(Payload):
    text: Text(MAX_SUGGEST_CHARS, min_chars=0, strip=False) = ""


class AttachmentMeta(Payload):
    filename: Text(255)
    content_type: Text(100)


def _too_large(size: int | None) -> web.HTTPException:
    return too_large(MAX_ATTACHMENT, size, "attachment too large")


async def _load(request: web.Request) -> tuple[Article, str | None]:
    article_id = int_param(request, "article_id")
    async with request.config_dict[DB].read() as session:
        found = await session.get(Article, article_id)
        category = (
            await session.get(Category, found.category_id) if found and found.category_id else None
        )
    if found is None:
        raise error(web.HTTPNotFound, "no such article", id=article_id)
    return found, category.slug if category else None


async def _write(
    request: web.Request, user: User, data: dict[str, Any], article_id: int | None = None
) -> web.Response:
    """Create or update by slug; with ``article_id``, update that article (its slug too)."""
    try:
        fields = fields_from(data)
    except ValueError as exc:
        raise error(web.HTTPBadRequest, str(exc)) from None
    try:
        found, action = await save_one(
            request.config_dict[DB], fields, user.id, article_id=article_id
        )
    except (SlugTaken, IntegrityError):
        # (IntegrityError: a concurrent save took the slug between the check and the write.)
        raise error(web.HTTPConflict, f"slug {fields.slug!r} is taken", slug=fields.slug) from None
    except LookupError:
        raise error(web.HTTPNotFound, "no such article", id=article_id) from None
    status = 201 if action == "created" else 200
    return web.json_response(
        {**article_json(found, fields.category), "result": action}, status=status
    )


@routes.get("/api/kb/articles")
async def list_articles(request: web.Request) -> web.Response:
    await require_user(request, *READERS)
    async with request.config_dict[DB].read() as session:
        rows = await session.scalars(select(Article).order_by(Article.updated_at.desc()).limit(500))
        return web.json_response([{"id": a.id, **snapshot(a), "views": a.views} for a in rows])


@routes.post("/api/kb/articles")
async def create_article(request: web.Request) -> web.Response:
    user = await require_user(request, *EDITORS)  # (before reading a body a stranger sent)
    return await _write(request, user, await json_body(request))


@routes.get("/api/kb/articles/{article_id}")
async def get_article(request: web.Request) -> web.Response:
    await require_user(request, *READERS)
    found, category = await _load(request)
    return web.json_response(article_json(found, category))


@routes.patch("/api/kb/articles/{article_id}")
async def patch_article(request: web.Request) -> web.Response:
    user = await require_user(request, *EDITORS)
    found, category = await _load(request)
    data = {**snapshot(found), "category": category, **await json_body(request)}
    data["locale"] = found.locale  # a translation is another article, not a rename
    return await _write(request, user, data, article_id=found.id)


@routes.post("/api/kb/articles/{article_id}/publish")
async def publish(request: web.Request) -> web.Response:
    user = await require_user(request, *EDITORS)
    found, category = await _load(request)
    published = {**snapshot(found), "category": category, "status": PUBLISHED}
    return await _write(request, user, published, article_id=found.id)


@routes.get("/api/kb/articles/{article_id}/revisions")
async def revisions(request: web.Request) -> web.Response:
    await require_user(request, *READERS)
    found, _ = await _load(request)
    async with request.config_dict[DB].read() as session:
        rows = await session.scalars(
            select(Revision).where(Revision.article_id == found.id).order_by(Revision.id)
        )
        return web.json_response(
            [
                {
                    "id": r.id,
                    "author_id": r.author_id,
                    "action": r.action,
                    "created_at": r.created_at.isoformat(),
                    "snapshot": r.snapshot,
                }
                for r in rows
            ]
        )


@routes.post("/api/kb/articles/{article_id}/attachments")
async def upload(request: web.Request) -> web.Response:
    await require_user(request, *EDITORS)
    found, _ = await _load(request)
    if request.content_length and request.content_length > MAX_ATTACHMENT + 64 * 1024:
        raise _too_large(request.content_length)
    if request.content_type != "multipart/form-data":
        raise error(web.HTTPBadRequest, "send the file as multipart/form-data")
    reader = await request.multipart()
    part = await reader.next()
    if part is None or not hasattr(part, "filename") or not part.filename:
        raise error(web.HTTPBadRequest, "send one file in a multipart field")
    data = bytearray()
    while chunk := await part.read_chunk():
        data += chunk
        if len(data) > MAX_ATTACHMENT:
            raise _too_large(len(data))
    meta = validated(
        AttachmentMeta,
        {
            "filename": part.filename[:255],
            "content_type": part.headers.get("Content-Type", "application/octet-stream")[:100],
        },
    )
    async with request.config_dict[DB].transaction() as session:
        row = Attachment(
            article_id=found.id,
            filename=meta.filename,
            content_type=meta.content_type,
            data=bytes(data),
        )
        session.add(row)
        await session.flush()
        attachment_id = row.id
    url = f"/api/kb/attachments/{attachment_id}"
    return web.json_response({"id": attachment_id, "url": url, "size": len(data)}, status=201)


@routes.get("/api/kb/attachments/{attachment_id}")
async def download(request: web.Request) -> web.Response:
    attachment_id = int_param(request, "attachment_id")
    async with request.config_dict[DB].read() as session:
        row = await session.get(Attachment, attachment_id)
        article = await session.get(Article, row.article_id) if row is not None else None
    # A draft's files are as unpublished as its text: only signed-in staff fetch them. The
    # same 404 as a missing id, so the sequential ids do not tell a stranger what exists.
    public = article is not None and article.status == PUBLISHED
    if row is None or not (public or await current_user(request) is not None):
        raise error(web.HTTPNotFound, "no such attachment", id=attachment_id)
    # Served as a download unless it is an image, so uploaded HTML can never run here.
    image = row.content_type in ("image/png", "image/jpeg", "image/gif", "image/webp")
    headers = {"X-Content-Type-Options": "nosniff"}
    if not image:
        headers["Content-Disposition"] = "attachment"
    return web.Response(
        body=row.data,
        content_type=row.content_type if image else "application/octet-stream",
        headers=headers,
    )


@routes.get("/api/kb/search")
async def search_api(request: web.Request) -> web.Response:
    await require_user(request, *READERS)
    q = query_as(request, SearchQuery)
    try:
        hits = await search(request.config_dict[DB], q.q, locale=q.locale, include_drafts=True)
    except BadQuery as exc:
        raise error(web.HTTPBadRequest, str(exc)) from None
    return web.json_response([vars(h) for h in hits])


@routes.post("/api/kb/suggest")
async def suggest_api(request: web.Request) -> web.Response:
    await require_user(request, *READERS)
    text = (await body_as(request, SuggestIn)).text
    return web.json_response([vars(h) for h in await suggest(request.config_dict[DB], text)])


@routes.get("/api/kb/answer")
async def answer_api(request: web.Request) -> web.Response:
    await require_user(request, *READERS)
    found = await answer(request.config_dict[DB], query_as(request, SearchQuery).q)
    return web.json_response(vars(found) if found else None)


@routes.get("/api/kb/reports")
async def reports_api(request: web.Request) -> web.Response:
    await require_user(request, *EDITORS)
    return web.json_response(await reports.summary(request.config_dict[DB]))
