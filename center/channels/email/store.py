"""Core statements on the email tables (one round trip each, in the caller's step)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from center.channels.email.models import (
    EmailAddress,
    EmailInbound,
    EmailMessageId,
    EmailParticipant,
    EmailThread,
    InboundStatus,
)
from center.records.base import utcnow
from center.records.enums import Direction

INBOUND = EmailInbound.__table__
IDS = EmailMessageId.__table__
THREADS = EmailThread.__table__
PARTICIPANTS = EmailParticipant.__table__
ADDRESSES = EmailAddress.__table__


def key(message_id: str) -> str:
    return hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()


def insert_ignore(conn: AsyncConnection, table: Any, values: Any, index: list[str]) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).values(values).on_conflict_do_nothing(index_elements=index)


async def inbound(conn: AsyncConnection, inbound_id: int, *, lock: bool = False) -> Any:
    stmt = select(INBOUND).where(INBOUND.c.id == inbound_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await conn.execute(stmt)).first()


async def set_inbound(
    conn: AsyncConnection, inbound_id: int, status: InboundStatus, **values: Any
) -> None:
    await conn.execute(
        update(INBOUND)
        .where(INBOUND.c.id == inbound_id)
        .values(status=status, processed_at=utcnow(), **values)
    )


async def ticket_for_ids(
    conn: AsyncConnection, ids: list[str], *, direction: Direction | None = None
) -> tuple[int, int | None, str] | None:
    """The ticket of the first of ``ids`` (in the order given) we stored or sent:
    (ticket_id, message row id, the id)."""
    if not ids:
        return None
    keys = {key(i): i for i in ids}
    stmt = select(IDS.c.key, IDS.c.ticket_id, IDS.c.message_row_id).where(IDS.c.key.in_(list(keys)))
    if direction is not None:
        stmt = stmt.where(IDS.c.direction == direction)
    found = {r.key: (r.ticket_id, r.message_row_id) for r in await conn.execute(stmt)}
    for k, mid in keys.items():
        if k in found:
            return (found[k][0], found[k][1], mid)
    return None


async def known_id(conn: AsyncConnection, message_id: str, direction: Direction) -> bool:
    stmt = select(IDS.c.id).where(IDS.c.key == key(message_id), IDS.c.direction == direction)
    return (await conn.execute(stmt.limit(1))).first() is not None


async def index_id(
    conn: AsyncConnection,
    message_id: str,
    *,
    ticket_id: int,
    message_row_id: int | None,
    direction: Direction,
) -> None:
    await conn.execute(
        IDS.insert().values(
            key=key(message_id),
            message_id=message_id,
            ticket_id=ticket_id,
            message_row_id=message_row_id,
            direction=direction,
            created_at=utcnow(),
        )
    )


async def thread(conn: AsyncConnection, ticket_id: int) -> Any:
    return (await conn.execute(select(THREADS).where(THREADS.c.ticket_id == ticket_id))).first()


async def thread_by_token(conn: AsyncConnection, token: str) -> Any:
    return (await conn.execute(select(THREADS).where(THREADS.c.token == token))).first()


async def add_thread(
    conn: AsyncConnection, ticket_id: int, *, token: str, support_address: str, subject: str
) -> None:
    await conn.execute(
        insert_ignore(
            conn,
            THREADS,
            {
                "ticket_id": ticket_id,
                "token": token,
                "support_address": support_address,
                "subject": subject[:998],
                "created_at": utcnow(),
            },
            ["ticket_id"],
        )
    )


async def mark_acknowledged(conn: AsyncConnection, ticket_id: int) -> bool:
    """True for the one caller that marks the thread acknowledged (at most one ack)."""
    result = await conn.execute(
        update(THREADS)
        .where(THREADS.c.ticket_id == ticket_id, THREADS.c.acknowledged_at.is_(None))
        .values(acknowledged_at=utcnow())
    )
    return result.rowcount == 1


async def add_participants(conn: AsyncConnection, ticket_id: int, addresses: Iterable[str]) -> None:
    values = [{"ticket_id": ticket_id, "address": a[:320]} for a in sorted(set(addresses)) if a]
    if values:
        await conn.execute(insert_ignore(conn, PARTICIPANTS, values, ["ticket_id", "address"]))


async def is_participant(conn: AsyncConnection, ticket_id: int, address: str) -> bool:
    stmt = select(PARTICIPANTS.c.id).where(
        and_(PARTICIPANTS.c.ticket_id == ticket_id, PARTICIPANTS.c.address == address)
    )
    return (await conn.execute(stmt)).first() is not None


async def address(conn: AsyncConnection, addr: str, *, lock: bool = False) -> Any:
    stmt = select(ADDRESSES).where(ADDRESSES.c.address == addr)
    if lock:
        stmt = stmt.with_for_update()
    return (await conn.execute(stmt)).first()


async def flag_undeliverable(conn: AsyncConnection, addr: str, reason: str) -> None:
    now = utcnow()
    await conn.execute(insert_ignore(conn, ADDRESSES, {"address": addr}, ["address"]))
    await conn.execute(
        update(ADDRESSES)
        .where(ADDRESSES.c.address == addr)
        .values(undeliverable=True, reason=reason[:1000], flagged_at=now)
    )


async def take_ack_slot(conn: AsyncConnection, addr: str, *, cap: int, now: datetime) -> bool:
    """One auto-acknowledgement to ``addr`` if fewer than ``cap`` went in the last hour."""
    await conn.execute(insert_ignore(conn, ADDRESSES, {"address": addr}, ["address"]))
    row = await address(conn, addr, lock=True)
    start, count = row.ack_window_start, row.ack_count
    if start is None or now - start >= timedelta(hours=1):
        start, count = now, 0
    if count >= cap:
        return False
    await conn.execute(
        update(ADDRESSES)
        .where(ADDRESSES.c.address == addr)
        .values(ack_window_start=start, ack_count=count + 1)
    )
    return True


async def customer_for_email(conn: AsyncConnection, addr: str) -> int | None:
    """The customer owning this verified address (merges followed), or None."""
    from center.records.models import Customer, Identity

    ids, customers = Identity.__table__, Customer.__table__
    found = await conn.scalar(
        select(ids.c.customer_id).where(
            ids.c.kind == "email", ids.c.value == addr, ids.c.verified.is_(True)
        )
    )
    for _ in range(10):  # a merged customer's identities moved on; follow defensively
        if found is None:
            return None
        merged = await conn.scalar(
            select(customers.c.merged_into_id).where(customers.c.id == found)
        )
        if merged is None:
            return int(found)
        found = merged
    return int(found)


async def create_customer(conn: AsyncConnection, addr: str, name: str | None) -> tuple[int, list]:
    """A new customer whose verified identity is the address mail arrived from; the rows
    of its events (customer.created, customer.identity_added) for the caller to write."""
    from center.records import events
    from center.records.enums import ActorKind, IdentityKind
    from center.records.models import Customer, Identity

    now = utcnow()
    new = await conn.execute(
        Customer.__table__.insert()
        .values(display_name=(name or None) and name[:120], created_at=now)
        .returning(Customer.__table__.c.id)
    )
    customer_id = int(new.scalar_one())
    await conn.execute(
        Identity.__table__.insert().values(
            customer_id=customer_id,
            kind=IdentityKind.EMAIL,
            value=addr,
            verified=True,
            created_at=now,
        )
    )
    who = {"customer_id": customer_id, "actor_kind": ActorKind.CUSTOMER}
    return customer_id, [
        events.row(events.CustomerCreated(via="email"), **who),
        events.row(events.IdentityAdded(kind="email", value=addr, verified=True), **who),
    ]
