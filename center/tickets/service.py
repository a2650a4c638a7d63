"""The ticket service: every ticket change is a Core step on the caller's connection, with
its timeline events in the same transaction.

Every method takes ``conn`` (the connection of ``Database.step()``), so a channel can create
a ticket, its interaction and the first message in one transaction: stored together or not
at all. The caller commits; the caller tells sockets after the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from center.records import events
from center.records.base import transient, utcnow
from center.records.enums import ActorKind, Channel, TicketStatus
from center.records.models import Interaction, Ticket
from center.tickets import clocks
from center.tickets import events as te
from center.tickets.events import SlaTarget, Suppression, TicketPriority
from center.tickets.models import SlaPolicy, TicketNote
from center.tickets.sla import BusinessCalendar

TICKETS = Ticket.__table__
NOTES = TicketNote.__table__
POLICIES = SlaPolicy.__table__
INTERACTIONS = Interaction.__table__
Clock = Callable[[], datetime]
S = TicketStatus
# Built once: SQLAlchemy then compiles each once per process and skips rebuilding the
# statement and its cache key per call (most of a statement's CPU on the email hot path).
_INSERT = insert(TICKETS).returning(TICKETS, sort_by_parameter_order=True)
_UPDATE = update(TICKETS).where(TICKETS.c.id == bindparam("b_id"))
_POLICY = select(POLICIES).where(
    or_(POLICIES.c.queue == bindparam("b_queue"), POLICIES.c.queue.is_(None)),
    or_(POLICIES.c.priority == bindparam("b_priority"), POLICIES.c.priority.is_(None)),
)

# Status changes an agent may make (PATCH); a customer's reply reopens on its own.
ALLOWED: dict[TicketStatus, set[TicketStatus]] = {
    S.OPEN: {S.PENDING, S.SOLVED},
    S.PENDING: {S.OPEN, S.SOLVED},
    S.SOLVED: {S.OPEN, S.CLOSED},
    S.CLOSED: set(),  # final: a reply opens a follow-up ticket
}


class TicketError(Exception):
    """A refused change; ``code`` is stable for clients (not_found, conflict, invalid)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Actor:
    kind: ActorKind = ActorKind.SYSTEM
    id: int | None = None

    @classmethod
    def agent(cls, user_id: int) -> Actor:
        return cls(ActorKind.AGENT, user_id)


SYSTEM = Actor()
CUSTOMER = Actor(ActorKind.CUSTOMER)


@dataclass(frozen=True, slots=True)
class TicketChanges:
    """A PATCH: only the fields given (not None) change; ``assignee_id=0`` unassigns."""

    status: TicketStatus | None = None
    priority: TicketPriority | None = None
    assignee_id: int | None = None
    queue: str | None = None
    tags: tuple[str, ...] | None = None
    subject: str | None = None


@dataclass(frozen=True, slots=True)
class NewTicket:
    customer_id: int
    subject: str
    channel: Channel | None = None
    queue: str = "default"
    priority: TicketPriority = TicketPriority.NORMAL
    assignee_id: int | None = None
    tags: Iterable[str] = ()
    interaction_id: int | None = None
    actor: Actor = SYSTEM
    follow_up_of_id: int | None = None


def as_ticket(row: Any) -> Ticket:
    return transient(Ticket, row._mapping)


