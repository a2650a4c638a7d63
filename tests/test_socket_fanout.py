"""The socket.io fan-out across processes (center/sockets.py RedisManager): a process alone
on the channel publishes nothing, and one that arrives is reached from the moment it
subscribes, in both directions; when it leaves, the first is alone again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from center.appkeys import SIO
from center.config import Settings
from center.records.db import Database
from center.sockets import PEERS_CHECK_S, RedisManager
from tests.support import Customer, serve_app, signed_in_agent


async def _until(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        await asyncio.sleep(0.05)


async def test_a_lone_process_publishes_nothing_and_a_new_one_is_reached_at_once(
    settings: Settings, db: Database
) -> None:
    async with serve_app(settings, db) as first:
        alice = await signed_in_agent(first, "alice")  # (a socket: the manager starts)
        manager = first.app[SIO].manager
        assert isinstance(manager, RedisManager)
        await _until(lambda: manager.alone, 5 * PEERS_CHECK_S)
        customer = None
        try:
            async with serve_app(settings, db) as second:
                # A customer on the second process, connected as soon as it serves (its
                # manager subscribes on this first socket, and announces itself).
                customer = Customer(second.url)
                await customer.connect(name="Dana")
                ack = await customer.say("Hi from the second process")
                iid = ack["interaction_id"]
                # Offered on the first process's console, emitted wherever it was routed.
                assert (await alice.next("offer"))["id"] == iid
                assert (await alice.call("accept", {"interaction_id": iid}))["ok"]
                # The first process's emits reach the customer on the second: it publishes
                # again from the arrival's announcement, without waiting for a count.
                assert not manager.alone
                sent = await alice.call("message", {"interaction_id": iid, "text": "Hello!"})
                assert sent["ok"]
                assert (await customer.next("message"))["body"] == "Hello!"
                await customer.say("Thanks")
                assert (await alice.next("message"))["body"] == "Thanks"
                await customer.close()
                customer = None
            # The second process gone, the first is alone again within a few counts.
            await _until(lambda: manager.alone, 5 * PEERS_CHECK_S)
        finally:
            if customer is not None:
                await customer.close()
            await alice.close()
