"""Every route of the app, walked from its router, as every kind of caller.

The table below says who may call what; the walk fails for a route that lets in someone the
table keeps out (a handler that forgot ``require_user``), for one that keeps out someone it
should serve, for any 5xx, and for a route the table does not list at all: a new route is
classified here before it can pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from aiohttp import web

from center.knowledge_base.articles import Fields, save_one
from center.knowledge_base.models import PUBLISHED, Attachment
from center.records.enums import Role
from tests.rest import Answer, Http
from tests.support import PASSWORD, Agent, Customer, Server, signed_in_agent

PUBLIC = "public"
RANK = {Role.AGENT: 1, Role.SUPERVISOR: 2, Role.ADMIN: 3}
ANY_METHOD = "*"


@dataclass(frozen=True)
class Guard:
    role: Role | str  # the least role served, or PUBLIC
    own: bool = False  # an agent is served only what they handled; supervisors see all


AGENT, SUPERVISOR, ADMIN = Guard(Role.AGENT), Guard(Role.SUPERVISOR), Guard(Role.ADMIN)
OWN = Guard(Role.AGENT, own=True)
OPEN = Guard(PUBLIC)
# Twilio's webhooks: no session, a signature; unsigned (every caller of the walk) → 403.
TWILIO_SIGNED = "twilio-signed"
SIGNED = Guard(TWILIO_SIGNED)

# (method, route as the router spells it) -> who may call it. HEAD follows GET.
TABLE: dict[tuple[str, str], Guard] = {
    # Public: pages (each API call they make is guarded), the portal, static files, login,
    # health, socket.io (its namespaces check the cookie at connect).
    (ANY_METHOD, "/socket.io/"): OPEN,
    ("POST", "/api/login"): OPEN,
    ("POST", "/api/logout"): OPEN,
    ("GET", "/"): OPEN,
    ("GET", "/agent"): OPEN,
    ("GET", "/supervisor"): OPEN,
    ("GET", "/chat"): OPEN,
    ("GET", "/healthz"): OPEN,
    ("GET", "/static"): OPEN,
    ("GET", "/kb/editor"): OPEN,
    ("GET", "/kb/static/{name}"): OPEN,  # the editor's script and style
    ("GET", "/help"): OPEN,
    ("GET", "/help/"): OPEN,
    ("GET", "/help/categories/{slug}"): OPEN,
    ("GET", "/help/articles/{slug}"): OPEN,
    ("POST", "/help/articles/{slug}/feedback"): OPEN,
    ("GET", "/help/search"): OPEN,
    ("GET", "/help/portal.css"): OPEN,
    ("GET", "/help/portal.js"): OPEN,
    ("GET", "/help/suggest"): OPEN,
    # A published article's attachment is part of the public article.
    ("GET", "/api/kb/attachments/{attachment_id}"): OPEN,
    # Signed in.
    ("GET", "/api/me"): AGENT,
    ("GET", "/api/agents"): AGENT,
    ("GET", "/api/customers/{customer_id}"): OWN,
    ("GET", "/api/customers/{customer_id}/timeline"): OWN,
    ("GET", "/api/interactions/{interaction_id}"): OWN,
    ("GET", "/api/queues"): AGENT,
    ("GET", "/api/queues/{name}"): AGENT,
    ("POST", "/api/queues"): ADMIN,
    ("PUT", "/api/queues/{name}"): ADMIN,
    ("DELETE", "/api/queues/{name}"): ADMIN,
    ("GET", "/api/supervisor/stats"): SUPERVISOR,
    ("GET", "/api/supervisor/agents"): SUPERVISOR,
    ("GET", "/api/supervisor/history"): SUPERVISOR,
    ("GET", "/api/kb/articles"): AGENT,
    ("POST", "/api/kb/articles"): SUPERVISOR,
    ("GET", "/api/kb/articles/{article_id}"): AGENT,
    ("PATCH", "/api/kb/articles/{article_id}"): SUPERVISOR,
    ("POST", "/api/kb/articles/{article_id}/publish"): SUPERVISOR,
    ("GET", "/api/kb/articles/{article_id}/revisions"): AGENT,
    ("POST", "/api/kb/articles/{article_id}/attachments"): SUPERVISOR,
    ("GET", "/api/kb/search"): AGENT,
    ("POST", "/api/kb/suggest"): AGENT,
    ("GET", "/api/kb/answer"): AGENT,
    ("GET", "/api/kb/reports"): SUPERVISOR,
    # Twilio webhooks (center/channels/twilio/webhooks.py: signature first).
    ("POST", "/twilio/sms"): SIGNED,
    ("POST", "/twilio/sms/status"): SIGNED,
    # Tickets (issue 11): an agent's are those assigned to them or holding their interaction.
    ("POST", "/api/tickets"): AGENT,
    ("GET", "/api/tickets"): AGENT,
    ("GET", "/api/tickets/{ticket_id}"): OWN,
    ("PATCH", "/api/tickets/{ticket_id}"): OWN,
    ("POST", "/api/tickets/{ticket_id}/notes"): OWN,
    ("POST", "/api/tickets/{ticket_id}/replies"): OWN,
    ("POST", "/api/tickets/{ticket_id}/interactions"): OWN,
    ("POST", "/api/interactions/{interaction_id}/ticket"): OWN,
    ("GET", "/api/attachments/{file_id}"): OWN,
    ("POST", "/api/outbox/{outbox_id}/resend"): OWN,
    ("GET", "/api/supervisor/tickets/sla"): SUPERVISOR,
    ("GET", "/api/sla/policies"): SUPERVISOR,
    ("PUT", "/api/sla/policies"): ADMIN,
    # Voice (center/channels/voice/web.py): Twilio's call webhooks, the softphone's API.
    ("POST", "/twilio/voice"): SIGNED,
    ("POST", "/twilio/voice/ivr"): SIGNED,
    ("POST", "/twilio/voice/ivr/kb"): SIGNED,
    ("POST", "/twilio/voice/ivr/agent"): SIGNED,
    ("POST", "/twilio/voice/hold"): SIGNED,
    ("POST", "/twilio/voice/hold/key"): SIGNED,
    ("POST", "/twilio/voice/voicemail"): SIGNED,
    ("POST", "/twilio/voice/status"): SIGNED,
    ("POST", "/twilio/voice/recording"): SIGNED,
    ("POST", "/twilio/voice/conference"): SIGNED,
    ("POST", "/twilio/voice/after"): SIGNED,
    ("POST", "/twilio/voice/csat"): SIGNED,
    ("POST", "/twilio/voice/callback"): SIGNED,
    ("GET", "/api/voice/token"): AGENT,
    ("GET", "/api/voice/device"): AGENT,
    ("PUT", "/api/voice/device"): AGENT,
    ("GET", "/api/voice/calls/{interaction_id}"): OWN,
    # The email channel (center/channels/email/web.py).
    ("GET", "/api/email/mailboxes"): ADMIN,
    ("POST", "/api/email/mailboxes"): ADMIN,
    ("DELETE", "/api/email/mailboxes/{name}"): ADMIN,
    ("GET", "/api/email/quarantine"): SUPERVISOR,
    ("POST", "/api/email/quarantine/{id}/reprocess"): SUPERVISOR,
    ("GET", "/api/email/undeliverable"): SUPERVISOR,
    ("DELETE", "/api/email/undeliverable/{address}"): SUPERVISOR,
}


def routes_of(app: web.Application) -> Iterator[tuple[str, str]]:
    """(method, canonical path) of every route, sub-applications included."""
    for resource in app.router.resources():
        if isinstance(resource, web.PrefixedSubAppResource):
            yield from routes_of(resource.get_info()["app"])
            continue
        for route in resource:
            yield route.method, resource.canonical


def guard_for(method: str, path: str) -> Guard | None:
    looked_up = "GET" if method == "HEAD" else method
    return TABLE.get((looked_up, path)) or TABLE.get((ANY_METHOD, path))


@dataclass
class World:
    """Real rows for the path parameters: the chat Ann is serving, a published article."""

    values: dict[str, str]
    clients: list[Agent | Customer]

    def path(self, route: str) -> str:
        if route == "/static":
            return "/static/agent.js"
        return re.sub(r"\{(\w+)\}", lambda m: self.values[m.group(1)], route)


async def _world(server: Server) -> World:
    # Both stay connected through the walk: the chat stays Ann's.
    ann = await signed_in_agent(server, "ann")
    customer = Customer(server.url)
    welcome = await customer.connect()
    iid = (await customer.say("my parcel is lost"))["interaction_id"]
    await ann.next("offer")
    assert (await ann.call("accept", {"interaction_id": iid}))["ok"]
    fields = Fields(slug="printer", title="Printer", body_md="Plug it in.", status=PUBLISHED)
    article, _ = await save_one(server.db, Fields(**{**vars(fields), "category": "devices"}), None)
    async with server.db.transaction() as s:
        attachment = Attachment(
            article_id=article.id, filename="a.txt", content_type="text/plain", data=b"x"
        )
        s.add(attachment)
        await s.flush()
        attachment_id = attachment.id
    tickets = await _ticket_world(server, welcome["customer_id"], iid)
    return World(
        {
            **tickets,
            "customer_id": str(welcome["customer_id"]),
            "interaction_id": str(iid),
            "article_id": str(article.id),
            "attachment_id": str(attachment_id),
            "name": "default",
            "slug": "printer",
            "id": "1",  # a quarantined message (none: served is a 404, not a 401/403)
            "address": "ann@example.com",  # an undeliverable address (none flagged: 404)
        },
        [customer, ann],
    )


async def _ticket_world(server: Server, customer_id: int, interaction_id: int) -> dict[str, str]:
    """A ticket holding Ann's chat, a message with an attachment, a failed outbox row."""
    from center.interactions import rows
    from center.outbox import OutboxKind, enqueue
    from center.outbox.core import OUTBOX
    from center.records.enums import Direction
    from center.tickets.attachments import store_attachment
    from center.tickets.web import TICKETS

    async with server.db.step() as c:
        ticket = await server.app[TICKETS].create(
            c, customer_id=customer_id, subject="Lost parcel", interaction_id=interaction_id
        )
        m = await rows.insert_message(c, interaction_id, Direction.INBOUND, "see photo")
        file = await store_attachment(c, m.id, "photo.png", "image/png", b"png")
        outbox_id = await enqueue(
            c, OutboxKind.WEBHOOK, {}, key="walk", customer_id=customer_id,
            ticket_id=ticket.id, message_id=m.id,
        )  # fmt: skip
        await c.execute(OUTBOX.update().where(OUTBOX.c.id == outbox_id).values(status="failed"))
    return {"ticket_id": str(ticket.id), "file_id": str(file["id"]), "outbox_id": str(outbox_id)}


