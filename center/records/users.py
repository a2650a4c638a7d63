"""Users (agents, supervisors, admins), password hashing and login sessions."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update

from center.records import password_policy
from center.records.base import transient, utcnow
from center.records.db import Database
from center.records.enums import Role
from center.records.models import AuthSession, User

_hasher = PasswordHasher()
# Each argon2 hash or check holds 64 MiB for its duration. On the default executor (CPU
# count + 4 threads) the 50 agents of a shift signing in at once took a process from 105 to
# 485 MiB; two at a time keeps that to 128 MiB and uses both cores, while the rest wait
# their turn (about 50 ms each) instead of the executor's other users waiting behind them.
_HASHING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2")
# Verified against when the username is unknown, so timing does not tell which part was wrong.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


T = TypeVar("T")


class UserExists(Exception):
    pass


def session_key(token: str) -> str:
    """What the database (and Redis) know a session by: a hash, never the cookie itself."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


async def create_user(
    db: Database,
    username: str,
    password: str,
    *,
    role: Role = Role.AGENT,
    display_name: str | None = None,
    skills: dict[str, int] | None = None,
    capacity: dict[str, int] | None = None,
) -> User:
    username = username.strip()
    if not username or len(username) > 80:
        raise ValueError("username must be 1-80 characters")
    # The strength estimate and argon2 are both CPU work: off the event loop, one job.
    # (Raises password_policy.WeakPassword, a ValueError, naming the reason.)
    password_hash = await _off_loop(_checked_hash, password, username, display_name or "")
    async with db.transaction() as s:
        if await s.scalar(select(User.id).where(User.username == username)):
            raise UserExists(username)
        user = User(
            username=username,
            display_name=display_name or username,
            password_hash=password_hash,
            role=role,
            skills=skills or {},
            capacity=capacity or {},
        )
        s.add(user)
    return user


def _checked_hash(password: str, username: str, display_name: str) -> str:
    password_policy.check(password, username, (display_name,))
    return _hasher.hash(password)


async def _off_loop(fn: Callable[..., T], *args: str) -> T:
    return await asyncio.get_running_loop().run_in_executor(_HASHING, fn, *args)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def authenticate(db: Database, username: str, password: str) -> User | None:
    async with db.read() as s:
        user = await s.scalar(select(User).where(User.username == username, User.active))
    ok = await _off_loop(_verify, user.password_hash if user else _DUMMY_HASH, password)
    return user if ok and user is not None else None


async def open_session(db: Database, user: User, ttl: timedelta) -> str:
    token = secrets.token_urlsafe(32)
    async with db.transaction() as s:
        s.add(
            AuthSession(token_hash=session_key(token), user_id=user.id, expires_at=utcnow() + ttl)
        )
    return token


async def close_session(db: Database, token: str) -> int | None:
    """End the session; the id of the user it belonged to (None: there was no such one)."""
    async with db.transaction() as s:
        return await s.scalar(
            delete(AuthSession)
            .where(AuthSession.token_hash == session_key(token))
            .returning(AuthSession.user_id)
        )


async def deactivate_user(db: Database, user_id: int) -> None:
    """The user can no longer sign in, and every session they had ends (their open sockets
    are disconnected by the next session check on each process)."""
    async with db.transaction() as s:
        await s.execute(update(User).where(User.id == user_id).values(active=False))
        await s.execute(delete(AuthSession).where(AuthSession.user_id == user_id))


async def live_sessions(db: Database, keys: Collection[str]) -> set[str]:
    """Which of these session keys still stand: unexpired, of an active user."""
    if not keys:
        return set()
    async with db.read() as s:
        rows = await s.scalars(
            select(AuthSession.token_hash)
            .join(User, AuthSession.user_id == User.id)
            .where(
                AuthSession.token_hash.in_(list(keys)),
                AuthSession.expires_at > utcnow(),
                User.active,
            )
        )
        return set(rows)


async def user_for_token(db: Database, token: str | None) -> User | None:
    if not token:
        return None
    async with db.read() as s:
        row = await s.execute(
            select(User)
            .join(AuthSession, AuthSession.user_id == User.id)
            .where(
                AuthSession.token_hash == session_key(token),
                AuthSession.expires_at > utcnow(),
                User.active,
            )
        )
        return row.scalar_one_or_none()


async def get_user(db: Database, user_id: int) -> User | None:
    """The user's row as a transient ``User`` (every agent console event loads it fresh, so
    one Core select, without a session around it)."""
    users = User.__table__
    async with db.read_step() as c:
        row = (await c.execute(select(users).where(users.c.id == user_id))).first()
    return None if row is None else transient(User, row._mapping)


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role.value,
        "skills": user.skills,
        "capacity": user.capacity,
    }
