"""The IVR file: parsed into menus and targets, or refused with the file and line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from center.channels.voice import ivr_config
from center.channels.voice.ivr import TargetKind, choose
from center.queue.config import ConfigError

EXAMPLE = Path("center/channels/voice/ivr.example.yaml")
QUEUES = {"default", "billing", "support"}


def test_the_example_parses_into_menus_options_and_hours() -> None:
    declared = frozenset({"billing", "tech", "vip"})  # queues.example.yaml's (lang:* free)
    cfg = ivr_config.parse(EXAMPLE.read_text(), str(EXAMPLE), queues=QUEUES, skills=declared)
    main = cfg.menu(None)
    assert [o.digit for o in main.options] == ["1", "2", "3", "4", "9"]
    billing = choose(main, "1", None)
    assert billing is not None and billing.target.queue == "billing"
    assert billing.target.priority == 2 and billing.target.skills == {"billing": 3}
    spanish = choose(cfg.menu("more"), None, "en español por favor").target
    assert (spanish.queue, spanish.skills) == ("support", {"lang:es": 2})
    assert choose(cfg.menu("more"), "1", None).target.skills == {}
    # Speech picks by keyword (any case), a key wins over speech, nothing matches -> None.
    assert choose(main, None, "I have a question about my Invoice").target.queue == "billing"
    assert choose(main, "3", "billing").target.kind is TargetKind.VOICEMAIL
    assert choose(main, "7", None) is None and choose(main, "", "hello there") is None
    kb = choose(main, "2", None).target
    assert kb.kind is TargetKind.KB and kb.fallback.queue == "support"
    assert choose(main, "9", None).target.language == "fr-FR"
    assert cfg.phrase("greeting", "fr-FR") == "Merci d'avoir appelé Example."
    assert cfg.phrase("known_caller", "en-US", name="Ada") == "Hello Ada."
    # Hours in Paris: Friday 12:30 is the lunch gap, Christmas is closed all day.
    fri_1230 = datetime(2026, 12, 4, 11, 30, tzinfo=UTC)  # 12:30 in Paris (CET)
    fri_1000 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    christmas = datetime(2026, 12, 25, 9, 0, tzinfo=UTC)  # a Friday
    assert cfg.hours is not None
    assert cfg.hours.open_at(fri_1000) and not cfg.hours.open_at(fri_1230)
    assert not cfg.hours.open_at(christmas)
    assert cfg.overflow.max_waiting == 20 and cfg.csat and cfg.callback_digit == "1"
    assert cfg.queues() == {"billing", "support"}


def test_toml_is_read_as_toml() -> None:
    text = """
languages = ["en-US"]
[menus.main]
prompt = "Press 1 for sales."
default = "default"
[[menus.main.options]]
digit = 1
queue = "sales"
"""
    cfg = ivr_config.parse(text, "ivr.toml", queues={"default", "sales"})
    assert choose(cfg.menu(None), "1", None).target.queue == "sales"


M = "menus:\n  main:\n    prompt: hi\n    options:\n"


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (
            M + "      - digit: 1\n        queue: biling\n",
            6,
            "unknown queue 'biling'",
        ),
        (
            M + "      - digit: 1\n        queue: billing\n"
            "      - digit: 1\n        voicemail: true\n",
            7,
            "digit 1 used twice",
        ),
        (
            M + "      - digit: 2\n        menu: nowhere\n",
            6,
            "unknown menu 'nowhere'",
        ),
        ("hours:\n  weekly:\n    mon: '18:00-09:00'\n", 3, "ends before it starts"),
        ("hours:\n  holidays: [christmas]\n", 2, "not a date"),
        ("languages: [en-US]\ngreeting:\n  fr-FR: Bonjour\n", 3, "not in languages"),
        ("max_tries: .nan\n", 1, "max_tries must be an integer"),
        (
            "menus:\n  main:\n    options:\n      - digit: 1\n"
            "        queue: billing\n        kb: true\n",
            4,
            "exactly one of",
        ),
        (
            M + "      - digit: 1\n        queue: billing\n        skills:\n"
            "          billing: 11\n",
            8,
            "level of 'billing' must be an integer 1..10, got 11",
        ),
        (
            M + "      - digit: 1\n        queue: billing\n        skills: {billing: true}\n",
            7,
            "must be an integer 1..10",
        ),
        (
            M + "      - digit: 1\n        queue: billing\n        skills: billing\n",
            7,
            "skills must be a mapping",
        ),
        (
            M + "      - digit: 1\n        queue: billing\n        skills: {}\n",
            7,
            "skills needs 1..8 skills",
        ),
        (
            M + "      - digit: 1\n        voicemail: true\n        skills: {billing: 1}\n",
            7,
            "skills only goes with a queue",
        ),
        (
            M + "      - digit: 1\n        queue: billing\n        skills:\n"
            "          billing: 1\n          '': 2\n",
            9,
            "skill names must be strings",
        ),
        ("menus: [\n", 2, "not valid YAML"),
        ("surprise: 1\n", 1, "unknown key 'surprise'"),
    ],
)
def test_errors_name_the_file_and_line(text: str, where: int, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        ivr_config.parse(text, "ivr.yaml", queues=QUEUES)
    assert str(exc.value).startswith(f"ivr.yaml:{where}: "), str(exc.value)
    assert message in str(exc.value)


def test_toml_errors_name_the_line_too() -> None:
    text = '[menus.main]\nprompt = "x"\n[[menus.main.options]]\ndigit = 1\nqueue = "nope"\n'
    with pytest.raises(ConfigError, match=r"^ivr.toml:5: .*unknown queue 'nope'"):
        ivr_config.parse(text, "ivr.toml", queues=QUEUES)


async def test_no_file_means_straight_to_the_default_queue() -> None:
    cfg = await ivr_config.load(None)
    assert cfg.menu(None).options == () and cfg.menu(None).default.queue == "default"


def test_option_skills_must_be_declared_in_the_queue_file() -> None:
    text = M + "      - digit: 1\n        queue: billing\n        skills:\n          bilin: 2\n"
    with pytest.raises(ConfigError, match=r"^ivr.yaml:8: .*requires unknown skill 'bilin'"):
        ivr_config.parse(text, "ivr.yaml", queues=QUEUES, skills=frozenset({"billing"}))
    ok = ivr_config.parse(text, "ivr.yaml", queues=QUEUES)  # no skills declared: any name
    assert choose(ok.menu(None), "1", None).target.skills == {"bilin": 2}
