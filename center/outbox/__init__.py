"""The one durable outbox every channel sends through (see core.py and worker.py)."""

from center.outbox.core import (
    SENDERS,
    Item,
    OutboxKind,
    OutboxStatus,
    PermanentSendError,
    RetryableSendError,
    Sender,
    enqueue,
    outbox_json,
    register_sender,
    senders,
    set_delivery,
    status_of,
)
from center.outbox.worker import OutboxWorker, WorkerOptions, requeue

__all__ = [
    "SENDERS",
    "Item",
    "OutboxKind",
    "OutboxStatus",
    "OutboxWorker",
    "PermanentSendError",
    "RetryableSendError",
    "Sender",
    "WorkerOptions",
    "enqueue",
    "outbox_json",
    "register_sender",
    "requeue",
    "senders",
    "set_delivery",
    "status_of",
]
