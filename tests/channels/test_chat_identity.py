"""Who may see and write in a chat: only the browser holding the visitor token, or a visitor
the host site vouched for with an identity hash. An e-mail address merely typed opens
nothing of its owner's (issue 9, item 1)."""

from __future__ import annotations

from typing import Any

import pytest
import socketio
from pydantic import SecretStr
from sqlalchemy import select

from center.appkeys import SIO
from center.channels.chat_identity import RefusedIdentity, from_auth, identity_hash
from center.config import Settings
from center.records.enums import Role
from center.records.models import Identity
from tests.support import Agent, Customer, Server, signed_in_agent

SECRET = "host-site-shared-secret"
VICTIM = "victim@example.com"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.chat_identity_secret = SecretStr(SECRET)
    return settings


async def _identities(server: Server, customer_id: int) -> list[tuple[str, str, bool]]:
    async with server.db.read() as s:
        rows = await s.execute(
            select(Identity.kind, Identity.value, Identity.verified)
            .where(Identity.customer_id == customer_id)
            .order_by(Identity.id)
        )
        return [(k.value, v, bool(ok)) for k, v, ok in rows]


async def _victim_in_a_chat(server: Server, agent: Agent, auth: dict[str, Any]) -> Any:
    """A victim whose chat an agent has accepted and answered."""
    victim = Customer(server.url)
    welcome = await victim.connect(**auth)
    ack = await victim.say("my card ends in 4242")
    offer = await agent.next("offer")
    assert (await agent.call("accept", {"interaction_id": offer["id"]}))["ok"]
    await victim.next("agent_joined")
    assert (await agent.call("message", {"interaction_id": ack["interaction_id"], "text": "hi"}))[
        "ok"
    ]
    await victim.next("message")
    return victim, welcome, ack["interaction_id"]


@pytest.mark.parametrize("victim_proved_it", [False, True], ids=["claimed", "verified"])
async def test_typing_someones_email_opens_nothing_of_theirs(
    server: Server, victim_proved_it: bool
) -> None:
    alice = await signed_in_agent(server, "alice")
    sam = await signed_in_agent(server, "sam", role=Role.SUPERVISOR, available=False)
    auth: dict[str, Any] = {"name": "Vic", "email": VICTIM}
    if victim_proved_it:
        auth["identity_hash"] = identity_hash(SECRET, VICTIM)
    victim, vw, iid = await _victim_in_a_chat(server, alice, auth)
    before = await _identities(server, vw["customer_id"])
    attacker = Customer(server.url)
    try:
        aw = await attacker.connect(email="  Victim@EXAMPLE.com ")
        # Nothing of the victim's: another customer, no conversation, no history.
        assert aw["customer_id"] != vw["customer_id"]
        assert aw["interaction"] is None and aw["messages"] == [] and aw["transcript"] == []
        assert aw["token"] != vw["token"]
        # Not in the victim's room: the agent's next message reaches the victim only.
        sid = attacker.sio.get_sid("/chat")
        rooms = server.app[SIO].manager.get_rooms(sid, "/chat")
        assert f"customer:{vw['customer_id']}" not in rooms
        assert (await alice.call("message", {"interaction_id": iid, "text": "secret"}))["ok"]
        assert (await victim.next("message"))["body"] == "secret"
        await attacker.call("typing", {})
        assert attacker.pending("message") == []
        # "End chat" ends nothing of the victim's.
        left = await attacker.call("leave", {})
        assert left == {"ok": True}
        assert alice.pending("customer_left") == []
        # What the attacker writes is their own new chat, never in the victim's.
        wrote = await attacker.say("give me the refund")
        assert wrote["ok"] and wrote["interaction_id"] != iid
        status, body = await sam.get(f"/api/interactions/{iid}")
        assert status == 200 and body["interaction"]["state"] == "assigned"
        bodies = [m["body"] for m in body["interaction"]["messages"]]
        assert bodies == ["my card ends in 4242", "hi", "secret"]
        # The victim's record is untouched; the attacker's holds the claim, unverified.
        assert await _identities(server, vw["customer_id"]) == before
        status, mine = await sam.get(f"/api/customers/{aw['customer_id']}")
        assert status == 200
        assert mine["customer"]["identities"] == [
            {"kind": "email", "value": VICTIM, "verified": False}
        ]
        # And the victim still writes into their chat.
        assert (await victim.say("still here"))["interaction_id"] == iid
        assert (await alice.next("message"))["body"] == "still here"
    finally:
        for client in (attacker, victim, alice, sam):
            await client.close()


async def test_claimed_email_shows_as_unverified_to_agents(server: Server) -> None:
    sam = await signed_in_agent(server, "sam", role=Role.SUPERVISOR, available=False)
    dana = Customer(server.url)
    try:
        welcome = await dana.connect(name="Dana", email="Dana@Example.com")
        status, body = await sam.get(f"/api/customers/{welcome['customer_id']}")
        assert status == 200
        assert body["customer"]["display_name"] == "Dana"
        assert body["customer"]["identities"] == [
            {"kind": "email", "value": "dana@example.com", "verified": False}
        ]
        # A second visitor may claim the same address: a claim is nobody's key.
        other = Customer(server.url)
        second = await other.connect(email="dana@example.com")
        await other.close()
        assert second["customer_id"] != welcome["customer_id"]
    finally:
        await dana.close()
        await sam.close()


