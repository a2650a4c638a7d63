"""`center` on a bare machine: no configuration, SQLite + embedded Redis, real processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from center.config import Settings
from center.knowledge_base.io import SAMPLE_DIR
from center.records.db import Database
from tests.processes import settings_env


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CENTER_")}
    env["CENTER_DATA_DIR"] = str(tmp_path / "data")
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _center(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "center", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_user_add_then_serve_then_login(tmp_path: Path) -> None:
    env = _env(tmp_path)
    made = _center(
        "user", "add", "--role", "agent", "alice", "--password", "s3cret-pass-phrase", env=env
    )
    assert made.returncode == 0, made.stderr
    assert "created agent alice" in made.stdout
    again = _center("user", "add", "alice", "--password", "s3cret-pass-phrase", env=env)
    assert again.returncode == 1 and "exists already" in again.stderr
    short = _center("user", "add", "bob", "--password", "short", env=env)
    assert short.returncode == 2 and "at least 10" in short.stderr
    common = _center(
        "user", "add", "root", "--role", "admin", "--password", "root12345678", env=env
    )
    assert common.returncode == 2 and "must not contain the username" in common.stderr

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "center", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as r:
                    assert json.load(r) == {"ok": True}
                    break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError("center serve did not come up") from None
                time.sleep(0.2)
        req = urllib.request.Request(
            f"{base}/api/login",
            data=json.dumps({"username": "alice", "password": "s3cret-pass-phrase"}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            assert json.load(r)["user"]["role"] == "agent"
        with urllib.request.urlopen(f"{base}/chat", timeout=5) as r:
            assert b"Chat with support" in r.read()
        assert (tmp_path / "data" / "center.db").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# -- errors and output: one line on stderr, a non-zero exit, no log noise -------------------


def _run(settings: Settings, *args: str, stdin: str | None = None, **env: str):
    """`python -m center ...` against the test's database and Redis (given via env)."""
    return subprocess.run(
        [sys.executable, "-m", "center", *args],
        env={**settings_env(settings), **env},
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_kb_import_of_a_missing_folder_is_one_line(settings: Settings, db: Database) -> None:
    done = _run(settings, "kb", "import", "/nonexistent")
    assert "not a directory: /nonexistent" in _one_line_error(done)


def test_user_add_without_a_terminal(settings: Settings, db: Database) -> None:
    # No --password and stdin not a terminal (a script, cron, CI): no getpass traceback.
    assert "--password" in _one_line_error(_run(settings, "user", "add", "carol"))
    # A script can pipe the password in.
    made = _run(settings, "user", "add", "carol", stdin="a-long-s3cret-pass\n")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == f"created agent carol (id {_user_id(made)})"
    assert made.stderr == ""


def _user_id(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout.rsplit("(id ", 1)[-1].rstrip(")\n")


def test_migrate_and_demo_print_results_not_logs(settings: Settings, db: Database) -> None:
    migrated = _run(settings, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stdout == "database is at the newest revision\n"
    assert migrated.stderr == ""  # no Alembic "Context impl ..." INFO lines

    demo = _run(settings, "demo")
    assert demo.returncode == 0, demo.stderr
    assert demo.stderr == ""
    assert "ImportResult" not in demo.stdout
    articles = len(list(SAMPLE_DIR.rglob("*.md")))
    assert (
        f"knowledge base: published {articles}, drafted 0, rejected 0"
        f" (created {articles}, updated 0, unchanged 0)"
    ) in demo.stdout


def test_a_database_that_cannot_be_opened_is_one_line(settings: Settings, tmp_path: Path) -> None:
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("")
    url = f"sqlite+aiosqlite:///{not_a_dir / 'center.db'}"
    line = _one_line_error(_run(settings, "migrate", CENTER_DATABASE_URL=url))
    assert line.startswith("center migrate: "), line


def test_a_bad_setting_is_one_line(settings: Settings) -> None:
    line = _one_line_error(_run(settings, "migrate", CENTER_PORT="eighty"))
    assert line.startswith("center migrate: bad setting PORT")
