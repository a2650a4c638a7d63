"""Core statements on the email tables (one round trip each, in the caller's step)."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, exists, select, update
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
from center.records import events
from center.records.base import utcnow
from center.records.enums import ActorKind, Direction, IdentityKind
from center.records.models import Customer, Identity

CUSTOMERS, IDENTITIES = Customer.__table__, Identity.__table__
INBOUND = EmailInbound.__table__
IDS = EmailMessageId.__table__
THREADS = EmailThread.__table__
PARTICIPANTS = EmailParticipant.__table__
ADDRESSES = EmailAddress.__table__
_OWNER = (
    select(IDENTITIES.c.customer_id)
    .where(
        IDENTITIES.c.kind == "email",
        IDENTITIES.c.value == bindparam("b_addr"),
        IDENTITIES.c.verified,
    )
    .limit(1)
    .scalar_subquery()
)
_SENDER = select(
    _OWNER,
    select(CUSTOMERS.c.merged_into_id).where(CUSTOMERS.c.id == _OWNER).scalar_subquery(),
    exists().where(IDS.c.key == bindparam("b_key"), IDS.c.direction == bindparam("b_direction")),
)
_MERGED_INTO = select(CUSTOMERS.c.merged_into_id).where(CUSTOMERS.c.id == bindparam("b_id"))
_INSERT_CUSTOMER = CUSTOMERS.insert().returning(CUSTOMERS.c.id, sort_by_parameter_order=True)
_OWNERS = (
    select(IDENTITIES.c.value, IDENTITIES.c.customer_id, CUSTOMERS.c.merged_into_id)
    .join(CUSTOMERS, CUSTOMERS.c.id == IDENTITIES.c.customer_id)
    .where(
        IDENTITIES.c.kind == "email",
        IDENTITIES.c.value.in_(bindparam("b_addrs", expanding=True)),
        IDENTITIES.c.verified,
    )
    .order_by(IDENTITIES.c.id)
)
_KNOWN_IDS = select(IDS.c.key).where(
    IDS.c.key.in_(bindparam("b_keys", expanding=True)), IDS.c.direction == bindparam("b_direction")
)
_INSERT_IDENTITY = IDENTITIES.insert()


def key(message_id: str) -> str:
    return hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()


def insert_ignore(conn: AsyncConnection, table: Any, values: Any, index: list[str]) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).values(values).on_conflict_do_nothing(index_elements=index)


@functools.cache
def ignoring(dialect: str, table: Any, index: tuple[str, ...], returning: Any = None) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING``, built once per dialect and executed with its
    values: rebuilding a statement (and its cache key) per call was most of its CPU."""
    stmt = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    stmt = stmt.on_conflict_do_nothing(index_elements=list(index))
    return stmt if returning is None else stmt.returning(returning)


_CLEAR_UNDELIVERABLE = (
    update(ADDRESSES)
    .where(
        ADDRESSES.c.address.in_(bindparam("b_addrs", expanding=True)),
        ADDRESSES.c.undeliverable.is_(True),
    )
    .values(undeliverable=False, reason=None, flagged_at=None)
    .returning(ADDRESSES.c.address)
)
_SET_INBOUND = update(INBOUND).where(INBOUND.c.id == bindparam("b_id"))
_INSERT_INBOUND = INBOUND.insert().returning(INBOUND.c.id, sort_by_parameter_order=True)
_INDEX_ID = IDS.insert()


async def inbound(conn: AsyncConnection, inbound_id: int, *, lock: bool = False) -> Any:
    stmt = select(INBOUND).where(INBOUND.c.id == inbound_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await conn.execute(stmt)).first()


async def insert_inbound(conn: AsyncConnection, values: list[dict[str, Any]]) -> list[int]:
    """Ledger rows without a source_ref (SMTP: nothing to deduplicate), one statement;
    their ids in the order given."""
    if not values:
        return []
    return [int(r[0]) for r in (await conn.execute(_INSERT_INBOUND, values)).all()]


async def set_inbound(
    conn: AsyncConnection, inbound_id: int, status: InboundStatus, **values: Any
) -> None:
    await set_inbounds(conn, [{"b_id": inbound_id, "status": status, **values}])


