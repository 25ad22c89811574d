"""Playwright driving Debian's Chromium (/usr/bin/chromium) against pytest-django's live server.

Never `playwright install`: the browser comes from Debian (`apt-get install chromium chromium-driver`, which
`make install` does when run as root).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(
            "Debian's Chromium is missing: apt-get install chromium chromium-driver "
            "(make install does it when run as root)"
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread from here to the end of the session; Django
    # refuses database access from a thread with a running loop unless told it is safe, which it is here (one
    # test at a time, the live server in its own thread).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def _page(browser: Any, **context_options: Any) -> Iterator[Any]:
    context = browser.new_context(locale="fr-FR", **context_options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    yield from _page(browser, viewport=DESKTOP)


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    yield from _page(browser, viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
