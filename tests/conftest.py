"""Test-suite wide rules.

- With CI=true nothing may be skipped: a skipped test (or module) is reported as a failure, so a missing
  browser or database cannot turn a red build green.
- On a developer's machine, tests that need PostgreSQL skip with a message when the server named by
  DATABASE_URL is unreachable, instead of erroring in the middle of creating the test database.
- Every test starts in the site's language (French). Django's LocaleMiddleware activates a request's language
  on the thread and nothing deactivates it: after a test that fetched an /en/ page, ``reverse()`` in the next
  test would build English URLs and its French assertions would fail for a reason of order alone.
"""

from __future__ import annotations

import os

import pytest

CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}

DB_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback"}


def _skipped_under_ci(report: pytest.TestReport | pytest.CollectReport) -> None:
    if CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which allows no skip: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport:
    report = yield
    _skipped_under_ci(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> pytest.CollectReport:
    report = yield
    _skipped_under_ci(report)
    return report


@pytest.fixture(autouse=True)
def _site_language() -> None:
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)


def _postgres_problem() -> str | None:
    """Why the configured PostgreSQL server cannot be used, or None when it can (or is not configured)."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if "postgresql" not in database["ENGINE"]:
        return None
    import psycopg

    try:
        psycopg.connect(
            host=database.get("HOST") or None,
            port=database.get("PORT") or None,
            user=database.get("USER") or None,
            password=database.get("PASSWORD") or None,
            dbname="postgres",
            connect_timeout=3,
        ).close()
    except psycopg.Error as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return (
            f"PostgreSQL at {database.get('HOST')}:{database.get('PORT')} is unreachable ({first_line}); "
            "start it or point DATABASE_URL at a running server"
        )
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from django.conf import settings

    on_postgres = "postgresql" in settings.DATABASES["default"]["ENGINE"]
    needs_postgres = [item for item in items if item.get_closest_marker("postgres")]
    if needs_postgres and not on_postgres:
        skip = pytest.mark.skip(
            reason="needs PostgreSQL: run with DATABASE_URL=postgres://... (see `make test`)"
        )
        for item in needs_postgres:
            item.add_marker(skip)
    if not on_postgres:
        return
    problem = _postgres_problem()
    if problem is None:
        return
    skip = pytest.mark.skip(reason=problem)
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if (
            item.get_closest_marker("django_db")
            or item.get_closest_marker("postgres")
            or fixtures & DB_FIXTURES
        ):
            item.add_marker(skip)
