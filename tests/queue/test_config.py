"""Queue configuration files: what loads, and every mistake named by file and line."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from center.queue.config import DEFAULT, ConfigError, load, parse
from center.queue.model import EscalationStep, Strategy
from center.queue.placement import Placement
from center.records.enums import Channel

EXAMPLE = Path(__file__).parents[2] / "center" / "queue" / "queues.example.yaml"

GOOD = """\
skills: [billing, tech]
queues:
  default: {}
  billing:
    channels: [chat, voice]
    skills: {billing: 3}
    priority: 5
    sl_target: 0.9
    escalation:
      - {after_s: 30, lower_levels_by: 1}
      - {after_s: 60, overflow_queue: default}
placement:
  keywords:
    - {words: [invoice], queue: billing, priority: 2}
"""


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(text, "queues.yaml")
    return str(caught.value)


def test_a_good_file_gives_queue_definitions_and_rules() -> None:
    config = parse(GOOD, "queues.yaml")
    default, billing = config.queues
    assert default.name == "default" and default.channels == frozenset(Channel)
    assert billing.channels == {Channel.CHAT, Channel.VOICE}
    assert dict(billing.skills) == {"billing": 3}
    assert (billing.priority, billing.sl_target, billing.strategy) == (
        5,
        0.9,
        Strategy.LONGEST_IDLE,
    )
    assert billing.escalation == (
        EscalationStep(after_s=30.0, lower_levels_by=1),
        EscalationStep(after_s=60.0, overflow_queue="default"),
    )
    assert config.rules.keywords[0].target == Placement("billing", 2)
    assert config.skills == {"billing", "tech"}


def test_the_shipped_example_loads() -> None:
    config = parse(EXAMPLE.read_text(), EXAMPLE.name)
    assert {"default", "billing", "tech", "vip"} <= config.names()


async def test_no_file_means_one_default_queue_for_every_channel() -> None:
    config = await load(None)
    assert config is DEFAULT
    assert [q.name for q in config.queues] == ["default"]
    assert config.queues[0].channels == frozenset(Channel)


async def test_an_unreadable_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read"):
        await load(missing)


def _replace(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            _replace("{billing: 3}", "{biling: 3}"),
            "queues.yaml:6: queue 'billing' requires unknown skill 'biling'",
        ),
        (
            _replace("[chat, voice]", "[chat, fax]"),
            "queues.yaml:5: queue 'billing': unknown channel 'fax'",
        ),
        (
            _replace("priority: 5", "priority: 10"),
            "queues.yaml:7: queue 'billing': priority must be an integer 0..9",
        ),
        (
            _replace("priority: 5", "priorty: 5"),
            "queues.yaml:7: queue 'billing': unknown key 'priorty'",
        ),
        (
            _replace("sl_target: 0.9", "sl_target: 0"),
            "queues.yaml:8: queue 'billing': sl_target must be in (0, 1]",
        ),
        (
            _replace("sl_target: 0.9", "sl_target: 1.5"),
            "queues.yaml:8: queue 'billing': sl_target must be in (0, 1]",
        ),
        (
            _replace("after_s: 60", "after_s: 20"),
            "queues.yaml:11: queue 'billing': escalation steps must have increasing after_s",
        ),
        (
            _replace("overflow_queue: default", "overflow_queue: nowhere"),
            "queues.yaml:11: queue 'billing': overflow to unknown queue 'nowhere'",
        ),
        (
            _replace("lower_levels_by: 1}", "lower_levels_by: 1, drop: [x]}"),
            "queues.yaml:10: queue 'billing': escalation step 1: unknown key 'drop'",
        ),
        (
            _replace("{billing: 3}", "{billing: 11}"),
            "queues.yaml:6: queue 'billing': level of 'billing' must be an integer 1..10",
        ),
        (
            _replace("queue: billing, priority: 2", "queue: biling"),
            "queues.yaml:14: placement sends to unknown queue 'biling'",
        ),
        (
            _replace("words: [invoice]", "words: [two words]"),
            "queues.yaml:14: keyword 'two words' must be one word",
        ),
        (_replace("placement:", "placment:"), "queues.yaml:12: top level: unknown key 'placment'"),
        (_replace("  billing:\n", "  bill:ing:\n"), "queues.yaml:4: queue name 'bill:ing' must be"),
        ("queues: {}\n", "queues.yaml:1: at least one queue is needed"),
        ("", "queues.yaml:1: the file is empty"),
        ("queues:\n  a: [\n", "queues.yaml:3: not valid YAML"),
    ],
    ids=lambda v: v[:40] if isinstance(v, str) else v,
)
def test_each_mistake_is_named_with_its_line(text: str, expected: str) -> None:
    assert error_of(text).startswith(expected), error_of(text)


def test_unknown_strategy_and_placement_default_channel_mismatch() -> None:
    text = GOOD.replace("    sl_target: 0.9\n", "    sl_target: 0.9\n    strategy: random\n")
    assert error_of(text).startswith("queues.yaml:9: queue 'billing': unknown strategy 'random'")
    text = GOOD + "  defaults: {email: billing}\n"
    assert error_of(text) == ("queues.yaml:15: queue 'billing' does not take email interactions")


def test_bad_file_stops_center_serve_with_exit_code_2(tmp_path: Path) -> None:
    bad = tmp_path / "queues.yaml"
    bad.write_text(_replace("{billing: 3}", "{biling: 3}"))

    async def run() -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "center",
            "serve",
            "--port",
            "0",
            env={"CENTER_QUEUES_FILE": str(bad), "CENTER_DATA_DIR": str(tmp_path), "PATH": ""},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=tmp_path,
        )
        _out, err = await asyncio.wait_for(proc.communicate(), 60)
        return proc.returncode or 0, err.decode()

    code, err = asyncio.run(run())
    assert code == 2
    assert f"{bad}:6: queue 'billing' requires unknown skill 'biling'" in err
    assert "Traceback" not in err


TOML_EXAMPLE = EXAMPLE.with_suffix(".toml")


def test_the_toml_example_gives_the_same_configuration_as_the_yaml_one() -> None:
    from_yaml = parse(EXAMPLE.read_text(), "queues.yaml")
    from_toml = parse(TOML_EXAMPLE.read_text(), "queues.toml")
    assert from_toml.queues == from_yaml.queues
    assert from_toml.rules.ivr == from_yaml.rules.ivr
    assert from_toml.rules.tiers == from_yaml.rules.tiers
    assert from_toml.rules.defaults == from_yaml.rules.defaults
    assert [k.words for k in from_toml.rules.keywords] == [
        k.words for k in from_yaml.rules.keywords
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "skills = { billing = 3 }",
            "skills = { biling = 3 }",
            "queues.toml:10: queue 'billing' requires unknown skill 'biling'",
        ),
        ('overflow_queue = "default"', 'overflow_queue = "nowhere"', "queues.toml:24: "),
        ("priority = 9", "priority = 12", "queues.toml:33: queue 'vip': priority must be"),
        (
            'queue = "tech"\npriority = 1',
            'queue = "tek"\npriority = 1',
            "queues.toml:45: placement sends to unknown queue",
        ),
        ('language = "en"', "language = ", "queues.toml:29: not valid TOML"),
    ],
)
def test_toml_mistakes_are_named_with_their_line(old: str, new: str, expected: str) -> None:
    text = TOML_EXAMPLE.read_text()
    assert old in text
    with pytest.raises(ConfigError) as caught:
        parse(text.replace(old, new, 1), "queues.toml")
    assert str(caught.value).startswith(expected), str(caught.value)


async def test_a_toml_file_is_loaded_by_its_suffix(tmp_path: Path) -> None:
    path = tmp_path / "queues.toml"
    path.write_text(TOML_EXAMPLE.read_text())
    config = await load(path)
    assert config.source == str(path)
    assert {"default", "billing", "tech", "vip"} == config.names()
