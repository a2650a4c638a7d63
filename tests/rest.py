"""An HTTP client for boundary tests: a session per role, raw bodies, strict JSON answers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NoReturn

import aiohttp

from center.records.enums import Role
from tests.support import PASSWORD, Server, make_user


def _refuse(constant: str) -> NoReturn:
    raise ValueError(f"the server sent {constant}, which is not JSON")


def strict_json(text: str) -> Any:
    """What a browser's JSON.parse takes: no NaN or Infinity."""
    return json.loads(text, parse_constant=_refuse)


@dataclass
class Answer:
    status: int
    content_type: str
    text: str

    @property
    def json(self) -> Any:
        assert self.content_type == "application/json", (self.status, self.text[:300])
        return strict_json(self.text)


class Http:
    """One cookie jar (one signed-in user, or nobody), same-origin requests."""

    def __init__(self, server: Server) -> None:
        self.url = server.url
        # unsafe=True: keep cookies from an IP-address host (the loopback server).
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.user_id: int | None = None

    async def login(self, server: Server, username: str, role: Role) -> Http:
        self.user_id = (await make_user(server.db, username, role=role)).id
        answer = await self.call("POST", "/api/login", {"username": username, "password": PASSWORD})
        assert answer.status == 200, answer
        return self

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: str | bytes | None = None,
        content_type: str = "application/json",
    ) -> Answer:
        """``body`` as JSON (Python's encoder: NaN goes out as NaN), or ``raw`` as it is."""
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        headers = {"Origin": self.url}
        if data is not None:
            headers["Content-Type"] = content_type
        async with self.session.request(
            method, f"{self.url}{path}", data=data, headers=headers, allow_redirects=False
        ) as r:
            return Answer(r.status, r.content_type, await r.text(errors="replace"))

    async def close(self) -> None:
        await self.session.close()
