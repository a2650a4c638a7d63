"""The busiest steps as one call on SQLite's thread: a message in, a message out.

SQLite's counterpart of one_statement.py (PostgreSQL): the same step, the same Core
statements (rows.py, events.py) and the same values, run as a plain function inside one
transaction on the connection's thread (center/records/sqlite_call.py), so a message is one
hop there instead of four statements' worth of SQLAlchemy's async machinery. Each returns
None, writing nothing, when the step is not the plain case; the caller then takes the
ordinary transaction, which names the reason.
"""

from __future__ import annotations

from collections.abc import Collection

from center.interactions import rows
from center.records import events
from center.records.base import transient
from center.records.enums import ActorKind, Channel, Direction, InteractionState
from center.records.models import Interaction, Message
from center.records.sqlite_call import Call


def _message(call: Call, i: Interaction, values: dict[str, object]) -> Message:
    new = call.execute(rows.INSERT_MESSAGE, values)
    return transient(Message, {"id": new[0]["id"], **values})


def inbound_open(
    call: Call, customer_id: int, channel: Channel, body: str
) -> tuple[Interaction, Message] | None:
    """The customer's message stored in their open conversation on ``channel``, if any
    (rows.open_conversation, rows.insert_message and its event: customer.py's step)."""
    found = call.execute(rows.OPEN, {"b_customer": customer_id, "b_channel": channel})
    if not found:
        return None
    i = transient(Interaction, found[0])
    if not i.state.is_open:
        return None
    m = _message(call, i, rows.message_values(i.id, Direction.INBOUND, body))
    received = events.MessageReceived(message_id=m.id, body=body)
    call.execute(events.INSERT, events.row(received, interaction=i, actor_kind=ActorKind.CUSTOMER))
    return i, m


def outbound_owned(
    call: Call, agent_id: int, interaction_id: int, body: str, hooked: Collection[Channel]
) -> tuple[Interaction, Message] | None:
    """The agent's message stored in a conversation assigned to them, of a channel with no
    outbound hook of its own (as one_statement.outbound_owned decides)."""
    found = call.execute(rows.BY_ID, {"b_id": interaction_id})
    if not found:
        return None
    i = transient(Interaction, found[0])
    if i.agent_id != agent_id or i.state is not InteractionState.ASSIGNED or i.channel in hooked:
        return None
    values = rows.message_values(i.id, Direction.OUTBOUND, body, author_id=agent_id)
    m = _message(call, i, values)
    sent = events.MessageSent(message_id=m.id, body=body, agent_id=agent_id)
    row = events.row(sent, interaction=i, actor_kind=ActorKind.AGENT, actor_id=agent_id)
    call.execute(events.INSERT, row)
    return i, m
