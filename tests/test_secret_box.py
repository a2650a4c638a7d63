"""Sealed secrets (center/secret_box.py): readable only under the key they were sealed with."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from center.secret_box import KEY_FILE, SecretBox, SecretUnreadable


def test_a_sealed_password_opens_under_its_key_only() -> None:
    box = SecretBox.from_secret("s3cret")
    sealed = box.seal("hunter2 ünïcode")
    assert "hunter2" not in sealed and sealed != box.seal("hunter2 ünïcode")  # random IV
    assert SecretBox.from_secret("s3cret").open(sealed) == "hunter2 ünïcode"
    with pytest.raises(SecretUnreadable):
        SecretBox.from_secret("another").open(sealed)
    assert box.open("typed before sealing") == "typed before sealing"


def test_without_a_secret_the_key_is_made_once_private_and_kept(tmp_path: Path) -> None:
    sealed = SecretBox.load("", tmp_path).seal("pw")
    key = tmp_path / KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert SecretBox.load("", tmp_path).open(sealed) == "pw"  # a restart reads the same key
    assert key.read_bytes() == (tmp_path / KEY_FILE).read_bytes()
    with pytest.raises(SecretUnreadable):
        SecretBox.load("set now", tmp_path).open(sealed)  # CENTER_SECRET_KEY wins over the file
