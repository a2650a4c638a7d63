"""The outbox on a real database: enqueue idempotency, send, retry with backoff, failure,
crash recovery and two workers never sending one row twice (fake clock, fake senders)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from center.outbox import (
    Item,
    OutboxKind,
    OutboxWorker,
    PermanentSendError,
    RetryableSendError,
    WorkerOptions,
    enqueue,
    requeue,
    status_of,
)
from center.outbox.models import OutboxItem
from center.records.base import utcnow
from center.records.enums import Direction
from tests.tickets.support import (
    FakeClock,
    make_customer,
    make_interaction,
    make_message,
    message_meta,
    timeline,
)


class Recorder:
    """A sender standing in for the provider: records what it was handed, fails on cue."""

    idempotent = False

    def __init__(self) -> None:
        self.sent: list[Item] = []
        self.fail_with: list[Exception] = []
        self.gate: asyncio.Event | None = None

    async def send(self, item: Item) -> dict[str, Any]:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_with:
            raise self.fail_with.pop(0)
        self.sent.append(item)
        return {"provider_id": f"P{item.id}"}


async def _queued(db, key="k1"):
    customer = await make_customer(db)
    interaction = await make_interaction(db, customer)
    message = await make_message(db, interaction, Direction.OUTBOUND, "reply")
    async with db.step() as c:
        first = await enqueue(
            c, OutboxKind.EMAIL, {"to": "a@example.com"}, key=key,
            customer_id=customer, interaction_id=interaction, message_id=message,
        )  # fmt: skip
        again = await enqueue(c, OutboxKind.EMAIL, {"to": "other"}, key=key, customer_id=customer)
    assert again == first
    return customer, message, first


async def test_enqueue_is_idempotent_and_a_send_is_recorded_once(db) -> None:
    customer, message, row_id = await _queued(db)
    assert (await message_meta(db, message))["delivery"]["status"] == "queued"
    sender, clock = Recorder(), FakeClock(utcnow())
    told: list[dict[str, Any]] = []

    async def notify(n: dict[str, Any]) -> None:
        told.append(n)

    worker = OutboxWorker(db, {OutboxKind.EMAIL: sender}, clock=clock, notify=notify)
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0  # nothing left: sent once
    assert [i.payload for i in sender.sent] == [{"to": "a@example.com"}]
    async with db.read_step() as c:
        state = await status_of(c, row_id)
    assert state["status"] == "sent" and state["attempts"] == 1
    assert state["result"] == {"provider_id": f"P{row_id}"}
    delivery = (await message_meta(db, message))["delivery"]
    assert delivery["status"] == "sent" and delivery["result"]["provider_id"] == f"P{row_id}"
    assert [n["delivery"]["status"] for n in told] == ["sent"]
    assert "delivery.sent" in [t for t, _ in await timeline(db, customer)]


async def test_an_outage_backs_off_then_recovery_delivers_exactly_once(db) -> None:
    customer, message, row_id = await _queued(db)
    sender, clock = Recorder(), FakeClock(utcnow())
    sender.fail_with = [RetryableSendError("421 try later"), RetryableSendError("421 again")]
    options = WorkerOptions(backoff_first_s=10, max_attempts=5)
    worker = OutboxWorker(db, {OutboxKind.EMAIL: sender}, options, clock=clock)
    assert await worker.run_once() == 1
    delivery = (await message_meta(db, message))["delivery"]
    assert delivery["status"] == "queued" and delivery["reason"] == "421 try later"
    assert await worker.run_once() == 0  # not due before its backoff
    clock.advance(seconds=9)
    assert await worker.run_once() == 0
    clock.advance(seconds=1)
    assert await worker.run_once() == 1  # second try fails: next in 20 s
    clock.advance(seconds=19)
    assert await worker.run_once() == 0
    clock.advance(seconds=1)
    assert await worker.run_once() == 1
    clock.advance(hours=5)
    assert await worker.run_once() == 0
    assert len(sender.sent) == 1
    async with db.read_step() as c:
        state = await status_of(c, row_id)
    assert state["status"] == "sent" and state["attempts"] == 3
    types = [t for t, _ in await timeline(db, customer)]
    assert types.count("delivery.retrying") == 2 and types.count("delivery.sent") == 1


async def test_permanent_failure_keeps_the_reason_and_resend_is_explicit(db) -> None:
    _customer, message, row_id = await _queued(db)
    sender, clock = Recorder(), FakeClock(utcnow())
    sender.fail_with = [PermanentSendError("550 no such user")]
    worker = OutboxWorker(db, {OutboxKind.EMAIL: sender}, clock=clock)
    await worker.run_once()
    clock.advance(days=1)
    assert await worker.run_once() == 0  # a failed row is never retried by itself
    delivery = (await message_meta(db, message))["delivery"]
    assert delivery == {**delivery, "status": "failed", "reason": "550 no such user"}
    async with db.step() as c:
        assert await requeue(c, row_id, actor_id=None)
        assert not await requeue(c, row_id, actor_id=None)  # only a failed row
    assert await worker.run_once() == 1
    assert len(sender.sent) == 1


async def test_retries_stop_at_max_attempts(db) -> None:
    _customer, message, _row = await _queued(db)
    sender, clock = Recorder(), FakeClock(utcnow())
    sender.fail_with = [RetryableSendError(f"down {n}") for n in range(3)]
    worker = OutboxWorker(
        db,
        {OutboxKind.EMAIL: sender},
        WorkerOptions(max_attempts=3, backoff_first_s=1),
        clock=clock,
    )
    for _ in range(3):
        await worker.run_once()
        clock.advance(minutes=1)
    delivery = (await message_meta(db, message))["delivery"]
    assert delivery["status"] == "failed" and delivery["reason"] == "down 2"
    assert delivery["attempts"] == 3 and sender.sent == []


async def test_a_crash_mid_send_never_sends_twice(db) -> None:
    """The first worker claims the row and dies before recording; after the lease the next
    worker fails it as interrupted instead of sending it again."""
    _customer, message, row_id = await _queued(db)
    clock = FakeClock(utcnow())
    dead = OutboxWorker(db, {OutboxKind.EMAIL: Recorder()}, clock=clock, owner="dead")
    claimed = await dead.claim()  # ...and the process stops here
    assert [i.id for i in claimed] == [row_id]
    survivor_sender = Recorder()
    survivor = OutboxWorker(db, {OutboxKind.EMAIL: survivor_sender}, clock=clock)
    assert await survivor.run_once() == 0  # leased: not touched
    clock.advance(seconds=WorkerOptions().lease_s + 1)
    await survivor.run_once()
    assert survivor_sender.sent == []
    delivery = (await message_meta(db, message))["delivery"]
    assert delivery["status"] == "failed" and "interrupted" in delivery["reason"]
    # An idempotent sender (the provider dedupes on the key) gets it back instead.
    async with db.step() as c:
        await requeue(c, row_id, actor_id=None)
    await dead.claim()
    clock.advance(seconds=WorkerOptions().lease_s + 1)
    survivor_sender.idempotent = True
    assert await survivor.run_once() == 1  # recovered as queued, then sent
    assert await survivor.run_once() == 0
    assert [i.id for i in survivor_sender.sent] == [row_id]


async def test_two_workers_claim_disjoint_rows(db) -> None:
    customer = await make_customer(db)
    async with db.step() as c:
        for n in range(12):
            await enqueue(c, OutboxKind.SMS, {"n": n}, key=f"sms-{n}", customer_id=customer)
    clock = FakeClock(utcnow())
    a, b = Recorder(), Recorder()
    wa = OutboxWorker(db, {OutboxKind.SMS: a}, WorkerOptions(batch=5), clock=clock)
    wb = OutboxWorker(db, {OutboxKind.SMS: b}, WorkerOptions(batch=5), clock=clock)
    while await asyncio.gather(wa.run_once(), wb.run_once()) != [0, 0]:
        pass
    sent = [i.payload["n"] for i in a.sent + b.sent]
    assert sorted(sent) == list(range(12))
    async with db.read_step() as c:
        attempts = (await c.execute(select(OutboxItem.attempts))).scalars().all()
    assert attempts == [1] * 12


async def test_a_kind_without_a_sender_waits(db) -> None:
    customer = await make_customer(db)
    async with db.step() as c:
        row_id = await enqueue(c, OutboxKind.CALL, {}, key="call-1", customer_id=customer)
    worker = OutboxWorker(db, {OutboxKind.EMAIL: Recorder()}, clock=FakeClock(utcnow()))
    assert await worker.run_once() == 0
    async with db.read_step() as c:
        assert (await status_of(c, row_id))["status"] == "queued"
    _ = timedelta
