"""socket.io plumbing shared by every namespace: the server, the namespace base, the manager.

* ``Server`` drops events from the wire named like the ones socket.io raises itself
  (connect, disconnect, connect_error): python-socketio dispatches a client's
  ``emit("disconnect")`` to ``on_disconnect`` like a real one, so a customer's open socket
  could run its own departure (the chat abandoned) and ``emit("connect", auth)`` re-ran the
  connect with other credentials. Dropped at the server, so it holds for every namespace.
* ``Namespace`` bounds every handler: a Redis or database outage, or a handler that runs
  past ``handler_timeout_s``, answers ``{"ok": false, "code": "unavailable"}`` (a connect is
  refused, naming the outage) instead of a client waiting for an ack that never comes.
* ``RedisManager`` publishes through the app's blocking, time-bounded pool, and finds a
  leaving socket's rooms in an index (center/socket_rooms.py), not by walking every room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import socketio
from redis.asyncio import Redis
from socketio import packet

from center.loops import OUTAGE_ERRORS, every, outage_name
from center.socket_rooms import RoomIndex

log = logging.getLogger(__name__)
# Events socket.io itself raises on a namespace; never accepted from a client.
RESERVED_EVENTS = frozenset({"connect", "disconnect", "connect_error"})


class Server(socketio.AsyncServer):
    def __init__(self, *args: Any, handler_timeout_s: float = 30.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handler_timeout_s = handler_timeout_s

    async def _handle_event_internal(
        self, server: Any, sid: str, eio_sid: str, data: list[Any], namespace: str, id: Any
    ) -> None:
        # The one place wire events pass through (text and binary) on their way to
        # _trigger_event, which the server's own connect/disconnect also use.
        name = data[0] if data else None
        if name in RESERVED_EVENTS:
            log.warning("dropped a client-sent %r event from %s on %s", name, sid, namespace)
            if id is not None:  # the client waits for an answer: tell it no
                refusal = {
                    "ok": False,
                    "event": name,
                    "code": "reserved",
                    "error": f"'{name}' is reserved and cannot be sent",
                }
                await server._send_packet(
                    eio_sid,
                    self.packet_class(packet.ACK, namespace=namespace, id=id, data=[refusal]),
                )
            return
        await super()._handle_event_internal(server, sid, eio_sid, data, namespace, id)


def unavailable(event: str, message: str) -> dict[str, Any]:
    return {"ok": False, "event": event, "code": "unavailable", "error": message}


class Namespace(socketio.AsyncNamespace):
    """Base of every namespace: handlers answer within a bound, outages are named."""

    def __init__(self, namespace: str | None = None) -> None:
        super().__init__(namespace)
        self._overdue: set[asyncio.Future[Any]] = set()

    async def settle_overdue(self, timeout_s: float = 5.0) -> None:
        """Wait (boundedly) for handlers answered as overdue to finish unwinding: called at
        shutdown before the database and Redis are closed under them."""
        if self._overdue:
            await asyncio.wait(set(self._overdue), timeout=timeout_s)

    def _set_server(self, server: Any) -> None:
        # Our namespaces rely on Server's guard against client-sent reserved events.
        if not isinstance(server, Server):
            raise TypeError(f"{type(self).__name__} must be registered on center.sockets.Server")
        super()._set_server(server)

    async def trigger_event(self, event: str, *args: Any) -> Any:
        limit = getattr(self.server, "handler_timeout_s", 30.0)
        # The handler runs as a task of its own and is waited for with a bound, not
        # cancelled in place: a cancelled handler first finishes its clean-up (a rollback
        # waits for SQLite's worker thread, itself stuck in the busy handler for up to
        # 30 s), and python-socketio turns the cancellation into an empty ack. Past the
        # bound the client is answered at once; the handler is cancelled and unwinds
        # (rolls back) in the background.
        work = asyncio.ensure_future(super().trigger_event(event, *args))
        try:
            done, _ = await asyncio.wait({work}, timeout=limit)
        except asyncio.CancelledError:
            work.cancel()
            raise
        if not done:
            work.cancel()
            # (kept, so shutdown waits for its rollback before the database goes)
            self._overdue.add(work)
            work.add_done_callback(self._overdue.discard)
            message = f"the server did not answer within {limit:g} s; try again shortly"
            exc: BaseException = TimeoutError()
        else:
            try:
                return work.result()
            except (*OUTAGE_ERRORS, TimeoutError) as error:
                if event == "connect" and isinstance(error, ConnectionRefusedError):
                    raise  # the handler's own refusal ("login required"), not an outage
                exc = error
                message = f"{outage_name(error)}; try again shortly"
        log.warning("%s %s: %s (%r)", self.namespace, event, message, exc)
        if event == "connect":
            raise socketio.exceptions.ConnectionRefusedError(message)
        if event == "disconnect":
            return None  # (the departure itself is retried by center.liveness)
        return unavailable(event, message)


# How often a process counts the others on the socket.io channel: an arrival is announced
# at once (``_HELLO``), a departure is noticed within this.
PEERS_CHECK_S = 1.0
_HELLO = "center.hello"
_HELLO_PREFIX = f'{{"method":"{_HELLO}"'


class RedisManager(RoomIndex, socketio.AsyncRedisManager):
    """AsyncRedisManager whose publishes go through ``publisher`` (a blocking pool with
    time bounds). Its pub/sub listener keeps socket.io's own client and reconnect loop, with
    ``redis_options`` (no read timeout there: a listener is idle between messages).

    A process alone on the channel publishes nothing: socket.io serves this process's own
    clients before it publishes (``emit`` then ``_publish``), and the publish only reached
    this process's own listener, which decoded it and dropped it. That was a Redis round
    trip and a decode for every emit (12 a chat), all of it waste on one process. Alone
    means: our own subscription is live (our announcement came back to it) and the channel
    has one subscriber, counted every ``PEERS_CHECK_S``; a process that subscribes announces
    itself, and the others publish again from the moment they hear it.
    """

    def __init__(self, url: str, *, channel: str, publisher: Redis, **kwargs: Any) -> None:
        super().__init__(url, channel=channel, **kwargs)
        self.publisher = publisher
        self.alone = False  # (until counted: publish)
        self._listening = False  # our subscription live (our announcement came back)
        self._hello = f'{{"method":"{_HELLO}","host_id":"{self.host_id}"}}'
        self._counting: asyncio.Task[None] | None = None

    def initialize(self) -> None:
        super().initialize()
        if not self.write_only:
            self._counting = asyncio.ensure_future(
                every(PEERS_CHECK_S, self._count_peers, "socket.io peers")
            )

    async def stop_counting(self) -> None:
        if self._counting is not None:
            self._counting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._counting

    async def _publish(self, data: Any) -> Any:
        if self.alone:
            return None
        return await self._send(self.json.dumps(data))

    async def _send(self, payload: str) -> Any:
        try:
            return await self.publisher.publish(self.channel, payload)
        except OUTAGE_ERRORS as exc:
            # As socket.io does: this process's own clients were served already; the other
            # processes miss this one message while Redis is away.
            log.warning("socket.io publish failed (%s): %r", outage_name(exc), exc)
            return None

    async def _count_peers(self) -> None:
        counts = await self.publisher.pubsub_numsub(self.channel)
        self.alone = self._listening and bool(counts) and int(counts[0][1]) <= 1

    def _redis_connect(self) -> None:
        super()._redis_connect()
        # socket.io (re)subscribes right after connecting: announce ourselves then. Until
        # our own announcement comes back, our subscription is not known to be live.
        pubsub, subscribe = self.pubsub, self.pubsub.subscribe

        async def subscribe_and_announce(*args: Any, **kwargs: Any) -> Any:
            self._listening = self.alone = False
            answer = await subscribe(*args, **kwargs)
            await self._send(self._hello)
            return answer

        pubsub.subscribe = subscribe_and_announce

    async def _listen(self) -> Any:
        mine, prefix = self._hello.encode(), _HELLO_PREFIX.encode()
        async for message in super()._listen():
            raw = message.encode() if isinstance(message, str) else message
            if isinstance(raw, bytes) and raw.startswith(prefix):
                if raw == mine:
                    self._listening = True
                else:  # another process arrived: it hears what we emit from now on
                    self.alone = False
                continue
            yield message