async def set_inbounds(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Outcomes of ledger rows ({"b_id": id, "status": …, …}): one executemany per set
    of columns."""
    now = utcnow()
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}  # (none: no statement)
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append({"processed_at": now, **row})
    for params in groups.values():
        await conn.execute(_SET_INBOUND, params)


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


def id_row(
    message_id: str, *, ticket_id: int, message_row_id: int | None, direction: Direction
) -> dict[str, Any]:
    return {
        "key": key(message_id),
        "message_id": message_id,
        "ticket_id": ticket_id,
        "message_row_id": message_row_id,
        "direction": direction,
        "created_at": utcnow(),
    }


async def index_id(
    conn: AsyncConnection,
    message_id: str,
    *,
    ticket_id: int,
    message_row_id: int | None,
    direction: Direction,
) -> None:
    await index_ids(
        conn,
        [
            id_row(
                message_id, ticket_id=ticket_id, message_row_id=message_row_id, direction=direction
            )
        ],
    )


async def index_ids(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(_INDEX_ID, rows)


async def thread(conn: AsyncConnection, ticket_id: int) -> Any:
    return (await conn.execute(select(THREADS).where(THREADS.c.ticket_id == ticket_id))).first()


async def thread_by_token(conn: AsyncConnection, token: str) -> Any:
    return (await conn.execute(select(THREADS).where(THREADS.c.token == token))).first()


async def add_threads(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """New tickets' threads ({ticket_id, token, support_address, subject}), one statement."""
    now = utcnow()
    values = [{**r, "subject": r["subject"][:998], "created_at": now} for r in rows]
    if values:
        await conn.execute(ignoring(conn.dialect.name, THREADS, ("ticket_id",)), values)


async def mark_acknowledged(conn: AsyncConnection, ticket_id: int) -> bool:
    """True for the one caller that marks the thread acknowledged (at most one ack)."""
    result = await conn.execute(
        update(THREADS)
        .where(THREADS.c.ticket_id == ticket_id, THREADS.c.acknowledged_at.is_(None))
        .values(acknowledged_at=utcnow())
    )
    return result.rowcount == 1


def participant_rows(ticket_id: int, addresses: Iterable[str]) -> list[dict[str, Any]]:
    return [{"ticket_id": ticket_id, "address": a[:320]} for a in sorted(set(addresses)) if a]


async def add_participants(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """``participant_rows`` of one ticket or several, one statement."""
    if rows:
        stmt = ignoring(conn.dialect.name, PARTICIPANTS, ("ticket_id", "address"))
        await conn.execute(stmt, rows)


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


async def clear_undeliverable(conn: AsyncConnection, addrs: Iterable[str]) -> set[str]:
    """Those of ``addrs`` flagged undeliverable, unflagged now (one statement)."""
    wanted = sorted(set(addrs))
    if not wanted:
        return set()
    return set((await conn.execute(_CLEAR_UNDELIVERABLE, {"b_addrs": wanted})).scalars())


async def flagged(conn: AsyncConnection) -> list[Any]:
    stmt = select(ADDRESSES).where(ADDRESSES.c.undeliverable.is_(True))
    return list(await conn.execute(stmt.order_by(ADDRESSES.c.flagged_at.desc()).limit(500)))


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
    return (await sender(conn, addr, None))[0]


async def sender(
    conn: AsyncConnection, addr: str, message_id: str | None
) -> tuple[int | None, bool]:
    """(the customer owning this verified address, merges followed, or None; whether we
    already stored an inbound message with this Message-ID): one read, a further one per
    merge (rare)."""
    params = {
        "b_addr": addr,
        "b_key": key(message_id) if message_id else "",  # ("" is no sha256: no match)
        "b_direction": Direction.INBOUND,
    }
    customer_id, merged, duplicate = (await conn.execute(_SENDER, params)).one()
    for _ in range(10):  # a merged customer's identities moved on; follow defensively
        if customer_id is None or merged is None:
            break
        customer_id = merged
        merged = await conn.scalar(_MERGED_INTO, {"b_id": customer_id})
    return (None if customer_id is None else int(customer_id)), bool(duplicate)


async def senders(
    conn: AsyncConnection, addrs: list[str], message_ids: list[str]
) -> tuple[dict[str, int], set[str]]:
    """``sender`` for several messages in two reads: {address: its customer (merges
    followed)} for the addresses that have one, and the Message-IDs already stored."""
    owners: dict[str, int] = {}
    found = await conn.execute(_OWNERS, {"b_addrs": sorted(set(addrs))})
    for addr, customer_id, merged in found:
        for _ in range(10):  # (merged customers: rare, followed one read at a time)
            if merged is None:
                break
            customer_id = merged
            merged = await conn.scalar(_MERGED_INTO, {"b_id": customer_id})
        owners.setdefault(addr, int(customer_id))
    keys = {key(m): m for m in message_ids}
    known = await conn.execute(_KNOWN_IDS, {"b_keys": list(keys), "b_direction": Direction.INBOUND})
    return owners, {keys[k] for (k,) in known}


async def create_customer(conn: AsyncConnection, addr: str, name: str | None) -> tuple[int, list]:
    return (await create_customers(conn, [(addr, name)]))[0]


async def create_customers(
    conn: AsyncConnection, people: list[tuple[str, str | None]]
) -> list[tuple[int, list]]:
    """New customers (two statements for any number) whose verified identity is the
    address mail arrived from; each with the rows of its events (customer.created,
    customer.identity_added) for the caller to write."""
    if not people:
        return []
    now = utcnow()
    new = await conn.execute(
        _INSERT_CUSTOMER,
        [{"display_name": (name or None) and name[:120], "created_at": now} for _, name in people],
    )
    ids = [int(r[0]) for r in new.all()]
    identities = [
        {
            "customer_id": customer_id,
            "kind": IdentityKind.EMAIL,
            "value": addr,
            "verified": True,
            "created_at": now,
        }
        for customer_id, (addr, _) in zip(ids, people, strict=True)
    ]
    await conn.execute(_INSERT_IDENTITY, identities)
    out = []
    for customer_id, (addr, _) in zip(ids, people, strict=True):
        who = {"customer_id": customer_id, "actor_kind": ActorKind.CUSTOMER}
        rows = [
            events.row(events.CustomerCreated(via="email"), **who),
            events.row(events.IdentityAdded(kind="email", value=addr, verified=True), **who),
        ]
        out.append((customer_id, rows))
    return out
