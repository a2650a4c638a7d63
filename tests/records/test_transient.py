"""Rows read by Core statements become transient model objects (center.records.base)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

from center.records.base import transient
from center.records.enums import Channel, InteractionState
from center.records.models import Interaction


def test_a_row_read_before_any_session_exists_is_usable() -> None:
    """The first thing a process does may be a Core read (a webhook, a bench's seeding):
    its object still reads and writes like one a query returned."""
    code = (
        "from center.records.base import transient\n"
        "from center.records.models import Message\n"
        "m = transient(Message, {'id': 7, 'body': 'hi'})\n"
        "m.body = m.body + '!'\n"
        "print(m.id, m.body)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["7", "hi!"]


def test_values_are_as_loaded_and_changes_are_tracked() -> None:
    now = datetime.now(UTC)
    i = transient(
        Interaction,
        {"id": 3, "customer_id": 1, "channel": Channel.SMS, "state": InteractionState.QUEUED,
         "created_at": now},
    )  # fmt: skip
    assert (i.id, i.channel, i.state) == (3, Channel.SMS, InteractionState.QUEUED)
    assert i.created_at == now
    assert i.agent_id is None  # (a column the row did not carry reads as unset)
    i.state = InteractionState.ASSIGNED
    assert i.state is InteractionState.ASSIGNED
