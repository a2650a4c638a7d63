"""Redis stalls (SIGSTOP: every call hangs, as on a frozen host) and comes back (SIGCONT).

During the outage every socket.io handler answers with an ``unavailable`` error and a new
connect is refused, naming the outage, instead of leaving the client waiting; a customer
who leaves meanwhile is abandoned once Redis is back, and nothing is offered twice.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import socketio

from center.config import Settings
from center.records.db import Database
from center.records.enums import InteractionState
from center.records.models import Interaction
from center.redisconn import EmbeddedRedis
from tests.support import Agent, Customer, Server, serve_app, signed_in_agent

POLLS = 600  # x 0.05 s: a bound for a loaded machine, not a timing claim


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[EmbeddedRedis]:
    """A redis-server of this test's own, to stop and resume."""
    embedded = EmbeddedRedis(tmp_path / "own-redis" / "redis.rdb")
    await asyncio.to_thread(embedded.start)
    try:
        yield embedded
    finally:
        assert embedded.pid is not None
        os.kill(embedded.pid, signal.SIGCONT)  # (whatever the test did)
        await asyncio.to_thread(embedded.stop)


async def _until(check: Callable[[], Awaitable[bool]]) -> None:
    for _ in range(POLLS):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the server never got there")


def _unavailable(ack: Any, event: str) -> None:
    assert isinstance(ack, dict), ack
    assert ack["ok"] is False and ack["code"] == "unavailable" and ack["event"] == event, ack
    assert "Redis" in ack["error"], ack


async def test_handlers_answer_during_a_redis_stall_and_departures_are_not_lost(
    settings: Settings, db: Database, own_redis: EmbeddedRedis
) -> None:
    stalled = settings.model_copy(
        update={
            "redis_url": own_redis.url,
            "redis_socket_timeout_s": 1.0,
            "redis_connect_timeout_s": 1.0,
            "socket_handler_timeout_s": 4.0,
        }
    )
    assert own_redis.pid is not None
    async with serve_app(stalled, db) as server:
        alice = await signed_in_agent(server, "alice", available=False)
        leaving, late = Customer(server.url), Customer(server.url)
        refusals: list[Any] = []
        late.sio.on("connect_error", refusals.append, namespace="/chat")
        try:
            assert (await alice.call("presence", {"presence": "away", "reason": "break"}))["ok"]
            await leaving.connect()
            waiting = (await leaving.say("where is my order?"))["interaction_id"]

            os.kill(own_redis.pid, signal.SIGSTOP)
            # (away again: were it to run once Redis resumes, it would change nothing)
            ack = await alice.call("presence", {"presence": "away", "reason": "break"}, 30)
            _unavailable(ack, "presence")
            with pytest.raises(socketio.exceptions.ConnectionError):
                await late.sio.connect(
                    server.url, namespaces=["/chat"], transports=["websocket"], wait_timeout=30
                )
            assert refusals and "Redis is unavailable" in str(refusals[-1]), refusals
            await leaving.close()  # the customer gives up while Redis is away
            await asyncio.sleep(stalled.redis_socket_timeout_s * 2)  # their departure fails
            os.kill(own_redis.pid, signal.SIGCONT)

            async def abandoned() -> bool:
                async with db.read() as s:
                    row = await s.get(Interaction, waiting)
                    return row is not None and row.state is InteractionState.ABANDONED

            await _until(abandoned)
            await alice.available()
            fresh = Customer(server.url)
            await fresh.connect()
            try:
                later = (await fresh.say("hello?"))["interaction_id"]
                offer = await alice.next("offer", timeout=15)
                assert offer["id"] == later  # the departed customer's chat is never offered
                assert (await alice.call("accept", {"interaction_id": later}))["ok"]
                assert (await fresh.next("agent_joined"))["agent"] == "alice"
                assert alice.pending("offer") == []  # and nothing twice
            finally:
                await fresh.close()
        finally:
            await leaving.close()
            await alice.close()


async def test_a_refused_login_is_not_reported_as_an_outage(server: Server) -> None:
    agent = Agent(server.url)  # no session cookie
    refusals: list[Any] = []
    agent.sio.on("connect_error", refusals.append, namespace="/agent")
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await agent.connect()
        assert refusals and "unavailable" not in str(refusals[-1]), refusals
    finally:
        await agent.close()
