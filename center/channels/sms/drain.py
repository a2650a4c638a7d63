"""Acting on stored texts: the SMS inbox's processor, one in every process.

``POST /twilio/sms`` only stores the form (center/channels/twilio/inbox.py) and wakes this
process's processor; other processes' rows are found by polling. Each turn claims a batch
in id order and runs ``Inbound.receive`` (what the handler ran before) on every row, one
customer's texts one after another in arrival order, different customers concurrently; the
rows are marked processed in the claim's transaction once their effects have committed.

Effects and the mark are separate transactions (``receive`` has several of its own): a
crash between them leaves the row unprocessed, and acting on it again is a replay that
``receive``'s guard (twilio_webhooks, written with the effects) recognises and skips, so a
text is acted on once. A row whose processing raises (not an outage) is marked with the
error, logged, and not retried; during an outage the claim rolls back and is retried.
At start the loop's first turn drains whatever a stopped process left.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from center import loops
from center.channels.twilio import inbox
from center.channels.twilio.forms import SmsInbound
from center.records.db import Database

log = logging.getLogger(__name__)
KIND = "sms"


def stored_fields(form: SmsInbound) -> dict[str, Any]:
    """The parsed form as Twilio's names, which ``SmsInbound`` validates back the same."""
    fields = form.model_dump(mode="json", by_alias=True, exclude={"media"}, exclude_none=True)
    for n, media in enumerate(form.media):
        fields[f"MediaUrl{n}"] = media.url
        fields[f"MediaContentType{n}"] = media.content_type
    return fields


@dataclass
class Drained:
    """Counters for the bench and tests: rows acted on, failed, and the time spent."""

    rows: int = 0
    failed: int = 0
    busy_s: float = 0.0


@dataclass
class InboxProcessor:
    db: Database
    receive: Callable[[SmsInbound], Awaitable[str]]
    batch: int = 100
    poll_s: float = 1.0
    # Customers acted on at once: enough to overlap database round trips, few enough that
    # a webhook's handler is not queued on the event loop behind a whole batch's tasks.
    concurrency: int = 4
    stats: Drained = field(default_factory=Drained)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        """A row was stored in this process: act on it now, not at the next poll."""
        self._idle.clear()
        self._wake.set()

    async def drained(self) -> None:
        """Return once a turn found nothing left to do (after everything stored so far)."""
        self.wake()
        await self._idle.wait()

    async def run(self) -> None:
        backoff = loops.Backoff("sms inbox")
        while True:
            self._wake.clear()  # (before looking: a row stored meanwhile wakes the next)
            try:
                busy = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await loops.pause(max(self.poll_s, backoff.failed(exc)))
                continue
            backoff.succeeded()
            if busy:
                continue
            if not self._wake.is_set():
                self._idle.set()
            await loops.woken_or_after(self._wake, self.poll_s)

    async def run_once(self) -> int:
        """Claim one batch, act on it, mark it; how many rows were claimed."""
        if not await self._anything_pending():
            return 0
        started = time.perf_counter()
        if self.db.dialect == "postgresql":
            # The claim's row locks last until the marks commit with them.
            async with self.db.step() as c:
                rows = await inbox.claim(c, KIND, self.batch)
                done = await self._act(rows)
                await inbox.finish(c, done)
        else:
            # SQLite: one writer (BEGIN IMMEDIATE) and receive() writes: the claim is a
            # read that holds no lock while the rows are acted on, the marks one write.
            async with self.db.read_step() as c:
                rows = await inbox.claim(c, KIND, self.batch)
            done = await self._act(rows)
            async with self.db.step() as c:
                await inbox.finish(c, done)
        self.stats.rows += len(done)
        self.stats.failed += sum(1 for _, e in done if e is not None)
        self.stats.busy_s += time.perf_counter() - started
        return len(rows)

    async def _anything_pending(self) -> bool:
        # (A read: an idle processor polling must take no write lock on SQLite.)
        async with self.db.read_step() as c:
            found = await c.scalar(
                inbox._PENDING.with_only_columns(inbox.C.id).limit(1), {"k": KIND}
            )
        return found is not None

    async def _act(self, rows: list[inbox.Row]) -> list[tuple[int, str | None]]:
        by_sender: dict[str, list[inbox.Row]] = {}
        for row in rows:
            by_sender.setdefault(row.key, []).append(row)
        limit = asyncio.Semaphore(self.concurrency)
        results = await asyncio.gather(*(self._in_order(rs, limit) for rs in by_sender.values()))
        return sorted(d for ds in results for d in ds)

    async def _in_order(
        self, rows: list[inbox.Row], limit: asyncio.Semaphore
    ) -> list[tuple[int, str | None]]:
        done: list[tuple[int, str | None]] = []
        async with limit:
            for row in rows:
                done.append((row.id, await self._one(row)))
        return done

    async def _one(self, row: inbox.Row) -> str | None:
        """None when acted on; the error (marked, logged, not retried) otherwise."""
        try:
            form = SmsInbound.model_validate(row.form)
            await self.receive(form)
        except asyncio.CancelledError:
            raise
        except loops.OUTAGE_ERRORS:
            raise  # (not this row's fault: the whole claim rolls back and is retried)
        except ValidationError as exc:
            log.error("sms inbox row %s: stored form no longer valid: %s", row.id, exc)
            return f"invalid form: {exc}"
        except Exception as exc:
            log.exception("sms inbox row %s failed; marked, not retried", row.id)
            return f"{type(exc).__name__}: {exc}"
        return None
