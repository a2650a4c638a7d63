"""A migrated SQLite database of a test's own, for the embedded backend's own tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from center.records.db import Database


@pytest.fixture
async def sqlite(tmp_path: Path) -> Iterator[Database]:
    """(At ``tmp_path / "center.db"``.)"""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'center.db'}")
    await database.migrate()
    try:
        yield database
    finally:
        await database.dispose()
