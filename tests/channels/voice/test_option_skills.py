"""An IVR option that names skills (issue 12): the caller who presses it is offered only to
an agent who has them, even when another agent has been free longer, and still after Redis
lost the routing state and recovery put the call back."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from center.appkeys import ROUTER, SERVICE
from center.queue.router import Router
from center.records.models import Interaction, User
from tests.support import Agent, Server, signed_in_agent
from tests.twilio_support import Webhooks, sid, voice_call

CALLER = "+14155550142"
SPANISH = {"lang:es": 2}


@pytest.fixture
def ivr_text() -> str:
    return """
languages: [en-US]
menus:
  main:
    prompt: Para español marque 1. For anything else press 2.
    options:
      - digit: 1
        say: [español, spanish]
        queue: default
        skills: {"lang:es": 2}
      - digit: 2
        queue: default
    default: default
"""


async def _agents(server: Server) -> tuple[Agent, Agent]:
    # Ann signs in first, so she has been free longest: without the option's skills the
    # call would be hers.
    ann = await signed_in_agent(server, "ann", capacity={"voice": 1})
    bea = await signed_in_agent(server, "bea", capacity={"voice": 1}, skills={"lang:es": 3})
    return ann, bea


async def _press(hooks: Webhooks, digit: str) -> str:
    call = sid("CA")
    await hooks.post("/twilio/voice", voice_call(call, from_=CALLER))
    r = await hooks.post(
        "/twilio/voice/ivr?menu=main&tries=0",
        voice_call(call, "in-progress", from_=CALLER, Digits=digit),
    )
    assert r.status == 200
    return call


async def _record(server: Server, call: str) -> Interaction:
    async with server.db.read() as s:
        return await s.scalar(select(Interaction).where(Interaction.external_ref == call))


async def test_the_option_offers_the_call_only_to_the_skilled_agent(
    server: Server, hooks: Webhooks
) -> None:
    ann, bea = await _agents(server)
    router: Router = server.app[ROUTER]
    try:
        call = await _press(hooks, "1")
        offer = await bea.next("offer")
        i = await _record(server, call)
        assert offer["id"] == i.id and i.required_skills == SPANISH
        assert ann.pending("offer") == []
        # Bea turns it down: it waits for a Spanish speaker, never going to Ann.
        assert (await bea.call("reject", {"interaction_id": i.id}))["ok"]
        assert await router.dispatch_all() == []
        assert ann.pending("offer") == []
        # A caller who pressed 2 needs no skill: Ann, free longest, gets that one.
        other = await _record(server, await _press(hooks, "2"))
        assert (await ann.next("offer"))["id"] == other.id and other.required_skills == {}
    finally:
        await ann.close()
        await bea.close()


async def test_the_skills_survive_a_redis_that_lost_the_routing_state(
    server: Server, hooks: Webhooks
) -> None:
    ann, bea = await _agents(server)
    router: Router = server.app[ROUTER]
    try:
        call = await _press(hooks, "1")
        first = await bea.next("offer")
        async with server.db.read() as s:
            ids = list(await s.scalars(select(User.id).where(User.username.in_(["ann", "bea"]))))
        k = router.keys
        # What a Redis restart without persistence takes: the call's and the agents' live
        # state, the queue and the offer.
        await router.redis.delete(
            k.interaction(first["id"]),
            k.queue("default", "voice"),
            k.offers,
            k.available("voice"),
            *(k.agent(a) for a in ids),
        )
        await server.app[SERVICE].recover()
        await router.dispatch_all()  # (or the router's loop, whichever comes first)
        again = await bea.next("offer")
        assert again["id"] == first["id"] == (await _record(server, call)).id
        assert ann.pending("offer") == []
    finally:
        await ann.close()
        await bea.close()
