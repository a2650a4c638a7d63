"""TwiML for every step of a call, built with the official ``VoiceResponse`` (nothing
Twilio-shaped is written by hand). Pure functions of the IVR config and the call's state.

URLs are paths: Twilio resolves them against the webhook's own (public) URL, so the
signature it sends for the next request is computed on ``CENTER_PUBLIC_URL`` too.
"""

from __future__ import annotations

from urllib.parse import urlencode

from twilio.twiml.voice_response import Gather, VoiceResponse

from center.channels.voice.ivr import IvrConfig, Menu

P = "/twilio/voice"


def url(path: str, **query: object) -> str:
    q = {k: v for k, v in query.items() if v is not None}
    return f"{P}{path}?{urlencode(q)}" if q else f"{P}{path}"


def _say(node: VoiceResponse | Gather, cfg: IvrConfig, text: str, lang: str) -> None:
    if text:
        node.say(text, voice=cfg.voice, language=lang)


def menu(
    cfg: IvrConfig,
    m: Menu,
    lang: str,
    *,
    tries: int = 0,
    greeting: str | None = None,
    invalid: bool = False,
) -> str:
    """The menu's prompt inside a Gather (keys and speech); no input posts to the same
    action (``actionOnEmptyResult``), which counts the try."""
    r = VoiceResponse()
    if greeting:
        _say(r, cfg, greeting, lang)
    if invalid:
        _say(r, cfg, m.invalid.text(lang) if m.invalid else cfg.phrase("invalid", lang), lang)
    hints = ",".join(w for o in m.options for w in o.words)
    g = r.gather(
        input="dtmf speech",
        num_digits=1,
        action=url("/ivr", menu=m.name, tries=tries),
        method="POST",
        timeout=cfg.gather_timeout_s,
        speech_timeout="auto",
        language=lang,
        hints=hints or None,
        action_on_empty_result=True,
    )
    _say(g, cfg, m.prompt.text(lang), lang)
    return str(r)


def hold(
    cfg: IvrConfig, lang: str, *, position: int, minutes: int | None, intro: str | None = None
) -> str:
    """One round of waiting: position, estimated wait, the callback offer, hold audio;
    then Twilio fetches the next round (so the announcements are periodic)."""
    r = VoiceResponse()
    if intro:
        _say(r, cfg, intro, lang)
    g = r.gather(
        input="dtmf",
        num_digits=1,
        action=url("/hold/key"),
        method="POST",
        timeout=1,
    )
    _say(g, cfg, cfg.phrase("position", lang, position=position), lang)
    if minutes is not None:
        _say(g, cfg, cfg.phrase("estimated_wait", lang, minutes=max(1, minutes)), lang)
    if cfg.callback_digit:
        _say(g, cfg, cfg.phrase("callback_offer", lang, digit=cfg.callback_digit), lang)
    if cfg.hold_music:
        g.play(cfg.hold_music)
    else:
        g.pause(length=int(cfg.announce_every_s))
    r.redirect(url("/hold"), method="POST")
    return str(r)


def voicemail(cfg: IvrConfig, lang: str, *, intro: str) -> str:
    r = VoiceResponse()
    _say(r, cfg, intro, lang)
    r.record(
        action=url("/voicemail"),
        method="POST",
        max_length=180,
        play_beep=True,
        timeout=5,
        recording_status_callback=url("/recording", kind="voicemail"),
        recording_status_callback_method="POST",
    )
    _say(r, cfg, cfg.phrase("voicemail_thanks", lang), lang)
    r.hangup()
    return str(r)


def kb_question(cfg: IvrConfig, lang: str, *, prompt: str, menu_name: str, option: int) -> str:
    r = VoiceResponse()
    g = r.gather(
        input="speech",
        action=url("/ivr/kb", menu=menu_name, option=option),
        method="POST",
        timeout=cfg.gather_timeout_s,
        speech_timeout="auto",
        language=lang,
        action_on_empty_result=True,
    )
    _say(g, cfg, prompt, lang)
    return str(r)


def kb_answer(cfg: IvrConfig, lang: str, *, text: str, menu_name: str, option: int) -> str:
    """The article's short answer read out, then the offer of an agent."""
    r = VoiceResponse()
    _say(r, cfg, text, lang)
    g = r.gather(
        input="dtmf",
        num_digits=1,
        action=url("/ivr/agent", menu=menu_name, option=option),
        method="POST",
        timeout=cfg.gather_timeout_s,
    )
    _say(g, cfg, cfg.phrase("kb_offer_agent", lang), lang)
    _say(r, cfg, cfg.phrase("goodbye", lang), lang)
    r.hangup()
    return str(r)


def bridge(cfg: IvrConfig, lang: str, *, conference: str, intro: str | None = None) -> str:
    """Into the call's conference: the caller's leaving ends it (agents' legs end too);
    an agent leaving does not (warm transfer, supervisors)."""
    r = VoiceResponse()
    if intro:
        _say(r, cfg, intro, lang)
    d = r.dial(action=url("/after"), method="POST")
    d.conference(
        conference,
        start_conference_on_enter=True,
        end_conference_on_exit=True,
        beep=False,
        wait_url=cfg.hold_music or "",
        status_callback=url("/conference"),
        status_callback_method="POST",
        status_callback_event="start end join leave hold",
        record="record-from-start" if cfg.record_calls else None,
        recording_status_callback=url("/recording", kind="call") if cfg.record_calls else None,
        recording_status_callback_method="POST" if cfg.record_calls else None,
    )
    return str(r)


def survey(cfg: IvrConfig, lang: str) -> str:
    r = VoiceResponse()
    g = r.gather(
        input="dtmf", num_digits=1, action=url("/csat"), method="POST", timeout=cfg.gather_timeout_s
    )
    _say(g, cfg, cfg.phrase("csat", lang), lang)
    r.hangup()
    return str(r)


def say_and_hang_up(cfg: IvrConfig, lang: str, text: str) -> str:
    r = VoiceResponse()
    _say(r, cfg, text, lang)
    r.hangup()
    return str(r)


def empty() -> str:
    """An answer that does nothing (status callbacks, replays of a finished step)."""
    return _EMPTY


_EMPTY = str(VoiceResponse())  # (rendered once: every status callback answers it)
