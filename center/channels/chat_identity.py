"""Who a chat visitor is: what proves it, and what they merely claim.

The widget connects with ``auth`` = {token?, name?, email?, identity_hash?}.

* ``token``: the visitor token this server issued to that browser (a bearer secret). It is
  the only thing an anonymous visitor can be recognised by.
* ``email`` alone: a claim. Stored on the visitor's own record as unverified and shown to
  agents as such; it never finds an existing customer, so typing someone's address opens
  nothing of theirs.
* ``email`` with ``identity_hash``: the host site vouches for a signed-in user. The hash is
  hex HMAC-SHA256 over the normalised (trimmed, lower-cased) address with the secret shared
  with this server (``CENTER_CHAT_IDENTITY_SECRET``), computed on the host's server, never
  in the page. A matching hash makes the address a verified identity, which finds the
  customer it belongs to; a wrong one, or one given while no secret is configured, refuses
  the connection: it is a forgery or a misconfiguration, and either should be loud.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from center.records.customers import InvalidIdentity, normalise
from center.records.enums import IdentityKind

MAX_EMAIL_CHARS = 254
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
# What secrets.token_urlsafe gives, with room for longer ones.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,200}")


class RefusedIdentity(ValueError):
    """The visitor's auth cannot be accepted (the connection is refused with this text)."""


def identity_hash(secret: str, email: str) -> str:
    """What the host site computes for a signed-in user's address (see the module)."""
    key, msg = secret.encode(), normalise(IdentityKind.EMAIL, email).encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class VisitorIdentities:
    token: str  # the visitor token this browser keeps (fresh when it had none)
    # Strongest first: the host site's word on the address, then the token.
    verified: dict[IdentityKind, str] = field(default_factory=dict)
    claimed: dict[IdentityKind, str] = field(default_factory=dict)
    name: str | None = None

    def with_token(self, token: str) -> VisitorIdentities:
        verified = {**self.verified, IdentityKind.CHAT_VISITOR: token}
        return VisitorIdentities(token, verified, self.claimed, self.name)


def _clean(value: Any) -> str | None:
    """A usable string, or None: NULs and lone surrogates would fail in the database."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or "\x00" in value:
        return None
    try:
        value.encode()
    except UnicodeEncodeError:
        return None
    return value


def from_auth(auth: Any, *, secret: str, max_name_chars: int) -> VisitorIdentities:
    """Sort a connection's auth into verified and claimed identities. Raises
    RefusedIdentity for an address or hash that cannot be accepted."""
    auth = auth if isinstance(auth, dict) else {}
    token = auth.get("token")
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        token = secrets.token_urlsafe(24)  # none, or not one we could have issued
    name = _clean(auth.get("name"))
    verified: dict[IdentityKind, str] = {}
    claimed: dict[IdentityKind, str] = {}
    raw_email, raw_hash = auth.get("email"), auth.get("identity_hash")
    blank = raw_email is None or (isinstance(raw_email, str) and not raw_email.strip())
    if not blank:
        email = _clean(raw_email)
        if email is None or len(email) > MAX_EMAIL_CHARS:
            raise RefusedIdentity("email must be an address of at most 254 characters")
        try:
            email = normalise(IdentityKind.EMAIL, email)
        except InvalidIdentity as exc:
            raise RefusedIdentity(str(exc)) from None
        if raw_hash is None:
            claimed[IdentityKind.EMAIL] = email
        else:
            _check_proof(secret, email, raw_hash)
            verified[IdentityKind.EMAIL] = email
    elif raw_hash is not None:
        raise RefusedIdentity("identity_hash needs the email it was computed for")
    verified[IdentityKind.CHAT_VISITOR] = token
    return VisitorIdentities(token, verified, claimed, name[:max_name_chars] if name else None)


def _check_proof(secret: str, email: str, given: Any) -> None:
    if not secret:
        raise RefusedIdentity("identity verification is not configured on this server")
    if not isinstance(given, str) or not _HEX64.fullmatch(given):
        raise RefusedIdentity("identity_hash must be 64 hex digits")
    expected = identity_hash(secret, email)
    if not hmac.compare_digest(expected.encode(), given.lower().encode()):
        raise RefusedIdentity("identity_hash does not match the email")
