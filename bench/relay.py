"""The anchor for bench/chat.py: a bare python-socketio server doing only the socket work.

    python bench/relay.py --port 8765

It speaks just enough of center's chat and agent protocol for bench/chat.py's clients to
run unchanged (login, presence, welcome, message, offer, accept, close) and keeps everything
in memory: no database, no Redis, no events, no checks. A chat is offered to the agent with
the most room, round robin; what center does beyond that relay is what its CPU buys.
"""

from __future__ import annotations

import argparse
import itertools
from collections import deque
from typing import Any

import socketio
from aiohttp import web

CAPACITY = 3


class Relay:
    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio
        self.ids = itertools.count(1)
        self.agents: dict[str, int] = {}  # agent sid -> chats held
        self.agent_of: dict[int, str] = {}  # interaction -> agent sid
        self.customer_of: dict[int, str] = {}  # interaction -> customer sid
        self.chat_of: dict[str, int] = {}  # customer sid -> interaction
        self.messages: dict[int, list[dict[str, Any]]] = {}
        self.waiting: deque[int] = deque()

    def message(self, iid: int, direction: str, body: str) -> dict[str, Any]:
        m = {"id": next(self.ids), "interaction_id": iid, "direction": direction, "body": body}
        self.messages[iid].append(m)
        return m

    async def offer_waiting(self) -> None:
        while self.waiting:
            free = [sid for sid, n in self.agents.items() if n < CAPACITY]
            if not free:
                return
            sid = min(free, key=self.agents.__getitem__)
            iid = self.waiting.popleft()
            self.agents[sid] += 1
            self.agent_of[iid] = sid
            await self.sio.emit("offer", {"id": iid}, to=sid, namespace="/agent")

    # -- /chat -------------------------------------------------------------------------------

    async def chat_connect(self, sid: str, _environ: Any, _auth: Any = None) -> None:
        await self.sio.emit("welcome", {"token": sid}, to=sid, namespace="/chat")

    async def chat_message(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        iid = self.chat_of.get(sid)
        if iid is None:
            iid = self.chat_of[sid] = next(self.ids)
            self.customer_of[iid], self.messages[iid] = sid, []
            m = self.message(iid, "inbound", data["text"])
            self.waiting.append(iid)
            await self.offer_waiting()
        else:
            m = self.message(iid, "inbound", data["text"])
            agent = self.agent_of.get(iid)
            if agent is not None:
                await self.sio.emit("message", m, to=agent, namespace="/agent")
        return {"ok": True, "message_id": m["id"], "interaction_id": iid}

    # -- /agent ------------------------------------------------------------------------------

    async def agent_connect(self, sid: str, _environ: Any, _auth: Any = None) -> None:
        return None  # (offered chats once available, as center does)

    async def agent_disconnect(self, sid: str, *_: Any) -> None:
        self.agents.pop(sid, None)

    async def presence(self, sid: str, data: Any) -> dict[str, Any]:
        if data.get("presence") == "available":
            self.agents.setdefault(sid, 0)
        else:
            self.agents.pop(sid, None)
        await self.offer_waiting()
        return {"ok": True}

    async def accept(self, _sid: str, data: dict[str, Any]) -> dict[str, Any]:
        iid = data["interaction_id"]
        await self.sio.emit(
            "agent_joined", {"interaction_id": iid}, to=self.customer_of[iid], namespace="/chat"
        )
        return {"ok": True, "interaction": {"id": iid}, "messages": self.messages[iid]}

    async def agent_message(self, _sid: str, data: dict[str, Any]) -> dict[str, Any]:
        iid = data["interaction_id"]
        m = self.message(iid, "outbound", data["text"])
        await self.sio.emit(
            "message", {**m, "author": "agent"}, to=self.customer_of[iid], namespace="/chat"
        )
        return {"ok": True, "message_id": m["id"], "message": m}

    async def close(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        iid = data["interaction_id"]
        customer = self.customer_of.pop(iid)
        self.chat_of.pop(customer, None)
        self.agent_of.pop(iid, None)
        self.messages.pop(iid, None)
        if sid in self.agents:
            self.agents[sid] -= 1
        await self.sio.emit("closed", {"interaction_id": iid}, to=customer, namespace="/chat")
        await self.offer_waiting()
        return {"ok": True}


def create_app() -> web.Application:
    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins=[])
    relay = Relay(sio)
    sio.on("connect", relay.chat_connect, namespace="/chat")
    sio.on("message", relay.chat_message, namespace="/chat")
    sio.on("connect", relay.agent_connect, namespace="/agent")
    sio.on("disconnect", relay.agent_disconnect, namespace="/agent")
    sio.on("presence", relay.presence, namespace="/agent")
    sio.on("accept", relay.accept, namespace="/agent")
    sio.on("message", relay.agent_message, namespace="/agent")
    sio.on("close", relay.close, namespace="/agent")
    app = web.Application()
    sio.attach(app)

    async def login(_request: web.Request) -> web.Response:
        resp = web.json_response({"ok": True})
        resp.set_cookie("center_session", "relay")
        return resp

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app.router.add_post("/api/login", login)
    app.router.add_get("/healthz", health)
    return app


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    args = ap.parse_args()
    web.run_app(create_app(), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
