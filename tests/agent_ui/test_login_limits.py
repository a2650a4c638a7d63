"""Sign-in limits on the real server: 429 with Retry-After, decided before any hashing,
per account and address, shared by every process through Redis."""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp
import pytest

from center.agent_ui.login_limits import LOGIN_LIMITS, LoginLimits
from center.appkeys import REDIS
from center.config import Settings
from center.records.db import Database
from tests.support import PASSWORD, Server, make_user, serve_app

FREE = 3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "login_free_failures": FREE,
            # Long enough that no lock runs out while a test looks at it.
            "login_lock_s": 30.0,
            "login_lock_max_s": 60.0,
            "login_ip_limit": 1000,
            "login_account_limit": 1000,
            # The suite's requests all come from 127.0.0.1: it may name the client.
            "trusted_proxies": ["127.0.0.1/32"],
        }
    )


async def _login(
    http: aiohttp.ClientSession, url: str, password: str, *, user: str = "alice", ip: str = ""
) -> tuple[int, dict[str, str], dict[str, object]]:
    headers = {"X-Forwarded-For": ip} if ip else {}
    async with http.post(
        f"{url}/api/login", json={"username": user, "password": password}, headers=headers
    ) as r:
        return r.status, dict(r.headers), await r.json()


async def _pair_keys(server: Server, user: str, ip: str) -> tuple[str, str]:
    keys = server.app[LOGIN_LIMITS].keys_for(user, ip)
    return keys[2], keys[3]  # failures of this account from this address, and their lock


async def test_wrong_passwords_lock_the_account_even_against_the_right_one(
    server: Server,
) -> None:
    await make_user(server.db, "alice")
    ip = "203.0.113.9"
    failures, _ = await _pair_keys(server, "alice", ip)
    redis = server.app[REDIS]
    async with aiohttp.ClientSession() as http:
        for _ in range(FREE):
            status, _, body = await _login(http, server.url, "wrong-password", ip=ip)
            assert status == 401, body
        status, headers, body = await _login(http, server.url, "wrong-password", ip=ip)
        assert status == 429 and body["error"] == "too many attempts"
        assert 1 <= int(headers["Retry-After"]) <= 30 and body["retry_after_s"] >= 1
        # While locked even the right password is refused, unhashed: had argon2 run it
        # would have said yes; and the refused attempts were not counted as failures.
        status, headers, _ = await _login(http, server.url, PASSWORD, ip=ip)
        assert status == 429 and "Retry-After" in headers
        assert await redis.get(failures) == str(FREE)


async def test_after_the_lock_the_right_password_works(settings: Settings, db: Database) -> None:
    short = settings.model_copy(update={"login_lock_s": 0.3, "login_lock_max_s": 0.3})
    async with serve_app(short, db) as server, aiohttp.ClientSession() as http:
        await make_user(db, "alice")
        failures, lock = await _pair_keys(server, "alice", "203.0.113.9")
        redis = server.app[REDIS]
        for _ in range(FREE):
            await _login(http, server.url, "wrong-password", ip="203.0.113.9")
        assert await redis.get(failures) == str(FREE)
        for _ in range(200):  # the lock is 0.3 s; the bound only ends a broken test
            if not await redis.exists(lock):
                break
            await asyncio.sleep(0.05)
        status, _, body = await _login(http, server.url, PASSWORD, ip="203.0.113.9")
        assert status == 200 and body["user"]["username"] == "alice"
        assert not await redis.exists(failures)  # a success forgets the failures


async def test_each_further_failure_doubles_the_lock(server: Server) -> None:
    # The limiter itself on the server's Redis, with long locks (no waiting on the clock):
    # the lock's expiry is stood in for by deleting it.
    slow = server.settings.model_copy(update={"login_lock_s": 10.0, "login_lock_max_s": 25.0})
    limits = LoginLimits(server.app[REDIS], server.app[LOGIN_LIMITS].keys, slow)
    _, lock = await _pair_keys(server, "alice", "203.0.113.9")
    redis = server.app[REDIS]

    async def fail() -> None:
        assert await limits.reserve("alice", ip) == 0
        await limits.finish("alice", ip, ok=False)

    ip = "203.0.113.9"
    for _ in range(FREE):
        await fail()
    assert 9 <= await limits.reserve("alice", ip) <= 10
    locks = []
    for _ in range(3):
        locks.append(await redis.pttl(lock))
        await redis.delete(lock)
        await fail()
    assert 9_000 < locks[0] <= 10_000 < locks[1] <= 20_000 < locks[2] <= 25_000  # capped
    assert await limits.reserve("Alice ", ip) > 0  # case and spaces buy nothing


