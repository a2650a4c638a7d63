"""Helpers for routing tests over real sockets: clients closed for you, a chat in hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from center.records.models import Event, User
from tests.support import Agent, Client, Customer, Server, signed_in_agent


@dataclass
class Desk:
    server: Server
    clients: list[Client] = field(default_factory=list)

    async def agent(self, username: str, **kwargs: Any) -> Agent:
        agent = await signed_in_agent(self.server, username, **kwargs)
        self.clients.append(agent)
        return agent

    def customer(self) -> Customer:
        customer = Customer(self.server.url)
        self.clients.append(customer)
        return customer

    async def chat_assigned_to(self, agent: Agent, text: str = "my router is broken") -> int:
        """A new customer writes; ``agent`` (the only one available) gets and accepts it."""
        customer = self.customer()
        await customer.connect()
        iid = (await customer.say(text))["interaction_id"]
        offer = await agent.next("offer")
        assert offer["id"] == iid
        assert (await agent.call("accept", {"interaction_id": iid}))["ok"]
        return iid

    async def close(self) -> None:
        for client in reversed(self.clients):
            await client.close()

    async def user_id(self, username: str) -> int:
        async with self.server.db.read() as s:
            return (await s.scalars(select(User.id).where(User.username == username))).one()

    async def events(self, *, interaction_id: int | None = None, type: str | None = None):
        """(type, data) of the events of an interaction and/or of one type, in order."""
        stmt = select(Event).order_by(Event.id)
        if interaction_id is not None:
            stmt = stmt.where(Event.interaction_id == interaction_id)
        if type is not None:
            stmt = stmt.where(Event.type == type)
        async with self.server.db.read() as s:
            return [(e.type, e.data) for e in await s.scalars(stmt)]
