"""Local servers that play the notice channels' counterparts in tests: an SMTP server (aiosmtpd) and an SMS
provider (a small JSON HTTP API). Both listen on 127.0.0.1 on a free port and stop cleanly.

They are plain classes so that a benchmark can use them too; ``tests/notices/conftest.py`` wraps them in the
``smtp_server`` and ``sms_stub`` fixtures, which also point Django's settings at them.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

# --- SMTP ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedEmail:
    """One message the SMTP server accepted: the envelope, the raw bytes and the parsed message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    def text(self) -> str:
        """The plain-text body (the text/plain part of a multipart message)."""
        part = self.message.get_body(preferencelist=("plain", "html"))
        return part.get_content() if part is not None else ""


class _SmtpHandler:
    """aiosmtpd handler: stores accepted messages, refuses the next N when told to."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(self, smtp_server, session, envelope, address, rcpt_options):
        # A refused message is refused at its first recipient (as greylisting does) and at every other one.
        if getattr(envelope, "refusing", None) is None:
            envelope.refusing = self.server._take_refusal("rcpt")
        if envelope.refusing:
            return envelope.refusing
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp_server, session, envelope):
        refusal = self.server._take_refusal("data")
        if refusal:
            return refusal
        if not self.server.keep:
            self.server._store(None)
            return "250 Message accepted for delivery"
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        self.server._store(ReceivedEmail(envelope.mail_from, tuple(envelope.rcpt_tos), raw, parsed))
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """aiosmtpd's controller, able to bind port 0: it learns the port the system chose before its
    self-test connection (the stock one would connect to port 0)."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpServer:
    """An SMTP server on 127.0.0.1 (random port) that keeps what it receives.

    ``messages`` (a copy, in arrival order), ``count`` (accepted so far), ``wait_for(count, timeout)``,
    ``clear()``; ``SmtpServer(keep=False)`` only counts (for benchmarks: no parsing, no memory);
    ``refuse_next(n, code=451, at="rcpt")`` answers a temporary refusal to the next ``n`` messages, at RCPT TO
    (smtplib raises ``SMTPRecipientsRefused``) or at DATA (``SMTPDataError``); a 5xx code makes it permanent.
    """

    host = "127.0.0.1"

    def __init__(self, *, keep: bool = True) -> None:
        # keep=False (a benchmark sending 100,000 emails): only count them, keep and parse nothing.
        self.keep = keep
        self.count = 0
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._messages: list[ReceivedEmail] = []
        self._refusals = 0
        self._refusal_code = 451
        self._refusal_at = "rcpt"
        self.refused = 0
        # aiosmtpd logs every command at INFO: thousands of lines, and half the server's time, per 1,000 emails.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self._controller = _Controller(_SmtpHandler(self), hostname=self.host, port=0)
        self.port = 0

    def start(self) -> SmtpServer:
        self._controller.start()
        self.port = self._controller.port
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # What the tests use.

    @property
    def messages(self) -> list[ReceivedEmail]:
        with self._lock:
            return list(self._messages)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            self.count = 0

    def refuse_next(self, count: int, code: int = 451, *, at: str = "rcpt") -> None:
        if at not in {"rcpt", "data"}:
            raise ValueError(f"refuse_next: at={at!r} must be 'rcpt' or 'data'")
        with self._lock:
            self._refusals, self._refusal_code, self._refusal_at = count, code, at

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedEmail]:
        """Wait until at least ``count`` messages arrived; AssertionError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while self.count < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"SMTP server: {self.count} messages after {timeout} s, expected {count}"
                    )
                self._arrived.wait(left)
            return list(self._messages)

    # Called from the server's thread.

    def _take_refusal(self, stage: str) -> str | None:
        with self._lock:
            if self._refusals <= 0 or self._refusal_at != stage:
                return None
            self._refusals -= 1
            self.refused += 1
            code = self._refusal_code
        enhanced = "4.7.1" if code < 500 else "5.7.1"
        return f"{code} {enhanced} Refused by the test server, try again later"

    def _store(self, received: ReceivedEmail | None) -> None:
        with self._arrived:
            self.count += 1
            if received is not None:
                self._messages.append(received)
            self._arrived.notify_all()


# --- SMS provider ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StubRequest:
    """One request the SMS stub received (whatever it answered)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class _Plan:
    failures: int = 0
    failure_status: int = 503
    failure_body: str = ""
    hangs: int = 0
    hang_seconds: float = 0.0
    retry_after: str | None = None
    by_key: dict[str, str] = field(default_factory=dict)


