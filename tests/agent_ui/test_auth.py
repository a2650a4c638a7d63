"""Login, cookies, and who may see what."""

from __future__ import annotations

import aiohttp
import pytest
import socketio

from center.records.enums import Role
from tests.support import Agent, Customer, Server, make_user, signed_in_agent


async def test_wrong_password_and_unknown_user_get_the_same_401(server: Server) -> None:
    await make_user(server.db, "alice")
    async with aiohttp.ClientSession() as http:
        bad_pw = await http.post(
            f"{server.url}/api/login", json={"username": "alice", "password": "wrong-password"}
        )
        no_user = await http.post(
            f"{server.url}/api/login", json={"username": "nobody", "password": "wrong-password"}
        )
        assert bad_pw.status == no_user.status == 401
        assert (
            await bad_pw.json() == await no_user.json() == {"error": "invalid username or password"}
        )
        assert "center_session" not in bad_pw.cookies
        malformed = await http.post(
            f"{server.url}/api/login",
            data=b"{not json",
            headers={"Content-Type": "application/json"},
        )
        assert malformed.status == 400 and "JSON" in (await malformed.json())["error"]


async def test_session_cookie_is_http_only_and_logout_ends_it(server: Server) -> None:
    await make_user(server.db, "alice")
    agent = Agent(server.url)
    try:
        resp = await agent.login("alice")
        morsel = resp.cookies["center_session"]
        assert morsel["httponly"] is True
        assert (await agent.get("/api/me"))[1]["user"]["username"] == "alice"
        await agent.http.post(f"{server.url}/api/logout", headers={"Cookie": agent.cookie})
        status, body = await agent.get("/api/me")
        assert status == 401 and body == {"error": "login required"}
    finally:
        await agent.close()


async def test_agent_socket_without_login_is_refused(server: Server) -> None:
    anonymous = Agent(server.url)
    forged = Agent(server.url)
    forged.cookie = "center_session=not-a-real-session"
    try:
        for client in (anonymous, forged):
            with pytest.raises(socketio.exceptions.ConnectionError):
                await client.connect()
    finally:
        await anonymous.close()
        await forged.close()


async def test_api_needs_login_and_unknown_ids_are_404_json(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        r = await http.get(f"{server.url}/api/customers/1/timeline")
        assert r.status == 401 and (await r.json())["error"] == "login required"
    sam = await signed_in_agent(server, "sam", role=Role.SUPERVISOR, available=False)
    try:
        for path in (
            "/api/customers/999/timeline",
            "/api/customers/abc/timeline",
            "/api/interactions/999",
            "/api/customers/999",
        ):
            status, body = await sam.get(path)
            assert status == 404, path
            assert "no such" in body["error"]
    finally:
        await sam.close()


async def test_agents_see_only_customers_they_served_supervisors_see_all(server: Server) -> None:
    customer = Customer(server.url)
    welcome = await customer.connect()
    await customer.say("hello")
    bob = await signed_in_agent(server, "bob", available=False)
    sam = await signed_in_agent(server, "sam", role=Role.SUPERVISOR, available=False)
    try:
        path = f"/api/customers/{welcome['customer_id']}/timeline"
        status, body = await bob.get(path)
        assert status == 403 and body["error"] == "you have not served this customer"
        status, body = await sam.get(path)
        assert status == 200 and body["events"]
    finally:
        for c in (customer, bob, sam):
            await c.close()