async def test_attempts_in_flight_hold_their_place_and_are_told_to_retry_soon(
    server: Server,
) -> None:
    limits, ip = server.app[LOGIN_LIMITS], "203.0.113.9"
    for _ in range(FREE):  # being checked, no verdict yet
        assert await limits.reserve("alice", ip) == 0
    assert await limits.reserve("alice", ip) == 1  # not the lock: a second
    assert await limits.reserve("bob", ip) == 0  # another account is not held up
    await limits.finish("alice", ip, ok=None)  # an error: the place is given back
    assert await limits.reserve("alice", ip) == 0


async def test_concurrent_guesses_get_only_the_free_attempts_hashed(server: Server) -> None:
    # Counted before the check: of 40 guesses at once, FREE reach argon2, the rest are 429.
    await make_user(server.db, "alice")
    async with aiohttp.ClientSession() as http:
        results = await asyncio.gather(
            *(_login(http, server.url, f"guess-{i}", ip="203.0.113.9") for i in range(40))
        )
    assert Counter(status for status, _, _ in results) == {401: FREE, 429: 40 - FREE}


async def test_an_attacker_elsewhere_does_not_lock_the_user_out(server: Server) -> None:
    await make_user(server.db, "alice")
    async with aiohttp.ClientSession() as http:
        for _ in range(FREE + 5):
            await _login(http, server.url, "wrong-password", ip="203.0.113.9")
        status, _, _ = await _login(http, server.url, PASSWORD, ip="203.0.113.9")
        assert status == 429
        status, _, _ = await _login(http, server.url, PASSWORD, ip="198.51.100.7")
        assert status == 200


async def test_forwarded_for_counts_only_from_a_trusted_proxy(
    settings: Settings, db: Database
) -> None:
    # Not trusted: every request is the peer's (127.0.0.1), whatever X-Forwarded-For says,
    # so a guesser cannot dodge the lock by inventing addresses.
    untrusting = settings.model_copy(update={"trusted_proxies": []})
    async with serve_app(untrusting, db) as server, aiohttp.ClientSession() as http:
        await make_user(server.db, "alice")
        statuses = [
            (await _login(http, server.url, "wrong-password", ip=f"198.51.100.{i}"))[0]
            for i in range(FREE + 1)
        ]
        assert statuses == [401] * FREE + [429]


async def test_the_address_limit_covers_every_account(settings: Settings, db: Database) -> None:
    spraying = settings.model_copy(update={"login_ip_limit": 4})
    async with serve_app(spraying, db) as server, aiohttp.ClientSession() as http:
        await make_user(server.db, "alice")
        for i in range(4):
            status, _, _ = await _login(
                http, server.url, "wrong-password", user=f"u{i}", ip="192.0.2.1"
            )
            assert status == 401
        status, headers, _ = await _login(http, server.url, PASSWORD, ip="192.0.2.1")
        assert status == 429 and int(headers["Retry-After"]) >= 1
        status, _, _ = await _login(http, server.url, PASSWORD, ip="203.0.113.1")
        assert status == 200


async def test_the_limits_hold_across_two_processes(settings: Settings, db: Database) -> None:
    # Two app instances on one Redis prefix and database, as two `center serve` would be.
    async with serve_app(settings, db) as one, serve_app(settings, db) as two:
        await make_user(db, "alice")
        async with aiohttp.ClientSession() as http:
            for i in range(FREE):
                server = (one, two)[i % 2]
                status, _, _ = await _login(http, server.url, "wrong-password", ip="203.0.113.9")
                assert status == 401
            for server in (one, two):
                status, _, _ = await _login(http, server.url, PASSWORD, ip="203.0.113.9")
                assert status == 429


async def test_malformed_credentials_are_400_not_500(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        for body in (
            {"username": "al\x00ice", "password": "x"},
            {"username": "alice", "password": "\ud800"},
            {"username": "a" * 81, "password": "x"},
            {"username": 7, "password": "x"},
            {"username": "alice"},
        ):
            async with http.post(f"{server.url}/api/login", json=body) as r:
                assert r.status == 400, (body, await r.text())
