"""The password policy: what the issue found accepted is refused, with the reason, for every
role; strong passwords, the suite's and the demo's, pass."""

from __future__ import annotations

import pytest

from center.cli import DEMO_PASSWORD
from center.records.db import Database
from center.records.enums import Role
from center.records.password_policy import WeakPassword, problem
from center.records.users import authenticate, create_user
from tests.support import PASSWORD


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("password", "at least 10"),
        ("12345678", "at least 10"),
        (" " * 8, "only spaces"),
        (" " * 16, "only spaces"),
        ("\t\n" * 8, "only spaces"),
        ("alice", "at least 10"),
        ("alice-alice-alice", "must not contain the username"),
        ("ALICE12345678", "must not contain the username"),
        ("password1234", "commonly used"),
        ("1234567890", "commonly used"),
        ("passwordpassword", "too easy to guess"),
        ("qwertyuiopasdf", "too easy to guess"),
        ("aaaaaaaaaaaaaaaa", "too easy to guess"),
        ("abc\x00defghijklmnop", "NUL"),
        ("abc\ud800defghijklmnop", "cannot be stored"),
        ("x" * 257, "at most 256"),
    ],
)
def test_weak_passwords_are_refused_saying_why(password: str, reason: str) -> None:
    found = problem(password, "alice")
    assert found is not None and reason in found, found


def test_strong_passwords_pass() -> None:
    for password in (PASSWORD, "correct horse battery", "Tr0ub4dor&3-xq", "a-stats-password"):
        assert problem(password, "alice") is None, password
    # The demo's published password meets the policy for every demo user.
    for username in ("alice", "bob", "sam", "admin"):
        assert problem(DEMO_PASSWORD, username) is None


@pytest.mark.parametrize("role", list(Role))
async def test_every_role_gets_the_policy(db: Database, role: Role) -> None:
    for weak in ("password", "12345678", " " * 8, "admin-admin-x", "passwordpassword"):
        with pytest.raises(WeakPassword):
            await create_user(db, "admin", weak, role=role)
    # Nothing was stored: the name is still free and the weak passwords open nothing.
    assert await authenticate(db, "admin", "password") is None
    user = await create_user(db, "admin", PASSWORD, role=role)
    assert user.role is role and await authenticate(db, "admin", PASSWORD) is not None


async def test_the_display_name_counts_as_a_guess(db: Database) -> None:
    with pytest.raises(WeakPassword, match="too easy"):
        await create_user(db, "a7", "Margaret Hamilton", display_name="Margaret Hamilton")
