"""Real servers on 127.0.0.1 for the alerts tests: an HTTP server recording webhook,
Slack and PagerDuty requests (scriptable: answer 500, hang past the client's
timeout), and an SMTP server (aiosmtpd) recording mail."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A port nothing listens on (connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Recorder:
    """An HTTP server in a thread. ``script`` is a queue of behaviours for the next
    requests: an int status code, or ("hang", seconds); afterwards 200. ``accepted``
    holds the requests answered 2xx, ``seen`` every request."""

    def __init__(self, port: int = 0) -> None:
        self.script: deque[Any] = deque()
        self.accepted: list[dict[str, Any]] = []
        self.seen: list[dict[str, Any]] = []
        self.delay = 0.0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n) or b"null")
                rec = {"path": self.path, "headers": dict(self.headers), "body": body}
                owner.seen.append(rec)
                action = owner.script.popleft() if owner.script else 200
                if isinstance(action, tuple):
                    time.sleep(action[1])
                    action = 200
                    try:
                        self.send_response(200)
                        self.end_headers()
                    except OSError:
                        pass
                    return  # the client gave up: not accepted
                if owner.delay:
                    time.sleep(owner.delay)
                if 200 <= action < 300:
                    owner.accepted.append(rec)
                self.send_response(action)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self, path: str | None = None) -> list[Any]:
        return [r["body"] for r in self.accepted if path is None or r["path"] == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1 made by the openssl command."""
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
         str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
         "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


class MailRecorder:
    """An aiosmtpd SMTP server recording messages; optional AUTH login."""

    def __init__(self, *, password: str | None = None, tls: Any = None) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        self.messages: list[Any] = []
        self.logins: list[str] = []
        owner = self

        class Handler:
            async def handle_DATA(
                self, server: Any, session: Any, envelope: Any
            ) -> str:
                import email

                owner.messages.append(email.message_from_bytes(envelope.content))
                return "250 OK"

        def authenticator(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> Any:
            ok = isinstance(data, LoginPassword) and data.password.decode() == password
            if ok:
                owner.logins.append(data.login.decode())
            return AuthResult(success=ok)

        kwargs: dict[str, Any] = {}
        if password is not None:
            kwargs = {
                "authenticator": authenticator,
                "auth_require_tls": tls is not None,
            }
        if tls is not None:
            kwargs.update(tls_context=tls, require_starttls=True)
        self.port = free_port()
        self.controller: Any = Controller(
            Handler(), hostname="127.0.0.1", port=self.port, **kwargs
        )
        self.controller.start()

    def close(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
