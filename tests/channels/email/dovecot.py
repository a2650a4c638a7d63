"""A real IMAP server for the tests: Debian's dovecot-imapd on a loopback port, its own
config, users file and maildir in a temporary directory (skip when not installed)."""

from __future__ import annotations

import contextlib
import getpass
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DOVECOT = shutil.which("dovecot") or (
    "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
)
USER, PASSWORD = "support@center.test", "imap-secret"


@dataclass
class Dovecot:
    port: int  # plain IMAP, STARTTLS offered
    tls_port: int  # implicit TLS (imaps)
    ca: Path  # the server's self-signed certificate (for 127.0.0.1), to trust
    user: str = USER
    password: str = PASSWORD

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def _certificate(root: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and localhost), made with cryptography."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = root / "cert.pem", root / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(root: Path, port: int, tls_port: int) -> str:
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
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
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
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
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
    port, tls_port = _free_port(), _free_port()
    cert, _key = _certificate(root)
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir()
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    conf = root / "dovecot.conf"
    conf.write_text(_config(root, port, tls_port))
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
        yield Dovecot(port=port, tls_port=tls_port, ca=cert)
    finally:
        # SIGTERM to the master (``dovecot stop`` would wait seconds for it to exit).
        with contextlib.suppress(OSError, ValueError):
            os.kill(int((root / "run" / "master.pid").read_text().strip()), signal.SIGTERM)
        shutil.rmtree(root, ignore_errors=True)
