"""The supervisor's history chart over REST (supervisor or admin; 401/403 JSON otherwise).

  GET /api/supervisor/history?days=7&bucket=day&queue=&channel=
    days     1..92, default 7: from local midnight ``days - 1`` days ago until now
    bucket   hour | day; default hour for up to 2 days, else day (hours for up to 14 days)
    queue    only this queue (optional)
    channel  only this channel (optional; voice, chat, sms or email)
  -> {zone, bucket, from, to, queue, channel, rows: [see center.reports.history]}

Bad parameters get a 400 whose JSON names the parameter.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field, Strict, field_validator

from center.agent_ui import queues_api
from center.agent_ui.auth import require_user
from center.agent_ui.supervisor import SUPERVISOR_ROLES
from center.appkeys import DB, QUEUE_CONFIG, ROUTER, STATS
from center.httpjson import error, query_as
from center.payloads import BlankIsNone, Payload, QueueName
from center.records.enums import Channel
from center.reports.history import Bucket, history
from center.reports.stats import FALLBACK
from center.reports.today import day_start

MAX_DAYS = 92  # a quarter: the longest range a chart of days stays readable for
MAX_HOUR_DAYS = 14  # 336 bars already; beyond that hours are noise
HOURS_UP_TO_DAYS = 2  # the default bucket: hours while they fit, days after

routes = web.RouteTableDef()


def _bad(param: str, message: str, value: str) -> web.HTTPException:
    return error(web.HTTPBadRequest, message, param=param, value=value)


class HistoryQuery(Payload):
    days: Annotated[int, Strict(), Field(ge=1, le=MAX_DAYS)] = 7
    bucket: Annotated[Bucket | None, BlankIsNone] = None
    queue: Annotated[QueueName | None, BlankIsNone] = None
    channel: Annotated[Channel | None, BlankIsNone] = None

    @field_validator("days", mode="before")
    @classmethod
    def _whole_number(cls, raw: Any) -> Any:
        # Digits only: int() takes "+7", " 7" and "1_0"; "²" is a digit to str.isdigit.
        if raw == "":
            return 7
        if not (isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) < 4):
            raise ValueError(f"days must be a whole number from 1 to {MAX_DAYS}")
        return int(raw)


def _bucket(q: HistoryQuery) -> Bucket:
    if q.bucket is None:
        return Bucket.HOUR if q.days <= HOURS_UP_TO_DAYS else Bucket.DAY
    if q.bucket is Bucket.HOUR and q.days > MAX_HOUR_DAYS:
        raise _bad("bucket", f"hour buckets are for up to {MAX_HOUR_DAYS} days", q.bucket.value)
    return q.bucket


@routes.get("/api/supervisor/history")
async def get_history(request: web.Request) -> web.Response:
    await require_user(request, *SUPERVISOR_ROLES)
    q = query_as(request, HistoryQuery)
    days, bucket, channel, queue = q.days, _bucket(q), q.channel, q.queue
    app = request.app
    zone = app[STATS].zone
    # The router's clock, as the live board uses: both agree on what "now" is.
    now = datetime.fromtimestamp(app[ROUTER].clock.now_ms() / 1000, UTC)
    start = day_start(now, zone, days_back=days - 1)
    defs = await queues_api.effective(app[DB], app[QUEUE_CONFIG])
    rows = await history(
        app[DB],
        defs,
        FALLBACK.sl_seconds,
        start=start,
        end=now,
        bucket=bucket,
        zone=zone,
        queue=queue,
        channel=channel,
    )
    return web.json_response(
        {
            "zone": str(zone),
            "bucket": bucket.value,
            "from": start.astimezone(zone).isoformat(),
            "to": now.astimezone(zone).isoformat(),
            "queue": queue,
            "channel": channel.value if channel else None,
            "rows": [r.json() for r in rows],
        }
    )
