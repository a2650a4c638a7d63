"""today's figures kept by the database as interactions change

Revision ID: 0012
Revises: 0006

The supervisor's figures for today were a scan of today's interactions every second (tens
of milliseconds at 20,000 a day). Now each change of an interaction appends its difference
to ``report_deltas`` (per 15 minutes of ``queued_at``, queue and channel) from a trigger:
in the same transaction as the change, whichever code makes it (the hot path's Core
statements, the ORM, a bulk move of a queue, a helper's new channel), with no extra round
trip from the server. Appending takes no lock another step waits for (an upsert of one
counter row per queue serialises every concurrent step of the queue until its commit: on
the loaded bench machine, bench/chat.py's 200 first messages at once then saw a few steps
pass the handlers' 30 s deadline, where the same load without the counts saw none).
The reader folds the deltas into ``report_slots`` now and then, and sums
today's slots and the deltas not yet folded (every time zone's midnight falls on a quarter
hour). ``report_thresholds`` holds each queue's service-level
threshold as the triggers apply it; center/reports/counters.py keeps it equal to the
queues in effect, recounting today's slots whenever it changes. See center/reports/counters.py
for the definitions (those of center/reports/today.py, counted per slot).

``shard`` is always 0 here: room to spread a busy slot's row over several, should the
fold ever contend, without a new migration.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

SLOT_S = 900
SHARDS = 1
DEFAULT_SL_S = 20.0  # QueueDef's default sl_seconds: for queues without a threshold row
COUNTS = ("entered", "answered", "answered_in_sl", "abandoned", "handled", "handle_s")
TRACKED = ("queued_at", "assigned_at", "ended_at", "queue", "channel")
# The state counts only as closed or abandoned: the hot path's other state changes (offered,
# queued again, assigned with its assigned_at) do not fire the trigger for it.
COUNTED_STATES = "('closed', 'abandoned')"

# -- PostgreSQL: one trigger function (plpgsql) ----------------------------------------------

PG_ADD = f"""
CREATE OR REPLACE FUNCTION report_slots_add(
    p_slot bigint, p_queue varchar, p_channel varchar, p_shard smallint,
    d_entered integer, d_answered integer, d_in_sl integer, d_abandoned integer,
    d_handled integer, d_handle_s double precision
) RETURNS void LANGUAGE sql AS $$
    INSERT INTO report_deltas ({", ".join(("slot", "queue", "channel", "shard", *COUNTS))})
    VALUES (p_slot, p_queue, p_channel, p_shard, d_entered, d_answered, d_in_sl, d_abandoned,
            d_handled, d_handle_s)
$$;
"""


def _pg_contribution(r: str) -> str:
    """plpgsql computing row ``r``'s (OLD or NEW) contribution into the ``{r}_`` vars."""
    p = r.lower()
    return f"""
    IF {r}.queued_at IS NOT NULL THEN
        {p}_slot := floor(extract(epoch FROM {r}.queued_at) / {SLOT_S})::bigint;
        {p}_shard := ({r}.id % {SHARDS})::smallint;
        {p}_n := 1;
        IF {r}.assigned_at IS NOT NULL THEN
            {p}_ans := 1;
            IF extract(epoch FROM {r}.assigned_at - {r}.queued_at) <= coalesce(
                (SELECT t.sl_seconds FROM report_thresholds t WHERE t.queue = {r}.queue),
                {DEFAULT_SL_S}) THEN
                {p}_sl := 1;
            END IF;
            IF {r}.state = 'closed' AND {r}.ended_at IS NOT NULL THEN
                {p}_h := 1;
                {p}_hs := extract(epoch FROM {r}.ended_at - {r}.assigned_at);
            END IF;
        ELSIF {r}.state = 'abandoned' THEN
            {p}_ab := 1;
        END IF;
    END IF;"""