class SmsStub:
    """A fake SMS provider on 127.0.0.1 (random port), speaking the API ``HttpSmsBackend`` expects.

    ``POST /messages`` with ``Authorization: Bearer <token>`` and a JSON body ``{"to","text","sender",
    "reference"}`` answers 200 ``{"id": "stub-<n>"}``; a repeated ``Idempotency-Key`` gets the same id and does not
    count as a new SMS. A wrong or missing token is a 401; a body that is not that JSON a 400.

    ``requests`` (every request), ``sent`` (the SMS accepted, one per idempotency key), ``fail_next(n,
    status=503, body=..., retry_after=None)``, ``hang_next(n, seconds)`` (answer only after ``seconds``, to
    test timeouts; released at once when the stub stops).
    """

    host = "127.0.0.1"

    def __init__(self, token: str | None = None) -> None:
        self.token = token or secrets.token_urlsafe(24)
        self._lock = threading.Lock()
        self._requests: list[StubRequest] = []
        self._sent: list[dict[str, Any]] = []
        self._plan = _Plan()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer((self.host, 0), self._handler_class())
        self._server.daemon_threads = True
        self._server.block_on_close = False  # a client's kept-alive connection must not hold up stop()
        self.port = self._server.server_address[1]
        self.url = f"http://{self.host}:{self.port}/messages"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="sms-stub", daemon=True
        )

    def start(self) -> SmsStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> SmsStub:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def requests(self) -> list[StubRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def sent(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._sent)

    def fail_next(
        self, count: int, status: int = 503, *, body: str = "", retry_after: str | None = None
    ) -> None:
        with self._lock:
            self._plan.failures, self._plan.failure_status = count, status
            self._plan.failure_body = body or json.dumps({"error": HTTPStatus(status).phrase})
            self._plan.retry_after = retry_after

    def hang_next(self, count: int, seconds: float) -> None:
        with self._lock:
            self._plan.hangs, self._plan.hang_seconds = count, seconds

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep the test output clean

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, answer, extra = stub._answer(self.path, self.headers, body)
                with stub._lock:
                    stub._requests.append(
                        StubRequest("POST", self.path, dict(self.headers.items()), body, status)
                    )
                payload = json.dumps(answer).encode("utf-8") if not isinstance(answer, bytes) else answer
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in extra.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): nothing to answer to

        return Handler

    def _answer(self, path: str, headers: Any, body: bytes) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            hang = self._plan.hang_seconds if self._plan.hangs > 0 else 0.0
            if hang:
                self._plan.hangs -= 1
        if hang:
            self._stopping.wait(hang)
        if path != "/messages":
            return 404, {"error": f"no such endpoint {path}"}, {}
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"error": "invalid or missing bearer token"}, {}
        with self._lock:
            if self._plan.failures > 0:
                self._plan.failures -= 1
                extra = {"Retry-After": self._plan.retry_after} if self._plan.retry_after else {}
                return self._plan.failure_status, self._plan.failure_body.encode("utf-8"), extra
        try:
            message = json.loads(body.decode("utf-8"))
            if not isinstance(message, dict) or not {"to", "text", "sender", "reference"} <= message.keys():
                raise ValueError("missing fields")
        except ValueError:
            return 400, {"error": "body must be JSON with to, text, sender and reference"}, {}
        key = headers.get("Idempotency-Key") or ""
        with self._lock:
            if key and key in self._plan.by_key:
                return 200, {"id": self._plan.by_key[key], "replayed": True}, {}
            message_id = f"stub-{len(self._sent) + 1}"
            self._sent.append({**message, "id": message_id, "idempotency_key": key})
            if key:
                self._plan.by_key[key] = message_id
        return 200, {"id": message_id}, {}