class TicketService:
    def __init__(self, calendar: BusinessCalendar, clock: Clock = utcnow) -> None:
        self.calendar = calendar
        self.clock = clock

    # -- reads ---------------------------------------------------------------------------

    async def get(self, conn: AsyncConnection, ticket_id: int, *, lock: bool = False) -> Ticket:
        stmt = select(TICKETS).where(TICKETS.c.id == ticket_id)
        if lock and conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = (await conn.execute(stmt)).first()
        if row is None:
            raise TicketError("not_found", f"no ticket {ticket_id}")
        return as_ticket(row)

    async def by_number(self, conn: AsyncConnection, number: int) -> Ticket | None:
        """The ticket a ``[#N]`` subject token names (None if there is none)."""
        row = (await conn.execute(select(TICKETS).where(TICKETS.c.number == number))).first()
        return None if row is None else as_ticket(row)

    # -- create and attach ---------------------------------------------------------------

    async def create(
        self,
        conn: AsyncConnection,
        *,
        interaction_id: int | None = None,
        actor: Actor = SYSTEM,
        **fields: Any,
    ) -> Ticket:
        """A new open ticket (number = its id), SLA clocks started from its policy, and
        ``interaction_id`` attached if given; ``fields`` are ``NewTicket``'s (customer_id,
        subject, channel, queue, priority, …). Events: ticket.created, ticket.sla_set,
        ticket.interaction_attached."""
        spec = NewTicket(interaction_id=interaction_id, actor=actor, **fields)
        [(ticket, rows)] = await self.new_many(conn, [spec])
        await events.write(conn, *rows)
        if interaction_id is None:
            return ticket
        await self.attach(conn, ticket.id, interaction_id, actor=actor)
        return await self.get(conn, ticket.id)

    async def new_many(
        self, conn: AsyncConnection, specs: list[NewTicket]
    ) -> list[tuple[Ticket, list[dict[str, Any]]]]:
        """``create``'s tickets without attaching anything, each with its event rows
        (created, sla_set) for the caller to write in its step's one events insert. Three
        statements for any number of tickets (the policies, one multi-row insert, the
        numbers and clocks): the hot path of email, which opens many at once."""
        if not specs:
            return []
        now = self.clock()
        policies: dict[tuple[str, int], Any] = {}
        for spec in specs:
            key = (spec.queue, int(spec.priority))
            if key not in policies:
                policies[key] = await self._policy(conn, *key)
        inserted = await conn.execute(
            _INSERT,
            [
                {
                    "customer_id": spec.customer_id,
                    "subject": spec.subject[:255],
                    "status": S.OPEN,
                    "priority": int(spec.priority),
                    "assignee_id": spec.assignee_id,
                    "tags": sorted(set(spec.tags)),
                    "queue": spec.queue,
                    "channel": spec.channel,
                    "sla_flags": {},
                    "follow_up_of_id": spec.follow_up_of_id,
                    "created_at": now,
                    "updated_at": now,
                }
                for spec in specs
            ],
        )
        out: list[tuple[Ticket, list[dict[str, Any]]]] = []
        updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for spec, row in zip(specs, inserted.all(), strict=True):
            ticket = as_ticket(row)
            rows = [
                te.ticket_row(
                    te.Created(
                        number=ticket.id,
                        subject=spec.subject[:255],
                        queue=spec.queue,
                        priority=int(spec.priority),
                        channel=spec.channel.value if spec.channel else None,
                        follow_up_of=spec.follow_up_of_id,
                    ),
                    customer_id=spec.customer_id,
                    ticket_id=ticket.id,
                    interaction_id=spec.interaction_id,
                    actor_kind=spec.actor.kind,
                    actor_id=spec.actor.id,
                )
            ]
            policy = policies[(spec.queue, int(spec.priority))]
            values, sla_rows = self._policy_values(ticket, policy, initial=True)
            values["number"] = ticket.id
            for name, value in values.items():
                setattr(ticket, name, value)
            updates.setdefault(tuple(sorted(values)), []).append({"b_id": ticket.id, **values})
            out.append((ticket, rows + sla_rows))
        for params in updates.values():  # (one executemany per set of columns: usually one)
            await conn.execute(_UPDATE, params)
        return out

    async def attach(
        self, conn: AsyncConnection, ticket_id: int, interaction_id: int, *, actor: Actor = SYSTEM
    ) -> Ticket:
        """Put an interaction (any channel) on the ticket: an agent attaching a chat, a
        phone call, an email. Refused if the interaction is another customer's."""
        ticket = await self.get(conn, ticket_id, lock=True)
        row = (
            await conn.execute(select(INTERACTIONS).where(INTERACTIONS.c.id == interaction_id))
        ).first()
        if row is None:
            raise TicketError("not_found", f"no interaction {interaction_id}")
        i = row._mapping
        if i["customer_id"] != ticket.customer_id:
            raise TicketError("invalid", "the interaction is another customer's")
        if i["ticket_id"] == ticket_id:
            return ticket
        await conn.execute(
            update(INTERACTIONS)
            .where(INTERACTIONS.c.id == interaction_id)
            .values(ticket_id=ticket_id)
        )
        await self._touch(conn, ticket_id)
        await events.write(
            conn,
            te.ticket_row(
                te.InteractionAttached(
                    interaction_id=interaction_id,
                    channel=str(i["channel"]),
                    previous_ticket_id=i["ticket_id"],
                ),
                customer_id=ticket.customer_id,
                ticket_id=ticket_id,
                interaction_id=interaction_id,
                actor_kind=actor.kind,
                actor_id=actor.id,
            ),
        )
        return ticket

    async def open_for_interaction(
        self,
        conn: AsyncConnection,
        interaction_id: int,
        *,
        subject: str,
        actor: Actor = SYSTEM,
        queue: str | None = None,
        priority: TicketPriority = TicketPriority.NORMAL,
    ) -> Ticket:
        """A ticket for the customer of a call or chat, the interaction attached to it."""
        row = (
            await conn.execute(select(INTERACTIONS).where(INTERACTIONS.c.id == interaction_id))
        ).first()
        if row is None:
            raise TicketError("not_found", f"no interaction {interaction_id}")
        i = row._mapping
        return await self.create(
            conn,
            customer_id=i["customer_id"],
            subject=subject,
            channel=Channel(i["channel"]),
            queue=queue or i["queue"],
            priority=priority,
            interaction_id=interaction_id,
            actor=actor,
            assignee_id=actor.id if actor.kind is ActorKind.AGENT else None,
        )

    # -- messages ------------------------------------------------------------------------

    async def customer_message(
        self,
        conn: AsyncConnection,
        ticket_id: int,
        *,
        message_id: int,
        interaction_id: int | None = None,
        suppressed: Suppression | None = None,
        detail: str | None = None,
    ) -> Ticket:
        """A customer's inbound message (already stored) on the ticket; returns the ticket
        it now belongs to.

        ``suppressed`` (auto-reply, bounce, bulk, loop): recorded as
        ticket.message_suppressed with the reason and ``detail``; no status change, no
        SLA clock. Otherwise: pending/solved -> open (ticket.status_changed, reason
        customer_reply), the next-response clock starts if the first response was given;
        a closed ticket stays closed and a follow-up ticket is opened for the message
        (its interaction moves there)."""
        now = self.clock()
        ticket = await self.get(conn, ticket_id, lock=True)
        who = {"customer_id": ticket.customer_id, "interaction_id": interaction_id}
        if suppressed is not None:
            await events.write(
                conn,
                te.ticket_row(
                    te.MessageSuppressed(
                        message_id=message_id, reason=Suppression(suppressed).value, detail=detail
                    ),
                    ticket_id=ticket_id,
                    **who,
                ),
            )
            return ticket
        if ticket.status is S.CLOSED:
            follow = await self.create(
                conn,
                customer_id=ticket.customer_id,
                subject=ticket.subject,
                channel=ticket.channel,
                queue=ticket.queue,
                priority=TicketPriority(ticket.priority)
                if ticket.priority in TicketPriority._value2member_map_
                else TicketPriority.NORMAL,
                assignee_id=ticket.assignee_id,
                tags=ticket.tags or (),
                interaction_id=interaction_id,
                actor=CUSTOMER,
                follow_up_of_id=ticket.id,
            )
            return await self.customer_message(
                conn, follow.id, message_id=message_id, interaction_id=interaction_id
            )
        rows: list[dict[str, Any]] = []
        reopened = ticket.status in (S.PENDING, S.SOLVED)
        values: dict[str, Any] = {"updated_at": now}
        flags = dict(ticket.sla_flags or {})
        if reopened:
            values.update(status=S.OPEN, solved_at=None)
            flags, resumed = await self._resume_resolution(conn, ticket, flags, now)
            values.update(resumed)
            rows.append(
                te.ticket_row(
                    te.StatusChanged(old=ticket.status.value, new="open", reason="customer_reply"),
                    ticket_id=ticket_id,
                    actor_kind=ActorKind.CUSTOMER,
                    **who,
                )
            )
            # A reopened ticket's resolution clock runs again (same due time).
            res = flags.get(SlaTarget.RESOLUTION.value)
            if res and res.get("state") in (clocks.MET, clocks.MISSED):
                flags[SlaTarget.RESOLUTION.value] = {
                    **res,
                    "state": clocks.BREACHED if res["state"] == clocks.MISSED else clocks.RUNNING,
                }
        rows.append(
            te.ticket_row(
                te.CustomerMessage(message_id=message_id, reopened=reopened),
                ticket_id=ticket_id,
                actor_kind=ActorKind.CUSTOMER,
                **who,
            )
        )
        first = flags.get(SlaTarget.FIRST_RESPONSE.value)
        answered = ticket.first_responded_at is not None or (
            first is not None and first.get("state") in (clocks.MET, clocks.MISSED)
        )
        if answered and clocks.restart_allowed(flags, SlaTarget.NEXT_RESPONSE):
            policy = await self._policy(conn, ticket.queue, ticket.priority)
            if policy is not None and policy["next_response_minutes"]:
                due, warn = self._due(now, policy["next_response_minutes"], policy["warn_minutes"])
                flags = clocks.start(flags, SlaTarget.NEXT_RESPONSE, due, warn)
                values["next_response_due_at"] = due
                rows.append(
                    te.ticket_row(
                        te.SlaSet(
                            policy_id=policy["id"],
                            target=SlaTarget.NEXT_RESPONSE.value,
                            due_at=due.isoformat(),
                        ),
                        ticket_id=ticket_id,
                        **who,
                    )
                )
        values.update(sla_flags=flags, sla_check_at=clocks.next_check(flags))
        await conn.execute(update(TICKETS).where(TICKETS.c.id == ticket_id).values(**values))
        await events.write(conn, *rows)
        return await self.get(conn, ticket_id)

    async def agent_replied(
        self,
        conn: AsyncConnection,
        ticket_id: int,
        *,
        message_id: int,
        agent_id: int,
        interaction_id: int | None = None,
    ) -> Ticket:
        """An agent's reply (already stored, e.g. by a Replier): ticket.replied; the first
        or next response clock stops (ticket.sla_met, in time or not)."""
        now = self.clock()
        ticket = await self.get(conn, ticket_id, lock=True)
        if ticket.status is S.CLOSED:
            raise TicketError("conflict", "the ticket is closed")
        who = {"customer_id": ticket.customer_id, "interaction_id": interaction_id}
        rows = [
            te.ticket_row(
                te.Replied(message_id=message_id, agent_id=agent_id),
                ticket_id=ticket_id,
                actor_kind=ActorKind.AGENT,
                actor_id=agent_id,
                **who,
            )
        ]
        flags = dict(ticket.sla_flags or {})
        values: dict[str, Any] = {"updated_at": now}
        if ticket.first_responded_at is None:
            values["first_responded_at"] = now
        for target in (SlaTarget.FIRST_RESPONSE, SlaTarget.NEXT_RESPONSE):
            due = (flags.get(target.value) or {}).get("due_at")
            flags, in_time = clocks.stop(flags, target, now)
            if in_time is not None:
                rows.append(
                    te.ticket_row(
                        te.SlaMet(target=target.value, due_at=due, in_time=in_time),
                        ticket_id=ticket_id,
                        **who,
                    )
                )
        values.update(
            next_response_due_at=None, sla_flags=flags, sla_check_at=clocks.next_check(flags)
        )
        await conn.execute(update(TICKETS).where(TICKETS.c.id == ticket_id).values(**values))
        await events.write(conn, *rows)
        return await self.get(conn, ticket_id)

    # -- notes ---------------------------------------------------------------------------

    async def add_note(
        self, conn: AsyncConnection, ticket_id: int, *, body: str, author_id: int | None
    ) -> dict[str, Any]:
        """A private note (author None: the system's, e.g. a bounce); ticket.note_added."""
        ticket = await self.get(conn, ticket_id)
        now = self.clock()
        row = (
            await conn.execute(
                insert(NOTES)
                .values(ticket_id=ticket_id, author_id=author_id, body=body, created_at=now)
                .returning(NOTES)
            )
        ).one()
        await self._touch(conn, ticket_id)
        await events.write(
            conn,
            te.ticket_row(
                te.NoteAdded(note_id=row.id, body=body),
                customer_id=ticket.customer_id,
                ticket_id=ticket_id,
                actor_kind=ActorKind.AGENT if author_id else ActorKind.SYSTEM,
                actor_id=author_id,
            ),
        )
        return note_json(row._mapping)

    # -- changes -------------------------------------------------------------------------

    async def update(
        self, conn: AsyncConnection, ticket_id: int, changes: TicketChanges, *, actor: Actor
    ) -> Ticket:
        """A PATCH: each changed field one ticket.updated / ticket.status_changed event;
        a new queue or priority re-times the running SLA clocks from the new policy."""
        now = self.clock()
        ticket = await self.get(conn, ticket_id, lock=True)
        rows: list[dict[str, Any]] = []
        values: dict[str, Any] = {}
        who = {
            "customer_id": ticket.customer_id,
            "ticket_id": ticket_id,
            "actor_kind": actor.kind,
            "actor_id": actor.id,
        }
        if changes.status is not None and changes.status is not ticket.status:
            if changes.status not in ALLOWED[ticket.status]:
                raise TicketError(
                    "conflict",
                    f"a {ticket.status.value} ticket cannot become {changes.status.value}",
                )
            values["status"] = changes.status
            if changes.status is S.SOLVED:
                values["solved_at"] = now
            elif changes.status is S.CLOSED:
                values["closed_at"] = now
            elif ticket.status is S.SOLVED:
                values["solved_at"] = None
            rows.append(
                te.ticket_row(
                    te.StatusChanged(
                        old=ticket.status.value, new=changes.status.value, reason="agent"
                    ),
                    **who,
                )
            )
        elif ticket.status is S.CLOSED and changes != TicketChanges(status=changes.status):
            raise TicketError("conflict", "the ticket is closed")
        simple = {
            "priority": None if changes.priority is None else int(changes.priority),
            "queue": changes.queue,
            "subject": changes.subject,
            "tags": None if changes.tags is None else sorted(set(changes.tags)),
        }
        for field, new in simple.items():
            if new is not None and new != getattr(ticket, field):
                values[field] = new
                rows.append(
                    te.ticket_row(
                        te.Updated(field=field, old=getattr(ticket, field), new=new), **who
                    )
                )
        if changes.assignee_id is not None:
            new_assignee = changes.assignee_id or None
            if new_assignee != ticket.assignee_id:
                values["assignee_id"] = new_assignee
                rows.append(
                    te.ticket_row(
                        te.Updated(field="assignee_id", old=ticket.assignee_id, new=new_assignee),
                        **who,
                    )
                )
        if not values:
            return ticket
        values["updated_at"] = now
        await conn.execute(update(TICKETS).where(TICKETS.c.id == ticket_id).values(**values))
        ticket = await self.get(conn, ticket_id)
        if values.get("status") is S.PENDING:
            await self._pause_resolution(conn, ticket, now)
        if "status" in values and values["status"] is not S.PENDING:
            _flags, resumed = await self._resume_resolution(
                conn, ticket, ticket.sla_flags or {}, now
            )
            if resumed:
                await conn.execute(
                    update(TICKETS).where(TICKETS.c.id == ticket.id).values(**resumed)
                )
                ticket = await self.get(conn, ticket_id)
        if values.get("status") in (S.SOLVED, S.CLOSED):
            rows += await self._stop_resolution(conn, ticket, now)
        elif "priority" in values or "queue" in values:
            rows += await self._apply_policy(conn, ticket, now, initial=False)
        await events.write(conn, *rows)
        return await self.get(conn, ticket_id)

    # -- SLA -----------------------------------------------------------------------------

    def _due(self, start: datetime, minutes: int, warn: int) -> tuple[datetime, datetime | None]:
        due = self.calendar.add(start, minutes)
        warn_at = self.calendar.add(start, minutes - warn) if 0 < warn < minutes else None
        return due, warn_at

    async def _policy(self, conn: AsyncConnection, queue: str, priority: int) -> Any:
        rows = (await conn.execute(_POLICY, {"b_queue": queue, "b_priority": priority})).all()
        if not rows:
            return None
        best = max(rows, key=lambda r: (r.queue is not None, r.priority is not None))
        return best._mapping

    async def _apply_policy(
        self, conn: AsyncConnection, ticket: Ticket, now: datetime, *, initial: bool
    ) -> list[dict[str, Any]]:
        """Start (initial) or re-time the clocks from the policy of the ticket's queue and
        priority."""
        policy = await self._policy(conn, ticket.queue, ticket.priority)
        values, rows = self._policy_values(ticket, policy, initial=initial)
        await conn.execute(_UPDATE, {"b_id": ticket.id, **values})
        return rows

    def _policy_values(
        self, ticket: Ticket, policy: Any, *, initial: bool
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The ticket's clock columns under ``policy`` and the sla_set rows. Re-timing
        keeps each clock's start: the ticket's creation for first response and
        resolution."""
        flags = dict(ticket.sla_flags or {})
        rows: list[dict[str, Any]] = []
        values: dict[str, Any] = {"sla_policy_id": policy["id"] if policy is not None else None}
        plan = (
            (SlaTarget.FIRST_RESPONSE, "first_response_minutes", "first_response_due_at"),
            (SlaTarget.RESOLUTION, "resolution_minutes", "resolution_due_at"),
        )
        for target, minutes_col, due_col in plan:
            entry = flags.get(target.value)
            if not initial and entry is not None and entry.get("state") not in clocks.ACTIVE:
                continue  # already stopped: a later policy does not rewrite history
            if target is SlaTarget.FIRST_RESPONSE and ticket.first_responded_at is not None:
                continue
            minutes = policy[minutes_col] if policy is not None else None
            if not minutes:
                if entry is not None:
                    flags.pop(target.value)
                    values[due_col] = None
                continue
            due, warn = self._due(ticket.created_at, minutes, policy["warn_minutes"])
            flags = clocks.start(flags, target, due, warn)
            values[due_col] = due
            rows.append(
                te.ticket_row(
                    te.SlaSet(policy_id=policy["id"], target=target.value, due_at=due.isoformat()),
                    customer_id=ticket.customer_id,
                    ticket_id=ticket.id,
                )
            )
        # (A re-timed clock already past due is breached at the loop's next look.)
        values.update(sla_flags=flags, sla_check_at=clocks.next_check(flags))
        return values, rows

    async def _pause_resolution(self, conn: AsyncConnection, ticket: Ticket, now: datetime) -> None:
        """Pending: waiting on the customer, so the resolution clock stops, keeping the
        business time it had left."""
        flags = ticket.sla_flags or {}
        entry = flags.get(SlaTarget.RESOLUTION.value)
        if not entry or entry.get("state") not in (clocks.RUNNING, clocks.WARNED):
            return
        due = datetime.fromisoformat(entry["due_at"])
        left = self.calendar.between(now, due).total_seconds()
        flags = clocks.pause(flags, SlaTarget.RESOLUTION, left)
        await conn.execute(
            update(TICKETS)
            .where(TICKETS.c.id == ticket.id)
            .values(sla_flags=flags, sla_check_at=clocks.next_check(flags), resolution_due_at=None)
        )
        await events.write(
            conn,
            te.ticket_row(
                te.SlaPaused(target=SlaTarget.RESOLUTION.value, left_s=left),
                customer_id=ticket.customer_id,
                ticket_id=ticket.id,
            ),
        )

    async def _resume_resolution(
        self, conn: AsyncConnection, ticket: Ticket, flags: dict[str, Any], now: datetime
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A paused resolution clock runs again from now with the time it had left: the new
        flags and the ticket values to write ({} when nothing was paused)."""
        left = clocks.paused_left(flags, SlaTarget.RESOLUTION)
        if left is None:
            return flags, {}
        policy = await self._policy(conn, ticket.queue, ticket.priority)
        warn = policy["warn_minutes"] if policy is not None else 0
        due = self.calendar.add(now, left / 60)
        warn_at = self.calendar.add(now, left / 60 - warn) if 0 < warn * 60 < left else None
        flags = clocks.resume(flags, SlaTarget.RESOLUTION, due, warn_at)
        await events.write(
            conn,
            te.ticket_row(
                te.SlaSet(
                    policy_id=ticket.sla_policy_id,
                    target=SlaTarget.RESOLUTION.value,
                    due_at=due.isoformat(),
                ),
                customer_id=ticket.customer_id,
                ticket_id=ticket.id,
            ),
        )
        return flags, {
            "sla_flags": flags,
            "sla_check_at": clocks.next_check(flags),
            "resolution_due_at": due,
        }

    async def _stop_resolution(
        self, conn: AsyncConnection, ticket: Ticket, now: datetime
    ) -> list[dict[str, Any]]:
        flags = dict(ticket.sla_flags or {})
        rows: list[dict[str, Any]] = []
        for target in SlaTarget:
            due = (flags.get(target.value) or {}).get("due_at")
            flags, in_time = clocks.stop(flags, target, now)
            if in_time is not None:
                rows.append(
                    te.ticket_row(
                        te.SlaMet(target=target.value, due_at=due, in_time=in_time),
                        customer_id=ticket.customer_id,
                        ticket_id=ticket.id,
                    )
                )
        await conn.execute(
            update(TICKETS)
            .where(TICKETS.c.id == ticket.id)
            .values(
                sla_flags=flags, sla_check_at=clocks.next_check(flags), next_response_due_at=None
            )
        )
        return rows

    async def _touch(self, conn: AsyncConnection, ticket_id: int) -> None:
        await conn.execute(
            update(TICKETS).where(TICKETS.c.id == ticket_id).values(updated_at=self.clock())
        )


def note_json(m: Any) -> dict[str, Any]:
    return {
        "id": m["id"],
        "ticket_id": m["ticket_id"],
        "author_id": m["author_id"],
        "body": m["body"],
        "at": m["created_at"].isoformat(),
    }
