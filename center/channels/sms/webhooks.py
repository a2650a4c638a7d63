"""``POST /twilio/sms`` (a message arrives) and ``POST /twilio/sms/status`` (its callbacks).

Thin handlers: the signature and the form first (center/channels/twilio/webhooks.py: 403
before anything is read further), then one stored step, then an empty TwiML answer (the
replies go out through the outbox, never as TwiML, so each is stored and tracked). A new
text is only stored (one statement, the inbox) before the answer; the processor acts on
it (center/channels/sms/drain.py), so Twilio's wait does not include the routing.
"""

from __future__ import annotations

from aiohttp import web
from twilio.twiml.messaging_response import MessagingResponse

from center.channels.sms.drain import KIND, InboxProcessor, stored_fields
from center.channels.twilio import inbox
from center.channels.twilio.forms import SmsInbound, SmsStatus
from center.channels.twilio.webhooks import signed_form

routes = web.RouteTableDef()
INBOUND = web.AppKey("sms_inbound", "Inbound")
INBOX = web.AppKey("sms_inbox", InboxProcessor)
OUTBOUND = web.AppKey("sms_outbound", "SmsOutbound")
MAX_ID_DIGITS = 18  # (fits a BIGINT)
EMPTY = str(MessagingResponse())  # (rendered once: most answers are this one)


def twiml(response: MessagingResponse | str) -> web.Response:
    return web.Response(text=str(response), content_type="application/xml")


@routes.post("/twilio/sms")
async def inbound(request: web.Request) -> web.Response:
    form = await signed_form(request, SmsInbound)
    processor = request.app[INBOX]
    # Stored, then acknowledged: a replay is no second row (and is not woken for).
    if await inbox.accept(
        processor.db, KIND, form.message_sid, stored_fields(form), key=form.from_
    ):
        processor.wake()
    return twiml(EMPTY)


@routes.post("/twilio/sms/status")
async def status(request: web.Request) -> web.Response:
    form = await signed_form(request, SmsStatus)
    raw = request.query.get("m", "")
    # (Our own URL, signed with it; anything else names no message: logged, 200.)
    message_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= MAX_ID_DIGITS else None
    await request.app[OUTBOUND].status(form, message_id)
    # (200 for an unknown message too: it is logged, and anything else makes Twilio retry.)
    return web.Response(status=200)