# Routes whose body is not JSON: the walk sends what their pages send, so the answer is
# the guard's and not the cross-site check's 415 for a wrong content type.
MULTIPART = "multipart/form-data; boundary=walk"
NOT_JSON = {
    ("POST", "/api/kb/articles/{article_id}/attachments"): (
        MULTIPART,
        b'--walk\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nx\r\n--walk--\r\n",
    ),
}


async def _call(http: Http, method: str, route: str, world: World) -> Answer:
    if route.startswith("/twilio/"):  # Twilio posts forms (as security.FORM_PREFIXES says)
        form = "application/x-www-form-urlencoded"
        return await http.call(method, world.path(route), raw=b"Body=hi", content_type=form)
    if (method, route) in NOT_JSON:
        content_type, raw = NOT_JSON[method, route]
        return await http.call(method, world.path(route), raw=raw, content_type=content_type)
    return await http.call(method, world.path(route), {})


def _expected(guard: Guard, caller: str, role: Role | None) -> int | None:
    """The refusal the caller must get, or None when they are to be served."""
    if guard.role == TWILIO_SIGNED:
        return 403  # nobody in the walk signs as Twilio
    if guard.role == PUBLIC:
        return None
    if role is None:
        return 401
    if RANK[role] < RANK[guard.role] or (guard.own and caller == "other agent"):
        return 403
    return None


