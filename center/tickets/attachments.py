"""Attachments: stored byte-exact with their sha256, listed on their message."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from center.records.base import utcnow
from center.tickets.models import Attachment

ATTACHMENTS = Attachment.__table__
LISTED = (
    ATTACHMENTS.c.id,
    ATTACHMENTS.c.message_id,
    ATTACHMENTS.c.filename,
    ATTACHMENTS.c.content_type,
    ATTACHMENTS.c.size,
    ATTACHMENTS.c.sha256,
)


async def store_attachment(
    conn: AsyncConnection, message_id: int, filename: str, content_type: str, data: bytes
) -> dict[str, Any]:
    """Insert one attachment of a stored message (the caller enforces the size limits);
    returns its listing {id, filename, content_type, size, sha256}."""
    values = {
        "message_id": message_id,
        "filename": filename[:255] or "attachment",
        "content_type": content_type[:255] or "application/octet-stream",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "data": data,
        "created_at": utcnow(),
    }
    row = (await conn.execute(insert(ATTACHMENTS).values(values).returning(*LISTED))).one()
    return attachment_json(row._mapping)


async def listed(
    conn: AsyncConnection, message_ids: Iterable[int]
) -> dict[int, list[dict[str, Any]]]:
    """message id -> its attachments' listings (no bytes)."""
    ids = list(message_ids)
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if not ids:
        return out
    rows = await conn.execute(
        select(*LISTED).where(ATTACHMENTS.c.message_id.in_(ids)).order_by(ATTACHMENTS.c.id)
    )
    for r in rows:
        out[r.message_id].append(attachment_json(r._mapping))
    return out


def attachment_json(m: Any) -> dict[str, Any]:
    return {
        "id": m["id"],
        "filename": m["filename"],
        "content_type": m["content_type"],
        "size": m["size"],
        "sha256": m["sha256"],
    }