async def test_identity_hash_finds_the_same_customer_on_any_browser(server: Server) -> None:
    sam = await signed_in_agent(server, "sam", role=Role.SUPERVISOR, available=False)
    laptop, phone = Customer(server.url), Customer(server.url)
    try:
        first = await laptop.connect(email=VICTIM, identity_hash=identity_hash(SECRET, VICTIM))
        ack = await laptop.say("where is my order?")
        # Another browser (no token), the host site signing the same user in, any case.
        again = await phone.connect(
            email="VICTIM@example.com", identity_hash=identity_hash(SECRET, " Victim@Example.COM")
        )
        assert again["customer_id"] == first["customer_id"]
        assert again["interaction"]["id"] == ack["interaction_id"]
        assert [m["body"] for m in again["messages"]] == ["where is my order?"]
        status, body = await sam.get(f"/api/customers/{first['customer_id']}")
        assert status == 200
        assert body["customer"]["identities"] == [
            {"kind": "email", "value": VICTIM, "verified": True}
        ]
    finally:
        for client in (laptop, phone, sam):
            await client.close()


async def test_signing_in_links_the_anonymous_visitor_and_proves_their_claim(
    server: Server,
) -> None:
    visitor = Customer(server.url)
    w1 = await visitor.connect(email=VICTIM)  # typed: a claim on their own record
    await visitor.close()
    back = Customer(server.url)
    try:
        proof = identity_hash(SECRET, VICTIM)
        w2 = await back.connect(token=w1["token"], email=VICTIM, identity_hash=proof)
        assert w2["customer_id"] == w1["customer_id"] and w2["token"] == w1["token"]
        kinds = await _identities(server, w1["customer_id"])
        assert ("email", VICTIM, True) in kinds and ("email", VICTIM, False) not in kinds
    finally:
        await back.close()


async def test_a_browser_signed_in_as_someone_else_gets_a_token_of_its_own(
    server: Server,
) -> None:
    owner = Customer(server.url)
    known = await owner.connect(email=VICTIM, identity_hash=identity_hash(SECRET, VICTIM))
    await owner.close()
    shared = Customer(server.url)
    anon = await shared.connect()  # someone else chatted on this browser before
    await shared.close()
    before = await _identities(server, anon["customer_id"])
    again = Customer(server.url)
    try:
        w = await again.connect(
            token=anon["token"], email=VICTIM, identity_hash=identity_hash(SECRET, VICTIM)
        )
        assert w["customer_id"] == known["customer_id"]
        assert w["token"] not in (anon["token"], known["token"])
        assert await _identities(server, anon["customer_id"]) == before
    finally:
        await again.close()


@pytest.mark.parametrize(
    "auth",
    [
        {"email": VICTIM, "identity_hash": identity_hash("a guessed secret", VICTIM)},
        {"email": VICTIM, "identity_hash": identity_hash(SECRET, "someone@example.com")},
        {"email": VICTIM, "identity_hash": "not hex"},
        {"email": VICTIM, "identity_hash": "é" * 64},
        {"identity_hash": identity_hash(SECRET, VICTIM)},
        {"email": "x\x00@example.com"},
        {"email": "\ud800@example.com"},
        {"email": ["victim@example.com"]},
    ],
    ids=["wrong-secret", "other-email", "not-hex", "non-ascii", "no-email", "nul", "surrogate",
         "not-a-string"],
)  # fmt: skip
async def test_a_wrong_identity_hash_is_refused(server: Server, auth: dict[str, Any]) -> None:
    sam = await signed_in_agent(server, "sam", role=Role.SUPERVISOR, available=False)
    victim = Customer(server.url)
    vw = await victim.connect(email=VICTIM, identity_hash=identity_hash(SECRET, VICTIM))
    before = await _identities(server, vw["customer_id"])
    forger = Customer(server.url)
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await forger.connect(**auth)
        assert forger.pending("welcome") == []
        assert await _identities(server, vw["customer_id"]) == before
        # The server is still fine for everyone else.
        assert (await victim.say("hello"))["ok"]
    finally:
        for client in (forger, victim, sam):
            await client.close()


def test_without_a_configured_secret_no_hash_is_accepted() -> None:
    proof = identity_hash("anything", VICTIM)
    with pytest.raises(RefusedIdentity, match="not configured"):
        from_auth({"email": VICTIM, "identity_hash": proof}, secret="", max_name_chars=120)
    claim = from_auth({"email": VICTIM}, secret="", max_name_chars=120)
    assert claim.claimed and not any(k.value == "email" for k in claim.verified)


@pytest.mark.parametrize("token", ["\ud800" * 20, "a\x00" * 10, "é" * 24, 12345, "short"])
async def test_a_token_we_never_issued_gets_a_fresh_one(server: Server, token: Any) -> None:
    visitor = Customer(server.url)
    try:
        welcome = await visitor.connect(token=token)
        assert welcome["token"] != token and welcome["interaction"] is None
        assert (await visitor.say("hello"))["ok"]
    finally:
        await visitor.close()
