"""Fixtures of the notice tests: a real SMTP server and a fake SMS provider on loopback, with Django's
settings pointed at them for the test's duration (pytest-django's ``settings`` fixture restores them); and, for
every test, a print queue of its own (a letter by post, such as one sent after a failed email alert, never lands
in the project's var/print)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.notices.servers import SmsStub, SmtpServer


@pytest.fixture(autouse=True)
def _print_queue(settings, tmp_path) -> None:
    settings.PRINT_QUEUE_DIR = tmp_path / "print"


@pytest.fixture
def smtp_server(settings) -> Iterator[SmtpServer]:
    """aiosmtpd on 127.0.0.1 (random port), with EMAIL_* set so that Django's ``send_mail`` reaches it.

    ``smtp_server.messages``, ``.wait_for(n)``, ``.refuse_next(n, code=451, at="rcpt"|"data")``, ``.port``.
    """
    server = SmtpServer().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = server.host
    settings.EMAIL_PORT = server.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sms_stub(settings) -> Iterator[SmsStub]:
    """A fake SMS provider on 127.0.0.1 (random port), with SMS_BACKEND="http", SMS_URL and SMS_TOKEN set.

    ``sms_stub.requests``, ``.sent``, ``.token``, ``.url``, ``.fail_next(n, status=503)``, ``.hang_next(n, s)``.
    """
    stub = SmsStub().start()
    settings.SMS_BACKEND = "http"
    settings.SMS_URL = stub.url
    settings.SMS_TOKEN = stub.token
    try:
        yield stub
    finally:
        stub.stop()
