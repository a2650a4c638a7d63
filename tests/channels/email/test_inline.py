"""Inline images: an HTML mail's ``cid:`` images point at the message's stored parts (the
agent-only attachment URL), so the agent sees them; remote images stay unloaded."""

from __future__ import annotations

import base64

from sqlalchemy import select

from center.channels.email.models import EmailInbound
from center.records.enums import Role
from tests.channels.email.support import SUPPORT, deliver, email_app
from tests.rest import Http

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def _related(cid_in_html: str) -> bytes:
    """Apple Mail's shape: multipart/related, the HTML then the image it shows."""
    image = base64.encodebytes(PNG).decode()
    return (
        "From: Ann <ann@example.test>\r\n"
        f"To: {SUPPORT}\r\n"
        "Subject: Photo of the damage\r\n"
        "Message-ID: <inline1@example.test>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/related; boundary="R"; type="text/html"\r\n'
        "\r\n"
        "--R\r\n"
        'Content-Type: text/html; charset="utf-8"\r\n'
        "\r\n"
        f'<p>See: <img src="cid:{cid_in_html}" alt="damage"></p>'
        '<p><img src="https://tracker.example/pixel.gif"></p>\r\n'
        "--R\r\n"
        "Content-Type: image/png; name=damage.png\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "Content-Disposition: inline; filename=damage.png\r\n"
        "Content-ID: <part1.ABC@example.test>\r\n"
        "\r\n"
        f"{image}"
        "--R--\r\n"
    ).encode()


async def test_cid_images_point_at_the_stored_part_remote_ones_stay_parked(settings, db) -> None:
    async with email_app(settings, db) as (server, _sink):
        # (RFC 2392: the cid URL is percent-encoded; clients send both forms.)
        await deliver(server, _related("part1.ABC%40example.test"), sender="ann@example.test")
        async with server.db.read() as s:
            ticket_id = await s.scalar(select(EmailInbound.ticket_id))
        sue = await Http(server).login(server, "sue", Role.SUPERVISOR)
        try:
            view = (await sue.call("GET", f"/api/tickets/{ticket_id}")).json["ticket"]
            [message] = view["messages"]
            [part] = message["attachments"]
            assert part["filename"] == "damage.png"
            url = f"/api/attachments/{part['id']}"
            assert f'src="{url}"' in message["html"]
            assert "cid:" not in message["html"]
            # The tracker's pixel is not loaded by opening the mail.
            assert 'data-remote-src="https://tracker.example/pixel.gif"' in message["html"]
            assert ' src="https://tracker.example' not in message["html"]
            async with sue.session.get(f"{sue.url}{url}") as r:
                assert r.status == 200 and await r.read() == PNG
        finally:
            await sue.close()
