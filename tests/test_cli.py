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
