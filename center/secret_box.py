"""Secrets the center must present again, encrypted at rest: an IMAP mailbox's password.

A password kept to log in somewhere else cannot be hashed; it is sealed with Fernet
(AES-128-CBC + HMAC-SHA256, from ``cryptography``) under a key that is not in the
database, so a copy of the database (a backup, a read-only SQL hole) does not give away
the mailboxes. The key is derived from ``CENTER_SECRET_KEY`` when it is set (every process
of a deployment sets the same); otherwise it is a random key written once to
``<data_dir>/secret.key`` (mode 0600) on first use, which fits the one-machine default.
Losing or changing the key makes the sealed passwords unreadable: those mailboxes are
reported and skipped until an admin enters the password again.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

SEALED = "fernet:"  # (a stored value without it is a password from before sealing)
KEY_FILE = "secret.key"


class SecretUnreadable(Exception):
    """Sealed under another key (CENTER_SECRET_KEY changed, secret.key lost)."""


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def from_secret(cls, secret: str) -> SecretBox:
        digest = hashlib.sha256(b"center secret box\0" + secret.encode()).digest()
        return cls(base64.urlsafe_b64encode(digest))

    @classmethod
    def load(cls, secret: str, data_dir: Path) -> SecretBox:
        """The deployment's box (blocking file I/O when there is no secret: call it in a
        thread)."""
        if secret:
            return cls.from_secret(secret)
        path = data_dir / KEY_FILE
        data_dir.mkdir(parents=True, exist_ok=True)
        # O_EXCL: of two processes starting at once, one writes the key and both read it.
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(Fernet.generate_key())
        return cls(path.read_bytes().strip())

    def seal(self, plain: str) -> str:
        return SEALED + self._fernet.encrypt(plain.encode()).decode()

    def open(self, stored: str) -> str:
        if not stored.startswith(SEALED):
            return stored  # stored before sealing (it is sealed again when next written)
        try:
            return self._fernet.decrypt(stored[len(SEALED) :].encode()).decode()
        except InvalidToken:
            raise SecretUnreadable("sealed under another key") from None

    @staticmethod
    def is_sealed(stored: str) -> bool:
        return stored.startswith(SEALED)
