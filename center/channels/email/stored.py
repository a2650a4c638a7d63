"""Ledger rows processed after the door: those a process stored and died before it
processed (at start), and quarantined ones a supervisor asks to process again (after a
fix, or to see them fail again with today's reason). One transaction per row, its row
locked and its status checked first, so two processes never process one twice."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import exc, select

from center.channels.email import store
from center.channels.email.intake import Outcome
from center.channels.email.listener import Delivery
from center.channels.email.models import InboundStatus
from center.channels.email.parse import Unparseable, parse

log = logging.getLogger(__name__)


async def process_pending(svc: Any) -> int:
    """Rows left ``received``: processed now; how many there were."""
    async with svc.db.read_step() as c:
        pending = list(
            await c.scalars(
                select(store.INBOUND.c.id)
                .where(store.INBOUND.c.status == InboundStatus.RECEIVED)
                .order_by(store.INBOUND.c.id)
            )
        )
    for inbound_id in pending:
        await process_stored(svc, inbound_id, InboundStatus.RECEIVED)
    return len(pending)


async def process_stored(svc: Any, inbound_id: int, status: InboundStatus) -> Outcome | None:
    """The row processed now if it is (still) in ``status``, else None. A failure other
    than the database's leaves it quarantined with the reason."""
    try:
        async with svc.db.step() as c:
            row = await store.inbound(c, inbound_id, lock=True)
            if row is None or row.status != status:
                return None
            try:
                mail = parse(row.raw, received_at=row.received_at)
            except Unparseable as error:
                reason = f"unparseable: {error}"
                await store.set_inbound(c, inbound_id, InboundStatus.QUARANTINED, reason=reason)
                return Outcome(inbound_id, InboundStatus.QUARANTINED, reason=reason)
            d = Delivery(
                raw=row.raw,
                source=row.source,
                envelope_from=row.envelope_from,
                envelope_to=tuple(row.envelope_to),
            )
            outcome: Outcome = await svc._handle(c, inbound_id, d, mail)
    except (exc.OperationalError, exc.InterfaceError, OSError):
        raise
    except Exception as error:
        log.exception("email: inbound %s could not be processed; kept quarantined", inbound_id)
        reason = f"processing failed: {error!r}"[:1000]
        async with svc.db.step() as c:
            await store.set_inbound(c, inbound_id, InboundStatus.QUARANTINED, reason=reason)
        return Outcome(inbound_id, InboundStatus.QUARANTINED, reason=reason)
    await svc._after(outcome)
    return outcome