PG_TRACK = f"""
CREATE OR REPLACE FUNCTION report_slots_track() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_slot bigint; old_shard smallint; old_n integer := 0; old_ans integer := 0;
    old_sl integer := 0; old_ab integer := 0; old_h integer := 0;
    old_hs double precision := 0;
    new_slot bigint; new_shard smallint; new_n integer := 0; new_ans integer := 0;
    new_sl integer := 0; new_ab integer := 0; new_h integer := 0;
    new_hs double precision := 0;
BEGIN
    IF TG_OP <> 'INSERT' THEN {_pg_contribution("OLD")}
    END IF;
    IF TG_OP <> 'DELETE' THEN {_pg_contribution("NEW")}
    END IF;
    IF old_n = 1 AND new_n = 1 AND old_slot = new_slot AND old_shard = new_shard
       AND OLD.queue = NEW.queue AND OLD.channel = NEW.channel THEN
        -- The same row: add the difference (nothing when the change left it alone).
        IF new_ans <> old_ans OR new_sl <> old_sl OR new_ab <> old_ab OR new_h <> old_h
           OR new_hs <> old_hs THEN
            PERFORM report_slots_add(new_slot, NEW.queue, NEW.channel, new_shard, 0,
                new_ans - old_ans, new_sl - old_sl, new_ab - old_ab, new_h - old_h,
                new_hs - old_hs);
        END IF;
        RETURN NULL;
    END IF;
    -- Two rows (a move to another queue, slot or channel), in key order.
    IF old_n = 1 AND (new_n = 0 OR (old_slot, OLD.queue, OLD.channel, old_shard)
                                   < (new_slot, NEW.queue, NEW.channel, new_shard)) THEN
        PERFORM report_slots_add(old_slot, OLD.queue, OLD.channel, old_shard, -1,
            -old_ans, -old_sl, -old_ab, -old_h, -old_hs);
        old_n := 0;
    END IF;
    IF new_n = 1 THEN
        PERFORM report_slots_add(new_slot, NEW.queue, NEW.channel, new_shard, 1,
            new_ans, new_sl, new_ab, new_h, new_hs);
    END IF;
    IF old_n = 1 THEN
        PERFORM report_slots_add(old_slot, OLD.queue, OLD.channel, old_shard, -1,
            -old_ans, -old_sl, -old_ab, -old_h, -old_hs);
    END IF;
    RETURN NULL;
END
$$;
"""

_CHANGED = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in TRACKED) + (
    f" OR (OLD.state IS DISTINCT FROM NEW.state AND "
    f"(OLD.state IN {COUNTED_STATES} OR NEW.state IN {COUNTED_STATES}))"
)
PG_TRIGGERS = [
    "CREATE TRIGGER report_slots_on_insert AFTER INSERT ON interactions FOR EACH ROW "
    "WHEN (NEW.queued_at IS NOT NULL) EXECUTE FUNCTION report_slots_track()",
    f"CREATE TRIGGER report_slots_on_update AFTER UPDATE ON interactions FOR EACH ROW "
    f"WHEN ({_CHANGED}) EXECUTE FUNCTION report_slots_track()",
    "CREATE TRIGGER report_slots_on_delete AFTER DELETE ON interactions FOR EACH ROW "
    "WHEN (OLD.queued_at IS NOT NULL) EXECUTE FUNCTION report_slots_track()",
]

# -- SQLite: the same contribution as an INSERT ... SELECT per row image --------------------


def _sqlite_values(r: str, sign: int) -> str:
    wait = f"(julianday({r}.assigned_at) - julianday({r}.queued_at)) * 86400.0"
    threshold = (
        f"coalesce((SELECT t.sl_seconds FROM report_thresholds t WHERE t.queue = {r}.queue), "
        f"{DEFAULT_SL_S})"
    )
    handled = f"({r}.assigned_at IS NOT NULL AND {r}.state = 'closed' AND {r}.ended_at IS NOT NULL)"
    handle = f"(julianday({r}.ended_at) - julianday({r}.assigned_at)) * 86400.0"
    return (
        f"CAST(strftime('%s', {r}.queued_at) AS INTEGER) / {SLOT_S}, {r}.queue, {r}.channel, "
        f"{r}.id % {SHARDS}, {sign}, "
        f"{sign} * ({r}.assigned_at IS NOT NULL), "
        f"{sign} * ({r}.assigned_at IS NOT NULL AND {wait} <= {threshold}), "
        f"{sign} * ({r}.assigned_at IS NULL AND {r}.state = 'abandoned'), "
        f"{sign} * {handled}, "
        f"{sign} * (CASE WHEN {handled} THEN {handle} ELSE 0.0 END)"
    )


