"""The project's system checks: outside debug mode, `check --deploy` refuses a PERMIS_PUBLIC_URL that no reader
of a document can reach (the verification link and QR code of letters, attestations and RIIs)."""

from __future__ import annotations

import io

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.test import override_settings

from permis.config.checks import DEVELOPMENT_PUBLIC_URL, check_public_url


def ids(url: str, *, debug: bool = False) -> list[str]:
    with override_settings(DEBUG=debug, PUBLIC_URL=url):
        return [message.id for message in check_public_url()]


def test_the_development_default_is_refused_outside_debug_mode() -> None:
    assert ids(DEVELOPMENT_PUBLIC_URL) == ["permis.E001"]
    assert ids("") == ["permis.E001"]
    with override_settings(DEBUG=False, PUBLIC_URL=DEVELOPMENT_PUBLIC_URL):
        (error,) = check_public_url()
    assert "PERMIS_PUBLIC_URL is not set" in error.msg and "https://" in error.hint


@pytest.mark.parametrize(
    "url",
    ["http://permis.example.org", "permis.example.org", "https://", "ftp://permis.example.org", "https://[x"],
)
def test_an_address_that_is_not_absolute_https_is_refused(url: str) -> None:
    assert ids(url) == ["permis.E002"]


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost",
        "https://LOCALHOST.:8443",
        "https://permis.localhost",
        "https://127.0.0.1:8000",
        "https://127.1.2.3",
        "https://[::1]:8443/permis",
        "https://[::ffff:127.0.0.1]",
        "https://0.0.0.0",
    ],
)
def test_a_loopback_address_is_refused(url: str) -> None:
    assert ids(url) == ["permis.E003"]


@pytest.mark.parametrize(
    "url", ["https://permis.example.org", "https://permis.example.org/sous-chemin", "https://192.0.2.10"]
)
def test_a_public_https_address_passes(url: str) -> None:
    assert ids(url) == []


def test_debug_mode_is_left_alone() -> None:
    assert ids(DEVELOPMENT_PUBLIC_URL, debug=True) == []


def test_the_check_runs_with_the_deployment_checks_only() -> None:
    # The test run keeps the laptop default and runs with DEBUG off (pytest-django): the plain checks, which
    # tests and `permis migrate` run, stay clean; `check --deploy` reports it.
    with override_settings(DEBUG=False, PUBLIC_URL=DEVELOPMENT_PUBLIC_URL):
        assert "permis.E001" not in [m.id for m in run_checks()]
        assert "permis.E001" in [m.id for m in run_checks(include_deployment_checks=True)]
        out = io.StringIO()
        call_command("check", stdout=out)
        assert "no issues" in out.getvalue()
