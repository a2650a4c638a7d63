"""REST API for queues: everyone signed in may read them; only an admin may change them.

The queues in effect are the configuration file's (the seed) with the database's rows over
them: a row replaces the file's queue of that name or adds one; a deleted queue leaves a
``removed`` row, so it stays deleted after a restart (see ``center.records.queues``). After
every change the router gets the whole new set (``Router.configure``), which every process
reads from Redis.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from center.agent_ui.auth import require_user
from center.appkeys import DB, QUEUE_CONFIG, ROUTER, SERVICE
from center.httpjson import error, json_body, query_as
from center.notices import AgentNotice
from center.payloads import Payload, QueueName
from center.queue.config import (
    FieldError,
    QueueConfig,
    check_all,
    check_queue_name,
    queue_from_data,
    queue_json,
)
from center.queue.model import QueueDef
from center.queue.placement import FALLBACK_QUEUE
from center.queue.scripts import RouterError
from center.records import events
from center.records.db import Database
from center.records.enums import ActorKind, Channel, InteractionState, Role
from center.records.models import Interaction
from center.records.queues import QueueRow

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
WAITING = (InteractionState.QUEUED, InteractionState.OFFERED)


class DeleteQuery(Payload):
    move_to: QueueName | None = None  # where the waiting interactions go


async def effective(db: Database, config: QueueConfig) -> dict[str, QueueDef]:
    """The queues in effect: the file's, with the database's rows applied over them."""
    async with db.read() as s:
        rows = list(await s.scalars(select(QueueRow).order_by(QueueRow.name)))
    out = {q.name: q for q in config.queues}
    for row in rows:
        if row.removed:
            out.pop(row.name, None)
    names = set(out) | {r.name for r in rows if not r.removed}
    for row in rows:
        if row.removed:
            continue
        try:
            out[row.name] = queue_from_data(
                row.name, row.definition, skills=config.skills, queue_names=names
            )
        except FieldError as exc:
            # The file changed under a stored queue (e.g. a skill no longer declared): keep
            # serving with the file's version (if any) rather than refuse to start.
            log.error("stored queue %r ignored: %s (field %s)", row.name, exc, exc.field)
    return out


async def apply(app: web.Application) -> dict[str, QueueDef]:
    """Hand the queues in effect to the router (when it takes definitions)."""
    queues = await effective(app[DB], app[QUEUE_CONFIG])
    router = app[ROUTER]
    if hasattr(router, "configure"):
        await router.configure(list(queues.values()))
    return queues


def _source(q: QueueDef, config: QueueConfig, stored: set[str]) -> str:
    # Rows override: a queue in effect is the database's when a (live) row exists for it.
    return "database" if q.name in stored or q.name not in config.names() else "file"


async def _stored_names(s: AsyncSession) -> set[str]:
    return set(await s.scalars(select(QueueRow.name).where(QueueRow.removed.is_(False))))


async def _waiting_counts(s: AsyncSession) -> dict[str, int]:
    rows = await s.execute(
        select(Interaction.queue, func.count())
        .where(Interaction.state.in_(WAITING))
        .group_by(Interaction.queue)
    )
    return {queue: int(n) for queue, n in rows}


def _body_json(q: QueueDef, source: str, waiting: int) -> dict[str, Any]:
    return {**queue_json(q), "source": source, "waiting": waiting}


@routes.get("/api/queues")
async def list_queues(request: web.Request) -> web.Response:
    await require_user(request)
    config = request.config_dict[QUEUE_CONFIG]
    queues = await effective(request.config_dict[DB], config)
    async with request.config_dict[DB].read() as s:
        stored, waiting = await _stored_names(s), await _waiting_counts(s)
    items = [
        _body_json(q, _source(q, config, stored), waiting.get(q.name, 0))
        for q in sorted(queues.values(), key=lambda q: q.name)
    ]
    return web.json_response({"queues": items})


async def _existing(request: web.Request) -> tuple[str, dict[str, QueueDef]]:
    name = request.match_info["name"]
    queues = await effective(request.config_dict[DB], request.config_dict[QUEUE_CONFIG])
    if name not in queues:
        raise error(web.HTTPNotFound, "no such queue", name=name)
    return name, queues


@routes.get("/api/queues/{name}")
async def get_queue(request: web.Request) -> web.Response:
    await require_user(request)
    name, queues = await _existing(request)
    async with request.config_dict[DB].read() as s:
        stored, waiting = await _stored_names(s), await _waiting_counts(s)
    config = request.config_dict[QUEUE_CONFIG]
    q = queues[name]
    return web.json_response(
        {"queue": _body_json(q, _source(q, config, stored), waiting.get(name, 0))}
    )


def _validated(
    request: web.Request, name: str, body: dict[str, Any], queues: dict[str, QueueDef]
) -> tuple[QueueDef, dict[str, Any]]:
    """The queue the body describes, checked alone and within the whole new set (400)."""
    fields = {k: v for k, v in body.items() if k != "name"}
    config = request.config_dict[QUEUE_CONFIG]
    try:
        q = queue_from_data(name, fields, skills=config.skills, queue_names=set(queues))
        check_all([*(v for k, v in queues.items() if k != name), q])
    except FieldError as exc:
        raise error(web.HTTPBadRequest, exc.message, field=exc.field or None) from None
    for channel, target in config.rules.defaults.items():
        if target.queue == name and channel not in q.channels:
            raise error(
                web.HTTPBadRequest,
                f"the file's placement default for {channel.value} sends to this queue",
                field="channels",
            )
    return q, {k: v for k, v in queue_json(q).items() if k != "name"}


async def _save(
    request: web.Request, name: str, definition: dict[str, Any], *, removed: bool, user_id: int
) -> None:
    async with request.config_dict[DB].transaction() as s:
        await _upsert(s, name, definition, removed=removed, user_id=user_id)


async def _upsert(
    s: AsyncSession, name: str, definition: dict[str, Any], *, removed: bool, user_id: int
) -> None:
    row = await s.get(QueueRow, name, with_for_update=True)
    if row is None:
        row = QueueRow(name=name)
        s.add(row)
    row.definition, row.removed, row.updated_by = definition, removed, user_id


@routes.post("/api/queues")
async def create_queue(request: web.Request) -> web.Response:
    user = await require_user(request, Role.ADMIN)
    body = await json_body(request)
    try:
        name = check_queue_name(body.get("name"))
    except FieldError as exc:
        raise error(web.HTTPBadRequest, exc.message, field="name") from None
    queues = await effective(request.config_dict[DB], request.config_dict[QUEUE_CONFIG])
    if name in queues:
        raise error(web.HTTPConflict, "a queue with this name exists", name=name)
    q, definition = _validated(request, name, body, queues)
    await _save(request, name, definition, removed=False, user_id=user.id)
    await apply(request.app)
    return web.json_response({"queue": _body_json(q, "database", 0)}, status=201)


async def _refuse_stranding(request: web.Request, name: str, q: QueueDef) -> None:
    """409 when the change drops a channel that interactions wait on in this queue: no agent
    of this queue would be offered them any more, so they would wait forever."""
    async with request.config_dict[DB].read() as s:
        stranded = dict(
            (
                await s.execute(
                    select(Interaction.channel, func.count())
                    .where(
                        Interaction.queue == name,
                        Interaction.state.in_(WAITING),
                        Interaction.channel.not_in(list(q.channels)),
                    )
                    .group_by(Interaction.channel)
                )
            ).all()
        )
    if stranded:
        what = ", ".join(f"{n} {c.value}" for c, n in sorted(stranded.items()))
        raise error(
            web.HTTPConflict,
            f"interactions wait in this queue on channels the change drops ({what}); "
            "move them first (DELETE with ?move_to=) or keep those channels",
            field="channels",
            waiting={c.value: n for c, n in stranded.items()},
        )


@routes.put("/api/queues/{name}")
async def replace_queue(request: web.Request) -> web.Response:
    user = await require_user(request, Role.ADMIN)
    name, queues = await _existing(request)
    body = await json_body(request)
    if "name" in body and body["name"] != name:
        raise error(web.HTTPBadRequest, "a queue cannot be renamed", field="name")
    q, definition = _validated(request, name, body, queues)
    await _refuse_stranding(request, name, q)
    await _save(request, name, definition, removed=False, user_id=user.id)
    await apply(request.app)
    async with request.config_dict[DB].read() as s:
        waiting = (await _waiting_counts(s)).get(name, 0)
    return web.json_response({"queue": _body_json(q, "database", waiting)})


def _in_use(request: web.Request, name: str, queues: dict[str, QueueDef]) -> str | None:
    """Why the queue cannot go even when empty: a rule or another queue points at it."""
    for other in queues.values():
        if other.name != name and any(s.overflow_queue == name for s in other.escalation):
            return f"queue {other.name!r} overflows to it"
    rules = request.config_dict[QUEUE_CONFIG].rules
    if any(t.queue == name for t in rules.targets()):
        return "a placement rule in the configuration file sends to it"
    if name == FALLBACK_QUEUE and any(c not in rules.defaults for c in Channel):
        return "it is where channels without a placement default go"
    return None


@routes.delete("/api/queues/{name}")
async def delete_queue(request: web.Request) -> web.Response:
    user = await require_user(request, Role.ADMIN)
    move_to = query_as(request, DeleteQuery).move_to
    name, queues = await _existing(request)
    if (reason := _in_use(request, name, queues)) is not None:
        raise error(web.HTTPConflict, f"queue in use: {reason}", name=name)
    if move_to is not None and (move_to == name or move_to not in queues):
        raise error(web.HTTPBadRequest, "move_to must name another existing queue", field="move_to")
    withdrawn: dict[int, int] = {}
    moved = await _remove_and_move(request, name, move_to, queues, user.id, withdrawn)
    await apply(request.app)
    await _requeue(request, moved, move_to)
    bus = request.config_dict[SERVICE].bus
    for iid, agent_id in withdrawn.items():
        # The offered agent's console drops the offer instead of accepting a stale one.
        await bus.to_agent(
            agent_id,
            AgentNotice.OFFER_WITHDRAWN,
            {"interaction_id": iid, "reason": "queue_deleted", "to_queue": move_to},
        )
    return web.json_response({"deleted": name, "moved": [i.id for i in moved], "move_to": move_to})


async def _remove_and_move(
    request: web.Request,
    name: str,
    move_to: str | None,
    queues: dict[str, QueueDef],
    user_id: int,
    withdrawn: dict[int, int],
) -> list[Interaction]:
    """In one transaction: move the waiting interactions (an event each) and mark the queue
    removed; refused (409) when some wait and there is nowhere to move them. Offers in
    flight are withdrawn; ``withdrawn`` gets interaction id -> the agent it was offered to."""
    async with request.config_dict[DB].transaction() as s:
        waiting = list(
            await s.scalars(
                select(Interaction)
                .where(Interaction.queue == name, Interaction.state.in_(WAITING))
                .order_by(Interaction.id)
                .with_for_update()
            )
        )
        if waiting and move_to is None:
            raise error(
                web.HTTPConflict,
                f"{len(waiting)} interaction(s) wait in this queue; give ?move_to=<queue>",
                name=name,
                waiting=len(waiting),
            )
        for i in waiting:
            if move_to is not None and i.channel not in queues[move_to].channels:
                raise error(
                    web.HTTPConflict,
                    f"queue {move_to!r} does not take {i.channel.value} interactions",
                    field="move_to",
                )
            # An offer in flight is withdrawn: the interaction waits again in the new queue.
            if i.state is InteractionState.OFFERED and i.agent_id is not None:
                withdrawn[i.id] = i.agent_id
            i.queue, i.state, i.agent_id = move_to, InteractionState.QUEUED, None
            events.append(
                s,
                events.QueueChanged(from_queue=name, to_queue=move_to),
                interaction=i,
                actor_kind=ActorKind.AGENT,
                actor_id=user_id,
            )
        await _upsert(s, name, queue_json(queues[name]), removed=True, user_id=user_id)
    return waiting


async def _requeue(request: web.Request, moved: list[Interaction], move_to: str | None) -> None:
    """Move the live routing state too (keeping each one's original place in line)."""
    if not moved or move_to is None:
        return
    router = request.config_dict[ROUTER]
    for i in moved:
        with contextlib.suppress(RouterError):  # not live (e.g. Redis restarted): enqueue anew
            await router.remove(i.id)
        await router.enqueue(
            i.id,
            queue=move_to,
            channel=i.channel,
            priority=i.priority,
            enqueued_ms=int(i.queued_at.timestamp() * 1000) if i.queued_at else None,
            skills=i.required_skills,
        )
    for channel in {i.channel for i in moved}:
        await router.dispatch(move_to, channel)