async def test_every_route_is_classified_and_every_entry_is_a_route(server: Server) -> None:
    found = set(routes_of(server.app))
    missing = sorted({(m, p) for m, p in found if guard_for(m, p) is None})
    assert not missing, f"routes without an entry in TABLE (who may call them?): {missing}"
    listed = {(m, p) for m, p in found} | {(ANY_METHOD, p) for _, p in found}
    stale = sorted(set(TABLE) - listed)
    assert not stale, f"TABLE entries no route has: {stale}"


async def test_every_route_serves_exactly_the_callers_its_guard_allows(server: Server) -> None:
    world = await _world(server)
    callers: list[tuple[str, Role | None, Http]] = [("anonymous", None, Http(server))]
    # Ann served the chat (signed in again below with the same account); Bob did not.
    ann = Http(server)
    await ann.call("POST", "/api/login", {"username": "ann", "password": PASSWORD})
    callers.append(("agent", Role.AGENT, ann))
    for caller, username, role in [
        ("other agent", "bob", Role.AGENT),
        ("supervisor", "sue", Role.SUPERVISOR),
        ("admin", "root", Role.ADMIN),
    ]:
        callers.append((caller, role, await Http(server).login(server, username, role)))
    wrong: list[str] = []
    try:
        for method, route in sorted(set(routes_of(server.app))):
            guard = guard_for(method, route)
            assert guard is not None, (method, route)
            for caller, role, http in callers:
                if guard.role == PUBLIC and role is not None:
                    continue  # (e.g. logout would end the session the walk goes on with)
                answer: Answer = await _call(http, method, route, world)
                refusal = _expected(guard, caller, role)
                served = answer.status not in (401, 403)
                if (served if refusal else not served) or answer.status >= 500:
                    wanted = refusal or "served"
                    wrong.append(f"{method} {route} as {caller}: {answer.status}, not {wanted}")
    finally:
        for _, _, http in callers:
            await http.close()
        for client in world.clients:
            await client.close()
    assert not wrong, "\n".join(wrong)
