"""A real IMAP server for the tests: Debian's dovecot-imapd on a loopback port, its own
config, users file and maildir in a temporary directory (skip when not installed)."""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

DOVECOT = shutil.which("dovecot") or (
    "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
)
USER, PASSWORD = "support@center.test", "imap-secret"


@dataclass
class Dovecot:
    port: int
    user: str = USER
    password: str = PASSWORD


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(root: Path, port: int) -> str:
    if os.geteuid() == 0:
        # Dovecot refuses uid 0 for mail: the maildir belongs to nobody.
        who = "mail_uid = nobody\nmail_gid = nogroup\nfirst_valid_uid = 1\n"
        userdb = "uid=nobody gid=nogroup"
    else:
        me = getpass.getuser()
        who = f"default_internal_user = {me}\ndefault_login_user = {me}\n"
        userdb = f"uid={os.getuid()} gid={os.getgid()}"
    return f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
{who}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = {userdb} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    if DOVECOT is None:
        pytest.skip("dovecot-imapd is not installed (.ci/run installs it)")
    root = Path(tempfile.mkdtemp(prefix="dovecot-"))
    root.chmod(0o755)
    port = _free_port()
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir()
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    conf = root / "dovecot.conf"
    conf.write_text(_config(root, port))
    if os.geteuid() == 0:
        shutil.chown(root / "mail", "nobody", "nogroup")
        shutil.chown(root / "home", "nobody", "nogroup")
    # (Not captured: the daemon's children would hold the pipe open, and run() wait.)
    subprocess.run(
        [DOVECOT, "-c", str(conf)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield Dovecot(port=port)
    finally:
        # SIGTERM to the master (``dovecot stop`` would wait seconds for it to exit).
        with contextlib.suppress(OSError, ValueError):
            os.kill(int((root / "run" / "master.pid").read_text().strip()), signal.SIGTERM)
        shutil.rmtree(root, ignore_errors=True)