def _sqlite_add(r: str, sign: int) -> str:
    columns = ", ".join(("slot", "queue", "channel", "shard", *COUNTS))
    return (
        f"INSERT INTO report_deltas ({columns}) SELECT {_sqlite_values(r, sign)} "
        f"WHERE {r}.queued_at IS NOT NULL;"
    )


_SQLITE_CHANGED = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in TRACKED) + (
    f" OR (OLD.state IS NOT NEW.state AND "
    f"(OLD.state IN {COUNTED_STATES} OR NEW.state IN {COUNTED_STATES}))"
)
SQLITE_TRIGGERS = [
    "CREATE TRIGGER report_slots_on_insert AFTER INSERT ON interactions "
    f"WHEN NEW.queued_at IS NOT NULL BEGIN {_sqlite_add('NEW', 1)} END",
    f"CREATE TRIGGER report_slots_on_update AFTER UPDATE ON interactions "
    f"WHEN {_SQLITE_CHANGED} BEGIN {_sqlite_add('OLD', -1)} {_sqlite_add('NEW', 1)} END",
    "CREATE TRIGGER report_slots_on_delete AFTER DELETE ON interactions "
    f"WHEN OLD.queued_at IS NOT NULL BEGIN {_sqlite_add('OLD', -1)} END",
]


def _counts() -> list[sa.Column[Any]]:
    return [
        sa.Column("slot", sa.BigInteger(), nullable=False),
        sa.Column("queue", sa.String(80), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        *(
            sa.Column(c, sa.Integer(), nullable=False, server_default="0")
            for c in COUNTS
            if c != "handle_s"
        ),
        sa.Column("handle_s", sa.Float(), nullable=False, server_default="0"),
    ]


def upgrade() -> None:
    op.create_table(
        "report_slots",
        *_counts(),
        sa.PrimaryKeyConstraint("slot", "queue", "channel", "shard", name="pk_report_slots"),
    )
    # (No key: rows are only appended, summed and folded away.)
    op.create_table("report_deltas", *_counts())
    op.create_table(
        "report_thresholds",
        sa.Column("queue", sa.String(80), nullable=False),
        sa.Column("sl_seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("queue", name="pk_report_thresholds"),
    )
    if op.get_context().dialect.name == "postgresql":
        op.execute(PG_ADD)
        op.execute(PG_TRACK)
        for statement in PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    _backfill()


def _backfill() -> None:
    """Recent interactions from before the triggers, counted by the triggers' own rules:
    each taken out of the queue and put back (the snapshot reads today's slots only, so two
    days back are enough; history reads the interactions themselves)."""
    pg = op.get_context().dialect.name == "postgresql"
    since = "now() - interval '2 days'" if pg else "datetime('now', '-2 days')"
    op.execute(
        "CREATE TEMPORARY TABLE report_backfill AS SELECT id, queued_at FROM interactions "
        f"WHERE queued_at >= {since}"
    )
    op.execute(
        "UPDATE interactions SET queued_at = NULL WHERE id IN (SELECT id FROM report_backfill)"
    )
    op.execute("DELETE FROM report_deltas")  # (what taking them out subtracted)
    op.execute(
        "UPDATE interactions SET queued_at = (SELECT b.queued_at FROM report_backfill b "
        "WHERE b.id = interactions.id) WHERE id IN (SELECT id FROM report_backfill)"
    )
    op.execute("DROP TABLE report_backfill")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for name in ("report_slots_on_insert", "report_slots_on_update", "report_slots_on_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON interactions")
        op.execute("DROP FUNCTION IF EXISTS report_slots_track()")
        op.execute(
            "DROP FUNCTION IF EXISTS report_slots_add(bigint, varchar, varchar, smallint, "
            "integer, integer, integer, integer, integer, double precision)"
        )
    else:
        for name in ("report_slots_on_insert", "report_slots_on_update", "report_slots_on_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("report_thresholds")
    op.drop_table("report_deltas")
    op.drop_table("report_slots")
